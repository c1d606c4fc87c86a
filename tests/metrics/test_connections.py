"""Open connections and client disconnects, seen through a real uvicorn server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import uvicorn
from folio_metrics import ConnectionTracker, MetricsRegistry, render, uvicorn_protocol

from tests.metrics.app import build_app
from tests.ports import free_port


class _Served:
    def __init__(self, registry: MetricsRegistry, tracker: ConnectionTracker, port: int) -> None:
        self.registry = registry
        self.tracker = tracker
        self.port = port

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=5)


def _eventually(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.fixture
def served() -> Iterator[_Served]:
    """The test app under uvicorn in a thread, with connection tracking."""
    registry, tracker, port = MetricsRegistry(), ConnectionTracker(), free_port()
    tracker.export(registry)
    app = build_app(registry, peers=tracker)
    config = uvicorn.Config(
        app, port=port, http=uvicorn_protocol(tracker), log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    assert _eventually(lambda: server.started), "uvicorn did not start"
    try:
        yield _Served(registry, tracker, port)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _get(connection: socket.socket, path: str) -> bytes:
    connection.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    return connection.recv(65536)


def _active(registry: MetricsRegistry) -> float:
    registry.run_collect_hooks()
    return registry.families["http_active_connections"].unlabelled().value


def test_idle_keep_alive_connections_are_counted(served: _Served) -> None:
    """Connections count while open, with or without a request, and stop when closed."""
    connections = [served.connect() for _ in range(3)]
    for connection in connections[:2]:
        assert _get(connection, "/ok").startswith(b"HTTP/1.1 200")
    assert _eventually(lambda: _active(served.registry) == 3)
    for connection in connections:
        connection.close()
    assert _eventually(lambda: _active(served.registry) == 0)


def test_client_that_leaves_mid_request_is_499(served: _Served) -> None:
    """A client that hangs up before a slow response is counted as 499."""
    connection = served.connect()
    connection.sendall(b"GET /slow HTTP/1.1\r\nHost: test\r\n\r\n")
    time.sleep(0.1)
    connection.close()

    def counted() -> bool:
        child = served.registry.families["http_requests"].children.get(("GET", "/slow", "499"))
        return child is not None and child.value == 1

    assert _eventually(counted)
    assert ("GET", "/slow", "200") not in served.registry.families["http_requests"].children


def test_timeouts_and_rejections_are_served_from_zero() -> None:
    """Both timeout phases and the rejections are served at 0 before the first one."""
    registry, tracker = MetricsRegistry(), ConnectionTracker()
    tracker.export(registry)
    lines = render(registry).decode().splitlines()
    assert 'http_request_timeouts_total{phase="headers"} 0' in lines
    assert 'http_request_timeouts_total{phase="body"} 0' in lines
    assert "http_connections_rejected_total 0" in lines
    tracker.request_timed_out("body")
    tracker.connection_rejected()
    assert registry.families["http_request_timeouts"].labels("body").value == 1
    assert registry.families["http_connections_rejected"].unlabelled().value == 1
