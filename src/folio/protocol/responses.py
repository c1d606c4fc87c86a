"""The JSON error answers the server protocol writes itself, before or instead of the app."""

from __future__ import annotations

import http
import json
from collections.abc import Sequence

from starlette.types import Receive, Scope, Send

from folio.json_errors import error_body

Header = tuple[bytes, bytes]

# What the parsers (h11 and httptools) say, in lower case, and what the client is told.
# The first match wins; the parsers' own text quotes the request, so it is never echoed.
_MALFORMED: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("content-length", "transfer-encoding"),
        "Content-Length and Transfer-Encoding were both sent",
    ),
    (("content-length",), "the Content-Length header is not a valid integer"),
    (("transfer-encoding",), "only Transfer-Encoding: chunked is supported"),
    (("chunk",), "a chunk of the chunked body is malformed"),
    (("host",), "the Host header is missing or repeated"),
    (("buffer too long",), "the request line and headers are too long"),
    (("overflow",), "the request line and headers are too long"),
    (("header",), "a header line is malformed"),
)
_REQUEST_LINE = "the request line is malformed (it must be METHOD /path HTTP/1.1)"


def malformed_request_message(error: BaseException | None) -> str:
    """A message for a request the HTTP parser refused, from the parser's ``error``."""
    # h11 quotes the offending bytes as bytearray(b'...'): match on its words only.
    text = str(error).lower().partition("bytearray(")[0] if error is not None else ""
    for needles, message in _MALFORMED:
        if all(needle in text for needle in needles):
            return message
    return _REQUEST_LINE


def raw_error_response(
    status: int,
    code: str,
    message: str,
    details: object,
    default_headers: Sequence[Header] = (),
) -> bytes:
    """A whole HTTP/1.1 response with the JSON error body, that closes the connection."""
    body = json.dumps(error_body(code, message, details)).encode()
    lines = [f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}".encode()]
    lines += [name + b": " + value for name, value in default_headers]
    lines += [
        b"content-type: application/json",
        b"content-length: " + str(len(body)).encode(),
        b"connection: close",
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class OverCapacity:
    """An ASGI app that answers 503 and closes: for connections past the worker's cap."""

    def __init__(self, max_connections: int) -> None:
        self.body = json.dumps(
            error_body(
                "service_unavailable",
                "this server has too many open connections; retry shortly",
                {"max_connections": max_connections},
            )
        ).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self.body)).encode()),
            (b"retry-after", b"1"),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})
