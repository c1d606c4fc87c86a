"""folio-web reads folio-api's HTTP/1.1 answers whole, however the bytes arrive."""

from __future__ import annotations

import pytest

from folio.web.api_wire import MAX_HEAD, ClosedBeforeAnswer, FetchError, parse_answer

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
