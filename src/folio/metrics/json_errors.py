"""The JSON body of every error folio answers: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

from typing import Any


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """An error body: ``code`` for programs to branch on, ``message`` for people to read."""
    return {"error": {"code": code, "message": message, "details": details}}
