"""What can go wrong with the files workers share, and the checks that notice it.

Each fault has a reason, the ``reason`` label of
``folio_metrics_errors_total{hook="metrics_store"}``.
"""

from __future__ import annotations

import errno
import threading
from collections import Counter

TRUNCATED = "truncated"  # a file shorter than what it says it holds
CORRUPT = "corrupt"  # a damaged header, entry, key or archive
BAD_VALUE = "bad_value"  # a value no counter can hold: negative, not finite, absurd
MISSING = "missing"  # a worker's own file, or the whole directory, deleted under it
DISK_FULL = "disk_full"  # no room for a new series: it is kept in the worker's memory
UNWRITABLE = "unwritable"  # the directory refused a write: permissions, read-only mount
REASONS = (TRUNCATED, CORRUPT, BAD_VALUE, MISSING, DISK_FULL, UNWRITABLE)
# Not a fault of its own: a file a reader already put in quarantine, and counted.
SET_ASIDE = "set_aside"

# The series faults are counted in: folio_metrics_errors_total{hook="metrics_store",reason}.
ERRORS_FAMILY = "folio_metrics_errors"
STORE_HOOK = "metrics_store"

# Past 2**53 a double no longer counts in ones: no real counter gets there.
LARGEST = float(2**53)


class StoreFault(Exception):
    """A fault found in the shared files; ``reason`` is one of REASONS."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class FaultTally:
    """Faults found but not yet exported; the scrape thread adds, the event loop takes."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, reason: str, count: int = 1) -> None:
        with self._lock:
            self._counts[reason] += count

    def take(self) -> Counter[str]:
        with self._lock:
            counts, self._counts = self._counts, Counter()
        return counts


def os_reason(error: OSError) -> str:
    """The reason an OSError from writing to the directory stands for."""
    return DISK_FULL if error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else UNWRITABLE


def checked_count(summed: bool, values: list[float]) -> float:
    """Raise StoreFault(bad_value) for values no series can hold; returns the series' count.

    A counter, and each bucket of a histogram (all but its last value, the sum), must be
    finite, within 2**53 and not negative; the sum finite and within +-2**53. Gauges pass. The count
    (a counter's value, a histogram's observations) lets a reader see it never goes down.
    Written for speed, as a scrape checks every series: NaN fails each comparison.
    """
    if summed:
        if len(values) == 1:
            count = values[0]
            if 0.0 <= count <= LARGEST:
                return count
        else:
            counts = values[:-1]
            count = sum(counts)
            if min(counts) >= 0.0 and count <= LARGEST and -LARGEST <= values[-1] <= LARGEST:
                return count
    else:
        return 0.0  # a gauge may hold anything, even +Inf: only counters are checked
    raise StoreFault(BAD_VALUE, f"a value out of range in {values[:8]}")
