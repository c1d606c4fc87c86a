"""folio-web's only way to folio-api: GETs with timeouts, a retry, revalidation and metrics.

Each worker keeps the last answer to each GET with its ETag and asks again with
If-None-Match on every call: folio-api answers 304 while nothing changed and the full
answer once a write changed it, so no call ever returns an answer folio-api has replaced.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from folio_metrics import MetricsRegistry, NativeBuckets

from folio.web.api_http import Fetch, FetchError, HttpxFetch, RawAnswer, StreamFetch

CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_RETRY_PAUSE = 0.05
# Answers kept per worker: every list page and tag a visitor asked for, and each project.
CACHE_SIZE = 1024


class ApiUnavailable(Exception):
    """folio-api did not answer usefully: down, too slow, or failing."""


class ApiNotFound(Exception):
    """folio-api answered 404."""


@dataclass(frozen=True, slots=True)
class ApiAnswer:
    """A JSON answer of folio-api and its ETag (None when it sent none)."""

    data: Any
    etag: str | None


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
        cache_size: int = CACHE_SIZE,
    ) -> None:
        self.retries = retries
        # The plain-HTTP client is several times cheaper than httpx; TLS stays with httpx.
        self._fetch: Fetch = (
            StreamFetch(base_url, timeout)
            if transport is None and base_url.startswith("http://")
            else HttpxFetch(base_url, timeout, transport)
        )
        self._answers: OrderedDict[str, ApiAnswer] = OrderedDict()
        self._cache_size = cache_size
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
        """GET ``path``'s JSON; ``endpoint`` is its template, for labels."""
        return (await self.get(path, endpoint, params)).data

    async def get(
        self, path: str, endpoint: str, params: dict[str, Any] | None = None
    ) -> ApiAnswer:
        """GET ``path``, revalidating a kept answer. Idempotent, so retried."""
        target = f"{path}?{urlencode(params)}" if params else path
        kept = self._answers.get(target)
        started = time.perf_counter()
        try:
            answer = await self._get_with_retry(target, endpoint, kept)
        finally:
            self.duration.labels(endpoint).observe(time.perf_counter() - started)
        if answer.status == 304 and kept is not None:
            self._answers.move_to_end(target)
            return kept
        if answer.status != 200:
            self._answers.pop(target, None)
            if answer.status == 404:
                raise ApiNotFound(path)
            raise ApiUnavailable(f"folio-api answered {answer.status} for {path}")
        try:
            data = json.loads(answer.body)
        except ValueError as error:
            self._answers.pop(target, None)
            raise ApiUnavailable(f"folio-api sent invalid JSON for {path}") from error
        fresh = ApiAnswer(data, answer.headers.get("etag"))
        self._keep(target, fresh)
        return fresh

    def _keep(self, target: str, answer: ApiAnswer) -> None:
        if answer.etag is None:
            self._answers.pop(target, None)  # nothing to revalidate it with
            return
        self._answers[target] = answer
        self._answers.move_to_end(target)
        while len(self._answers) > self._cache_size:
            self._answers.popitem(last=False)

    async def _get_with_retry(
        self, target: str, endpoint: str, kept: ApiAnswer | None
    ) -> RawAnswer:
        headers = (("If-None-Match", kept.etag),) if kept is not None and kept.etag else ()
        for attempt in range(self.retries + 1):
            last_attempt = attempt == self.retries
            try:
                answer = await self._fetch.get(target, headers)
            except TimeoutError as error:
                self.calls.labels(endpoint, "timeout").inc()
                if last_attempt:
                    raise ApiUnavailable(f"folio-api timed out on {target}") from error
            except FetchError as error:
                self.calls.labels(endpoint, "error").inc()
                if last_attempt:
                    raise ApiUnavailable(f"folio-api is unreachable: {error}") from error
            else:
                self.calls.labels(endpoint, str(answer.status)).inc()
                if answer.status < 500 or last_attempt:
                    if answer.status == 304 and kept is None:
                        raise ApiUnavailable(f"folio-api answered 304 unasked for {target}")
                    return answer
            await asyncio.sleep(_RETRY_PAUSE * (attempt + 1))
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def aclose(self) -> None:
        """Close the connections to folio-api."""
        await self._fetch.aclose()
