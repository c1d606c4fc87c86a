"""Request payloads shared by the tests."""

from __future__ import annotations

from typing import Any


def project_payload(slug: str = "demo-project", **overrides: Any) -> dict[str, Any]:
    """A valid body for POST /api/projects, with any field overridden."""
    payload: dict[str, Any] = {
        "slug": slug,
        "title": "Demo project",
        "summary": "A short summary.",
        "body": "# Heading\n\nSome *Markdown*.",
        "tags": ["python", "fastapi"],
        "links": {"repository": "https://github.com/example/demo", "demo": "https://demo.example/"},
        "published": True,
    }
    payload.update(overrides)
    return payload
