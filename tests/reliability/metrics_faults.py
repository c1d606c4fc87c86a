"""Plumbing for the metrics-store fault tests: a real `folio api --workers 3`, traffic that
counts what it sent, scrapes checked for sense, and the worker files to damage.

Everything the tests send outside /api/metrics goes through a ``Tally``, so that "the
requests served" is a number the tests know: http_requests_total never counts /api/metrics
(folio-api excludes its own path unless FOLIO_METRICS_INCLUDE_SELF is set, see
ServiceMetrics.install), which ``test_store_error_series_start_at_zero`` checks on the output.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import json
import math
import os
import re
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.ports import free_port
from tests.processes import stop_process

CI = os.environ.get("CI", "").lower() == "true"
WORKERS = 3
REASONS = ("truncated", "corrupt", "bad_value", "missing", "disk_full", "unwritable")
ERRORS = "folio_metrics_errors_total"
STORE_HOOK = "metrics_store"
QUARANTINE = "quarantine"
HEADER = struct.Struct("<8sQ")  # magic, bytes used (header included)
ENTRY = struct.Struct("<IIII")  # key length, number of values, checksum, zero
WORKER_FILE = re.compile(r"worker-(\d+)-[^-]+-(\d+)\.db")
LARGEST = float(2**53)  # past this a double no longer counts in ones: no real counter gets there
HTTP_HISTOGRAMS = (
    "http_request_duration_seconds",
    "http_request_size_bytes",
    "http_response_size_bytes",
)
# Requests a killed worker may cut: the ones it had accepted (each traffic thread and the
# scraper have one in flight at most), and a few it had accepted but not read yet.
MAX_CUTS_PER_KILL = 8
# Drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, so that root obeys file permissions.
WITHOUT_DAC_OVERRIDE = (
    "setpriv",
    "--inh-caps=-dac_override,-dac_read_search",
    "--bounding-set=-dac_override,-dac_read_search",
    "--",
)


def require(condition: bool, reason: str) -> None:
    """Skip when a prerequisite is missing, except under CI=true, where that is a failure."""
    if not condition:
        if CI:
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)


# --- the server ------------------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    metrics_dir: Path
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def start_server(
    tmp_path: Path,
    *,
    port: int | None = None,
    metrics_dir: Path | None = None,
    prefix: Sequence[str] = (),
) -> Server:
    """`folio api --workers 3`, run through ``prefix`` (setpriv) when given; not waited for."""
    port = port or free_port()
    metrics_dir = metrics_dir or tmp_path / "metrics"
    environment = {
        **os.environ,
        "FOLIO_DATABASE_URL": f"sqlite:///{tmp_path}/folio.db",
        "FOLIO_METRICS_DIR": str(metrics_dir),
        "FOLIO_LOG_LEVEL": "warning",
    }
    command = [*prefix, sys.executable, "-m", "folio", "api"]
    command += ["--port", str(port), "--workers", str(WORKERS)]
    log = tmp_path / f"server-{port}.log"
    with log.open("ab") as out:  # a file, never a pipe that could fill and block the server
        process = subprocess.Popen(command, env=environment, stdout=out, stderr=subprocess.STDOUT)
    return Server(process, port, metrics_dir, log)


@contextlib.contextmanager
def running_server(
    tmp_path: Path, *, metrics_dir: Path | None = None, prefix: Sequence[str] = ()
) -> Iterator[Server]:
    """A started server whose three workers have each answered a scrape; stopped after."""
    server = start_server(tmp_path, metrics_dir=metrics_dir, prefix=prefix)
    try:
        wait_for_workers(server)
        yield server
    finally:
        stop_process(server.process, timeout=15)
        print(f"--- {server.log} (last lines) ---\n{server.log_tail()}")


def worker_pids(server: Server) -> set[int]:
    """The supervisor's children: its workers."""
    try:
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text()
    except FileNotFoundError:
        return set()
    return {int(pid) for pid in children.split()}


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie awaiting its parent."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def assert_supervisor_alive(server: Server) -> None:
    code = server.process.poll()
    assert code is None, f"the supervisor exited ({code}):\n{server.log_tail()}"


def wait_until_gone(pid: int, timeout: float = 15) -> float:
    """Wait for ``pid`` to stop running; the time it was seen gone."""
    deadline = time.monotonic() + timeout
    while alive(pid):
        assert time.monotonic() < deadline, f"worker {pid} still runs after {timeout} s"
        time.sleep(0.02)
    return time.monotonic()


def wait_for_workers(server: Server, timeout: float = 30) -> set[int]:
    """Until there are WORKERS workers and each has answered GET /api/metrics with a 200.

    Which worker accepts a connection is up to the kernel, so connections are opened until
    each worker (told by who holds the server side of it, see ``connection_owner``) has
    answered one.
    """
    deadline = time.monotonic() + timeout
    answered: set[int] = set()
    while True:
        assert_supervisor_alive(server)
        pids = worker_pids(server)
        if len(pids) == WORKERS and pids <= answered:
            return pids
        if time.monotonic() > deadline:
            pytest.fail(
                f"workers {sorted(pids)}: only {sorted(answered)} answered a scrape within "
                f"{timeout} s\n{server.log_tail()}"
            )
        try:
            status, owner = _ask(server, "GET", "/api/metrics", pids)
        except (OSError, http.client.HTTPException):
            time.sleep(0.1)  # not listening yet, or a worker still starting
            continue
        if owner is not None and status == 200:
            answered.add(owner)


def _ask(server: Server, method: str, path: str, pids: set[int]) -> tuple[int, int | None]:
    """One request on a new connection, and the pid of the worker that answered it."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        response.read()
        # The connection is kept alive: the worker that answered still holds its end.
        assert connection.sock is not None
        return response.status, connection_owner(
            server.port, connection.sock.getsockname()[1], pids
        )
    finally:
        connection.close()


def connection_owner(server_port: int, client_port: int, pids: set[int]) -> int | None:
    """The pid among ``pids`` holding the server side of 127.0.0.1:client_port's connection."""
    wanted = (f"0100007F:{server_port:04X}", f"0100007F:{client_port:04X}")
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if (fields[1], fields[2]) == wanted:
            inode = fields[9]
            break
    if inode is None:
        return None
    for pid in pids:
        with contextlib.suppress(OSError):
            for descriptor in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{descriptor}") == f"socket:[{inode}]":
                        return pid
    return None


# --- what the tests send ---------------------------------------------------------------------


@functools.cache
def fresh_connections() -> httpx.Client:
    """One client for the whole run (making one costs ~60 ms), opening a connection per
    request: the kernel then hands requests to different workers, and no kept-alive
    connection to a worker that is gone fails the next request on it."""
    return httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), timeout=10)


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
    """Every request sent to the server (scrapes aside), numbered, and how each ended."""

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


MISSING_SLUG = "/api/projects/no-such-project-"
BACKGROUND: dict[str, int] = {"/api/health": 200, MISSING_SLUG: 404}  # path: normal status


class Traffic:
    """Background GETs of /api/health and of missing projects (about ``rate`` a second, a new
    connection each), and a scrape every ``scrape_every`` s checked with ``sane_problems``.

    Transport errors are only allowed inside ``cuts_allowed()`` windows (a worker the test
    kills cuts the requests it holds), never a refused connection.
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
        self.windows: list[tuple[float, float]] = []
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

    @contextlib.contextmanager
    def cuts_allowed(self, after: float = 0.5) -> Iterator[None]:
        """Requests may be cut while the block runs (it kills a worker and waits for it to
        be gone), and for ``after`` seconds more."""
        started = time.monotonic()
        try:
            yield
        finally:
            self.windows.append((started - 0.05, time.monotonic() + after))

    def check(self) -> None:
        """Every request answered with its normal status, every scrape 200 and sane, and
        transport errors only where a test killed a worker: a handful, none refused."""
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

    def _load(self) -> None:
        paths = list(BACKGROUND)
        client = fresh_connections()
        while not self.stopping.is_set():
            if self.paused.is_set():
                time.sleep(0.01)
                continue
            began = time.monotonic()
            with self.lock:
                self.in_flight += 1
            seq = self.tally.begin()
            path = paths[seq % len(paths)]
            url = f"{self.server.url}{path}{seq if path == MISSING_SLUG else ''}"
            try:
                status = client.get(url).status_code
                outcome = self.tally.end(seq, ("GET", path), status, None)
                if status != BACKGROUND[path]:
                    self.wrong_status.append(outcome)
            except httpx.TransportError as error:
                self.tally.end(seq, ("GET", path), None, error)
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

    def one(request: Request) -> int | None:
        seq = tally.begin()
        method, path = request
        try:
            status = fresh_connections().request(method, f"{server.url}{path}").status_code
        except httpx.TransportError as error:
            tally.end(seq, request, None, error)
            return None
        tally.end(seq, request, status, None)
        return status

    with ThreadPoolExecutor(concurrency) as pool:
        statuses = list(pool.map(one, requests))
    answered = Counter((r, s) for r, s in zip(requests, statuses, strict=True) if s is not None)
    server_errors = {key: n for key, n in answered.items() if key[1] >= 500}
    assert not server_errors, f"5xx answers: {server_errors}"
    return answered


# Method/route pairs beyond the background's: each a new http_* series when first sent.
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND")
ROUTES = {  # path sent: its endpoint label
    "/api/health": "/api/health",
    "/api/health/ready": "/api/health/ready",
    "/api/projects": "/api/projects",
    "/api/projects/x": "/api/projects/{slug}",
    "/api/openapi.json": "/api/openapi.json",
    "/api/docs": "/api/docs",
    "/api/docs/oauth2-redirect": "/api/docs/oauth2-redirect",
    "/api/no-such-route": "<unmatched>",
}
NEW_PAIRS: tuple[Request, ...] = tuple(
    (method, path)
    for method in METHODS
    for path in ROUTES
    if (method, path) not in {("GET", "/api/health"), ("GET", "/api/projects/x")}
)


def labels_of(request: Request) -> dict[str, str]:
    """The method and endpoint labels folio counts ``request`` under."""
    method, path = request
    return {"method": method if method != "PROPFIND" else "other", "endpoint": ROUTES[path]}


def pair_counts_problems(
    text: str, expected: int, pairs: Sequence[Request] = NEW_PAIRS
) -> list[str]:
    """Each pair counted exactly ``expected`` times, in http_requests_total and the duration
    histogram's _count (so its cells were not left holding what the file had there)."""
    found: Counter[tuple[str, str, str]] = Counter()
    for sample in samples_of(text):
        if sample.name in ("http_requests_total", "http_request_duration_seconds_count"):
            route = (sample.labels.get("method", ""), sample.labels.get("endpoint", ""))
            found[(sample.name, *route)] += sample.value
    problems = []
    for pair in pairs:
        route = (labels_of(pair)["method"], labels_of(pair)["endpoint"])
        total = found[("http_requests_total", *route)]
        count = found[("http_request_duration_seconds_count", *route)]
        if total != expected or count != expected:
            problems.append(f"{pair}: requests {total}, durations {count}, sent {expected}")
    return problems


# --- scrapes ---------------------------------------------------------------------------------


def scrape(server: Server) -> str:
    """GET /api/metrics on a new connection; it must answer 200."""
    response = fresh_connections().get(f"{server.url}/api/metrics")
    assert response.status_code == 200, f"/api/metrics answered {response.status_code}"
    return response.text


@functools.lru_cache(maxsize=4)
def samples_of(text: str) -> tuple[Sample, ...]:
    """The samples of an exposition, parsed once however many values are read from it."""
    return tuple(
        sample for family in text_string_to_metric_families(text) for sample in family.samples
    )


def value(text: str, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    return sum(
        sample.value
        for sample in samples_of(text)
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def http_total(text: str) -> float:
    return value(text, "http_requests_total")


def store_errors(text: str, reason: str) -> float:
    return value(text, ERRORS, hook=STORE_HOOK, reason=reason)


def sane_problems(text: str, sent: int) -> list[str]:
    """What is absurd in ``text`` given that ``sent`` requests were sent: a counter sample
    (``*_total``, an http_* histogram's buckets, count or sum) negative, NaN, infinite or past
    2**53; more requests or observations than were sent; or text that does not parse."""
    problems = []
    try:
        samples = samples_of(text)
    except Exception as error:
        return [f"unparsable exposition ({error}): {text[:200]!r}"]
    totals: Counter[str] = Counter()
    for sample in samples:
        name, number = sample.name, _number(sample.value)
        counted = name.endswith("_total") or (
            name.startswith(HTTP_HISTOGRAMS) and name.endswith(("_bucket", "_count", "_sum"))
        )
        if counted and not (math.isfinite(number) and 0 <= number <= LARGEST):
            problems.append(f"{name}{sample.labels} = {number}")
        if name == "http_requests_total" or (
            name.startswith(HTTP_HISTOGRAMS) and name.endswith("_count")
        ):
            totals[name] += number
        if name.startswith(HTTP_HISTOGRAMS) and name.endswith("_bucket") and number > sent:
            problems.append(f"{name}{sample.labels} = {number} > {sent} requests sent")
    problems += [f"sum({n}) = {v} > {sent} requests sent" for n, v in totals.items() if v > sent]
    return problems


def _number(value: float) -> float:
    """A sample's value as a float: the parser gives integers as such, however long."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def assert_sane(text: str, sent: int) -> None:
    problems = sane_problems(text, sent)
    assert not problems, "absurd values exported:\n" + "\n".join(problems[:20])


def eventually(
    check: Callable[[], list[str]], *, timeout: float, what: str, times: int = 1
) -> None:
    """Until ``check`` finds no problem ``times`` times in a row; else fail with its last say."""
    deadline = time.monotonic() + timeout
    streak = 0
    while True:
        problems = check()
        streak = 0 if problems else streak + 1
        if streak >= times:
            return
        if problems and time.monotonic() > deadline:
            pytest.fail(f"{what} not within {timeout} s: " + "; ".join(problems[:10]))
        time.sleep(0.1)


def wait_for_error(server: Server, reasons: Sequence[str], timeout: float = 6) -> dict[str, float]:
    """Scrape until folio_metrics_errors_total{hook="metrics_store"} counts one of
    ``reasons``; their values then."""
    found: dict[str, float] = {}

    def counted() -> list[str]:
        text = scrape(server)
        found.update({reason: store_errors(text, reason) for reason in reasons})
        return [] if any(v >= 1 for v in found.values()) else [f"{found}"]

    eventually(counted, timeout=timeout, what=f"metrics_store errors {list(reasons)}")
    print(f"metrics_store errors counted: {found}")
    return found


def settled_total(server: Server, timeout: float = 8, quiet: int = 4) -> float:
    """sum(http_requests_total) once ``quiet`` scrapes in a row agree (traffic paused)."""
    values: list[float] = []

    def unchanged() -> list[str]:
        values.append(http_total(scrape(server)))
        return [] if len(values) > 1 and values[-1] == values[-2] else [f"{values[-5:]}"]

    eventually(unchanged, timeout=timeout, what="a settled http_requests_total", times=quiet)
    return values[-1]


def wait_for_exact_total(server: Server, tally: Tally, timeout: float = 6) -> None:
    """sum(http_requests_total) == every request sent, in 3 scrapes in a row."""

    def exact() -> list[str]:
        total = http_total(scrape(server))
        return [] if total == tally.sent else [f"sum(http_requests_total) {total} != {tally.sent}"]

    eventually(exact, timeout=timeout, what="exact totals", times=3)


# --- the files -------------------------------------------------------------------------------


def worker_files(directory: Path) -> dict[int, list[Path]]:
    """Each worker pid's files in ``directory``, segment 0 first."""
    found: dict[int, list[tuple[int, Path]]] = {}
    for path in directory.iterdir():
        match = WORKER_FILE.fullmatch(path.name)
        if match:
            found.setdefault(int(match[1]), []).append((int(match[2]), path))
    return {pid: [path for _, path in sorted(paths)] for pid, paths in found.items()}


def used_bytes(path: Path) -> int:
    with path.open("rb") as file:
        return int(HEADER.unpack_from(file.read(HEADER.size), 0)[1])


def requests_counted_in(path: Path) -> float:
    """The http_requests_total values a worker file holds, read by its documented format:
    header, then entries of a 16-byte entry header (key length, value count, ...), the key
    (JSON [kind, family, labels]) padded to 8 bytes, and the f64 values."""
    data = path.read_bytes()
    used = HEADER.unpack_from(data, 0)[1]
    position, total = HEADER.size, 0.0
    while position < used:
        key_length, size, _checksum, _zero = ENTRY.unpack_from(data, position)
        key_at = position + ENTRY.size
        values_at = key_at + (key_length + 7) // 8 * 8
        try:
            _kind, name, _labels = json.loads(data[key_at : key_at + key_length])
        except ValueError as error:
            raise AssertionError(f"{path.name} at {position}: not the documented format") from error
        if name in ("http_requests_total", "http_requests"):
            total += struct.unpack_from("<d", data, values_at)[0]
        position = values_at + 8 * size
    return total


def quarantined(directory: Path, path: Path) -> list[str]:
    """What ``directory``/quarantine holds of ``path`` (its name, perhaps with a suffix)."""
    try:
        names = os.listdir(directory / QUARANTINE)
    except FileNotFoundError:
        return []
    return [name for name in names if path.stem in name]


def wait_for_quarantine(directory: Path, path: Path, timeout: float = 6) -> None:
    eventually(
        lambda: [] if quarantined(directory, path) else [f"{path.name} not in quarantine/"],
        timeout=timeout,
        what=f"{path.name} moved to quarantine/",
    )
