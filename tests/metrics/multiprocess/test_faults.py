"""Damage done to the shared directory: detected, set aside, counted, and never fatal.

Each test damages real files the way an operator's bad day would, with real forked
workers where a second process matters. The end-to-end versions, against `folio api
--workers 3` under traffic, are in tests/reliability/test_metrics_store_faults.py.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from folio_metrics import MetricsRegistry
from folio_metrics.multiprocess import MetricsDirectory, WorkerMetrics
from folio_metrics.multiprocess.quarantine import QUARANTINE
from folio_metrics.multiprocess.store import ENTRY, HEADER, SUMMED, encode_key, padded

from tests.metrics.multiprocess.test_directory import (
    do_jobs,
    end,
    fork_worker,
    samples,
    total,
    wait_done,
    worker_registry,
)


def store_errors(registry: MetricsRegistry, reason: str) -> float:
    registry.maintain()  # as a worker does every 0.5 s: faults are counted on its loop
    found = samples(registry)
    labels = (("hook", "metrics_store"), ("reason", reason))
    return found.get(("folio_metrics_errors_total", labels), 0.0)


def worker_files(directory: Path, pid: int | None = None) -> list[Path]:
    prefix = f"worker-{pid}-" if pid is not None else "worker-"
    return sorted(path for path in directory.iterdir() if path.name.startswith(prefix))


def used_bytes(path: Path) -> int:
    with path.open("rb") as file:
        return int(HEADER.unpack(file.read(HEADER.size))[1])


def assert_sane(registry: MetricsRegistry) -> None:
    for (name, _), value in samples(registry).items():
        assert math.isfinite(value), f"{name} is {value}"
        assert value >= 0 or not name.endswith(("_total", "_bucket", "_count")), (name, value)
        assert value < 2**53, f"{name} is {value}"


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    path = tmp_path / "metrics"
    MetricsDirectory.reset(path)
    return path


def test_a_dead_workers_truncated_file_gives_up_what_is_left(directory: Path) -> None:
    """Compaction keeps the entries before the cut, counts the fault, and sets the file aside."""
    pid, done = fork_worker(directory, do_jobs(100), linger=True)
    wait_done(done)
    (path,) = worker_files(directory, pid)
    os.truncate(path, path.read_bytes().index(b'"k2"'))  # in the middle of kind k2's entry
    end(pid, kill=True)
    assert MetricsDirectory(directory).compact() == 1  # as the supervisor does: no exception
    scraped = worker_registry(directory)
    found = samples(scraped)
    assert total(found, "jobs_total") == 40  # k0 and k1, 20 each, came before the cut
    assert total(found, "job_seconds_count") == 40
    assert store_errors(scraped, "truncated") == 1
    assert [entry.name for entry in (directory / QUARANTINE).iterdir()] == [
        f"{path.name}.truncated"
    ]
    assert_sane(scraped)


def test_a_file_set_aside_while_its_owner_lived_is_still_salvaged(directory: Path) -> None:
    """A reader finds the damage first, then the owner dies before replacing its file."""
    pid, done = fork_worker(directory, do_jobs(100), linger=True)
    wait_done(done)
    (path,) = worker_files(directory, pid)
    os.truncate(path, path.read_bytes().index(b'"k2"'))
    scraped = worker_registry(directory)
    assert total(samples(scraped), "jobs_total") == 0  # left out while its owner lives
    end(pid, kill=True)
    found = samples(scraped)  # this scrape compacts the dead owner's file
    assert total(found, "jobs_total") == 40
    assert store_errors(scraped, "truncated") == 1  # counted once, not again when folded
    assert not path.exists()


def test_an_owner_survives_its_file_truncated_to_nothing(directory: Path) -> None:
    """The owner keeps counting through a truncation, then republishes into a new file."""
    owner = worker_registry(directory)
    jobs = owner.families["jobs"]
    jobs.labels("before").inc(5)
    (path,) = worker_files(directory)
    os.truncate(path, 0)
    jobs.labels("before").inc()  # would be SIGBUS without the guard
    jobs.labels("after").inc(3)
    owner.maintain()
    assert not path.exists()
    assert [entry.name for entry in (directory / QUARANTINE).iterdir()] == [
        f"{path.name}.truncated"
    ]
    reader = worker_registry(directory)
    assert total(samples(reader), "jobs_total") == 4  # the 5 before the cut are lost
    assert store_errors(reader, "truncated") == 1
    jobs.labels("after").inc()
    assert total(samples(reader), "jobs_total") == 5
    assert_sane(reader)


def test_a_reader_sets_aside_a_live_workers_corrupt_file(directory: Path) -> None:
    """Random bytes over the entries: left out of merges, counted, and never exported."""
    pid, done = fork_worker(directory, do_jobs(1000), linger=True)
    wait_done(done)
    (path,) = worker_files(directory, pid)
    with path.open("r+b") as file:
        file.seek(HEADER.size + 64)
        file.write(os.urandom(4096))
    scraped = worker_registry(directory)
    assert_sane(scraped)
    assert store_errors(scraped, "corrupt") + store_errors(scraped, "bad_value") == 1
    assert total(samples(scraped), "jobs_total") == 0
    # In quarantine, and still in place for its owner to replace (or compaction to salvage).
    assert os.listdir(directory / QUARANTINE)[0].startswith(path.name)
    assert path.stat().st_nlink == 2
    end(pid, kill=True)
    assert MetricsDirectory(directory).compact() == 1
    assert not path.exists()
    assert store_errors(scraped, "corrupt") + store_errors(scraped, "bad_value") == 1
    assert_sane(scraped)


def test_a_value_that_goes_down_is_caught(directory: Path) -> None:
    """A counter overwritten with a smaller, plausible number is not exported as a drop."""
    owner = worker_registry(directory)
    owner.families["jobs"].labels("k").inc(10)
    reader = worker_registry(directory)
    assert total(samples(reader), "jobs_total") == 10
    owner.families["jobs"].labels("k").cells[0] = 3.0  # as a stray write would
    assert total(samples(reader), "jobs_total") == 0
    assert store_errors(reader, "bad_value") == 1


def test_new_series_start_at_zero_over_garbage(directory: Path) -> None:
    """Garbage past the used bytes never leaks into series created later."""
    owner = worker_registry(directory)
    owner.families["jobs"].labels("first").inc()
    (path,) = worker_files(directory)
    used = used_bytes(path)
    with path.open("r+b") as file:
        file.seek(used)
        file.write(struct.pack("<512d", *([-1.36e234] * 512)))
    for kind in ("a", "b", "c"):
        owner.families["jobs"].labels(kind).inc(2)
        owner.families["job_seconds"].labels(kind).observe(0.5)
    found = samples(worker_registry(directory))
    assert total(found, "jobs_total") == 7
    assert total(found, "job_seconds_count") == 3


def test_a_deleted_directory_is_made_again_with_every_count(directory: Path) -> None:
    """Live workers hold their counts in memory and republish them all: exact totals."""
    owner = worker_registry(directory)
    pid, done = fork_worker(directory, do_jobs(50), linger=True)
    wait_done(done)
    owner.families["jobs"].labels("k").inc(7)
    for path in directory.iterdir():
        path.unlink()
    directory.rmdir()
    owner.maintain()
    reader = worker_registry(directory)
    assert total(samples(reader), "jobs_total") == 7  # the forked worker has not noticed yet
    assert store_errors(reader, "missing") == 1
    end(pid, kill=True)


@contextlib.contextmanager
def small_filesystem(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path``: a disk that really fills up (needs root)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        reason = "mounting a small tmpfs needs root and mount(8)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path: Path) -> Path:
    """Take every free byte of ``path``'s filesystem; delete the file to give them back."""
    filler = path / "filler"
    with filler.open("wb", buffering=0) as file, contextlib.suppress(OSError):
        while True:
            file.write(bytes(4096))
    return filler


def test_a_full_disk_keeps_new_series_in_memory_until_there_is_room(tmp_path: Path) -> None:
    """No room for a file: the series counts in memory, shown by its own worker, then moves."""
    with small_filesystem(tmp_path / "small", "1m") as directory:
        owner = worker_registry(directory)
        filler = fill(directory)
        jobs = owner.families["jobs"]
        for index in range(2000):  # more new series than the first reserved space holds
            jobs.labels(f"k{index}").inc()
        assert owner.storage is not None
        assert owner.storage.store.in_memory
        assert total(samples(owner), "jobs_total") == 2000  # its own scrape shows them all
        assert store_errors(owner, "disk_full") >= 1
        assert total(samples(worker_registry(directory)), "jobs_total") < 2000
        filler.unlink()
        owner.maintain()
        assert not owner.storage.store.in_memory
        assert total(samples(worker_registry(directory)), "jobs_total") == 2000


def test_a_corrupt_archive_is_set_aside(directory: Path) -> None:
    """An archive that is not JSON loses the dead workers' counts, not the scrape."""
    pid, done = fork_worker(directory, do_jobs(10), linger=False)
    wait_done(done)
    end(pid, kill=False)
    MetricsDirectory(directory).compact()
    (directory / "archive.json").write_text('{"folded": [1, 2')
    scraped = worker_registry(directory)
    scraped.families["jobs"].labels("k").inc()
    assert total(samples(scraped), "jobs_total") == 1
    assert store_errors(scraped, "corrupt") == 1


def test_a_merge_that_fails_unexpectedly_still_renders(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug in the merge costs the other workers' values for a scrape, never the scrape."""
    registry = worker_registry(directory)
    registry.families["jobs"].labels("k").inc(3)
    assert isinstance(registry.storage, WorkerMetrics)

    def broken() -> None:
        raise RuntimeError("a bug in the merge")

    monkeypatch.setattr(registry.storage.directory, "merge", broken)
    found = samples(registry)
    assert total(found, "jobs_total") == 3  # this worker's own values
    labels = (("hook", "metrics_store"), ("reason", "exception"))
    assert found[("folio_metrics_errors_total", labels)] == 1


def test_series_made_after_a_truncation_never_share_cells(directory: Path) -> None:
    """The owner places new entries by its own count of used bytes, not the damaged header's."""
    owner = worker_registry(directory)
    jobs = owner.families["jobs"]
    jobs.labels("a").inc()
    jobs.labels("b").inc()
    assert owner.storage is not None
    placement = owner.storage.store.placements[(SUMMED, "jobs", ("b",))]
    b_at = placement.offset + padded(len(placement.written))  # where b's value lives
    # A key just long enough that, written at offset 0, its value would land on b's.
    c = "c" * (b_at - ENTRY.size - len(encode_key((SUMMED, "jobs", ("",)))))
    (path,) = worker_files(directory)
    os.truncate(path, 0)  # the header now reads as zeros: "nothing in use"
    jobs.labels("b").inc(3)  # its page, and its count of 1, are gone: 0 + 3
    jobs.labels(c).inc(7)
    assert jobs.labels("b").value == 3
    owner.maintain()
    found = samples(worker_registry(directory))
    assert found[("jobs_total", (("kind", "b"),))] == 3
    assert found[("jobs_total", (("kind", c),))] == 7


def test_a_republish_that_fails_halfway_leaves_no_second_copy(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Either every series moves to the new files, or none does and they are deleted."""
    owner = worker_registry(directory)
    owner.families["jobs"].labels("a").inc(5)
    assert owner.storage is not None
    workers = owner.storage
    children = type(workers)._children

    def failing_halfway(self: object) -> Iterator[object]:
        for index, item in enumerate(children(workers)):
            if index == 3:
                raise RuntimeError("a failure halfway through the copy")
            yield item

    (path,) = worker_files(directory)
    os.link(path, directory / "elsewhere")  # as a reader's quarantine link would
    monkeypatch.setattr(type(workers), "_children", failing_halfway)
    owner.maintain()  # fails and is counted; the worker stays on its file
    monkeypatch.undo()
    assert worker_files(directory) == [path]
    owner.maintain()  # now it moves
    (directory / "elsewhere").unlink()
    assert total(samples(worker_registry(directory)), "jobs_total") == 5
