"""The wire under ApiClient: keep-alive HTTP/1.1 GETs to folio-api, and an httpx stand-in.

folio-web only ever GETs small JSON documents from one origin. httpx spent about 1.8 ms
of CPU on each such call, more than the rest of a page view; an asyncio protocol over a
pool of kept-alive connections does the same GET for well under a tenth of that.
Tests that run folio-api in-process hand in an httpx transport instead (HttpxFetch).
"""

from __future__ import annotations

import asyncio
from typing import Protocol, cast
from urllib.parse import urlsplit

import httpx

from folio.web.api_wire import AnswerReader, ClosedBeforeAnswer, FetchError, RawAnswer

_POOL_SIZE = 20  # as httpx's default keep-alive pool, which folio-web used before

__all__ = ["Fetch", "FetchError", "HttpxFetch", "RawAnswer", "StreamFetch"]


class Fetch(Protocol):
    """GETs a path-and-query from folio-api; raises TimeoutError or FetchError."""

    async def get(self, target: str, headers: tuple[tuple[str, str], ...]) -> RawAnswer: ...

    async def aclose(self) -> None: ...


class _Connection(asyncio.Protocol):
    """One connection to folio-api, carrying one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.closed = False
        self.reusable = False
        self.waiter: asyncio.Future[RawAnswer] | None = None
        self.reader = AnswerReader()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, yet have its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():
            # Nothing was asked: these bytes would be read as the next request's answer.
            self.buffer.clear()
            self.closed = True
            self.reusable = False
            self.close()
            return
        self.buffer += data
        self._answer()

    def eof_received(self) -> bool:
        self.closed = True
        self._answer()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._answer()

    def usable(self) -> bool:
        # Closed by the server while idle (uvicorn's keep-alive timeout), or sent stray bytes.
        return not self.closed and self.transport is not None and not self.buffer

    async def exchange(self, request: bytes) -> RawAnswer:
        """Send ``request`` and wait for its whole answer."""
        assert self.transport is not None
        self.reusable = False
        self.reader = AnswerReader()
        self.waiter = asyncio.get_running_loop().create_future()
        try:
            self.transport.write(request)
            return await self.waiter
        finally:
            self.waiter = None

    def _answer(self) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        try:
            parsed = self.reader.read(self.buffer, self.closed)
        except Exception as error:  # any parse failure, not just ours, ends the wait now
            # Raised inside a protocol callback, it would only be logged and the caller
            # would wait out its timeout; and what follows on this connection is unknowable.
            self.closed = True
            self.reusable = False
            self.close()
            if not isinstance(error, FetchError):
                error = FetchError(f"folio-api sent an answer that cannot be read: {error!r}")
            waiter.set_exception(error)
            return
        if parsed is not None:
            answer, used, keep = parsed
            del self.buffer[:used]
            self.reusable = keep and not self.closed and not self.buffer
            waiter.set_result(answer)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class StreamFetch:
    """GETs over a small pool of kept-alive HTTP/1.1 connections to one origin."""

    def __init__(self, base_url: str, timeout: float, user_agent: str = "folio-web") -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"not an http:// URL (https goes through httpx): {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        host_header = parts.netloc.rsplit("@", 1)[-1]
        # Everything but the request line and conditional headers is the same on each call.
        self._fixed = (
            f"Host: {host_header}\r\nUser-Agent: {user_agent}\r\nAccept: application/json\r\n"
        ).encode("latin-1")
        self._idle: list[_Connection] = []

    async def get(self, target: str, headers: tuple[tuple[str, str], ...] = ()) -> RawAnswer:
        """GET ``target``; a kept-alive connection the server dropped is retried once, fresh."""
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers)
        request = b"".join(
            (
                f"GET {self.prefix}{target} HTTP/1.1\r\n".encode("latin-1"),
                self._fixed,
                extra.encode("latin-1"),
                b"\r\n",
            )
        )
        async with asyncio.timeout(self.timeout):
            while self._idle:
                connection = self._idle.pop()
                if not connection.usable():
                    connection.close()
                    continue
                try:
                    return await self._exchange(connection, request)
                except ClosedBeforeAnswer:
                    continue  # it closed as we sent: GET is idempotent, so ask on another
            return await self._exchange(await self._connect(), request)

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _transport, connection = await loop.create_connection(_Connection, self.host, self.port)
        except OSError as error:
            raise FetchError(f"cannot connect to {self.host}:{self.port}: {error}") from error
        return connection

    async def _exchange(self, connection: _Connection, request: bytes) -> RawAnswer:
        reusable = False
        try:
            answer = await connection.exchange(request)
            reusable = connection.reusable
        except OSError as error:
            raise FetchError(f"folio-api connection failed: {error!r}") from error
        finally:
            # Only a connection whose answer was read in full can carry the next request;
            # one cut short by a timeout may still receive the old answer's bytes.
            if reusable and len(self._idle) < _POOL_SIZE:
                self._idle.append(connection)
            else:
                connection.close()
        return answer

    async def aclose(self) -> None:
        """Close every idle connection."""
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


class HttpxFetch:
    """The same GETs through httpx: for an https folio-api, and tests' in-process one."""

    def __init__(
        self, base_url: str, timeout: float, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            headers={"User-Agent": "folio-web", "Accept": "application/json"},
        )

    async def get(self, target: str, headers: tuple[tuple[str, str], ...] = ()) -> RawAnswer:
        """GET ``target`` through the transport."""
        try:
            response = await self._client.get(target, headers=dict(headers))
        except httpx.TimeoutException as error:
            raise TimeoutError(str(error)) from error
        except httpx.TransportError as error:
            raise FetchError(str(error)) from error
        fields = {name.lower(): value for name, value in response.headers.items()}
        return RawAnswer(response.status_code, fields, response.content)

    async def aclose(self) -> None:
        """Close the httpx client."""
        await self._client.aclose()
