"""folio-web's calls to Prometheus's HTTP API, for the /status page's charts."""

from __future__ import annotations

import math
from dataclasses import dataclass
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


class PrometheusClient:
    """Runs range queries against one Prometheus; one httpx client for the app's lifetime."""

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
        try:
            response = await self._client.get("/api/v1/query_range", params=params)
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
            raise PrometheusError(502, f"Prometheus refused the query: {reason}")
        return _matrix(body.get("data"), start, end, step)

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
