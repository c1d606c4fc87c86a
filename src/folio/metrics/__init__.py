"""folio.metrics: Prometheus instrumentation for any ASGI app (see issue 3)."""
