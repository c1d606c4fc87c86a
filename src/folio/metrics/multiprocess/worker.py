"""One worker's part in a multi-worker service: where its series live, and what it sees."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

from folio.metrics.families import Aggregate, Allocator, Cells
from folio.metrics.multiprocess.directory import Merged, MetricsDirectory
from folio.metrics.multiprocess.store import LIVE, PER_WORKER, SUMMED
from folio.metrics.multiprocess.view import MergedView

if TYPE_CHECKING:
    from folio.metrics.registry import Family, MetricsRegistry

# The environment variable the supervisor sets for its workers.
DIRECTORY_ENV = "FOLIO_METRICS_DIR"


class WorkerMetrics:
    """Puts this worker's series in the shared directory and renders everyone's merged."""

    def __init__(self, path: Path) -> None:
        self.directory = MetricsDirectory(path)
        self.store = self.directory.open_worker()
        self.view = MergedView()
        self.live_pids: list[int] = [self.store.pid]

    def allocator(self, name: str, kind: str, aggregate: Aggregate) -> Allocator | None:
        """How ``name``'s series get their cells: in this worker's file, unless local."""
        if aggregate == "local":
            return None
        code = PER_WORKER if aggregate == "per_worker" else LIVE if kind == "gauge" else SUMMED
        allocate = self.store.allocate

        def cells(label_values: tuple[str, ...], size: int) -> Cells:
            # A memoryview of doubles indexes and assigns like a list of floats.
            return cast(Cells, allocate((code, name, label_values), size))

        return cells

    def merged_families(self, registry: MetricsRegistry) -> list[Family]:
        """Fold in dead workers, then every family with all workers' values combined."""
        self.directory.compact()
        merged: Merged = self.directory.merge()
        self.live_pids = sorted(merged.pids)
        return self.view.families(registry.families.values(), merged)
