"""The steps of one request through folio's middleware, each counted alone under callgrind.

bench.instructions takes whole parts away from a running middleware; this lists what the
remaining steps cost one by one, each repeated in a loop of its own with the loop's own
cost taken off. The steps are those of folio-api's MetricsMiddleware on the timed request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from folio_metrics import MetricsMiddleware
from folio_metrics.middleware import _Exchange
from folio_metrics.tracing import trace_exemplar

# (what the step is, the statement that does it once, as the middleware does it)
STEPS = (
    ("route lookup: resolver, exclusions and the route's children", "folio._route(scope)"),
    ("  of which the route template resolver", "folio._resolve(scope)"),
    ("the object that wraps receive and send", "_Exchange(scope, receive, send, peers)"),
    ("two clock reads", "clock(); clock()"),
    ("in-progress gauge, up and down", "cells[0] += 1.0; cells[0] -= 1.0"),
    ("status counter", "route.requests[200].inc(1.0, None)"),
    ("request duration: native and classic buckets", "route.duration.observe(0.001, None)"),
    ("request size, an empty body", "route.request_size.observe(0.0)"),
    ("response size, a 68-byte body", "route.response_size.observe(68.0)"),
    ("traceparent lookup for exemplars", "trace_exemplar(scope)"),
    ("connection tracker, at the last byte", "peers.is_open(client)"),
    ("per-request query count, start and finish", "queries.finish(queries.start(), endpoint)"),
)
EMPTY_LOOP = "pass"


def step_loops(folio: MetricsMiddleware, scope: dict[str, Any]) -> dict[str, Callable[[int], None]]:
    """A function per step (and one for the empty loop) that runs it ``n`` times."""
    endpoint = folio.resolver(scope)
    route = folio._route(scope)
    assert route is not None, "the timed route must not be excluded"
    names = {
        "folio": folio,
        "scope": scope,
        "receive": scope,  # any object: the wrapper only keeps it
        "send": scope,
        "peers": folio.peers,
        "client": scope["client"],
        "clock": time.perf_counter,
        "route": route,
        "cells": route.in_progress_cells,
        "queries": folio.queries,
        "endpoint": endpoint,
        "_Exchange": _Exchange,
        "trace_exemplar": trace_exemplar,
    }
    loops: dict[str, Callable[[int], None]] = {}
    for label, statement in ((EMPTY_LOOP, EMPTY_LOOP), *STEPS):
        # A function of its own, so that every name is a fast local, as in the middleware.
        source = f"def run(n, {', '.join(names)}):\n    for _ in range(n):\n        {statement}\n"
        namespace: dict[str, Any] = {}
        exec(compile(source, f"<step {label}>", "exec"), namespace)  # noqa: S102 (fixed text)
        run = namespace["run"]
        loops[label] = lambda n, run=run: run(n, **names)
    return loops
