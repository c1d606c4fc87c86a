"""The file format workers share their series through: append-only entries of doubles.

Each worker writes its own files, named ``worker-<pid>-<nonce>-<segment>.db``. A file is a
fixed-size, memory-mapped segment: a header, then entries of

    u32 key length | u32 number of values | u32 CRC-32 | u32 zero | key, padded to 8 | f64s

The key is UTF-8 JSON. The CRC covers the two lengths and the key, which never change once
written, so a reader can tell a damaged entry from a good one; the values change on every
request, so they are checked for sense instead (see folio_metrics.multiprocess.checks).

A series is appended once, when the worker first uses it; after that the worker updates
its values in place, through a memoryview, as fast as a list. The header's ``used`` field
moves only after an entry is complete, so a reader never parses half an entry. Aligned
8-byte writes are atomic on the platforms folio runs on, so readers see each value whole.
Disk space is reserved before an entry is written, so a full disk is an ``OSError`` at
append time, never a SIGBUS when a page is first touched.
"""

from __future__ import annotations

import errno
import json
import mmap
import os
import struct
import zlib
from pathlib import Path
from typing import cast

from folio_metrics.multiprocess import pageguard
from folio_metrics.multiprocess.checks import CORRUPT, TRUNCATED, StoreFault

MAGIC = b"FOLIOMP2"
HEADER = struct.Struct("<8sQ")  # magic, bytes used (header included)
ENTRY = struct.Struct("<IIII")  # key length, number of values, CRC-32, zero
LENGTHS = struct.Struct("<II")
SEGMENT_BYTES = 1 << 20
RESERVE_BYTES = 64 << 10  # disk space is claimed this much at a time, ahead of use
DOUBLE = 8
MAX_KEY_BYTES = SEGMENT_BYTES  # what a writer may write, a reader must accept
MAX_VALUES = SEGMENT_BYTES // DOUBLE
USED_WORD = 1  # ``used`` as the header's second 8-byte word: written and read whole

# Key kinds: what a series' values mean once its worker is gone.
SUMMED = "s"  # counters and histograms: kept, folded into the archive
LIVE = "l"  # gauges summed over live workers: dropped with their worker
PER_WORKER = "w"  # one series per live worker: dropped with their worker
KINDS = (SUMMED, LIVE, PER_WORKER)

SeriesKey = tuple[str, str, tuple[str, ...]]  # kind, family name, label values
# A parsed entry: its key, where its values start (in doubles), how many, and its offset.
Entry = tuple[SeriesKey, int, int, int]


def encode_key(key: SeriesKey) -> bytes:
    kind, name, label_values = key
    return json.dumps([kind, name, list(label_values)], separators=(",", ":")).encode()


def decode_key(raw: bytes) -> SeriesKey:
    """The key ``raw`` encodes; StoreFault(corrupt) for anything else."""
    try:
        kind, name, label_values = json.loads(raw)
    except (ValueError, TypeError) as error:
        raise StoreFault(CORRUPT, f"unreadable series key: {error}") from None
    if (
        kind not in KINDS
        or not isinstance(name, str)
        or not isinstance(label_values, list)
        or not all(isinstance(value, str) for value in label_values)
    ):
        raise StoreFault(CORRUPT, f"malformed series key {raw[:80]!r}")
    return kind, name, tuple(label_values)


def entry_header(key: bytes, size: int) -> bytes:
    """The 16 bytes before ``key``: what a reader checks the entry against."""
    lengths = LENGTHS.pack(len(key), size)
    return ENTRY.pack(len(key), size, zlib.crc32(key, zlib.crc32(lengths)), 0)


def padded(length: int) -> int:
    return (length + DOUBLE - 1) // DOUBLE * DOUBLE


class Segment:
    """One memory-mapped file of entries, guarded against truncation under it."""

    def __init__(self, path: Path, *, create: bool) -> None:
        self.path = path
        # A new file is made ready under a hidden name, then renamed into place, so that
        # no reader ever sees it empty or without its header.
        opened = path.with_name(f".{path.name}.new") if create else path
        flags = os.O_RDWR | (os.O_CREAT | os.O_EXCL if create else 0)
        self.descriptor = os.open(opened, flags, 0o600)
        try:
            if create:
                os.ftruncate(self.descriptor, SEGMENT_BYTES)
                os.posix_fallocate(self.descriptor, 0, RESERVE_BYTES)
            status = os.fstat(self.descriptor)
            self.inode = status.st_ino
            if status.st_size < HEADER.size:
                raise StoreFault(TRUNCATED, f"{path.name} is {status.st_size} bytes long")
            # Whole doubles only: a file cut mid-value is still read up to the cut.
            self.map = mmap.mmap(self.descriptor, status.st_size - status.st_size % DOUBLE)
            if create:
                self.map[: len(MAGIC)] = MAGIC
                memoryview(self.map).cast("Q")[USED_WORD] = HEADER.size
                os.rename(opened, path)
        except BaseException:
            if create:
                opened.unlink(missing_ok=True)
            os.close(self.descriptor)
            raise
        self.reserved = RESERVE_BYTES if create else status.st_size
        # The owner's own idea of the end: the header's copy is for readers, and a
        # truncation or a stray write could change it under the owner.
        self.end = HEADER.size
        self.address = pageguard.guard(self.map)
        self.doubles: memoryview[float] = memoryview(self.map).cast("d")
        self.words: memoryview[int] = memoryview(self.map).cast("Q")
        if not create and HEADER.unpack_from(self.map, 0)[0] != MAGIC:
            self.close()
            raise StoreFault(CORRUPT, f"{path.name} is not a folio metrics file")

    @property
    def used(self) -> int:
        """The bytes in use, as the header tells readers."""
        return int(self.words[USED_WORD])

    def size_on_disk(self) -> int:
        """The file's length now: less than the mapping's once someone has truncated it."""
        return os.fstat(self.descriptor).st_size

    def append(self, key: bytes, size: int) -> tuple[memoryview[float], int] | None:
        """Zeroed cells for a new series and the entry's offset; None when the file is full.

        Raises OSError when the disk has no room for the entry.
        """
        start = self.end
        values_at = start + ENTRY.size + padded(len(key))
        end = values_at + size * DOUBLE
        if end > len(self.map):
            return None
        if end > self.reserved:
            self._reserve(min(len(self.map), padded(end) + RESERVE_BYTES))
        # Whatever was past ``used`` (garbage, a crashed writer's half entry) is overwritten.
        padding = bytes(values_at - start - ENTRY.size - len(key))
        self.map[start:values_at] = entry_header(key, size) + key + padding
        cells = self.doubles[values_at // DOUBLE : end // DOUBLE]
        for index in range(size):
            cells[index] = 0.0
        self.end = end
        self.words[USED_WORD] = end  # publish only the finished entry
        return cells, start

    def _reserve(self, up_to: int) -> None:
        try:
            os.posix_fallocate(self.descriptor, self.reserved, up_to - self.reserved)
        except OSError as error:
            if error.errno not in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                raise
            up_to = len(self.map)  # a filesystem that cannot reserve: write and hope
        self.reserved = up_to

    def values(self, start: int, size: int) -> list[float]:
        """A copy of ``size`` values from value index ``start``."""
        return cast(list[float], self.doubles[start : start + size].tolist())

    def entries(self, start: int, found: list[Entry]) -> int:
        """Append the entries from offset ``start`` on to ``found``; returns where they end.

        Raises StoreFault at the first entry that is truncated or damaged, after appending
        the good ones before it.
        """
        length = self.size_on_disk()
        if length < HEADER.size:
            raise StoreFault(TRUNCATED, f"{self.path.name} is {length} bytes long")
        used = self.used
        too_large = used > max(len(self.map), SEGMENT_BYTES)
        if used < max(start, HEADER.size) or too_large or used % DOUBLE:  # it only ever grows
            raise StoreFault(CORRUPT, f"{self.path.name} claims {used} bytes in use")
        length = min(length, len(self.map))  # never read past the mapping, nor the file
        position = max(start, HEADER.size)
        while position < used:
            if position + ENTRY.size > length:
                raise StoreFault(TRUNCATED, f"{self.path.name} ends at {length} of {used} bytes")
            key_length, size, checksum, zero = ENTRY.unpack_from(self.map, position)
            key_at = position + ENTRY.size
            values_at = key_at + padded(key_length)
            end = values_at + size * DOUBLE
            if zero or key_length > MAX_KEY_BYTES or not 0 < size <= MAX_VALUES or end > used:
                raise StoreFault(CORRUPT, f"{self.path.name}: bad entry at byte {position}")
            if end > length:
                raise StoreFault(TRUNCATED, f"{self.path.name} ends at {length} of {used} bytes")
            key = bytes(self.map[key_at : key_at + key_length])
            if entry_header(key, size)[8:12] != checksum.to_bytes(4, "little"):
                raise StoreFault(CORRUPT, f"{self.path.name}: checksum mismatch at byte {position}")
            found.append((decode_key(key), values_at // DOUBLE, size, position))
            position = end
        return position

    def close(self) -> None:
        """Unmap the file; BufferError while a series' cells are still in use elsewhere."""
        pageguard.unguard(self.address)  # first: the address may be reused once unmapped
        self.doubles.release()
        self.words.release()
        try:
            self.map.close()
        except BufferError:
            self.address = pageguard.guard(self.map)
            raise
        os.close(self.descriptor)
