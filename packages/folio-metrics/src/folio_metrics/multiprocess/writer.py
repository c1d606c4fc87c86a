"""One worker's own files: it appends its series there, and notices when they are damaged.

A worker never lets its files fail a request. When the directory refuses a new file or the
disk is full, the series gets cells in the worker's memory instead: it still counts, but
only this worker's scrapes show it until ``WorkerMetrics`` republishes it into a file.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from folio_metrics.children import Cells
from folio_metrics.multiprocess.checks import MISSING, SET_ASIDE, TRUNCATED, FaultTally, os_reason
from folio_metrics.multiprocess.quarantine import is_set_aside
from folio_metrics.multiprocess.store import (
    DOUBLE,
    ENTRY,
    HEADER,
    SEGMENT_BYTES,
    Segment,
    SeriesKey,
    encode_key,
    entry_header,
    padded,
)

logger = logging.getLogger("folio_metrics")


@dataclass(frozen=True)
class Placement:
    """Where this worker wrote a series: its file, the entry's offset, and its first bytes."""

    segment: Segment
    offset: int
    written: bytes  # the entry header and key, as they must still read

    def intact(self) -> bool:
        """False when the entry's own bytes were overwritten.

        An entry cut off by a truncation counts as intact: what the worker's memory holds
        for it is what it counted since the cut, the rest being gone with the file's end.
        """
        if self.segment.size_on_disk() < self.offset + len(self.written):
            return True
        now = self.segment.map[self.offset : self.offset + len(self.written)]
        return bytes(now) == self.written


class WorkerStore:
    """This worker's files: it appends series and hands out their cells."""

    def __init__(self, directory: Path, pid: int, nonce: str) -> None:
        self.directory = directory
        self.prefix = f"worker-{pid}-{nonce}"
        self.segments: list[Segment] = []
        self.placements: dict[SeriesKey, Placement] = {}
        self.in_memory: dict[SeriesKey, Cells] = {}  # series the directory had no room for
        self.faults = FaultTally()  # counted by WorkerMetrics, then cleared
        self._logged: set[str] = set()

    def allocate(self, key: SeriesKey, size: int) -> Cells:
        """Zeroed cells for a new series: in a file, or in memory if the directory refuses."""
        try:
            return self._place(key, size)
        except OSError as error:
            self.fault(os_reason(error), f"series kept in this worker's memory: {error}")
            cells: Cells = [0.0] * size
            self.in_memory[key] = cells
            return cells

    def place(self, key: SeriesKey, values: list[float]) -> Cells | None:
        """Move a series kept in memory into a file; None while there is still no room."""
        try:
            cells = self._place(key, len(values))
        except OSError:
            return None
        for index, value in enumerate(values):
            cells[index] = value
        del self.in_memory[key]
        return cells

    def damage(self) -> str | None:
        """Why this worker's files no longer hold its series, if they don't."""
        for segment in self.segments:
            try:
                status = os.stat(segment.path)
            except FileNotFoundError:
                return MISSING
            if status.st_ino != segment.inode:
                return MISSING
            if is_set_aside(status.st_nlink):
                return SET_ASIDE
            if segment.size_on_disk() < len(segment.map):
                return TRUNCATED
        return None

    def damaged_keys(self) -> set[SeriesKey]:
        """Series whose entry was overwritten, and the one before each: a run
        of damage that reaches an entry's header most likely began in its neighbour's values."""
        damaged: set[SeriesKey] = set()
        previous: tuple[SeriesKey, Segment] | None = None
        for key, placement in self.placements.items():
            if not placement.intact():
                damaged.add(key)
                if previous is not None and previous[1] is placement.segment:
                    damaged.add(previous[0])
            previous = (key, placement.segment)
        return damaged

    def fault(self, reason: str, message: str) -> None:
        self.faults.add(reason)
        if reason not in self._logged:  # once per kind of fault, not once per series
            self._logged.add(reason)
            logger.warning("folio_metrics: %s (%s)", message, reason)

    def discard(self) -> None:
        """Close and delete these files: a replacement that was not finished."""
        for segment in self.segments:
            with contextlib.suppress(OSError):
                segment.path.unlink(missing_ok=True)
        self.close()

    def close(self) -> None:
        for segment in self.segments:
            # BufferError: a cell is still in use somewhere; the mapping goes when it does.
            with contextlib.suppress(BufferError):
                segment.close()

    def _place(self, key: SeriesKey, size: int) -> Cells:
        encoded = encode_key(key)
        if ENTRY.size + padded(len(encoded)) + size * DOUBLE > SEGMENT_BYTES - HEADER.size:
            raise ValueError(f"series {key!r} is too large for a metrics file")
        placed = self.segments[-1].append(encoded, size) if self.segments else None
        if placed is None:
            placed = self._add_segment().append(encoded, size)
            assert placed is not None  # a fresh segment fits any entry that passed the check
        shared, offset = placed
        written = entry_header(encoded, size) + encoded
        self.placements[key] = Placement(self.segments[-1], offset, written)
        return cast(Cells, shared)  # a memoryview of doubles works as a list of floats

    def _add_segment(self) -> Segment:
        path = self.directory / f"{self.prefix}-{len(self.segments)}.db"
        segment = Segment(path, create=True)
        self.segments.append(segment)
        return segment
