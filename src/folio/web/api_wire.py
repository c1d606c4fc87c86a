"""Reading folio-api's HTTP/1.1 answers from the bytes a connection has received so far."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Headers larger than this, or a body larger than MAX_BODY, are not a folio-api answer.
MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024
# A chunk-size, trailer or header line longer than this is not one folio-api would send.
MAX_LINE = 8 * 1024

# Explicit ASCII classes: str.isdigit() and int() also accept '²', '0x', '_', signs, spaces.
_STATUS_LINE = re.compile(r"HTTP/1\.([01]) ([0-9]{3})(?: [^\r\n]*)?")
_DECIMAL = re.compile(r"[0-9]{1,12}")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,12}")


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


Parsed = tuple[RawAnswer, int, bool]


def parse_answer(buffer: bytearray, closed: bool) -> Parsed | None:
    """The first whole answer in ``buffer``, the bytes it took and whether to keep the
    connection; None until it has all arrived. ``closed``: no more bytes will come."""
    return AnswerReader().read(buffer, closed)


class AnswerReader:
    """Reads one answer from a buffer that only grows, resuming where the last call stopped.

    A connection calls ``read`` on every arrival; starting over each time would make a
    body of n pieces cost n² work.
    """

    def __init__(self) -> None:
        self._scanned = 0  # the head's end is not before here
        self._head: tuple[int, dict[str, str], bool] | None = None
        self._start = 0  # where the body begins
        self._position = 0  # chunked: the next unread byte
        self._chunk = -1  # chunked: size of the chunk whose size line was read, else -1
        self._trailers = -1  # chunked: where the trailers begin once the last chunk is read
        self._parts: list[bytes] = []
        self._total = 0

    def read(self, buffer: bytearray, closed: bool) -> Parsed | None:
        """The answer, the bytes it took and whether to keep the connection, or None yet."""
        if self._head is None and not self._read_head(buffer, closed):
            return None
        assert self._head is not None
        status, fields, keep = self._head
        start = self._start
        if status in (204, 304):
            return RawAnswer(status, fields, b""), start, keep
        if "chunked" in fields.get("transfer-encoding", "").lower():
            chunked = self._read_chunks(buffer)
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
        if not _DECIMAL.fullmatch(length):
            raise FetchError(f"folio-api sent a malformed Content-Length: {length[:40]!r}")
        size = int(length)
        if size > MAX_BODY:
            raise FetchError(f"folio-api answer of {size} bytes is too large")
        if len(buffer) - start < size:
            _check_open(closed)
            return None
        return RawAnswer(status, fields, bytes(buffer[start : start + size])), start + size, keep

    def _read_head(self, buffer: bytearray, closed: bool) -> bool:
        end = buffer.find(b"\r\n\r\n", max(0, self._scanned - 3), MAX_HEAD + 4)
        if end < 0:
            self._scanned = len(buffer)
            if len(buffer) >= MAX_HEAD + 4:
                raise FetchError("folio-api sent headers that are too large")
            if closed:
                if buffer:
                    raise FetchError("folio-api closed the connection mid-answer")
                raise ClosedBeforeAnswer("folio-api closed the connection without answering")
            return False
        self._start = self._position = end + 4
        self._head = parse_head(bytes(buffer[: self._start]))
        if 100 <= self._head[0] < 200:
            raise FetchError(f"folio-api sent an unexpected interim answer {self._head[0]}")
        return True

    def _read_chunks(self, buffer: bytearray) -> tuple[bytes, int] | None:
        """The decoded body and where it ends, or None while chunks are still to come."""
        while True:
            if self._chunk >= 0:
                end = self._position + self._chunk
                if len(buffer) < end + 2:
                    return None
                if buffer[end : end + 2] != b"\r\n":
                    raise FetchError("folio-api sent a malformed chunk")
                self._parts.append(bytes(buffer[self._position : end]))
                self._position, self._chunk = end + 2, -1
            line = self._read_line(buffer)
            if line is None:
                return None
            if self._trailers >= 0:  # trailers, unused, up to the empty line
                if not line:
                    return b"".join(self._parts), self._position
                if self._position - self._trailers > MAX_HEAD:
                    raise FetchError("folio-api sent trailers that are too large")
                continue
            size = _chunk_size(line)
            if size == 0:
                self._trailers = self._position
                continue
            self._total += size
            if self._total > MAX_BODY:
                raise FetchError("folio-api answer is too large")
            self._chunk = size

    def _read_line(self, buffer: bytearray) -> bytes | None:
        end = buffer.find(b"\r\n", self._position, self._position + MAX_LINE + 2)
        if end < 0:
            if len(buffer) - self._position >= MAX_LINE + 2:
                raise FetchError("folio-api sent a chunk line that is too long")
            return None
        line = bytes(buffer[self._position : end])
        self._position = end + 2
        return line


def _chunk_size(line: bytes) -> int:
    size = line.split(b";", 1)[0]
    if not _HEX.fullmatch(size):
        raise FetchError(f"folio-api sent a malformed chunk size: {line[:40]!r}")
    return int(size, 16)


def _check_open(closed: bool) -> None:
    if closed:
        raise FetchError("folio-api closed the connection mid-answer")


def parse_head(head: bytes) -> tuple[int, dict[str, str], bool]:
    """Status, headers and whether the connection stays open, from the answer's head."""
    lines = head.decode("latin-1").split("\r\n")
    matched = _STATUS_LINE.fullmatch(lines[0])
    if matched is None:
        raise FetchError(f"folio-api sent no HTTP status line: {lines[0][:80]!r}")
    fields: dict[str, str] = {}
    for line in lines[1:]:
        if len(line) > MAX_LINE:
            raise FetchError(f"folio-api sent a header line that is too long: {line[:40]!r}")
        if line:
            name, colon, value = line.partition(":")
            if not colon:
                raise FetchError(f"folio-api sent a malformed header: {line[:80]!r}")
            fields[name.strip().lower()] = value.strip()
    keep = matched[1] == "1" and "close" not in fields.get("connection", "").lower()
    return int(matched[2]), fields, keep
