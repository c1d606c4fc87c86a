"""The series of a family: counter, gauge and histogram children, and their exemplars."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Mapping, MutableSequence
from dataclasses import dataclass

from folio_metrics.native import NativeBuckets

# A series' numbers: a list in one process, a window on a shared file across workers.
Cells = MutableSequence[float]


@dataclass(frozen=True, slots=True)
class Exemplar:
    """A sample's example: labels such as trace_id, the observed value, and when."""

    labels: Mapping[str, str]
    value: float
    timestamp: float


class CounterChild:
    """One counter series; its value lives in ``cells[0]``."""

    __slots__ = ("cells", "exemplar", "label_text", "label_values")

    def __init__(self, label_values: tuple[str, ...], label_text: str, cells: Cells) -> None:
        self.label_values = label_values
        self.label_text = label_text
        self.cells = cells
        self.exemplar: Exemplar | None = None

    def inc(self, amount: float = 1.0, exemplar: Mapping[str, str] | None = None) -> None:
        if amount < 0:
            raise ValueError(f"counters only go up: inc({amount}) is negative")
        self.cells[0] += amount
        if exemplar:
            self.exemplar = Exemplar(exemplar, amount, time.time())

    @property
    def value(self) -> float:
        return self.cells[0]


class GaugeChild:
    """One gauge series; its value lives in ``cells[0]``."""

    __slots__ = ("cells", "label_text", "label_values")

    def __init__(self, label_values: tuple[str, ...], label_text: str, cells: Cells) -> None:
        self.label_values = label_values
        self.label_text = label_text
        self.cells = cells

    def inc(self, amount: float = 1.0) -> None:
        self.cells[0] += amount

    def dec(self, amount: float = 1.0) -> None:
        self.cells[0] -= amount

    def set(self, value: float) -> None:
        self.cells[0] = float(value)

    @property
    def value(self) -> float:
        return self.cells[0]


class HistogramChild:
    """Per-bucket (not cumulative) counts in ``cells[:len(bounds) + 1]``, the sum in
    ``cells[-1]``.

    The renderer accumulates the buckets.
    """

    __slots__ = (
        "_zero_index",
        "bounds",
        "bucket_prefixes",
        "cells",
        "exemplars",
        "label_text",
        "label_values",
    )

    def __init__(
        self,
        label_values: tuple[str, ...],
        label_text: str,
        bounds: tuple[float, ...],
        cells: Cells,
    ) -> None:
        self.label_values = label_values
        self.label_text = label_text
        self.bounds = bounds
        self._zero_index = bisect_left(bounds, 0.0)
        # Built by the renderer on first use: the text before each bucket's count.
        self.bucket_prefixes: tuple[str, ...] | None = None
        self.cells = cells
        self.exemplars: list[Exemplar | None] | None = None

    def observe(self, value: float, exemplar: Mapping[str, str] | None = None) -> None:
        if not value:  # a bodiless request, a request without queries: no search, no sum
            index = self._zero_index
            self.cells[index] += 1
        elif value < 0 and self.bounds[0] >= 0:
            # Its sum would go down, which no scraper accepts of a counter-like sum.
            raise ValueError(
                f"cannot observe {value}: this histogram's buckets are all >= 0, "
                "so its observations must be too"
            )
        else:
            index = bisect_left(self.bounds, value)
            cells = self.cells
            cells[index] += 1
            cells[-1] += value
        if exemplar:
            if self.exemplars is None:
                self.exemplars = [None] * (len(self.bounds) + 1)
            self.exemplars[index] = Exemplar(exemplar, value, time.time())

    @property
    def bucket_counts(self) -> list[int]:
        return [int(count) for count in self.cells[: len(self.bounds) + 1]]

    @property
    def sum(self) -> float:
        return self.cells[-1]

    @property
    def count(self) -> int:
        return sum(self.bucket_counts)


class NativeHistogramChild(HistogramChild):
    """A histogram series counted in classic buckets and, after them, in native ones.

    Its cells are the classic buckets, the native zero bucket, the native buckets from
    ``native.lowest`` to ``native.highest``, and the sum last.
    """

    __slots__ = ("_classic_indexes", "_upper_edges", "_zero", "native")

    def __init__(
        self,
        label_values: tuple[str, ...],
        label_text: str,
        bounds: tuple[float, ...],
        cells: Cells,
        native: NativeBuckets,
        classic_indexes: tuple[int, ...],
    ) -> None:
        """``classic_indexes`` is ``native.classic_indexes(bounds)``, shared by a family."""
        super().__init__(label_values, label_text, bounds, cells)
        self.native = native
        self._zero = len(bounds) + 1
        self._upper_edges = native.upper_edges
        self._classic_indexes = classic_indexes

    def observe(self, value: float, exemplar: Mapping[str, str] | None = None) -> None:
        if not value >= 0:
            raise ValueError(f"cannot observe {value}: native histograms count values >= 0")
        # One search finds the native cell; most native buckets lie within one classic
        # bucket, which saves the second.
        cell = bisect_left(self._upper_edges, value)
        index = self._classic_indexes[cell]
        if index < 0:
            index = bisect_left(self.bounds, value)
        cells = self.cells
        cells[index] += 1
        cells[self._zero + cell] += 1
        cells[-1] += value
        if exemplar:
            if self.exemplars is None:
                self.exemplars = [None] * (len(self.bounds) + 1)
            self.exemplars[index] = Exemplar(exemplar, value, time.time())

    @property
    def zero_count(self) -> int:
        """Observations at or below the zero threshold."""
        return int(self.cells[self._zero])

    @property
    def native_counts(self) -> list[float]:
        """Each native bucket's count, bucket ``native.lowest`` first."""
        return list(self.cells[self._zero + 1 : self._zero + len(self._upper_edges)])
