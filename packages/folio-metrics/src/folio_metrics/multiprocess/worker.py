"""One worker's part in a multi-worker service: where its series live, and what it sees.

Besides allocating cells and rendering everyone's values merged, a worker looks after its
own files (``maintain``): when they were deleted, truncated or set aside as damaged, it
writes what it still holds into fresh files, and when series had to stay in its memory
(a full disk, a read-only directory), it moves them into its files once there is room.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, cast

from folio_metrics.children import Cells, CounterChild, GaugeChild, HistogramChild
from folio_metrics.families import Aggregate, Allocator
from folio_metrics.multiprocess.checks import (
    MISSING,
    REASONS,
    STORE_HOOK,
    TRUNCATED,
    StoreFault,
    checked_count,
)
from folio_metrics.multiprocess.directory import MetricsDirectory
from folio_metrics.multiprocess.merged import Merged
from folio_metrics.multiprocess.quarantine import QUARANTINE, is_set_aside
from folio_metrics.multiprocess.store import LIVE, PER_WORKER, SUMMED, SeriesKey
from folio_metrics.multiprocess.view import MergedView
from folio_metrics.multiprocess.writer import WorkerStore

if TYPE_CHECKING:
    from folio_metrics.families import AnyFamily as Family
    from folio_metrics.storage import StorageOwner

logger = logging.getLogger("folio_metrics")

Child = CounterChild | GaugeChild | HistogramChild


class WorkerMetrics:
    """Puts this worker's series in the shared directory and renders everyone's merged."""

    def __init__(self, path: Path) -> None:
        self.directory = MetricsDirectory(path)
        self.store = self.directory.open_worker()
        self.view = MergedView()
        self.live_pids: list[int] = [os.getpid()]
        self.registry: StorageOwner | None = None
        self._kinds: dict[str, str] = {}  # family name -> the kind its keys carry
        # Series are made on the event loop and, by scrape-time hooks, in the scrape's
        # thread; one lock keeps their appends, and the moves between files, apart.
        self._placing = threading.RLock()
        self._merging = threading.Lock()  # one merge at a time: readers keep state
        # A server that builds the app before forking its workers (gunicorn --preload, a
        # fork-based multiprocessing server) would have every worker write the parent's
        # files, through the same shared mapping: each fork must get files of its own.
        this = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _forked(this))

    def allocator(self, name: str, kind: str, aggregate: Aggregate) -> Allocator | None:
        """How ``name``'s series get their cells: in this worker's file, unless local."""
        if aggregate == "local":
            return None
        code = PER_WORKER if aggregate == "per_worker" else LIVE if kind == "gauge" else SUMMED
        self._kinds[name] = code

        def cells(label_values: tuple[str, ...], size: int) -> Cells:
            with self._placing:  # self.store is read under it: maintain() may replace it
                return self.store.allocate((code, name, label_values), size)

        return cells

    def attach(self, registry: StorageOwner) -> None:
        """Count the store's faults in ``registry``, each reason served at 0 from the start."""
        self.registry = registry
        for reason in REASONS:
            registry.hook_errors.labels(STORE_HOOK, reason)

    def maintain(self) -> None:
        """Republish this worker's series if its files were damaged; count what went wrong.

        Call it from the event loop's thread, where the series are updated, so that no
        update lands in the old cells after their values were copied.
        """
        try:
            damage = self.store.damage()
            with self._placing:
                if damage is not None:
                    self._republish(damage)
                elif self.store.in_memory:
                    self._adopt()
            self._count_faults()
        except Exception:
            if self.registry is not None:
                self.registry.record_hook_error(STORE_HOOK)

    def merged_families(self, registry: StorageOwner) -> list[Family]:
        """Fold in dead workers, then every family with all workers' values combined.

        Should that fail, this worker's own values are rendered rather than nothing.
        """
        try:
            return self._merged_families(registry)
        except Exception:
            registry.record_hook_error(STORE_HOOK)
            return list(registry.families.values())

    def _merged_families(self, registry: StorageOwner) -> list[Family]:
        with self._merging:
            self.directory.compact()
            merged: Merged = self.directory.merge()
            pid = str(os.getpid())
            with self._placing:
                in_memory = [(key, list(cells)) for key, cells in self.store.in_memory.items()]
            for key, values in in_memory:
                merged.add(key, values, pid)  # only this worker can show these
            self.live_pids = sorted(merged.pids | {os.getpid()})
            return self.view.families(registry.families.values(), merged)

    def after_fork(self) -> None:
        """In a forked child: its own files, its series from zero; the parent keeps its own.

        What the parent counted stays in the parent's files, which merges read as long as
        it lives and compaction folds in once it is gone; copying it would count it twice.
        """
        self._placing = threading.RLock()  # another thread may have held them at the fork
        self._merging = threading.Lock()
        self.directory.lock.after_fork()
        self.directory.faults.take()  # found by the parent, which counts them itself
        inherited, self.store = self.store, self.directory.open_worker()
        self.live_pids = [os.getpid()]
        if self.registry is not None:
            for key, child in self._children():
                child.cells = self.store.allocate(key, len(child.cells))
        inherited.in_memory.clear()
        inherited.close()  # unmaps them here only; the files are the parent's

    def _children(self) -> Iterator[tuple[SeriesKey, Child]]:
        assert self.registry is not None, "attach() a registry first"
        families: list[Family] = list(self.registry.families.values())
        for family in families:
            code = self._kinds.get(family.name)
            if code is not None:
                children: list[Child] = list(family.samples_children())
                for child in children:
                    yield (code, family.name, child.label_values), child

    def _republish(self, damage: str) -> None:
        """Copy every series into new files, then switch to them all at once.

        Under the exclusive lock no merge sees the old and the new files together; should
        the copy fail halfway, the new files go and the worker stays on the old ones.
        """
        old, new = self.store, self.directory.open_worker()
        with self.directory.exclusive():
            damaged = old.damaged_keys()
            moves = []
            try:
                for key, child in self._children():
                    values = _trusted(key, child.cells, damaged)
                    cells = new.allocate(key, len(values))
                    for index, value in enumerate(values):
                        cells[index] = value
                    moves.append((child, cells))
            except BaseException:
                new.discard()
                raise
            for child, cells in moves:
                child.cells = cells
            self.store = new
            self._retire(old)
        for reason, count in old.faults.take().items():
            new.faults.add(reason, count)
        logger.warning(
            "folio_metrics: worker %d republished its series (%s; %d lost)",
            os.getpid(),
            damage,
            len(damaged),
        )

    def _retire(self, old: WorkerStore) -> None:
        """Delete the old files, or set them aside if cut short; count what nobody else has."""
        quarantine = self.directory.path / QUARANTINE
        set_aside = os.listdir(quarantine) if quarantine.is_dir() else []
        noticed: set[str] = set()
        for segment in old.segments:
            name = segment.path.name
            try:
                status = os.stat(segment.path)
            except FileNotFoundError:
                # A reader that set it aside has counted it; a deletion nobody has.
                if not any(entry.startswith(name) for entry in set_aside):
                    noticed.add(MISSING)
                continue
            if status.st_ino != segment.inode:
                noticed.add(MISSING)
                continue
            cut_short = segment.size_on_disk() < len(segment.map)
            if cut_short and not is_set_aside(status.st_nlink):
                noticed.add(TRUNCATED)
                with contextlib.suppress(OSError):
                    self.directory.set_aside(name, TRUNCATED)
            # Once set aside, by a reader (who counted it) or here, only the name goes.
            with contextlib.suppress(OSError):
                segment.path.unlink(missing_ok=True)
        for reason in noticed:
            old.faults.add(reason)
        old.close()

    def _adopt(self) -> None:
        """Move series kept in memory into this worker's files, now that there may be room."""
        waiting = self.store.in_memory
        for key, child in self._children():
            if key in waiting:
                cells = self.store.place(key, list(child.cells))
                if cells is None:
                    return  # still no room: try again on the next pass
                child.cells = cells

    def _count_faults(self) -> None:
        if self.registry is None:
            return
        for tally in (self.store.faults, self.directory.faults):
            for reason, count in tally.take().items():
                self.registry.hook_errors.labels(STORE_HOOK, reason).inc(count)


def _forked(worker: weakref.ref[WorkerMetrics]) -> None:
    alive = worker()
    if alive is None:
        return
    try:
        alive.after_fork()
    except Exception:  # a failed fork hook must not fail the fork; the worker still counts
        logger.exception("folio_metrics: worker %d could not take files of its own", os.getpid())


def _trusted(key: SeriesKey, cells: Cells, damaged: set[SeriesKey]) -> list[float]:
    """A series' values if they can be trusted; zeros if they were damaged or make no sense."""
    if key in damaged:
        return [0.0] * len(cells)
    values = cast(list[float], list(cells))
    try:
        checked_count(key[0] == SUMMED, values)
    except StoreFault:
        return [0.0] * len(values)
    return values
