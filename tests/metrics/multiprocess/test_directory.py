"""Workers sharing a metrics directory: real forked processes, exact totals, bounded files."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from folio_metrics import MetricsRegistry, render
from folio_metrics.multiprocess import MetricsDirectory, WorkerMetrics
from folio_metrics.multiprocess.directory import ARCHIVE
from prometheus_client.parser import text_string_to_metric_families

Job = Callable[[MetricsRegistry], None]


def define(registry: MetricsRegistry) -> None:
    """The families every 'worker' of these tests defines, as one app's code would."""
    registry.counter("jobs_total", "Jobs done.", ("kind",))
    registry.histogram("job_seconds", "Job time.", ("kind",), buckets=(0.1, 1.0))
    registry.gauge("busy", "Jobs running now.")
    registry.gauge("pool_size", "Pool size.", aggregate="per_worker")
    registry.gauge("rows", "Rows stored.", aggregate="local")


def worker_registry(path: Path) -> MetricsRegistry:
    registry = MetricsRegistry(storage=WorkerMetrics(path))
    define(registry)
    return registry


def do_jobs(count: int, busy: float = 0.0) -> Job:
    def job(registry: MetricsRegistry) -> None:
        jobs = registry.families["jobs"]
        seconds = registry.families["job_seconds"]
        for index in range(count):
            jobs.labels(f"k{index % 5}").inc()
            seconds.labels(f"k{index % 5}").observe(0.5)
        registry.families["busy"].unlabelled().inc(busy)
        registry.families["pool_size"].unlabelled().set(7)

    return job


def fork_worker(path: Path, job: Job, *, linger: bool) -> tuple[int, int]:
    """A real child process that does ``job``; it stays alive (until killed) if ``linger``.

    Returns its pid and the read end of a pipe that says when the job is done.
    """
    done_read, done_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        status = 1
        try:
            os.close(done_read)
            job(worker_registry(path))
            os.write(done_write, b"x")
            status = 0
            if linger:
                time.sleep(120)
        finally:
            os._exit(status)
    os.close(done_write)
    return pid, done_read


def wait_done(done_read: int) -> None:
    assert os.read(done_read, 1) == b"x", "the worker failed before finishing its job"
    os.close(done_read)


def end(pid: int, *, kill: bool) -> None:
    if kill:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert kill or os.waitstatus_to_exitcode(status) == 0


def samples(registry: MetricsRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = render(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str) -> float:
    return sum(value for (sample, _), value in found.items() if sample == name)


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    path = tmp_path / "metrics"
    MetricsDirectory.reset(path)
    return path


def test_counts_are_exact_across_live_and_killed_workers(directory: Path) -> None:
    """Four real workers, one SIGKILLed: the scraped worker reports every job exactly."""
    workers = [fork_worker(directory, do_jobs(1000, busy=1), linger=True) for _ in range(4)]
    for _, done in workers:
        wait_done(done)
    end(workers[0][0], kill=True)
    scraped = worker_registry(directory)
    found = samples(scraped)
    assert total(found, "jobs_total") == 4000
    assert total(found, "job_seconds_count") == 4000
    assert total(found, "job_seconds_sum") == pytest.approx(2000)
    assert found[("busy", ())] == 3  # gauges sum over the live workers only
    for pid, _ in workers[1:]:
        end(pid, kill=True)


def test_per_worker_gauges_carry_the_worker_label_while_it_lives(directory: Path) -> None:
    """A per_worker gauge is one series per live worker; a dead worker's series goes away."""
    workers = [fork_worker(directory, do_jobs(1), linger=True) for _ in range(2)]
    for _, done in workers:
        wait_done(done)
    scraped = worker_registry(directory)
    series = {labels for name, labels in samples(scraped) if name == "pool_size"}
    assert {dict(labels).get("worker") for labels in series} >= {str(pid) for pid, _ in workers}
    end(workers[0][0], kill=True)
    series = {labels for name, labels in samples(scraped) if name == "pool_size"}
    assert str(workers[0][0]) not in {dict(labels)["worker"] for labels in series}
    end(workers[1][0], kill=True)


def test_local_gauges_show_the_scraped_workers_value(directory: Path) -> None:
    """A local gauge is never shared: the scraped worker's own value, without a worker label."""
    pid, done = fork_worker(
        directory, lambda registry: registry.families["rows"].unlabelled().set(99), linger=True
    )
    wait_done(done)
    scraped = worker_registry(directory)
    scraped.families["rows"].unlabelled().set(5)
    assert samples(scraped)[("rows", ())] == 5
    end(pid, kill=True)


def test_two_hundred_recycled_workers_leave_bounded_storage(directory: Path) -> None:
    """200 worker lifetimes, half of them SIGKILLed: exact totals and a fixed storage bound."""
    supervisor = MetricsDirectory(directory)
    sizes = []
    for round_ in range(200):
        pid, done = fork_worker(directory, do_jobs(10), linger=round_ % 2 == 0)
        wait_done(done)
        end(pid, kill=round_ % 2 == 0)
        assert supervisor.compact() == 1  # as `folio ... --workers N` does on each exit
        sizes.append(supervisor.storage_bytes())
    names = sorted(os.listdir(directory))
    assert names == [".lock", ARCHIVE]
    # Same series every time: the archive does not grow after the first worker's series.
    assert max(sizes) == sizes[0]
    found = samples(worker_registry(directory))
    assert total(found, "jobs_total") == 2000
    assert total(found, "job_seconds_count") == 2000


def test_a_compaction_interrupted_before_deleting_never_counts_twice(directory: Path) -> None:
    """Files the archive already folded in are skipped, then deleted by the next compaction."""
    pid, done = fork_worker(directory, do_jobs(10), linger=False)
    wait_done(done)
    end(pid, kill=False)
    files = [name for name in os.listdir(directory) if name.startswith("worker-")]
    saved = {name: (directory / name).read_bytes() for name in files}
    MetricsDirectory(directory).compact()
    for name, content in saved.items():  # as if the process died before unlinking them
        (directory / name).write_bytes(content)
    folded = json.loads((directory / ARCHIVE).read_text())["folded"]
    assert sorted(folded) == sorted(files)
    assert total(samples(worker_registry(directory)), "jobs_total") == 10
    MetricsDirectory(directory).compact()
    assert not [name for name in os.listdir(directory) if name.startswith(f"worker-{pid}-")]
    assert total(samples(worker_registry(directory)), "jobs_total") == 10


def test_reset_removes_a_previous_runs_files(directory: Path) -> None:
    """Counts from a previous run of the service do not leak into the next one."""
    pid, done = fork_worker(directory, do_jobs(10), linger=False)
    wait_done(done)
    end(pid, kill=False)
    MetricsDirectory(directory).compact()
    MetricsDirectory.reset(directory)
    assert total(samples(worker_registry(directory)), "jobs_total") == 0


def test_a_file_in_place_of_the_directory_is_a_clear_error(tmp_path: Path) -> None:
    """Pointing workers at a regular file fails with the path in the message."""
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="is not a directory"):
        MetricsDirectory(tmp_path / "file")


def test_a_deleted_directory_is_made_again(tmp_path: Path) -> None:
    """A worker started after the directory was deleted recreates it rather than failing."""
    path = tmp_path / "gone" / "metrics"
    registry = worker_registry(path)
    registry.families["jobs"].labels("k").inc()
    assert path.is_dir()
    assert total(samples(registry), "jobs_total") == 1
