"""Hostile HTTP/1.1 traffic for the reliability suite: a seeded generator and a raw client.

The generator builds requests as bytes, so it can send what no well-behaved client library
would: made-up methods, percent-encoded garbage, dot segments, 15 KB paths, obs-text header
values and headers past the server's limits. Every request follows one of a service's
*shapes* (a route template or a kind of unmatched path, with junk where the template has
a parameter), so a reference set of one request per (method, shape) creates every metric
series that any amount of such traffic may create.

The client keeps ``connections`` keep-alive connections busy and reads every response to
its end before sending the next request on that connection, so nothing is ever left in
flight (an abandoned request would be counted as a 499, a series of its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx
from folio_metrics.http import STANDARD_METHODS
from prometheus_client.parser import text_string_to_metric_families

# Past uvicorn's h11 limit on a request head (16 KiB), which it enforces while a head is
# incomplete: such a request may get a 400 from uvicorn itself, or its connection cut.
OVERSIZED_HEAD = 20_000
MADE_UP_METHODS = ("FOO", "PROPFIND", "BREW", "get", "M-SEARCH", "X" * 40)
# Every shape below is sent with each of these in the reference set; the storm adds
# random tokens, which folio must fold into the same `other`.
REFERENCE_METHODS = (*sorted(STANDARD_METHODS), *MADE_UP_METHODS)

# {seg}: one junk path segment; {path}: several; {q}: a junk query string.
API_SHAPES = (
    "/",
    "/{path}",
    "/{path}?{q}",
    "/{seg}/",
    "/api/projects",
    "/api/projects/",
    "/api/projects/{seg}",
    "/api/projects/{seg}/",
    "/api/projects/{seg}/{path}",
    "/api/health",
    "/api/health/",
    "/api/health/ready",
    "/api/health/{seg}",
    "/api/metrics",
    "/api/metrics/",
    "/api/docs",
    "/api/openapi.json",
    "/api/{seg}",
)
WEB_SHAPES = (
    "/",
    "/{path}",
    "/{path}?{q}",
    "/{seg}/",
    "/about",
    "/about/",
    "/projects",
    "/projects/",
    "/projects/{seg}",
    "/projects/{seg}/",
    "/projects/{seg}/{path}",
    "/static",
    "/static/",
    "/static/{path}",
    "/status",
    "/status/data/{seg}",
    "/api/rum",
    "/api/rum/",
    "/api/health",
    "/api/health/ready",
    "/api/metrics",
    "/api/{seg}",
)
SHAPES = {"api": API_SHAPES, "web": WEB_SHAPES}

# Encoded with quote() on the way out: RTL and zero-width marks, a BOM, emoji, CJK,
# combining marks, a NUL and what a lone surrogate looks like as UTF-8 (CESU).
_UNICODE = (
    "\u202emoc.live",
    "\u200b\u200d\u2060",
    "\ufeff",
    "😀🔥👩‍👩‍👧",
    "项目",
    "e\u0301\u0301\u0301",
    "\x00",
    "\u0000\u001b[31m",
)
_RAW = (
    "..",
    ".",
    "%2e%2e",
    "%2E%2e%2f",
    "%00",
    "%ff%fe%fd",
    "%ed%a0%80",
    "%c0%af",
    "%25",
    "%",
    "%zz",
    "%2F",
    "~",
    ";jsessionid=1",
    "<script>alert(1)</script>",
    "'--",
    '"',
    "{slug}",
    "${jndi:ldap://x}",
    "|",
    "\\..\\",
    "`",
    "^",
)
_LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789-_"
_HEADER_NAMES = (
    "User-Agent",
    "Accept",
    "Accept-Language",
    "Accept-Encoding",
    "Cookie",
    "Referer",
    "Cache-Control",
    "X-Forwarded-For",
    "X-Forwarded-Host",
    "X-Real-IP",
    "Via",
    "traceparent",
    "tracestate",
    "If-None-Match",
    "Range",
    "DNT",
)
_TOKEN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~"
# Maps any byte to one a header value may hold: visible ASCII or obs-text (0x80-0xff).
_FIELD_BYTES = bytes(range(0x21, 0x7F)) + bytes(range(0x80, 0x100))
_TO_FIELD_BYTE = bytes(_FIELD_BYTES[byte % len(_FIELD_BYTES)] for byte in range(256))


@dataclass(frozen=True)
class HostileRequest:
    method: str
    shape: str
    raw: bytes
    # Past the server's own limits: a 400 from uvicorn or a dropped connection is fine.
    oversized: bool

    @property
    def expects_body(self) -> bool:
        return self.method != "HEAD"


class Junk:
    """Seeded junk for paths, queries, methods, headers and bodies."""

    def __init__(self, seed: int, pool: int = 2_000) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - reproducible junk, not secrets
        # Most segments come from a pool (building each afresh would make the client, not
        # the server, the bottleneck); paths combine several, so they are rarely repeated.
        self._pool = [self._fresh_segment() for _ in range(pool)]

    def segment(self) -> str:
        if self._pool and self.rng.random() < 0.8:
            return self.rng.choice(self._pool)
        return self._fresh_segment()

    def _fresh_segment(self) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.003:  # near or past the 16 KiB head limit
            return "a" * rng.randint(8_000, OVERSIZED_HEAD)
        if roll < 0.015:
            return "".join(self._piece() for _ in range(rng.randint(20, 200)))
        return "".join(self._piece() for _ in range(rng.randint(1, 4))) or "x"

    def path(self) -> str:
        return "/".join(self.segment() for _ in range(self.rng.randint(2, 6)))

    def query(self) -> str:
        pairs = (f"{self.segment()}={self.segment()}" for _ in range(self.rng.randint(1, 3)))
        return "&".join(pairs)

    def method(self) -> str:
        rng = self.rng
        if rng.random() < 0.8:
            return rng.choice(REFERENCE_METHODS)
        return "".join(rng.choices(_TOKEN, k=rng.randint(1, 24)))

    def headers(self) -> list[tuple[bytes, bytes]]:
        rng = self.rng
        headers = []
        for _ in range(rng.randint(0, 30)):
            if rng.random() < 0.5:
                name = rng.choice(_HEADER_NAMES)
            else:
                name = "X-" + "".join(rng.choices(_TOKEN, k=rng.randint(1, 40)))
            headers.append((name.encode(), self._field_value()))
        return headers

    def body(self) -> bytes:
        return self.rng.randbytes(self.rng.choice((0, 1, 17, 300, 2_000)))

    def _piece(self) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.5:
            return "".join(rng.choices(_LETTERS, k=rng.randint(1, 12)))
        if roll < 0.75:
            return rng.choice(_RAW)
        return quote(rng.choice(_UNICODE), safe="", errors="surrogatepass")

    def _field_value(self) -> bytes:
        rng = self.rng
        roll = rng.random()
        size = rng.randint(1, 80)
        if roll < 0.002:
            size = rng.randint(OVERSIZED_HEAD, 64_000)
        elif roll < 0.01:
            size = rng.randint(1_000, 6_000)
        return rng.randbytes(size).translate(_TO_FIELD_BYTE)


class _PlainJunk(Junk):
    """The reference set's stand-in for junk: one harmless value of each kind."""

    def segment(self) -> str:
        return "reference-junk"

    def path(self) -> str:
        return "reference/junk/path"

    def query(self) -> str:
        return "a=b"


def build(
    method: str,
    shape: str,
    junk: Junk,
    *,
    host: str,
    headers: Sequence[tuple[bytes, bytes]] = (),
    body: bytes = b"",
) -> HostileRequest:
    target = (
        shape.replace("{seg}", junk.segment(), 1)
        .replace("{path}", junk.path(), 1)
        .replace("{q}", junk.query(), 1)
    )
    lines = [f"{method} {target} HTTP/1.1".encode(), b"Host: " + host.encode()]
    lines += [name + b": " + value for name, value in headers]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(b"Content-Length: " + str(len(body)).encode())
    raw = b"\r\n".join(lines) + b"\r\n\r\n" + body
    head_size = len(raw) - len(body)
    return HostileRequest(method, shape, raw, oversized=head_size > 16_000)


def reference(service: str, host: str) -> list[HostileRequest]:
    """One plain request per (method, shape), and one from a client revalidating what it
    keeps (a 304 where the route has an ETag): every series hostile traffic may create."""
    junk = _PlainJunk(seed=0, pool=0)
    return [
        build(method, shape, junk, host=host, headers=headers)
        for headers in ((), ((b"If-None-Match", b"*"),))
        for shape in SHAPES[service]
        for method in REFERENCE_METHODS
    ]


# Classic traversal and encoding tricks, each sent in every shape by ``edge_cases``: random
# junk finds them only now and then.
EDGE_SEGMENTS = (
    ".",
    "..",
    "%2e",
    "%2E%2E",
    ".%2e",
    "%2f",
    "%2F..%2F..%2Fetc%2Fpasswd",
    "%00",
    "%",
    "%ff",
    "%c0%ae%c0%ae",
    "..;",
    "~",
    "*",
    "a" * 8_000,
)


class _EdgeJunk(Junk):
    """Junk that is one edge segment everywhere."""

    def __init__(self, segment: str) -> None:
        super().__init__(seed=0, pool=0)
        self.edge = segment

    def segment(self) -> str:
        return self.edge

    def path(self) -> str:
        return f"{self.edge}/{self.edge}"

    def query(self) -> str:
        return f"{self.edge}={self.edge}"


def edge_cases(service: str, host: str) -> list[HostileRequest]:
    """GET and POST of every shape with each edge segment where the junk goes."""
    return [
        build(method, shape, junk, host=host)
        for junk in map(_EdgeJunk, EDGE_SEGMENTS)
        for shape in SHAPES[service]
        if "{" in shape
        for method in ("GET", "POST")
    ]


def storm(service: str, host: str, count: int, seed: int) -> Iterator[HostileRequest]:
    """``count`` random requests over the service's shapes, with junk everywhere."""
    junk = Junk(seed)
    shapes = SHAPES[service]
    for _ in range(count):
        method = junk.method()
        body = junk.body() if junk.rng.random() < 0.3 else b""
        yield build(
            method, junk.rng.choice(shapes), junk, host=host, headers=junk.headers(), body=body
        )


@dataclass
class StormResult:
    """What the client saw: statuses by code, and requests the server cut off."""

    statuses: Counter[int] = field(default_factory=Counter)
    # Connections closed or reset before a whole response came back, by kind of request.
    dropped_oversized: int = 0
    dropped: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def sent(self) -> int:
        return sum(self.statuses.values()) + self.dropped_oversized + len(self.dropped)


async def send_all(
    host: str,
    port: int,
    requests: Iterator[HostileRequest],
    *,
    connections: int = 32,
    answer_within: float = 30.0,
) -> StormResult:
    """Send every request over ``connections`` keep-alive connections; read every answer."""
    result = StormResult()
    started = time.perf_counter()
    await asyncio.gather(
        *(_connection(host, port, requests, result, answer_within) for _ in range(connections))
    )
    result.seconds = time.perf_counter() - started
    return result


async def _connection(
    host: str,
    port: int,
    requests: Iterator[HostileRequest],
    result: StormResult,
    answer_within: float,
) -> None:
    streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    try:
        for request in requests:
            for attempt in (1, 2):
                fresh = streams is None
                if streams is None:
                    streams = await asyncio.open_connection(host, port, limit=1 << 20)
                try:
                    status, keep = await asyncio.wait_for(
                        _exchange(*streams, request), answer_within
                    )
                except (OSError, asyncio.IncompleteReadError) as error:
                    await _close(streams)
                    streams = None
                    if request.oversized:
                        result.dropped_oversized += 1
                        break
                    # A keep-alive connection the server had just closed: retry once, fresh.
                    if fresh or attempt == 2:
                        result.dropped.append(f"{request.method} {request.shape}: {error!r}")
                        break
                    continue
                result.statuses[status] += 1
                if not keep:
                    await _close(streams)
                    streams = None
                break
    finally:
        if streams is not None:
            await _close(streams)


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: HostileRequest
) -> tuple[int, bool]:
    writer.write(request.raw)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head[:-4].split(b"\r\n")
    status = int(status_line.split(b" ", 2)[1])
    headers: dict[bytes, bytes] = {}
    for line in lines:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    keep = headers.get(b"connection", b"").lower() != b"close"
    if not request.expects_body or status in (204, 304) or status < 200:
        return status, keep
    if b"content-length" in headers:
        await reader.readexactly(int(headers[b"content-length"]))
    elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.read()
        keep = False
    return status, keep


async def _close(streams: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
    writer = streams[1]
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


Series = frozenset[tuple[str, frozenset[tuple[str, str]]]]


def series(url: str) -> Series:
    """Every series (sample name and labels, no values) that ``url``/api/metrics serves."""
    text = httpx.get(f"{url}/api/metrics", timeout=30).text
    return frozenset(
        (sample.name, frozenset(sample.labels.items()))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    )


def rss_bytes(pid: int) -> int:
    """The resident set size of process ``pid`` (VmRSS in /proc/<pid>/status)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")
