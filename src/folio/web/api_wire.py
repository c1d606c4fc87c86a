"""Reading folio-api's HTTP/1.1 answers from the bytes a connection has received so far."""

from __future__ import annotations

from dataclasses import dataclass

# Headers larger than this, or a body larger than MAX_BODY, are not a folio-api answer.
MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024


class FetchError(Exception):
    """The connection failed or the answer was not HTTP that can be read."""


class ClosedBeforeAnswer(FetchError):
    """The server closed the connection before sending a byte: safe to ask again elsewhere."""


@dataclass(frozen=True, slots=True)
class RawAnswer:
    """One HTTP answer: status, headers by lower-case name, and the whole body."""

    status: int
    headers: dict[str, str]
    body: bytes


def parse_answer(buffer: bytearray, closed: bool) -> tuple[RawAnswer, int, bool] | None:
    """The first whole answer in ``buffer``, the bytes it took and whether to keep the
    connection; None until it has all arrived. ``closed``: no more bytes will come."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > MAX_HEAD:
            raise FetchError("folio-api sent headers that are too large")
        if closed:
            if buffer:
                raise FetchError("folio-api closed the connection mid-answer")
            raise ClosedBeforeAnswer("folio-api closed the connection without answering")
        return None
    start = end + 4
    status, fields, keep = parse_head(bytes(buffer[:start]))
    if 100 <= status < 200:
        raise FetchError(f"folio-api sent an unexpected interim answer {status}")
    if status in (204, 304):
        return RawAnswer(status, fields, b""), start, keep
    if "chunked" in fields.get("transfer-encoding", "").lower():
        chunked = _parse_chunked(buffer, start)
        if chunked is None:
            _check_open(closed)
            return None
        body, used = chunked
        return RawAnswer(status, fields, body), used, keep
    length = fields.get("content-length")
    if length is None:  # ends when the server closes the connection
        if len(buffer) - start > MAX_BODY:
            raise FetchError("folio-api answer is too large")
        if not closed:
            return None
        return RawAnswer(status, fields, bytes(buffer[start:])), len(buffer), False
    if not length.isdigit():
        raise FetchError(f"folio-api sent a malformed Content-Length: {length[:40]!r}")
    size = int(length)
    if size > MAX_BODY:
        raise FetchError(f"folio-api answer of {size} bytes is too large")
    if len(buffer) - start < size:
        _check_open(closed)
        return None
    return RawAnswer(status, fields, bytes(buffer[start : start + size])), start + size, keep


def _check_open(closed: bool) -> None:
    if closed:
        raise FetchError("folio-api closed the connection mid-answer")


def parse_head(head: bytes) -> tuple[int, dict[str, str], bool]:
    """Status, headers and whether the connection stays open, from the answer's head."""
    lines = head.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/1.") or not code.isdigit():
        raise FetchError(f"folio-api sent no HTTP status line: {lines[0][:80]!r}")
    fields: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, colon, value = line.partition(":")
            if not colon:
                raise FetchError(f"folio-api sent a malformed header: {line[:80]!r}")
            fields[name.strip().lower()] = value.strip()
    keep = version == "HTTP/1.1" and "close" not in fields.get("connection", "").lower()
    return int(code), fields, keep


def _parse_chunked(buffer: bytearray, start: int) -> tuple[bytes, int] | None:
    """The decoded body and where it ends, or None while chunks are still to come."""
    parts: list[bytes] = []
    total = 0
    position = start
    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            return None
        size_text = bytes(buffer[position:line_end]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError as error:
            raise FetchError("folio-api sent a malformed chunk") from error
        position = line_end + 2
        if size == 0:
            while True:  # trailers, unused, up to the empty line
                line_end = buffer.find(b"\r\n", position)
                if line_end < 0:
                    return None
                empty = line_end == position
                position = line_end + 2
                if empty:
                    return b"".join(parts), position
        total += size
        if total > MAX_BODY:
            raise FetchError("folio-api answer is too large")
        if len(buffer) < position + size + 2:
            return None
        if buffer[position + size : position + size + 2] != b"\r\n":
            raise FetchError("folio-api sent a malformed chunk")
        parts.append(bytes(buffer[position : position + size]))
        position += size + 2
