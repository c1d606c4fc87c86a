"""The JSON body of every error folio answers: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

from typing import Any


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """An error body: ``code`` for programs to branch on, ``message`` for people to read."""
    return {"error": {"code": code, "message": message, "details": details}}


def routing_message(phrase: str, method: str, path: str) -> str:
    """What a 404 or 405 from routing says: what was asked for, a HEAD as the GET it mirrors.

    A HEAD answers with GET's headers, Content-Length included, so its message is GET's.
    """
    return f"{phrase}: {'GET' if method == 'HEAD' else method} {path}"
