"""The directory workers share: live workers' files, one archive, and merging them.

``compact`` folds a dead worker's counters and histograms into ``archive.json`` and deletes
its files, so storage stays bounded however often workers recycle; gauges die with their
worker. A lock file orders compaction (exclusive) against merging (shared), and the archive
names the files it folded in, so that no worker is ever counted twice or not at all.

Nothing in the directory can fail a merge or a compaction: a damaged file is moved to
``quarantine/`` and left out, after a dead worker's file gives up what can be trusted.
Faults found while merging are counted in ``faults``, for the worker to export; those found
while compacting in the archive itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

from folio_metrics.multiprocess.archive import ARCHIVE, Archive, read_archive, write_archive
from folio_metrics.multiprocess.checks import (
    CORRUPT,
    ERRORS_FAMILY,
    SET_ASIDE,
    STORE_HOOK,
    FaultTally,
    StoreFault,
    os_reason,
)
from folio_metrics.multiprocess.files import from_a_run, pid_alive, worker_pid
from folio_metrics.multiprocess.lock import DirectoryLock
from folio_metrics.multiprocess.merged import Merged
from folio_metrics.multiprocess.quarantine import is_set_aside, set_aside
from folio_metrics.multiprocess.reader import SegmentReader, salvage
from folio_metrics.multiprocess.store import SUMMED, Segment
from folio_metrics.multiprocess.writer import WorkerStore

logger = logging.getLogger("folio_metrics")


class MetricsDirectory:
    """One service's shared metrics directory, as every worker (and the supervisor) sees it."""

    def __init__(self, path: Path, *, is_alive: Callable[[int], bool] = pid_alive) -> None:
        self.lock = DirectoryLock(path)
        if path.exists() and not path.is_dir():
            raise ValueError(f"metrics directory {path} is not a directory")
        self.path = path
        self.is_alive = is_alive
        self.faults = FaultTally()  # found while merging; the worker counts them
        self._readers: dict[str, SegmentReader] = {}
        self._archive: tuple[tuple[int, int], Archive] | None = None
        self._left_out: set[tuple[str, int]] = set()  # bad files that could not be moved
        self._logged: set[str] = set()
        self._ensure_exists()

    @staticmethod
    def reset(path: Path) -> None:
        """Create ``path``, or empty it of a previous run's files, before any worker starts."""
        path.mkdir(parents=True, exist_ok=True)
        for entry in path.iterdir():
            if from_a_run(entry.name):
                entry.unlink()

    def open_worker(self) -> WorkerStore:
        return WorkerStore(self.path, os.getpid(), secrets.token_hex(4))

    def compact(self) -> int:
        """Fold dead workers' files into the archive and delete them; the files removed."""
        try:
            with self._locked(self.lock.exclusive):
                return self._compact()
        except OSError as error:  # the directory refused the archive, or the lock
            self._notice(os_reason(error), "compaction", f"dead workers stay unfolded: {error}")
            return 0

    def merge(self) -> Merged:
        """The archive plus every live worker's files, read under the shared lock."""
        merged = Merged()
        try:
            with self._locked(self.lock.shared):
                self._merge(merged)
        except OSError as error:
            self._notice(os_reason(error), "merge", f"the directory cannot be read: {error}")
        return merged

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold off merges and compactions, e.g. while a worker replaces its files.

        If the lock cannot be had, the work goes on without it: a scrape may then count a
        worker's series twice, once, which beats never replacing damaged files.
        """
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(self._locked(self.lock.exclusive))
            except OSError as error:
                self._notice(os_reason(error), "lock", f"the directory cannot be locked: {error}")
            yield

    def set_aside(self, name: str, reason: str, *, keep: bool = False) -> bool:
        """Put ``name`` in quarantine/ (see folio_metrics.multiprocess.quarantine)."""
        return set_aside(self.path, name, reason, keep=keep)

    def storage_bytes(self) -> int:
        """Bytes the directory holds on disk (files are sparse: only pages written count)."""
        return sum(entry.stat().st_blocks * 512 for entry in self.path.iterdir())

    # --- internals ------------------------------------------------------------------------

    def _compact(self) -> int:
        folded, series = self._archived()
        dead = [
            entry
            for entry in sorted(self.path.iterdir())
            if (pid := worker_pid(entry.name)) is not None and not self.is_alive(pid)
        ]
        if not dead:
            return 0
        archived = Merged()
        for key, values in series:
            archived.add(key, values, "")
        faulty: dict[str, str] = {}
        for entry in dead:
            if entry.name in folded:
                continue
            fault = self._fold(entry.name, archived)
            if fault is not None and not is_set_aside(entry.stat().st_nlink):
                faulty[entry.name] = fault.reason
                self._log_once(fault.reason, f"{entry.name}: {fault}; kept what could be trusted")
                errors = (SUMMED, ERRORS_FAMILY, (STORE_HOOK, fault.reason))
                archived.add(errors, [1.0], "")
        write_archive(self.path, archived.summed, [entry.name for entry in dead])
        for entry in dead:
            self._forget(entry.name)
            if entry.name in faulty:
                with contextlib.suppress(OSError):
                    self.set_aside(entry.name, faulty[entry.name])
            entry.unlink(missing_ok=True)
        return len(dead)

    def _merge(self, merged: Merged) -> None:
        folded, series = self._archived()
        for key, values in series:
            merged.add(key, values, "")
        names = sorted(os.listdir(self.path))
        for name in names:
            pid = worker_pid(name)
            if pid is None or name in folded:
                continue
            reader = self._reader(name)
            if reader is None:
                continue
            try:
                found = reader.read()
            except StoreFault:
                # Read again once: on a weakly ordered CPU, a new entry's bytes can arrive
                # just after the header that announces them.
                try:
                    found = reader.read()
                except StoreFault as fault:
                    self._leave_out(name, fault)
                    continue
            merged.pids.add(pid)
            for key, values in found:
                merged.add(key, values, str(pid))
        for gone in self._readers.keys() - set(names):
            self._forget(gone)

    def _locked(
        self, mode: Callable[[], contextlib.AbstractContextManager[None]]
    ) -> contextlib.AbstractContextManager[None]:
        self._ensure_exists()
        return mode()

    def _ensure_exists(self) -> None:
        """Recreate the directory if it was deleted; the workers then republish into it."""
        if not self.path.is_dir():
            with contextlib.suppress(OSError):
                self.path.mkdir(parents=True, exist_ok=True)

    def _reader(self, name: str) -> SegmentReader | None:
        reader = self._readers.get(name)
        if reader is not None:
            return reader
        try:
            if (name, os.stat(self.path / name).st_ino) in self._left_out:
                return None
            segment = Segment(self.path / name, create=False)
        except FileNotFoundError:
            return None  # removed meanwhile
        except StoreFault as fault:
            self._leave_out(name, fault)
            return None
        except OSError as error:  # a directory of that name, a file nobody may read
            self._leave_out(name, StoreFault(CORRUPT, f"{name} cannot be read: {error}"))
            return None
        reader = self._readers[name] = SegmentReader(segment)
        return reader

    def _leave_out(self, name: str, fault: StoreFault) -> None:
        """Quarantine a bad file and count it, once, whoever of the readers gets there first."""
        reader = self._readers.get(name)
        self._forget(name)
        if fault.reason == SET_ASIDE:
            return
        try:
            # Linked, not moved: a live owner replaces it, a dead one's is still compacted.
            moved = self.set_aside(name, fault.reason, keep=True)
        except OSError:
            # It stays where it is, so remember not to read it again (by inode: a new file
            # of the same name is read).
            with contextlib.suppress(OSError):
                inode = reader.segment.inode if reader else os.stat(self.path / name).st_ino
                self._left_out.add((name, inode))
            moved = True
        if moved and self._log_once(f"{name}:{fault.reason}", f"{name} left out: {fault}"):
            self.faults.add(fault.reason)

    def _forget(self, name: str) -> None:
        reader = self._readers.pop(name, None)
        if reader is not None:
            reader.segment.close()

    def _fold(self, name: str, archived: Merged) -> StoreFault | None:
        self._forget(name)
        try:
            segment = Segment(self.path / name, create=False)
        except FileNotFoundError:
            return None
        except StoreFault as unreadable:
            return unreadable
        except OSError as error:
            return StoreFault(CORRUPT, f"{name} cannot be read: {error}")
        try:
            kept, damage = salvage(segment)
        finally:
            segment.close()
        for key, values in kept:
            archived.add(key, values, "")
        return damage

    def _archived(self) -> Archive:
        """The archive's folded file names and series, parsed again only when replaced."""
        try:
            status = (self.path / ARCHIVE).stat()
        except FileNotFoundError:
            return frozenset(), []
        stamp = (status.st_ino, status.st_mtime_ns)
        if self._archive is None or self._archive[0] != stamp:
            try:
                archive = read_archive(self.path)
            except StoreFault as fault:
                # The dead workers' counts in it are lost; the next compaction starts anew.
                with contextlib.suppress(OSError):
                    if self.set_aside(ARCHIVE, fault.reason):
                        self.faults.add(fault.reason)
                self._log_once(f"{ARCHIVE}:{fault.reason}", f"{ARCHIVE} left out: {fault}")
                return frozenset(), []
            self._archive = (stamp, archive)
        return self._archive[1]

    def _notice(self, reason: str, where: str, message: str) -> None:
        """Count and log a directory failure once until it clears."""
        if self._log_once(f"{where}:{reason}", message):
            self.faults.add(reason)

    def _log_once(self, key: str, message: str) -> bool:
        if key in self._logged:
            return False
        self._logged.add(key)
        logger.warning("folio_metrics: %s", message)
        return True
