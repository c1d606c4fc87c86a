"""folio-api's cached reads against real servers: every write is seen by the next read, on
every worker of `folio api --workers 2` and on a second instance sharing the database, and
the HTTP validators (ETag, 304 without a body) hold on the wire.

Each backend starts instance A with two workers and instance B with one, both on the same
database. Before each write the old answer is read many times on fresh connections, so
every worker has it cached; after it, every read on fresh connections must see the write.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import TOKEN
from tests.factories import project_payload
from tests.ports import free_ports
from tests.processes import Service, start, stop, wait_until

AUTH = {"Authorization": f"Bearer {TOKEN}"}
READS = 8  # per instance, each on a new connection


@pytest.fixture(scope="module")
def pair(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Service]]:
    """Instance A (two workers) and instance B (one), sharing ``database_url``."""
    logs = tmp_path_factory.mktemp("read-after-write")
    settings = {"FOLIO_DATABASE_URL": database_url, "FOLIO_API_TOKEN": TOKEN}
    port_a, port_b = free_ports(2)
    services = [
        start("api", port_a, settings, logs / "a.log", "--workers", "2"),
        start("api", port_b, settings, logs / "b.log"),
    ]
    try:
        for service in services:
            wait_until(service, "/api/health/ready")
        yield services
    finally:
        for service in services:
            stop(service)


# No keep-alive: each read is a new connection, which either worker of A may accept.
_CLIENT = httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), timeout=10)


def _fresh(service: Service, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return _CLIENT.get(f"{service.url}{path}", headers=headers)


def _reads(services: list[Service], path: str) -> list[httpx.Response]:
    return [_fresh(service, path) for service in services for _ in range(READS)]


def _slugs_listed(services: list[Service]) -> list[set[str]]:
    return [{item["slug"] for item in r.json()["items"]} for r in _reads(services, "/api/projects")]


def _write(service: Service, method: str, path: str, body: dict[str, Any] | None = None) -> None:
    response = _CLIENT.request(method, f"{service.url}{path}", json=body, headers=AUTH)
    assert response.is_success, response.text


def test_every_read_sees_the_last_write(pair: list[Service]) -> None:
    """Create, update, unpublish, delete: each is seen by every read that follows it, on
    both workers of A and on B, whichever instance wrote."""
    a, b = pair
    slug = f"raw-{uuid.uuid4().hex[:8]}"
    path = f"/api/projects/{slug}"
    assert {r.status_code for r in _reads(pair, path)} == {404}
    assert all(slug not in listed for listed in _slugs_listed(pair))

    _write(a, "POST", "/api/projects", project_payload(slug, title="First"))
    assert [r.json()["title"] for r in _reads(pair, path)] == ["First"] * 2 * READS
    assert all(slug in listed for listed in _slugs_listed(pair))

    _write(b, "PATCH", path, {"title": "Second"})
    assert [r.json()["title"] for r in _reads(pair, path)] == ["Second"] * 2 * READS

    _write(a, "PATCH", path, {"published": False})
    assert {r.status_code for r in _reads(pair, path)} == {404}
    assert all(slug not in listed for listed in _slugs_listed(pair))
    # The token's view still has it: cached apart from the public one, in both directions.
    assert _fresh(b, path, AUTH).json()["title"] == "Second"
    assert _fresh(a, path).status_code == 404

    _write(b, "PATCH", path, {"published": True})
    assert {r.status_code for r in _reads(pair, path)} == {200}
    _write(a, "DELETE", path)
    assert {r.status_code for r in _reads(pair, path)} == {404}
    assert {r.status_code for r in (_fresh(s, path, AUTH) for s in pair)} == {404}
    assert all(slug not in listed for listed in _slugs_listed(pair))


def _raw(service: Service, requests: list[str]) -> bytes:
    """Send ``requests`` pipelined on one connection, the last closing it; all that came back."""
    host, port = service.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall("".join(requests).encode())
        data = b""
        while chunk := connection.recv(65536):
            data += chunk
    return data


def _request(method: str, path: str, *headers: str, close: bool = False) -> str:
    lines = [f"{method} {path} HTTP/1.1", "Host: folio.test", *headers]
    if close:
        lines.append("Connection: close")
    return "\r\n".join(lines) + "\r\n\r\n"


@pytest.mark.parametrize("path", ["/api/projects?limit=3", "/api/projects/{slug}"])
def test_a_current_etag_gets_304_with_no_body_on_the_wire(pair: list[Service], path: str) -> None:
    """If-None-Match with the current ETag: 304, same ETag and Cache-Control, no body (the
    next pipelined answer starts right after the head); HEAD answers as GET without a body."""
    a = pair[0]
    slug = f"wire-{uuid.uuid4().hex[:8]}"
    _write(a, "POST", "/api/projects", project_payload(slug))
    path = path.format(slug=slug)
    first = _fresh(a, path)
    etag = first.headers["etag"]
    assert etag.startswith('"')
    assert first.headers["cache-control"] == "public, no-cache"
    data = _raw(
        a,
        [
            _request("GET", path, f"If-None-Match: {etag}"),
            _request("GET", path, f'If-None-Match: "other", W/{etag}'),
            _request("HEAD", path, 'If-None-Match: "other"'),
            _request("GET", "/api/health", close=True),
        ],
    )
    answers = data.split(b"HTTP/1.1 ")[1:]
    assert [answer[:3] for answer in answers] == [b"304", b"304", b"200", b"200"]
    for answer in answers[:3]:
        head, _, body = answer.partition(b"\r\n\r\n")
        assert body == b"", answer  # the next status line follows the head at once
        assert f"etag: {etag}".encode() in head.lower()
        assert b"cache-control: public, no-cache" in head.lower()
    assert b"content-length: 0" not in answers[0].lower()
