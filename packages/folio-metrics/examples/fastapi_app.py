"""A FastAPI app instrumented with folio_metrics.

Run it from packages/folio-metrics, then open http://127.0.0.1:8000/metrics::

    uvicorn --app-dir examples fastapi_app:app

Requests are counted under their route template: GET /items/1 and GET /items/2 are both
``endpoint="/items/{item_id}"``, and the router's prefix is part of the template.
"""

from __future__ import annotations

import folio_metrics
from fastapi import APIRouter, FastAPI, HTTPException

ITEMS = {1: "teapot", 2: "kettle"}

items = APIRouter(prefix="/items")


@items.get("/{item_id}")
async def read_item(item_id: int) -> dict[str, object]:
    """One item by id; an unknown id is a 404 under the same template."""
    if item_id not in ITEMS:
        raise HTTPException(status_code=404, detail="no such item")
    return {"id": item_id, "name": ITEMS[item_id]}


app = FastAPI()
app.include_router(items)


@app.get("/health")
async def health() -> dict[str, str]:
    """Liveness: excluded from the metrics below, so probes do not drown real traffic."""
    return {"status": "ok"}


# FastAPI is changed in place: the middleware and the /metrics route are added to it.
app = folio_metrics.instrument(app, exclude=["/health"])

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8000)
