"""folio-web's only way to folio-api: one httpx client, timeouts, a retry, and metrics."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from folio_metrics import MetricsRegistry, NativeBuckets

CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_RETRY_PAUSE = 0.05


class ApiUnavailable(Exception):
    """folio-api did not answer usefully: down, too slow, or failing."""


class ApiNotFound(Exception):
    """folio-api answered 404."""


class ApiClient:
    """GETs JSON from folio-api, labelled by folio-api's route template."""

    def __init__(
        self,
        base_url: str,
        registry: MetricsRegistry,
        *,
        timeout: float,
        retries: int,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.retries = retries
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            headers={"User-Agent": "folio-web", "Accept": "application/json"},
        )
        self.calls = registry.counter(
            "api_calls_total",
            "Calls from folio-web to folio-api, by folio-api route template and status.",
            ("endpoint", "status"),
        )
        self.duration = registry.histogram(
            "api_call_duration_seconds",
            "Time folio-web waited for each folio-api call, retries included.",
            ("endpoint",),
            buckets=CALL_BUCKETS,
            native=NativeBuckets(),
        )

    async def get_json(self, path: str, endpoint: str, params: dict[str, Any] | None = None) -> Any:
        """GET ``path``; ``endpoint`` is its template, for labels. Idempotent, so retried."""
        started = time.perf_counter()
        try:
            response = await self._get_with_retry(path, endpoint, params)
        finally:
            self.duration.labels(endpoint).observe(time.perf_counter() - started)
        if response.status_code == 404:
            raise ApiNotFound(path)
        if response.status_code >= 400:
            raise ApiUnavailable(f"folio-api answered {response.status_code} for {path}")
        try:
            return response.json()
        except ValueError as error:
            raise ApiUnavailable(f"folio-api sent invalid JSON for {path}") from error

    async def _get_with_retry(
        self, path: str, endpoint: str, params: dict[str, Any] | None
    ) -> httpx.Response:
        for attempt in range(self.retries + 1):
            last_attempt = attempt == self.retries
            try:
                response = await self._client.get(path, params=params)
            except httpx.TimeoutException as error:
                self.calls.labels(endpoint, "timeout").inc()
                if last_attempt:
                    raise ApiUnavailable(f"folio-api timed out on {path}") from error
            except httpx.TransportError as error:
                self.calls.labels(endpoint, "error").inc()
                if last_attempt:
                    raise ApiUnavailable(f"folio-api is unreachable: {error}") from error
            else:
                self.calls.labels(endpoint, str(response.status_code)).inc()
                if response.status_code < 500 or last_attempt:
                    return response
            await asyncio.sleep(_RETRY_PAUSE * (attempt + 1))
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def aclose(self) -> None:
        await self._client.aclose()
