"""Native histograms: exponential buckets at a fixed resolution, and their sparse form.

Bucket ``i`` of schema ``s`` holds the observations in ``(2**((i-1)/2**s), 2**(i/2**s)]``,
as Prometheus defines it. A series counts at one schema over a fixed range of buckets, so
every worker's cells line up and a merge across workers is a plain sum. The scrape then
lowers the schema of the merged counts, halving the resolution each step, until no more
than ``max_buckets`` buckets are populated.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import compress
from operator import sub

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

    @cached_property
    def lowest(self) -> int:
        """The index of the lowest bucket: the one ``smallest`` falls in."""
        return self.index(self.smallest)

    @cached_property
    def highest(self) -> int:
        """The index of the top bucket: the one ``largest`` falls in."""
        return self.index(self.largest)

    @cached_property
    def zero_threshold(self) -> float:
        """The lowest bucket's lower edge: observations up to it count as zero."""
        return float(2.0 ** ((self.lowest - 1) / (1 << self.schema)))

    @cached_property
    def ceiling(self) -> float:
        """The top bucket's upper edge: larger observations count in the top bucket too."""
        return float(2.0 ** (self.highest / (1 << self.schema)))

    def upper_edge(self, index: int) -> float:
        """Bucket ``index``'s upper edge, exactly the number ``index()`` compares with."""
        per_power = 1 << self.schema
        position = (index - 1) % per_power + 1
        return math.ldexp(self.edges[position], (index + per_power - position) >> self.schema)

    @cached_property
    def upper_edges(self) -> tuple[float, ...]:
        """The zero threshold, then each bucket's upper edge, the top one infinite.

        ``bisect_left`` of a value in it is the value's cell past the classic buckets, the
        zero bucket's being 0: one C call in place of ``index()``'s arithmetic.
        """
        inner = (self.upper_edge(index) for index in range(self.lowest, self.highest))
        return (self.zero_threshold, *inner, math.inf)

    def classic_indexes(self, bounds: Sequence[float]) -> tuple[int, ...]:
        """For each native cell (see ``upper_edges``), the classic bucket of every value in
        it, or -1 where a classic bound falls inside and the value must be looked up."""
        indexes = []
        lower = -math.inf
        for upper in self.upper_edges:
            inside = any(lower < bound < upper for bound in bounds)
            indexes.append(-1 if inside else bisect_right(bounds, lower))
            lower = upper
        return tuple(indexes)

    @cached_property
    def cell_count(self) -> int:
        """Cells a series needs: the zero bucket, then one per bucket."""
        return 1 + self.highest - self.lowest + 1


# What the families folio_metrics defines natively count with, unless told otherwise.
DEFAULT_NATIVE = NativeBuckets()


def sparse(
    counts: Sequence[float], lowest: int, schema: int, max_buckets: int
) -> tuple[int, Spans, list[int]]:
    """The populated buckets of ``counts`` (bucket ``lowest`` first) as (schema, spans,
    deltas), at the highest schema that keeps them within ``max_buckets``.

    Gaps of up to two empty buckets are sent as zero deltas rather than as a new span, as
    client_golang does: a zero delta is one byte, a span four.
    """
    # compress() skips the empty buckets in C: most of a series' cells are zero.
    offsets = list(compress(range(len(counts)), counts))
    if not offsets:
        return schema, [], []
    if len(offsets) <= max_buckets:
        first = lowest + offsets[0]
        dense = [int(count) for count in counts[offsets[0] : offsets[-1] + 1]]
    else:
        indexes = [lowest + offset for offset in offsets]
        values = [int(counts[offset]) for offset in offsets]
        while len(indexes) > max_buckets and schema > LOWEST_SCHEMA:
            indexes, values = _halved(indexes, values)
            schema -= 1
        first = indexes[0]
        dense = [0] * (indexes[-1] - first + 1)
        for index, value in zip(indexes, values, strict=True):
            dense[index - first] = value
    # Runs of three or more empty buckets split the spans; regex finds them in C.
    gaps = [match.span() for match in _EMPTY_RUN.finditer(bytes(map(bool, dense)))]
    spans: Spans = []
    kept: list[int] = []
    start, previous_end = 0, 0
    for gap_start, gap_end in [*gaps, (len(dense), len(dense))]:
        spans.append((first + start if not spans else start - previous_end, gap_start - start))
        kept += dense[start:gap_start]
        start, previous_end = gap_end, gap_start
    deltas = list(map(sub, kept, [0, *kept[:-1]]))
    return schema, spans, deltas


_EMPTY_RUN = re.compile(b"\x00{3,}")


def _halved(indexes: list[int], values: list[int]) -> tuple[list[int], list[int]]:
    """The same counts one schema lower: buckets 2k-1 and 2k become bucket k."""
    merged_indexes: list[int] = []
    merged_values: list[int] = []
    for index, count in zip(indexes, values, strict=True):
        lower = (index + 1) >> 1
        if merged_indexes and merged_indexes[-1] == lower:
            merged_values[-1] += count
        else:
            merged_indexes.append(lower)
            merged_values.append(count)
    return merged_indexes, merged_values
