"""What the metrics-store fault tests look at and damage: /api/metrics, read and checked for
sense (with waits until it says what a test expects), and the workers' files in the directory."""

from __future__ import annotations

import functools
import json
import math
import os
import random
import re
import struct
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from folio_metrics.multiprocess.checks import ERRORS_FAMILY, STORE_HOOK
from folio_metrics.multiprocess.quarantine import QUARANTINE
from folio_metrics.multiprocess.store import ENTRY, HEADER
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.reliability.store_faults_server import Server, fresh_connections

ERRORS = f"{ERRORS_FAMILY}_total"
# Past 2**53 a double no longer counts in ones: no real counter gets there. The tests' own
# bound, on purpose not folio's (checks.LARGEST): loosening folio's must not loosen the test.
LARGEST = float(2**53)
WORKER_FILE = re.compile(r"worker-(\d+)-[^-]+-(\d+)\.db")  # worker-<pid>-<nonce>-<segment>.db
HTTP_HISTOGRAMS = (
    "http_request_duration_seconds",
    "http_request_size_bytes",
    "http_response_size_bytes",
)


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


def store_error_series(text: str) -> dict[str, float]:
    """Each folio_metrics_errors_total{hook="metrics_store"} series: its reason and value."""
    return {
        sample.labels["reason"]: sample.value
        for sample in samples_of(text)
        if sample.name == ERRORS and sample.labels.get("hook") == STORE_HOOK
    }


# --- sense -----------------------------------------------------------------------------------


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
        http = name.startswith(HTTP_HISTOGRAMS)
        counted = name.endswith("_total") or (http and name.endswith(("_bucket", "_count", "_sum")))
        if counted and not (math.isfinite(number) and 0 <= number <= LARGEST):
            problems.append(f"{name}{sample.labels} = {number}")
        if name == "http_requests_total" or (http and name.endswith("_count")):
            totals[name] += number
        if http and name.endswith("_bucket") and number > sent:
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


def total_between(text: str, lower: float, upper: int) -> list[str]:
    """A problem unless lower <= sum(http_requests_total) <= upper."""
    total = http_total(text)
    if lower <= total <= upper:
        return []
    return [f"sum(http_requests_total) {total} not within [{lower}, {upper}]"]


# --- waiting ---------------------------------------------------------------------------------


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


# --- the worker files ------------------------------------------------------------------------


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


# --- damage ----------------------------------------------------------------------------------


def truncate(path: Path, length: int) -> None:
    descriptor = os.open(path, os.O_RDWR)
    try:
        os.ftruncate(descriptor, length)
        size = os.fstat(descriptor).st_size
    finally:
        os.close(descriptor)
    assert size == length, f"{path.name} is {size} bytes, not {length}"


def overwrite(path: Path, offset: int, data: bytes) -> bytes:
    """Write ``data`` at ``offset`` in ``path``; what the file holds from there on after."""
    with path.open("r+b") as file:
        file.seek(offset)
        file.write(data)
        file.flush()
        file.seek(offset)
        return file.read()


def fill_tails(directory: Path) -> dict[Path, int]:
    """Noise from each worker file's `used` to its end; each file's `used` then. Retried if
    a worker appended meanwhile (it would have written over part of the noise)."""
    rng = random.Random(20261201)  # noqa: S311 (noise, not secrets)
    for _ in range(5):
        used = {p: used_bytes(p) for paths in worker_files(directory).values() for p in paths}
        for path, start in used.items():
            noise = rng.randbytes(path.stat().st_size - start)
            assert overwrite(path, start, noise) == noise, f"the noise did not stay in {path.name}"
        if all(used_bytes(path) == start for path, start in used.items()):
            assert used, "no worker files"
            return used
    pytest.fail("the workers kept appending while the tails were written")
