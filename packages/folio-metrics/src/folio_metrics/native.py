"""Native histograms: exponential buckets at a fixed resolution, and their sparse form.

Bucket ``i`` of schema ``s`` holds the observations in ``(2**((i-1)/2**s), 2**(i/2**s)]``,
as Prometheus defines it. A series counts at one schema over a fixed range of buckets, so
every worker's cells line up and a merge across workers is a plain sum. The scrape then
lowers the schema of the merged counts, halving the resolution each step, until no more
than ``max_buckets`` buckets are populated.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import compress

# Prometheus's valid schemas; a stored schema must leave room to count in ones.
LOWEST_SCHEMA = -4
HIGHEST_SCHEMA = 8

# (offset, length) runs of populated buckets, the first offset absolute, the rest gaps.
Spans = list[tuple[int, int]]


@dataclass(frozen=True)
class NativeBuckets:
    """How a histogram counts natively: resolution, range and the bucket budget.

    The default schema 3 splits each power of two into 8 buckets, 9% wide, so a quantile
    is off by at most that much. Observations at or below the lowest bucket's lower edge go
    to the zero bucket; those above ``largest`` count in the top bucket (the sum stays
    exact).
    """

    schema: int = 3
    smallest: float = 2.0**-20  # about 1 µs when observing seconds
    largest: float = 2.0**12  # about 68 minutes
    max_buckets: int = 160
    edges: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 0 <= self.schema <= HIGHEST_SCHEMA:
            raise ValueError(f"native schema must be 0 to {HIGHEST_SCHEMA}, got {self.schema}")
        if not 0 < self.smallest < self.largest < math.inf:
            raise ValueError(
                "native buckets need 0 < smallest < largest < inf, "
                f"got smallest={self.smallest}, largest={self.largest}"
            )
        if self.max_buckets < 1:
            raise ValueError(f"max_buckets must be at least 1, got {self.max_buckets}")
        # The upper edges of a power of two's sub-buckets, as fractions of it, 0.5 first.
        per_power = 1 << self.schema
        edges = tuple(2.0 ** ((m - per_power) / per_power) for m in range(per_power + 1))
        object.__setattr__(self, "edges", edges)

    def index(self, value: float) -> int:
        """The bucket ``value`` (> 0) falls in, at this schema."""
        fraction, exponent = math.frexp(value)
        return (exponent << self.schema) + bisect_left(self.edges, fraction) - len(self.edges) + 1

    @property
    def lowest(self) -> int:
        """The index of the lowest bucket: the one ``smallest`` falls in."""
        return self.index(self.smallest)

    @property
    def highest(self) -> int:
        """The index of the top bucket: the one ``largest`` falls in."""
        return self.index(self.largest)

    @property
    def zero_threshold(self) -> float:
        """The lowest bucket's lower edge: observations up to it count as zero."""
        return float(2.0 ** ((self.lowest - 1) / (1 << self.schema)))

    @property
    def ceiling(self) -> float:
        """The top bucket's upper edge: larger observations count in the top bucket too."""
        return float(2.0 ** (self.highest / (1 << self.schema)))

    @property
    def cell_count(self) -> int:
        """Cells a series needs: the zero bucket, then one per bucket."""
        return 1 + self.highest - self.lowest + 1


# What the families folio_metrics defines natively count with, unless told otherwise.
DEFAULT_NATIVE = NativeBuckets()


def sparse(
    counts: Sequence[float], lowest: int, schema: int, max_buckets: int
) -> tuple[int, Spans, list[int]]:
    """The populated buckets of ``counts`` (bucket ``lowest`` first) as (schema, spans,
    deltas), at the highest schema that keeps them within ``max_buckets``."""
    # compress() skips the empty buckets in C: most of a series' cells are zero.
    populated = [(lowest + i, int(counts[i])) for i in compress(range(len(counts)), counts)]
    while len(populated) > max_buckets and schema > LOWEST_SCHEMA:
        populated = _halved(populated)
        schema -= 1
    spans: Spans = []
    deltas: list[int] = []
    previous_index = previous_count = 0
    for index, count in populated:
        if spans and index == previous_index + 1:
            offset, length = spans[-1]
            spans[-1] = (offset, length + 1)
        else:
            spans.append((index if not spans else index - previous_index - 1, 1))
        deltas.append(count - previous_count)
        previous_index, previous_count = index, count
    return schema, spans, deltas


def _halved(populated: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The same counts one schema lower: buckets 2k-1 and 2k become bucket k."""
    merged: list[tuple[int, int]] = []
    for index, count in populated:
        lower = (index + 1) >> 1
        if merged and merged[-1][0] == lower:
            merged[-1] = (lower, merged[-1][1] + count)
        else:
            merged.append((lower, count))
    return merged
