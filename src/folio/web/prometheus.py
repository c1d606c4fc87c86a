"""folio-web's calls to Prometheus's HTTP API, for the /status page's charts and alerts."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

TIMEOUT_SECONDS = 5.0
# Prometheus stops evaluating a query after this, a little before folio-web gives up.
QUERY_TIMEOUT = "4s"


class PrometheusError(Exception):
    """Prometheus could not answer a query; ``status`` is what folio-web answers (502/503)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Series:
    """One result series: its labels, and its values at the query's steps (None: no value)."""

    metric: dict[str, str]
    values: list[float | None]


@dataclass
class Alert:
    """One alert that is pending or firing, as Prometheus's /api/v1/alerts describes it."""

    labels: dict[str, str]
    annotations: dict[str, str]
    state: str
    active_at: datetime


class PrometheusClient:
    """Asks one Prometheus for ranges and alerts; one httpx client for the app's lifetime."""

    def __init__(self, base_url: str, *, transport: httpx.AsyncBaseTransport | None = None):
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(TIMEOUT_SECONDS),
            transport=transport,
            headers={"User-Agent": "folio-web", "Accept": "application/json"},
        )

    async def query_range(self, promql: str, start: int, end: int, step: int) -> list[Series]:
        """Evaluate ``promql`` at start, start + step, ... end (Unix seconds)."""
        params = {
            "query": promql,
            "start": str(start),
            "end": str(end),
            "step": str(step),
            "timeout": QUERY_TIMEOUT,
        }
        data = await self._get("/api/v1/query_range", params, "the query")
        return _matrix(data, start, end, step)

    async def alerts(self) -> list[Alert]:
        """The alerts that are pending or firing now, in Prometheus's order."""
        return _alerts(await self._get("/api/v1/alerts", {}, "the request for alerts"))

    async def _get(self, path: str, params: dict[str, str], what: str) -> Any:
        """The ``data`` of an API answer, or PrometheusError saying why there is none."""
        try:
            response = await self._client.get(path, params=params)
        except httpx.TimeoutException as error:
            raise PrometheusError(
                503, f"Prometheus did not answer within {TIMEOUT_SECONDS:g} s"
            ) from error
        except httpx.ConnectError as error:
            raise PrometheusError(
                503,
                "Prometheus is unreachable: nothing answered at FOLIO_PROMETHEUS_URL. "
                "Is Prometheus running, and is the URL right?",
            ) from error
        except httpx.TransportError as error:
            raise PrometheusError(
                503, f"Prometheus is unreachable ({type(error).__name__})"
            ) from error
        body = _json(response)
        if response.status_code != 200 or body.get("status") != "success":
            reason = body.get("error") or f"HTTP {response.status_code}"
            raise PrometheusError(502, f"Prometheus refused {what}: {reason}")
        return body.get("data")

    async def aclose(self) -> None:
        await self._client.aclose()


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        # Not Prometheus's API answering (a proxy's error page, another service, ...).
        raise PrometheusError(
            502, f"Prometheus sent no API answer (HTTP {response.status_code}, not JSON)"
        )
    return body


def _matrix(data: Any, start: int, end: int, step: int) -> list[Series]:
    """Series aligned on the query's steps, so every series shares one list of timestamps."""
    if not isinstance(data, dict) or data.get("resultType") != "matrix":
        raise PrometheusError(502, "Prometheus sent an unexpected answer (not a matrix)")
    count = (end - start) // step + 1
    series = []
    try:
        for item in data["result"]:
            values: list[float | None] = [None] * count
            for timestamp, raw in item["values"]:
                index = round((float(timestamp) - start) / step)
                number = float(raw)  # Prometheus sends "NaN", "+Inf" and "-Inf" as strings
                if 0 <= index < count and math.isfinite(number):
                    values[index] = number
            series.append(Series({str(k): str(v) for k, v in item["metric"].items()}, values))
    except (KeyError, TypeError, ValueError) as error:
        raise PrometheusError(502, "Prometheus sent a malformed matrix") from error
    return series


def _alerts(data: Any) -> list[Alert]:
    """Only pending and firing alerts: the API lists no others, and nothing else is shown."""
    if not isinstance(data, dict) or not isinstance(data.get("alerts"), list):
        raise PrometheusError(502, "Prometheus sent an unexpected answer (no list of alerts)")
    alerts = []
    try:
        for item in data["alerts"]:
            if item["state"] not in ("pending", "firing"):
                continue
            alerts.append(
                Alert(
                    labels={str(k): str(v) for k, v in item["labels"].items()},
                    annotations={str(k): str(v) for k, v in item.get("annotations", {}).items()},
                    state=item["state"],
                    active_at=_timestamp(item["activeAt"]),
                )
            )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise PrometheusError(502, "Prometheus sent a malformed list of alerts") from error
    return alerts


def _timestamp(text: str) -> datetime:
    # RFC 3339 with nanoseconds; fromisoformat keeps microseconds, all a page needs.
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
