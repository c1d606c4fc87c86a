"""A plain ASGI app, no framework, instrumented with folio_metrics and its own resolver.

Run it from packages/folio-metrics, then open http://127.0.0.1:8000/metrics::

    uvicorn --app-dir examples asgi_app:app

Without a framework there is no router to ask for route templates, so the app names them
itself with a resolver: any callable from the ASGI scope to a template, or
``folio_metrics.UNMATCHED``. Never return the raw path: every distinct id would become a
series of its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import folio_metrics

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

ITEM = re.compile(r"/items/(?P<item_id>[0-9]+)")
ITEMS = {1: "teapot", 2: "kettle"}


def resolve(scope: Scope) -> str:
    """The route template this request matches; the same table the app routes with."""
    path: str = scope["path"]
    if path == "/hello":
        return "/hello"
    if ITEM.fullmatch(path):
        return "/items/{item_id}"
    return folio_metrics.UNMATCHED


async def respond(send: Send, status: int, body: dict[str, object]) -> None:
    """Send ``body`` as a JSON response."""
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def application(scope: Scope, receive: Receive, send: Send) -> None:
    """Two routes, /hello and /items/{item_id}; everything else is a 404."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    path = scope["path"]
    item = ITEM.fullmatch(path)
    if path == "/hello":
        await respond(send, 200, {"hello": "world"})
    elif item and int(item["item_id"]) in ITEMS:
        await respond(send, 200, {"name": ITEMS[int(item["item_id"])]})
    else:
        await respond(send, 404, {"error": "not found"})


# A wrapper that serves /metrics and hands every other request to the app, measured.
app = folio_metrics.instrument(application, resolver=resolve)

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8000)
