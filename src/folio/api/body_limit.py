"""ASGI middleware that refuses request bodies over a size cap with 413."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from folio.api.errors import error_content


class BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Answer 413 to any request body over ``max_body_bytes``, before the app sees it.

    A declared Content-Length is checked up front; a chunked body is buffered up to the
    cap first, so an oversized request never reaches a handler or causes a partial write.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared == -1:
            await _send_error(send, 400, "the Content-Length header is not a valid integer")
            return
        if declared is not None and declared > self.max_body_bytes:
            await self._refuse(send)
            return
        if declared is not None or not _is_chunked(scope):
            # The server holds the body to its declared length, so nothing to count.
            await self.app(scope, receive, send)
            return
        try:
            body = await self._read_body(receive)
        except BodyTooLarge:
            await self._refuse(send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read_body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # A disconnect: nothing more will come; let the app see an empty body.
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _refuse(self, send: Send) -> None:
        message = f"the request body is larger than the limit of {self.max_body_bytes} bytes"
        await _send_error(send, 413, message, {"max_body_bytes": self.max_body_bytes})


def _declared_length(scope: Scope) -> int | None:
    """Content-Length as an int, None when absent, -1 when it is not a number."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isascii() and text.isdigit() else -1
    return None


def _is_chunked(scope: Scope) -> bool:
    return any(name == b"transfer-encoding" for name, _ in scope["headers"])


def _replay(body: bytes, receive: Receive) -> Receive:
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _send_error(
    send: Send, status: int, message: str, details: dict[str, int] | None = None
) -> None:
    payload = json.dumps(error_content(status, message, details), separators=(",", ":")).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
