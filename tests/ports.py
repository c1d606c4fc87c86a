"""Free TCP ports on loopback for servers that tests start."""

from __future__ import annotations

from bench.common import free_ports

__all__ = ["free_port", "free_ports"]


def free_port() -> int:
    return free_ports(1)[0]
