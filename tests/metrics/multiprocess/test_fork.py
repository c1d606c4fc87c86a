"""A worker forked after the registry was built (gunicorn --preload) keeps its own files."""

from __future__ import annotations

import os
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
