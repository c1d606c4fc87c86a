"""The guarded protocol on uvicorn's httptools base (httptools is an optional dependency)."""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from folio.protocol.guarded import GuardedConnection


class GuardedHttpToolsProtocol(GuardedConnection, HttpToolsProtocol):
    """uvicorn's httptools protocol with request deadlines, a connection cap and JSON 400s."""

    def on_message_begin(self) -> None:
        """A request's first byte: its headers are timed from now."""
        super().on_message_begin()
        self.guard.track("headers")

    def on_headers_complete(self) -> None:
        """The headers are in: the body, if any, is timed from now."""
        super().on_headers_complete()
        self.guard.track("body")

    def on_message_complete(self) -> None:
        """The whole request is in: the handler and response are not timed."""
        super().on_message_complete()
        self.guard.track(None)
