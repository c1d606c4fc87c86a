"""The file format workers share their series through: append-only entries of doubles.

Each worker writes its own files, named ``worker-<pid>-<nonce>-<segment>.db``. A file is a
fixed-size, memory-mapped segment: a header, then entries of

    u32 key length | u32 number of values | key (UTF-8 JSON, padded to 8) | f64 values

A series is appended once, when the worker first uses it; after that the worker updates
its values in place, through a memoryview, as fast as a list. The header's ``used`` field
moves only after an entry is complete, so a reader never parses half an entry. Aligned
8-byte writes are atomic on the platforms folio runs on, so readers see each value whole.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

MAGIC = b"FOLIOMP1"
HEADER = struct.Struct("<8sQ")  # magic, bytes used (header included)
ENTRY = struct.Struct("<II")  # key length, number of values
SEGMENT_BYTES = 1 << 20  # sparse on disk: untouched pages cost nothing
DOUBLE = 8

# Key kinds: what a series' values mean once its worker is gone.
SUMMED = "s"  # counters and histograms: kept, folded into the archive
LIVE = "l"  # gauges summed over live workers: dropped with their worker
PER_WORKER = "w"  # one series per live worker: dropped with their worker

SeriesKey = tuple[str, str, tuple[str, ...]]  # kind, family name, label values


def encode_key(key: SeriesKey) -> bytes:
    kind, name, label_values = key
    return json.dumps([kind, name, list(label_values)], separators=(",", ":")).encode()


def decode_key(raw: bytes) -> SeriesKey:
    kind, name, label_values = json.loads(raw)
    return kind, name, tuple(label_values)


def _padded(length: int) -> int:
    return (length + DOUBLE - 1) // DOUBLE * DOUBLE


class Segment:
    """One memory-mapped file of entries."""

    def __init__(self, path: Path, *, create: bool) -> None:
        self.path = path
        flags = os.O_RDWR | (os.O_CREAT | os.O_EXCL if create else 0)
        descriptor = os.open(path, flags, 0o600)
        try:
            if create:
                os.ftruncate(descriptor, SEGMENT_BYTES)
            size = os.fstat(descriptor).st_size
            self.map = mmap.mmap(descriptor, size)
        finally:
            os.close(descriptor)
        self.doubles: memoryview[float] = memoryview(self.map).cast("d")
        if create:
            HEADER.pack_into(self.map, 0, MAGIC, HEADER.size)
        elif size < HEADER.size or HEADER.unpack_from(self.map, 0)[0] != MAGIC:
            self.close()
            raise ValueError(f"{path} is not a folio metrics file")

    @property
    def used(self) -> int:
        return int(HEADER.unpack_from(self.map, 0)[1])

    def append(self, key: bytes, size: int) -> memoryview[float] | None:
        """Zeroed cells for a new series, or None when this segment is full."""
        start = self.used
        values_at = start + ENTRY.size + _padded(len(key))
        end = values_at + size * DOUBLE
        if end > len(self.map):
            return None
        ENTRY.pack_into(self.map, start, len(key), size)
        self.map[start + ENTRY.size : start + ENTRY.size + len(key)] = key
        HEADER.pack_into(self.map, 0, MAGIC, end)  # publish only the finished entry
        return self.doubles[values_at // DOUBLE : end // DOUBLE]

    def values(self, start: int, size: int) -> list[float]:
        """A copy of ``size`` values from value index ``start``."""
        return cast(list[float], self.doubles[start : start + size].tolist())

    def entries(self, start: int) -> tuple[list[tuple[bytes, int, int]], int]:
        """(key, first value index, value count) of the entries from ``start`` on, and the end."""
        found = []
        position = max(start, HEADER.size)
        used = self.used
        while position < used:
            key_length, size = ENTRY.unpack_from(self.map, position)
            key_at = position + ENTRY.size
            values_at = key_at + _padded(key_length)
            found.append((bytes(self.map[key_at : key_at + key_length]), values_at // DOUBLE, size))
            position = values_at + size * DOUBLE
        return found, position

    def close(self) -> None:
        self.doubles.release()
        self.map.close()


class WorkerStore:
    """This worker's files: it appends series and hands out their cells."""

    def __init__(self, directory: Path, nonce: str) -> None:
        self.directory = directory
        self.pid = os.getpid()
        self.prefix = f"worker-{self.pid}-{nonce}"
        self.segments: list[Segment] = []
        self._add_segment()

    def allocate(self, key: SeriesKey, size: int) -> memoryview[float]:
        encoded = encode_key(key)
        if ENTRY.size + _padded(len(encoded)) + size * DOUBLE > SEGMENT_BYTES - HEADER.size:
            raise ValueError(f"series {key!r} is too large for a metrics file")
        cells = self.segments[-1].append(encoded, size)
        if cells is None:
            cells = self._add_segment().append(encoded, size)
            assert cells is not None  # a fresh segment fits any entry that passed the check
        return cells

    def _add_segment(self) -> Segment:
        path = self.directory / f"{self.prefix}-{len(self.segments)}.db"
        segment = Segment(path, create=True)
        self.segments.append(segment)
        return segment


@dataclass
class SegmentReader:
    """A reader's view of one segment: entries parsed so far, parsed again only when new."""

    segment: Segment
    parsed_to: int = 0
    series: list[tuple[SeriesKey, int, int]] = field(default_factory=list)

    def refresh(self) -> list[tuple[SeriesKey, int, int]]:
        if self.segment.used != self.parsed_to:
            entries, self.parsed_to = self.segment.entries(self.parsed_to)
            self.series.extend((decode_key(raw), start, size) for raw, start, size in entries)
        return self.series
