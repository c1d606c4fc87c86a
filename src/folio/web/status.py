"""What the built-in status page shows: its alerts panel and its charts' data.

The page (routes/status.py) is for operators: it is not a page view, loads no RUM script,
and can be put behind FOLIO_STATUS_TOKEN or switched off with FOLIO_STATUS_PAGE=false
(create_app then does not register its routes). The browser names a chart; the PromQL is
the server's own (status_queries.py), run against FOLIO_PROMETHEUS_URL. The alerts panel
is drawn on the server from one fixed request, Prometheus's /api/v1/alerts, each time the
page loads.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import Request

from folio.web.prometheus import PrometheusClient, PrometheusError, Series
from folio.web.status_alerts import NO_ALERTS, shown_alerts
from folio.web.status_queries import DEFAULT_RANGE, RANGES, Chart, TimeRange

MAX_SERIES = 20  # per chart: more would be unreadable, and no fixed query yields that many
NOT_CONFIGURED = (
    "Prometheus is not configured, so there is nothing to chart. Set FOLIO_PROMETHEUS_URL to "
    "its address (for example http://127.0.0.1:9090) and restart folio-web; `folio run` "
    "does this itself when it starts Prometheus."
)


async def alerts_context(prometheus: PrometheusClient) -> dict[str, Any]:
    """The panel's rows, or why there are none to show: Prometheus down is not a failed page."""
    checked = datetime.now(UTC)
    context: dict[str, Any] = {
        "alerts": [],
        "alerts_error": None,
        "no_alerts": NO_ALERTS,
        "alerts_checked": checked.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "alerts_checked_text": checked.strftime("%H:%M:%S UTC"),
    }
    try:
        context["alerts"] = shown_alerts(await prometheus.alerts(), checked)
    except PrometheusError as error:
        context["alerts_error"] = f"Alerts are unavailable. {error.message}"
    return context


def requested_range(request: Request) -> tuple[str, str | None]:
    """The requested range, or why the query string is refused: only ``range`` is taken."""
    allowed = "|".join(RANGES)
    extra = sorted(set(request.query_params) - {"range"})
    if extra:
        listed = ", ".join(name[:40] for name in extra[:5])
        return "", f"unknown parameter(s): {listed}; this endpoint takes only range={allowed}"
    values = request.query_params.getlist("range")
    if len(values) > 1:
        return "", f"give range once: range={allowed}"
    name = values[0] if values else DEFAULT_RANGE
    if name not in RANGES:
        return "", f"unknown range {name[:40]!r}; use range={allowed}"
    return name, None


async def chart_body(
    prometheus: PrometheusClient, chart: Chart, range_name: str, span: TimeRange
) -> dict[str, Any]:
    """The chart's series over ``span``, from Prometheus, as status.js draws them."""
    # Ends now, not on the last multiple of the step: the newest point holds the newest data.
    end = int(time.time())
    start = end - span.seconds
    results = await asyncio.gather(
        *(prometheus.query_range(q.promql, start, end, span.step) for q in chart.queries)
    )
    named: list[tuple[str, Series]] = [
        (query.series_name(one.metric), one)
        for query, result in zip(chart.queries, results, strict=True)
        for one in result
    ]
    if chart.queries[0].label is not None:  # named by a label: a stable order, by name
        named.sort(key=lambda pair: pair[0])
    return {
        "chart": chart.name,
        "title": chart.title,
        "unit": chart.unit,
        "range": range_name,
        "step": span.step,
        "timestamps": list(range(start, end + 1, span.step)),
        "series": [
            {"name": name or "(no label)", "values": one.values} for name, one in named[:MAX_SERIES]
        ],
    }
