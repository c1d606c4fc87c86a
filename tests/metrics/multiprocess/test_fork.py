"""A worker forked after the registry was built (gunicorn --preload) keeps its own files."""

from __future__ import annotations

import fcntl
import os
import signal
import threading
import time
from pathlib import Path

from folio_metrics import MetricsRegistry, render
from folio_metrics.multiprocess import WorkerMetrics
from prometheus_client.parser import text_string_to_metric_families


def _total(registry: MetricsRegistry) -> float:
    text = render(registry).decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "jobs"
        for sample in family.samples
        if sample.name == "jobs_total"
    )


def test_a_forked_child_counts_in_its_own_files_and_both_counts_merge_once(
    tmp_path: Path,
) -> None:
    registry = MetricsRegistry(storage=WorkerMetrics(tmp_path))
    jobs = registry.counter("jobs_total", "Jobs run.").unlabelled()
    jobs.inc(2)
    files_before = sorted(path.name for path in tmp_path.iterdir())
    child = os.fork()
    if child == 0:  # the child: count on, then leave without running any cleanup
        try:
            jobs.inc(5)
        finally:
            os._exit(0)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert jobs.value == 2  # the child's increments never landed in the parent's cells
    assert [name for name in os.listdir(tmp_path) if str(child) in name]  # its own file
    assert _total(registry) == 7  # the dead child's 5 folded in, the parent's 2 once
    assert _total(registry) == 7
    assert set(files_before) <= set(os.listdir(tmp_path)) | {"archive.json"}


def test_a_fork_while_another_thread_holds_the_lock_does_not_keep_it(tmp_path: Path) -> None:
    """A child forked mid-merge must not hold the directory's lock for its whole life."""
    workers = WorkerMetrics(tmp_path)
    MetricsRegistry(storage=workers)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with workers.directory.exclusive():
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(10)
    ready, told = os.pipe()
    child = os.fork()
    if child == 0:  # the child lives on, as a worker would, without touching the lock
        os.write(told, b"!")  # fork hooks have run once os.fork() returns here
        time.sleep(5)
        os._exit(0)
    try:
        assert os.read(ready, 1) == b"!"
        release.set()
        holder.join(10)
        descriptor = os.open(tmp_path / ".lock", os.O_RDWR)
        try:
            # Non-blocking: raises BlockingIOError if the child still held the lock.
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(descriptor)
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        os.close(ready)
        os.close(told)
