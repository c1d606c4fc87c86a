"""folio-web reads folio-api's HTTP/1.1 answers whole, however the bytes arrive."""

from __future__ import annotations

import asyncio
import time

import pytest

from folio.web.api_http import StreamFetch
from folio.web.api_wire import (
    MAX_HEAD,
    MAX_LINE,
    AnswerReader,
    ClosedBeforeAnswer,
    FetchError,
    parse_answer,
)

JSON = b'HTTP/1.1 200 OK\r\nContent-Length: 11\r\nETag: "a1"\r\n\r\n{"ok":true}'


def test_an_answer_is_whole_only_once_every_byte_has_come() -> None:
    """Byte by byte, nothing is returned until the body is complete; then all of it."""
    for cut in range(len(JSON)):
        assert parse_answer(bytearray(JSON[:cut]), closed=False) is None
    parsed = parse_answer(bytearray(JSON + b"HTTP/1.1 304"), closed=False)
    assert parsed is not None
    answer, used, keep = parsed
    assert (answer.status, answer.body, answer.headers["etag"]) == (200, b'{"ok":true}', '"a1"')
    assert used == len(JSON)  # what follows is the next answer's
    assert keep


def test_a_304_has_no_body_and_keeps_the_connection() -> None:
    """A 304 ends at its headers, whatever Content-Length says."""
    raw = b'HTTP/1.1 304 Not Modified\r\nETag: "a1"\r\nContent-Length: 11\r\n\r\n'
    parsed = parse_answer(bytearray(raw), closed=False)
    assert parsed is not None
    assert (parsed[0].status, parsed[0].body, parsed[1], parsed[2]) == (304, b"", len(raw), True)


def test_chunked_bodies_are_joined() -> None:
    """Chunks, with extensions and trailers, decode to the body; partial chunks wait."""
    raw = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'4;x=y\r\n{"a"\r\n3\r\n:1}\r\n0\r\nTrailer: z\r\n\r\n'
    )
    for cut in range(len(raw)):
        assert parse_answer(bytearray(raw[:cut]), closed=False) is None
    parsed = parse_answer(bytearray(raw), closed=False)
    assert parsed is not None
    assert (parsed[0].body, parsed[1]) == (b'{"a":1}', len(raw))


def test_close_delimited_bodies_end_with_the_connection() -> None:
    """Without Content-Length the body runs to the close, and the connection is not kept."""
    raw = b"HTTP/1.1 200 OK\r\n\r\n{}"
    assert parse_answer(bytearray(raw), closed=False) is None
    parsed = parse_answer(bytearray(raw), closed=True)
    assert parsed is not None
    assert (parsed[0].body, parsed[2]) == (b"{}", False)


def test_connection_close_and_http_1_0_are_not_kept() -> None:
    """Connection: close, or HTTP/1.0, means the connection carries no second request."""
    for raw in (
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
    ):
        parsed = parse_answer(bytearray(raw), closed=False)
        assert parsed is not None
        assert parsed[2] is False


def test_cut_short_and_malformed_answers_are_errors() -> None:
    """A close before any byte may be retried; a close mid-answer or garbage may not."""
    with pytest.raises(ClosedBeforeAnswer):
        parse_answer(bytearray(), closed=True)
    for raw, closed in (
        (JSON[:20], True),
        (JSON[:-3], True),
        (b"SMTP ready\r\n\r\n", False),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", False),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", False),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", False),
        (b"HTTP/1.1 200 OK\r\nX: " + b"a" * MAX_HEAD, False),
    ):
        with pytest.raises(FetchError) as caught:
            parse_answer(bytearray(raw), closed=closed)
        assert not isinstance(caught.value, ClosedBeforeAnswer), raw[:40]


CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize("size", [b"0x10", b"-5", b"+5", b"1_0", b" 1", b"1 ", b"\xb2"])
def test_chunk_sizes_are_bare_hex_digits(size: bytes) -> None:
    """Only hex digits name a chunk's size; int()'s prefixes, signs, _ and spaces do not."""
    raw = CHUNKED_HEAD + size + b"\r\n" + b"x" * 16 + b"\r\n0\r\n\r\n"
    with pytest.raises(FetchError):
        parse_answer(bytearray(raw), closed=False)


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\n\r\nab",  # '²' in latin-1
        b"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nab",
        b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n",
        b"HTTP/1.1 \xb200 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
    ],
)
def test_lengths_and_statuses_are_ascii_digits(raw: bytes) -> None:
    """A non-ASCII digit, a sign or an absurd length is a FetchError, never a ValueError."""
    with pytest.raises(FetchError):
        parse_answer(bytearray(raw), closed=False)


@pytest.mark.parametrize(
    "raw",
    [
        CHUNKED_HEAD + b"1" * (MAX_LINE + 2),  # a chunk-size line that never ends
        CHUNKED_HEAD + b"1;" + b"x" * MAX_LINE + b"\r\n",  # ends, but too late
        CHUNKED_HEAD + b"0\r\nT: " + b"z" * (MAX_LINE + 2),  # a trailer that never ends
        CHUNKED_HEAD + b"0\r\n" + b"T: zzzzzzzzzz\r\n" * (MAX_HEAD // 15 + 2),
        b"HTTP/1.1 200 OK\r\n" + b"X: aaaaaaaa\r\n" * (MAX_HEAD // 13 + 2) + b"\r\n",
        b"HTTP/1.1 200 OK\r\nX: " + b"a" * (MAX_LINE + 1) + b"\r\n\r\n",
    ],
)
def test_lines_and_heads_are_bounded(raw: bytes) -> None:
    """Over-long chunk lines, trailers or heads fail instead of buffering without end."""
    with pytest.raises(FetchError):
        parse_answer(bytearray(raw), closed=False)


def test_chunked_bodies_are_decoded_once_as_they_arrive() -> None:
    """The reader resumes where it stopped: bytes already decoded are never read again."""
    raw = CHUNKED_HEAD + b"3\r\nabc\r\n" + b"2\r\nde\r\n0\r\n\r\n"
    reader = AnswerReader()
    split = len(CHUNKED_HEAD) + len(b"3\r\nabc\r\n2\r")
    buffer = bytearray(raw[:split])
    assert reader.read(buffer, closed=False) is None
    # Spoil what was read: a reader that started over would fail on the "z".
    buffer[len(CHUNKED_HEAD) : len(CHUNKED_HEAD) + 1] = b"z"
    buffer += raw[split:]
    parsed = reader.read(buffer, closed=False)
    assert parsed is not None
    assert (parsed[0].body, parsed[1]) == (b"abcde", len(raw))


class RawServer:
    """A TCP server that answers each connection's first request with canned bytes."""

    def __init__(self, answer: bytes, stray: bytes = b"") -> None:
        self.answer = answer
        self.stray = stray
        self.connections = 0
        self.eofs: asyncio.Queue[int] = asyncio.Queue()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        await reader.readuntil(b"\r\n\r\n")
        writer.write(self.answer)
        if self.stray:
            await asyncio.sleep(0.05)  # the client has put the connection back by now
            writer.write(self.stray)
        await reader.read()  # until the client closes its side
        writer.close()
        await writer.wait_closed()
        await self.eofs.put(number)


async def _serve(server: RawServer) -> tuple[asyncio.Server, str]:
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    return listening, f"http://127.0.0.1:{port}"


async def test_an_unreadable_answer_fails_at_once_and_closes_the_connection() -> None:
    """A Content-Length of '²' is a prompt FetchError, not a wait for the timeout."""
    server = RawServer(b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\n\r\n{}")
    listening, url = await _serve(server)
    fetch = StreamFetch(url, timeout=5.0)
    try:
        began = time.monotonic()
        with pytest.raises(FetchError):
            await fetch.get("/x")
        assert time.monotonic() - began < 2.0
        assert await asyncio.wait_for(server.eofs.get(), 2.0) == 1
        assert fetch._idle == []
    finally:
        await fetch.aclose()
        listening.close()
        await listening.wait_closed()


async def test_stray_bytes_on_an_idle_connection_close_it() -> None:
    """Bytes nobody asked for make the client drop that connection; the next GET dials anew."""
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
    server = RawServer(answer, stray=b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
    listening, url = await _serve(server)
    fetch = StreamFetch(url, timeout=5.0)
    try:
        assert (await fetch.get("/x")).body == b"{}"
        assert await asyncio.wait_for(server.eofs.get(), 2.0) == 1  # closed while idle
        server.stray = b""
        assert (await fetch.get("/y")).body == b"{}"
        assert server.connections == 2
        await fetch.aclose()
        assert await asyncio.wait_for(server.eofs.get(), 2.0) == 2
    finally:
        await fetch.aclose()
        listening.close()
        await listening.wait_closed()
