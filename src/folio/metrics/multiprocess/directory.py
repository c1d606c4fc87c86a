"""The directory workers share: live workers' files, one archive, and merging them.

When a worker dies its counters and histograms must not be lost, and its files must not
pile up. ``compact`` folds a dead worker's summed series into ``archive.json`` and deletes
its files, so storage stays bounded however often workers recycle: the live workers' files
plus one archive holding at most one entry per series. Gauges die with their worker.

A lock file orders compaction (exclusive) against merging (shared), so a scrape never
sees a dead worker both in the archive and in its own files, nor in neither. The archive
also names the files it folded in: were the process to die after writing the archive but
before deleting them, they are skipped, never counted twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from operator import add
from pathlib import Path

from folio.metrics.multiprocess.store import (
    PER_WORKER,
    SUMMED,
    Segment,
    SegmentReader,
    SeriesKey,
    WorkerStore,
)

ARCHIVE = "archive.json"
LOCK = ".lock"
WORKER_PREFIX = "worker-"

Values = list[float]
SeriesValues = dict[tuple[str, ...], Values]
# The files already folded in, and the summed series of every worker gone.
Archive = tuple[frozenset[str], list[tuple[SeriesKey, Values]]]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive, not ours to judge
    return True


def worker_pid(file_name: str) -> int | None:
    """The pid in ``worker-<pid>-<nonce>-<segment>.db``, or None for other files."""
    if not file_name.startswith(WORKER_PREFIX) or not file_name.endswith(".db"):
        return None
    pid = file_name[len(WORKER_PREFIX) :].split("-", 1)[0]
    return int(pid) if pid.isdigit() else None


@dataclass
class Merged:
    """Every worker's series combined: summed per family, and per worker (pid appended)."""

    summed: dict[str, SeriesValues] = field(default_factory=dict)
    per_worker: dict[str, SeriesValues] = field(default_factory=dict)
    pids: set[int] = field(default_factory=set)  # the live workers whose files were read

    def add(self, key: SeriesKey, values: Values, pid: str) -> None:
        kind, name, label_values = key
        if kind == PER_WORKER:
            self.per_worker.setdefault(name, {})[(*label_values, pid)] = values
            return
        series = self.summed.setdefault(name, {})
        current = series.get(label_values)
        series[label_values] = values if current is None else list(map(add, current, values))


class MetricsDirectory:
    """One service's shared metrics directory, as every worker (and the supervisor) sees it."""

    def __init__(self, path: Path, *, is_alive: Callable[[int], bool] = pid_alive) -> None:
        if not path.is_dir():
            raise ValueError(f"metrics directory {path} does not exist or is not a directory")
        self.path = path
        self.is_alive = is_alive
        self._readers: dict[str, SegmentReader] = {}
        self._archive: tuple[tuple[int, int], Archive] | None = None

    @staticmethod
    def reset(path: Path) -> None:
        """Create ``path``, or empty it of a previous run's files, before any worker starts."""
        path.mkdir(parents=True, exist_ok=True)
        for entry in path.iterdir():
            if entry.name == ARCHIVE or worker_pid(entry.name) is not None:
                entry.unlink()

    def open_worker(self) -> WorkerStore:
        return WorkerStore(self.path, secrets.token_hex(4))

    def compact(self) -> int:
        """Fold dead workers' files into the archive and delete them; the files removed."""
        with self._locked(fcntl.LOCK_EX):
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
            for entry in dead:
                if entry.name not in folded:
                    self._fold(entry, archived)
            self._write_archive(archived, [entry.name for entry in dead])
            for entry in dead:
                self._forget(entry.name)
                entry.unlink()
            return len(dead)

    def merge(self) -> Merged:
        """The archive plus every live worker's files, read under the shared lock."""
        merged = Merged()
        with self._locked(fcntl.LOCK_SH):
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
                merged.pids.add(pid)
                segment = reader.segment
                for key, start, size in reader.refresh():
                    merged.add(key, segment.values(start, size), str(pid))
            for gone in self._readers.keys() - set(names):
                self._forget(gone)
        return merged

    def storage_bytes(self) -> int:
        """Bytes the directory holds on disk (files are sparse: only pages written count)."""
        return sum(entry.stat().st_blocks * 512 for entry in self.path.iterdir())

    # --- internals ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, mode: int) -> Iterator[None]:
        descriptor = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, mode)
            yield
        finally:
            os.close(descriptor)  # closing releases the lock

    def _reader(self, name: str) -> SegmentReader | None:
        reader = self._readers.get(name)
        if reader is None:
            try:
                reader = SegmentReader(Segment(self.path / name, create=False))
            except (FileNotFoundError, ValueError):
                return None  # removed meanwhile, or not ours
            self._readers[name] = reader
        return reader

    def _forget(self, name: str) -> None:
        reader = self._readers.pop(name, None)
        if reader is not None:
            reader.segment.close()

    def _fold(self, entry: Path, archived: Merged) -> None:
        reader = self._reader(entry.name)
        if reader is None:
            return
        for key, start, size in reader.refresh():
            if key[0] == SUMMED:
                archived.add(key, reader.segment.values(start, size), "")

    def _archived(self) -> Archive:
        """The archive's folded file names and series, parsed again only when replaced."""
        try:
            status = (self.path / ARCHIVE).stat()
        except FileNotFoundError:
            return frozenset(), []
        stamp = (status.st_ino, status.st_mtime_ns)
        if self._archive is None or self._archive[0] != stamp:
            content = json.loads((self.path / ARCHIVE).read_text())
            series = [
                ((SUMMED, name, tuple(labels)), values)
                for name, labels, values in content["series"]
            ]
            self._archive = (stamp, (frozenset(content["folded"]), series))
        return self._archive[1]

    def _write_archive(self, archived: Merged, folded: list[str]) -> None:
        rows = [
            [name, list(label_values), values]
            for name, series in sorted(archived.summed.items())
            for label_values, values in series.items()
        ]
        temporary = self.path / f".{ARCHIVE}.{os.getpid()}"
        content = {"folded": folded, "series": rows}
        temporary.write_text(json.dumps(content, separators=(",", ":")))
        os.replace(temporary, self.path / ARCHIVE)  # readers see the old archive or the new
