"""folio's uvicorn protocol on both of uvicorn's bases, h11 and httptools.

A real uvicorn server in a thread, with a raw ASGI app, for what the folio services
cannot be made to do on demand: read a body late, or run past the connection cap.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from folio_metrics import ConnectionTracker, MetricsRegistry
from starlette.types import Receive, Scope, Send

from folio.protocol import ProtocolLimits, server_protocol
from tests.ports import free_port
from tests.raw_http import error_shape, trickle

LIMITS = ProtocolLimits(header_timeout_seconds=0.5, body_timeout_seconds=0.5, max_connections=3)
LATE_READ = 1.0  # how long /late waits before reading the body: past the body deadline
# /continue reads after 1.5 body budgets, and its client sends 0.6 of one after the 100.
CONTINUE_READ = 0.75
AFTER_CONTINUE = 0.3
KEEP_ALIVE = 1


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the whole body (``/late`` after a pause) and answers with its length."""
    if scope["path"] == "/late":
        await asyncio.sleep(LATE_READ)
    elif scope["path"] == "/continue":
        await asyncio.sleep(CONTINUE_READ)
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    answer = str(size).encode()
    headers = [(b"content-length", str(len(answer)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": answer})


class Served:
    def __init__(self, port: int, registry: MetricsRegistry) -> None:
        self.port = port
        self.registry = registry

    def count(self, name: str, *labels: str) -> float:
        family = self.registry.families[name]
        return float((family.labels(*labels) if labels else family.unlabelled()).value)


@pytest.fixture(params=["h11", "httptools"])
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    """The raw app under uvicorn on one base, with folio's protocol and short limits."""
    if request.param == "httptools":
        pytest.importorskip("httptools")
    registry, tracker, port = MetricsRegistry(), ConnectionTracker(), free_port()
    tracker.export(registry)
    config = uvicorn.Config(
        _app,
        port=port,
        http=server_protocol(tracker, LIMITS, request.param),
        log_level="error",
        lifespan="off",
        timeout_keep_alive=KEEP_ALIVE,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield Served(port, registry)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _post(path: str, length: int, *extra: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: x", f"Content-Length: {length}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def test_deadlines_and_malformed_requests(served: Served) -> None:
    """Slow headers and slow bodies get 408, a bad Content-Length a JSON 400; all counted."""
    headers, body, malformed = await asyncio.gather(
        trickle(served.port, b"GET / HTTP/1.1\r\nHost: x\r\n", b"X-Slow: 1\r\n", every=0.1),
        trickle(served.port, _post("/", 100) + b"{", b" ", every=0.1),
        trickle(served.port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1e3\r\n\r\n"),
    )
    assert (headers.status, body.status, malformed.status) == (408, 408, 400)
    assert error_shape(headers)["code"] == error_shape(body)["code"] == "request_timeout"
    assert error_shape(malformed)["code"] == "bad_request"
    assert served.count("http_request_timeouts", "headers") == 1
    assert served.count("http_request_timeouts", "body") == 1


async def test_server_that_is_not_reading_does_not_spend_the_deadline(served: Served) -> None:
    """A body sent at once to a handler that reads it late is served, however late."""
    body = b"x" * 1_048_576  # well past uvicorn's buffer, so it stops reading
    head = _post("/late", len(body), "Connection: close")
    answer = await trickle(served.port, head + body, give_up=5)
    assert answer.status == 200, answer.raw[:300]
    assert answer.raw.endswith(str(len(body)).encode())


async def test_client_waiting_for_100_continue_is_not_late(served: Served) -> None:
    """A client that waits for 100 Continue has the whole body budget from the 100 on."""
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(_post("/continue", 5, "Expect: 100-continue"))
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert interim.startswith(b"HTTP/1.1 100"), interim
    await asyncio.sleep(AFTER_CONTINUE)  # past the budget counted from the headers
    writer.write(b"hello")
    answer = await asyncio.wait_for(reader.read(65536), 5)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert served.count("http_request_timeouts", "body") == 0


async def test_connections_past_the_cap_get_503(served: Served) -> None:
    """Past max_connections a connection's request gets a JSON 503 and a close; the rest work."""
    held = [socket.create_connection(("127.0.0.1", served.port)) for _ in range(3)]
    try:
        await asyncio.sleep(0.1)
        turned_away = await trickle(served.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        held[0].sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert held[0].recv(65536).startswith(b"HTTP/1.1 200")
    finally:
        for connection in held:
            connection.close()
    assert turned_away.status == 503, turned_away.raw
    assert turned_away.headers["retry-after"] == "1"
    assert turned_away.headers["connection"] == "close"
    assert error_shape(turned_away)["code"] == "service_unavailable"
    assert turned_away.closed_after is not None
    assert served.count("http_connections_rejected") == 1


async def test_connection_that_never_sends_is_closed_after_keep_alive(served: Served) -> None:
    """A fresh connection with no request is closed quietly after the keep-alive timeout."""
    answer = await trickle(served.port, b"", give_up=KEEP_ALIVE + 3)
    assert answer.raw == b""
    assert answer.closed_after is not None
    # The server's clock starts as it accepts, a moment before the client's starts.
    assert KEEP_ALIVE - 0.1 <= answer.closed_after < KEEP_ALIVE + 2
    assert served.count("http_request_timeouts", "headers") == 0
