"""What `folio run` is asked to start, and whether the ports it needs are free."""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass
from pathlib import Path

from folio.stack import alertmanager
from folio.stack.prometheus import prometheus_binary


@dataclass
class StackOptions:
    """The services, ports and choices of one `folio run`."""

    host: str = "127.0.0.1"
    api_port: int = 3001
    web_port: int = 3000
    prometheus_port: int = 9090
    alertmanager_port: int = 9093
    data_dir: Path = Path("var")
    scrape_interval: str | None = None
    with_prometheus: bool = True
    with_alertmanager: bool = True
    workers: int = 1
    access_log: bool = False
    # Made by `folio run` when FOLIO_API_TOKEN is unset (folio.stack.token); None: the
    # environment's is used.
    api_token: str | None = None


def wanted_ports(options: StackOptions) -> list[tuple[str, int]]:
    """(service, port) for each process that ``run_stack`` would start with ``options``."""
    ports = [("folio-api", options.api_port), ("folio-web", options.web_port)]
    if options.with_prometheus and prometheus_binary() is not None:
        if options.with_alertmanager and alertmanager.alertmanager_binary() is not None:
            ports.append(("alertmanager", options.alertmanager_port))
        ports.append(("prometheus", options.prometheus_port))
    return ports


def port_problem(options: StackOptions) -> str | None:
    """Why one of the wanted ports cannot be listened on, or None when all can."""
    owners: dict[int, str] = {}
    for name, port in wanted_ports(options):
        if port in owners:
            return f"port {port} is wanted by both {owners[port]} and {name}"
        owners[port] = name
        try:
            _try_listen(options.host, port)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return f"port {port} ({name}) is in use: {error}"
            return f"port {port} ({name}) cannot be used on {options.host}: {error}"
        except OverflowError as error:  # bind's complaint about a port above 65535
            return f"port {port} ({name}) cannot be used: {error}"
    return None


def _try_listen(host: str, port: int) -> None:
    """Listen on host:port and let go at once; raises OSError as the service would.

    SO_REUSEADDR, as uvicorn and Prometheus set it: a port whose last connections wait in
    TIME_WAIT is free to them, so it is to this check.
    """
    family, kind, protocol, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    with socket.socket(family, kind, protocol) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(address)
        probe.listen()
