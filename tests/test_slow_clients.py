"""Clients too slow to send their requests get 408 or a close, on the real servers.

``folio api`` and ``folio web`` run as processes with deadlines of a second or so; no
deadline may touch an idle keep-alive connection, a slow handler or a slow reader.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.factories import project_payload
from tests.ports import free_ports
from tests.processes import (
    Service,
    counter,
    requests_by_status,
    start,
    statuses_added,
    stop,
    wait_until,
)
from tests.raw_http import Answer, error_shape, trickle

HEADER_SECONDS = 1.0
BODY_SECONDS = 1.5
SLACK = 1.0  # a loaded 2-core machine answers late, never early
TOKEN = "slow-clients-token"
HANDLER_SECONDS = 2.0  # folio-web's wait for an API that never answers: past both deadlines


@dataclass
class Served:
    api: Service
    web: Service

    def port(self, name: str) -> int:
        service = self.api if name == "api" else self.web
        return int(service.url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Both services with short deadlines; folio-web's API accepts calls and never answers."""
    directory = tmp_path_factory.mktemp("slow-clients")
    api_port, web_port = free_ports(2)
    silent = socket.create_server(("127.0.0.1", 0))  # never accepts: calls to it hang
    deadlines = {
        "FOLIO_REQUEST_HEADER_TIMEOUT_SECONDS": str(HEADER_SECONDS),
        "FOLIO_REQUEST_BODY_TIMEOUT_SECONDS": str(BODY_SECONDS),
    }
    api = start(
        "api",
        api_port,
        {
            **deadlines,
            "FOLIO_DATABASE_URL": f"sqlite+aiosqlite:///{directory / 'folio.db'}",
            "FOLIO_API_TOKEN": TOKEN,
        },
        directory / "api.log",
    )
    web = start(
        "web",
        web_port,
        {
            **deadlines,
            "FOLIO_API_URL": f"http://127.0.0.1:{silent.getsockname()[1]}",
            "FOLIO_API_TIMEOUT_SECONDS": str(HANDLER_SECONDS),
            "FOLIO_API_RETRIES": "0",
        },
        directory / "web.log",
    )
    try:
        wait_until(api, "/api/health")
        wait_until(web, "/api/health")
        yield Served(api, web)
    finally:
        stop(api)
        stop(web)
        silent.close()


def _timeouts(service: Service) -> dict[str, float]:
    metrics = httpx.get(f"{service.url}/api/metrics", timeout=10).text
    return {
        phase: counter(metrics, "http_request_timeouts_total", phase=phase)
        for phase in ("headers", "body")
    }


def _post(path: str, length: int, **headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {length}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


API_POST = _post(
    "/api/projects", 100, Authorization=f"Bearer {TOKEN}", Content_Type="application/json"
)
WEB_POST = _post("/api/rum", 100, Origin="http://127.0.0.1", Content_Type="application/json")
SLOW_HEADERS = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n"


def _assert_timed_out(answer: Answer, seconds: float) -> None:
    assert answer.status == 408, answer.raw
    assert answer.headers["connection"] == "close"
    assert error_shape(answer)["code"] == "request_timeout"
    assert answer.closed_after is not None, "the connection was left open"
    assert seconds <= answer.closed_after < seconds + SLACK, answer


@pytest.mark.parametrize("name", ["api", "web"])
async def test_trickled_headers_get_408(served: Served, name: str) -> None:
    """Headers sent a line at a time get 408 once the header deadline passes."""
    answer = await trickle(served.port(name), SLOW_HEADERS, b"X-Slow: 1\r\n")
    _assert_timed_out(answer, HEADER_SECONDS)


@pytest.mark.parametrize("name", ["api", "web"])
async def test_trickled_body_gets_408(served: Served, name: str) -> None:
    """A body sent a byte at a time gets 408 once the body deadline passes."""
    head = API_POST if name == "api" else WEB_POST
    service = served.api if name == "api" else served.web
    route = "/api/projects" if name == "api" else "/api/rum"
    before = requests_by_status(service, route)
    answer = await trickle(served.port(name), head + b"{", b" ")
    _assert_timed_out(answer, BODY_SECONDS)
    # Counted as the 408 the client got, not as a 499 or the app's answer to a cut body.
    assert await statuses_added(service, route, before) == {"408": 1}


async def test_endless_chunk_is_cut(served: Served) -> None:
    """A chunk that declares 2**64 - 1 bytes gets 408 at the body deadline, not never."""
    head = API_POST.replace(b"Content-Length: 100", b"Transfer-Encoding: chunked")
    answer = await trickle(served.port("api"), head + b"ffffffffffffffff\r\n", b"x" * 10)
    _assert_timed_out(answer, BODY_SECONDS)


async def test_many_slow_clients_are_all_cut_and_others_served(served: Served) -> None:
    """100 slow headers and 100 slow bodies all end at their deadlines, counted by phase.

    Meanwhile an ordinary request is answered at once.
    """
    before = _timeouts(served.api)
    port = served.port("api")
    slow = [trickle(port, SLOW_HEADERS, b"X-Slow: 1\r\n", every=0.3) for _ in range(100)]
    slow += [trickle(port, API_POST + b"{", b" ", every=0.3) for _ in range(100)]
    tasks = [asyncio.ensure_future(client) for client in slow]
    await asyncio.sleep(0.5)
    async with httpx.AsyncClient(base_url=served.api.url, timeout=10) as client:
        started = time.monotonic()
        response = await client.get("/api/projects")
        took = time.monotonic() - started
    answers = await asyncio.gather(*tasks)
    assert response.status_code == 200
    assert took < HEADER_SECONDS, f"an ordinary request took {took:.2f} s"
    for answer in answers[:100]:
        _assert_timed_out(answer, HEADER_SECONDS)
    for answer in answers[100:]:
        _assert_timed_out(answer, BODY_SECONDS)
    after = _timeouts(served.api)
    assert after["headers"] - before["headers"] == 100
    assert after["body"] - before["body"] == 100


async def test_idle_connections_are_left_to_keep_alive(served: Served) -> None:
    """A connection idle between requests, or before its first, is not timed out."""
    before = _timeouts(served.api)
    reused = http.client.HTTPConnection("127.0.0.1", served.port("api"), timeout=5)
    fresh = http.client.HTTPConnection("127.0.0.1", served.port("api"), timeout=5)
    fresh.connect()
    try:
        reused.request("GET", "/api/health")
        assert reused.getresponse().read() == b'{"status":"ok"}'
        await asyncio.sleep(HEADER_SECONDS + 0.5)  # uvicorn's keep-alive is 5 s
        for connection in (reused, fresh):
            connection.request("GET", "/api/health")
            assert connection.getresponse().status == 200
    finally:
        reused.close()
        fresh.close()
    assert _timeouts(served.api) == before


async def test_steady_upload_is_not_cut(served: Served) -> None:
    """A body that keeps coming and ends within the deadline is served as usual."""
    body = json.dumps(project_payload("steady-upload", body="x" * 2000))
    head = API_POST.replace(b"Content-Length: 100", f"Content-Length: {len(body)}".encode())
    pieces = [body[i : i + 200].encode() for i in range(0, len(body), 200)]
    answer = await _send_in_pieces(served.port("api"), head, pieces, every=0.1)
    assert answer.startswith(b"HTTP/1.1 201"), answer


async def _send_in_pieces(port: int, head: bytes, pieces: list[bytes], every: float) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head)
    for piece in pieces:
        await asyncio.sleep(every)
        writer.write(piece)
    answer = await asyncio.wait_for(reader.read(65536), 10)
    writer.close()
    return answer


async def test_slow_handler_and_slow_reader_are_not_cut(served: Served) -> None:
    """A handler slower than every deadline answers, and so does a reader that waits."""
    before = _timeouts(served.web)
    slow_page = trickle(
        served.port("web"),
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        give_up=10,
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port("api"))
    writer.write(b"GET /api/openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    page = await slow_page  # the reader waits as long as the handler takes
    document = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert page.status == 503, page.raw[:300]  # folio-web's own page: the API is unavailable
    assert page.answered_after is not None
    assert page.answered_after >= HANDLER_SECONDS
    assert b"text/html" in page.raw.partition(b"\r\n\r\n")[0]
    assert document.startswith(b"HTTP/1.1 200")
    assert json.loads(document.partition(b"\r\n\r\n")[2])["openapi"]
    assert _timeouts(served.web) == before
