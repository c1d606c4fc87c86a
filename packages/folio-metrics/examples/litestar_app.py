"""A Litestar app instrumented with folio_metrics.

Run it from packages/folio-metrics, then open http://127.0.0.1:8000/metrics::

    uvicorn --app-dir examples litestar_app:app

Litestar's router names each request's route: GET /items/1 is counted as
``endpoint="/items/{item_id}"`` (the ``:int`` type is not part of the name).
"""

from __future__ import annotations

import folio_metrics
from litestar import Litestar, get, post
from litestar.exceptions import NotFoundException

ITEMS = {1: "teapot", 2: "kettle"}


@get("/items/{item_id:int}")
async def read_item(item_id: int) -> dict[str, object]:
    """One item by id; an unknown id is a 404 under the same template."""
    if item_id not in ITEMS:
        raise NotFoundException("no such item")
    return {"id": item_id, "name": ITEMS[item_id]}


@post("/echo")
async def echo(data: dict[str, str]) -> dict[str, str]:
    """Returns the JSON object it was sent; its size shows in http_request_size_bytes."""
    return data


# Not a Starlette app: instrument() wraps it and serves /metrics itself, so serve the result.
app = folio_metrics.instrument(Litestar(route_handlers=[read_item, echo]))

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8000)
