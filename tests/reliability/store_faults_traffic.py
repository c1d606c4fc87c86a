"""The requests the metrics-store fault tests send, each counted in a ``Tally`` so that "the
requests served" is a number the tests know, and the background ``Traffic`` they run under."""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

from tests.reliability.store_faults_scrapes import (
    eventually,
    http_total,
    samples_of,
    sane_problems,
    scrape,
)
from tests.reliability.store_faults_server import (
    Server,
    assert_supervisor_alive,
    fresh_connections,
    wait_until_gone,
)

# Requests a killed worker may cut: the ones it had accepted (each traffic thread and the
# scraper have one in flight at most), and a few it had accepted but not read yet.
MAX_CUTS_PER_KILL = 8
MISSING_SLUG = "/api/projects/no-such-project-"
BACKGROUND: dict[str, int] = {"/api/health": 200, MISSING_SLUG: 404}  # path: normal status

Request = tuple[str, str]  # method, path


@dataclass
class Outcome:
    seq: int
    request: Request
    status: int | None
    error: str | None
    at: float  # when the answer (or the error) came


@dataclass
class Tally:
    """Every request sent to the server (scrapes aside), numbered, and how each ended.

    Scrapes are left out because http_requests_total never counts /api/metrics (folio-api
    excludes its own path unless FOLIO_METRICS_INCLUDE_SELF is set, see
    ServiceMetrics.install); ``test_store_error_series_start_at_zero`` checks that.
    """

    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: int = 0
    outcomes: list[Outcome] = field(default_factory=list)

    def begin(self) -> int:
        with self.lock:
            self.sent += 1
            return self.sent

    def end(
        self, seq: int, request: Request, status: int | None, error: Exception | None
    ) -> Outcome:
        name = None if error is None else f"{type(error).__name__}: {error}"
        outcome = Outcome(seq, request, status, name, time.monotonic())
        with self.lock:
            self.outcomes.append(outcome)
        return outcome

    def request(self, server: Server, request: Request) -> Outcome:
        """Send ``request`` on a new connection (a missing project's path gets the request's
        number); how it ended, recorded. Transport errors are recorded, not raised."""
        seq = self.begin()
        method, path = request
        url = f"{server.url}{path}{seq if path == MISSING_SLUG else ''}"
        try:
            status = fresh_connections().request(method, url).status_code
        except httpx.TransportError as error:
            return self.end(seq, request, None, error)
        return self.end(seq, request, status, None)

    def mark(self) -> int:
        """A point in the sequence: ``answered_after`` counts the requests begun after it."""
        with self.lock:
            return self.sent

    def answered_after(self, mark: int) -> int:
        with self.lock:
            return sum(1 for o in self.outcomes if o.seq > mark and o.status is not None)

    def errors(self) -> list[Outcome]:
        with self.lock:
            return [o for o in self.outcomes if o.error is not None]


class Traffic:
    """Background GETs of /api/health and of missing projects (about ``rate`` a second, a new
    connection each), and a scrape every ``scrape_every`` s checked with ``sane_problems``.

    Transport errors are only allowed while the test kills a worker (see ``kill``), never a
    refused connection.
    """

    def __init__(
        self,
        server: Server,
        tally: Tally,
        *,
        threads: int = 4,
        rate: float = 80,
        scrape_every: float = 0.25,
    ) -> None:
        self.server = server
        self.tally = tally
        self.period = threads / rate
        self.scrape_every = scrape_every
        self.stopping = threading.Event()
        self.paused = threading.Event()
        self.in_flight = 0
        self.lock = threading.Lock()
        self.wrong_status: list[Outcome] = []
        self.scrape_failures: list[tuple[float, str]] = []
        self.insane: list[str] = []
        self.scrapes = 0
        self.started = time.monotonic()
        self.windows: list[tuple[float, float]] = []  # when requests may be cut
        self.threads = [threading.Thread(target=self._load, daemon=True) for _ in range(threads)]
        self.threads.append(threading.Thread(target=self._scrape, daemon=True))

    def __enter__(self) -> Traffic:
        self.started = time.monotonic()
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def pause(self) -> None:
        """Stop sending (scrapes go on) and wait for the requests in flight to be answered."""
        self.paused.set()
        deadline = time.monotonic() + 30
        while True:
            with self.lock:
                if self.in_flight == 0:
                    return
            assert time.monotonic() < deadline, "requests still in flight after 30 s"
            time.sleep(0.01)

    def resume(self) -> None:
        self.paused.clear()

    def kill(self, pid: int, signal_number: int, after: float = 0.5) -> None:
        """Send a worker ``signal_number`` and wait for it to be gone; requests may be cut
        meanwhile, and for ``after`` seconds more."""
        started = time.monotonic()
        try:
            os.kill(pid, signal_number)
            wait_until_gone(pid)
        finally:
            self.windows.append((started - 0.05, time.monotonic() + after))

    def check(self) -> None:
        """Every request answered with its normal status, every scrape 200 and sane,
        transport errors only where a test killed a worker (a handful, none refused), and the
        supervisor still running."""
        seconds = time.monotonic() - self.started
        print(f"traffic: {self.tally.sent} requests, {self.scrapes} scrapes in {seconds:.1f} s")
        assert self.scrapes > 0, "the background scraper never scraped"
        assert not self.wrong_status, f"unexpected statuses: {self.wrong_status[:10]}"
        assert not self.insane, "scrapes exported absurd values:\n" + "\n".join(self.insane[:10])
        errors = [(o.at, o.error or "") for o in self.tally.errors()] + self.scrape_failures
        refused = [e for e in errors if e[1].startswith(("ConnectError", "ConnectTimeout"))]
        assert not refused, f"connections refused: {refused[:10]}"
        outside = [e for e in errors if not any(a <= e[0] <= b for a, b in self.windows)]
        assert not outside, f"requests failed while no worker was being killed: {outside[:10]}"
        for a, b in self.windows:
            cut = [e for e in errors if a <= e[0] <= b]
            assert len(cut) <= MAX_CUTS_PER_KILL, f"{len(cut)} requests cut by one kill: {cut}"
        assert_supervisor_alive(self.server)

    def _load(self) -> None:
        paths = itertools.cycle(BACKGROUND)
        while not self.stopping.is_set():
            with self.lock:  # paused read under the lock: pause() cannot miss a request begun
                paused = self.paused.is_set()
                self.in_flight += 0 if paused else 1
            if paused:
                time.sleep(0.01)
                continue
            began = time.monotonic()
            try:
                path = next(paths)
                outcome = self.tally.request(self.server, ("GET", path))
                if outcome.status not in (None, BACKGROUND[path]):
                    self.wrong_status.append(outcome)
            finally:
                with self.lock:
                    self.in_flight -= 1
            time.sleep(max(0.0, self.period - (time.monotonic() - began)))

    def _scrape(self) -> None:
        client = fresh_connections()
        while not self.stopping.is_set():
            try:
                response = client.get(f"{self.server.url}/api/metrics")
            except httpx.TransportError as error:
                self.scrape_failures.append((time.monotonic(), f"{type(error).__name__}"))
            else:
                sent = self.tally.mark()  # read after the answer: it counts nothing later
                self.scrapes += 1
                if response.status_code != 200:
                    failure = f"/api/metrics answered {response.status_code}"
                    self.scrape_failures.append((time.monotonic(), failure))
                else:
                    try:
                        self.insane += sane_problems(response.text, sent)
                    except Exception as error:  # a thread that died would check nothing more
                        self.insane.append(f"checking a scrape failed: {error!r}")
            self.stopping.wait(self.scrape_every)


def send(
    server: Server, tally: Tally, requests: Sequence[Request], *, concurrency: int = 4
) -> Counter[tuple[Request, int]]:
    """``requests``, each on a new connection; their statuses. Transport errors are recorded
    in ``tally`` (where Traffic.check finds them) and 5xx answers fail the test."""
    with ThreadPoolExecutor(concurrency) as pool:
        outcomes = list(pool.map(lambda request: tally.request(server, request), requests))
    answered = Counter((o.request, o.status) for o in outcomes if o.status is not None)
    server_errors = {key: n for key, n in answered.items() if key[1] >= 500}
    assert not server_errors, f"5xx answers: {server_errors}"
    return answered


def wait_for_exact_total(server: Server, tally: Tally, timeout: float = 6) -> None:
    """sum(http_requests_total) == every request sent, in 3 scrapes in a row."""

    def exact() -> list[str]:
        total = http_total(scrape(server))
        return [] if total == tally.sent else [f"sum(http_requests_total) {total} != {tally.sent}"]

    eventually(exact, timeout=timeout, what="exact totals", times=3)


# --- new series ------------------------------------------------------------------------------

# Method/route pairs beyond the background's: each a new http_* series when first sent.
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND")
ROUTES = {  # path sent: its endpoint label
    "/api/health": "/api/health",
    "/api/health/ready": "/api/health/ready",
    "/api/projects": "/api/projects",
    "/api/projects/x": "/api/projects/{slug}",
    "/api/openapi.json": "/api/openapi.json",
    "/api/docs": "/api/docs",
    "/api/docs/static/x": "/api/docs/static/{path}",
    "/api/no-such-route": "<unmatched>",
}
NEW_PAIRS: tuple[Request, ...] = tuple(
    (method, path)
    for method in METHODS
    for path in ROUTES
    if (method, path) not in {("GET", "/api/health"), ("GET", "/api/projects/x")}
)


def pair_counts_problems(text: str, expected: int) -> list[str]:
    """Each of NEW_PAIRS counted exactly ``expected`` times, in http_requests_total and the
    duration histogram's _count (so its cells were not left holding what the file had there)."""
    found: Counter[tuple[str, str, str]] = Counter()
    for sample in samples_of(text):
        if sample.name in ("http_requests_total", "http_request_duration_seconds_count"):
            route = (sample.labels.get("method", ""), sample.labels.get("endpoint", ""))
            found[(sample.name, *route)] += sample.value
    problems = []
    for method, path in NEW_PAIRS:
        route = (method if method != "PROPFIND" else "other", ROUTES[path])  # folio's labels
        total = found[("http_requests_total", *route)]
        count = found[("http_request_duration_seconds_count", *route)]
        if total != expected or count != expected:
            problems.append(
                f"{(method, path)}: requests {total}, durations {count}, sent {expected}"
            )
    return problems
