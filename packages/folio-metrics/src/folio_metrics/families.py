"""Counter, gauge and histogram families, their label children, and the series cap."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, MutableSequence, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from folio_metrics.naming import check_buckets, check_label_name, check_name, label_text

# The label value of the one series a family sends observations to past its series cap.
OVERFLOW_LABEL_VALUE = "__overflow__"
DEFAULT_MAX_SERIES = 2000

OverflowHook = Callable[[str], None]
# How a family's series combine across worker processes: summed over every worker that
# ever lived (gauges: over live ones), one series per live worker, or this worker's only.
Aggregate = Literal["sum", "per_worker", "local"]
# A series' numbers: a list in one process, a window on a shared file across workers.
Cells = MutableSequence[float]
# Hands a new series its cells: (label values, how many numbers) -> zeroed cells.
Allocator = Callable[[tuple[str, ...], int], Cells]


def private_cells(_label_values: tuple[str, ...], size: int) -> Cells:
    """Cells for a series only this process sees."""
    return [0.0] * size


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
    """Per-bucket (not cumulative) counts in ``cells[:-1]``, the sum in ``cells[-1]``.

    The renderer accumulates the buckets.
    """

    __slots__ = (
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
        # Built by the renderer on first use: the text before each bucket's count.
        self.bucket_prefixes: tuple[str, ...] | None = None
        self.cells = cells
        self.exemplars: list[Exemplar | None] | None = None

    def observe(self, value: float, exemplar: Mapping[str, str] | None = None) -> None:
        if value < 0 and self.bounds[0] >= 0:
            # Its sum would go down, which no scraper accepts of a counter-like sum.
            raise ValueError(
                f"cannot observe {value}: this histogram's buckets are all >= 0, "
                "so its observations must be too"
            )
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
        return [int(count) for count in self.cells[:-1]]

    @property
    def sum(self) -> float:
        return self.cells[-1]

    @property
    def count(self) -> int:
        return sum(self.bucket_counts)


ChildT = TypeVar("ChildT", CounterChild, GaugeChild, HistogramChild)


class Family(Generic[ChildT]):
    """A named metric with fixed label names and at most ``max_series`` children."""

    kind = "untyped"

    def __init__(
        self,
        name: str,
        documentation: str,
        label_names: Sequence[str] = (),
        *,
        max_series: int = DEFAULT_MAX_SERIES,
        on_overflow: OverflowHook | None = None,
        aggregate: Aggregate = "sum",
        allocate: Allocator = private_cells,
    ) -> None:
        name = self.family_name(name)
        check_name(name)
        for label_name in label_names:
            check_label_name(label_name)
        if max_series < 1:
            raise ValueError(f"{name}: max_series must be at least 1, got {max_series}")
        self.name = name
        self.documentation = documentation
        self.label_names = tuple(label_names)
        self.max_series = max_series
        self.on_overflow = on_overflow
        self.aggregate = aggregate
        self.allocate = allocate
        self.children: dict[tuple[str, ...], ChildT] = {}
        self._overflow: ChildT | None = None

    @staticmethod
    def family_name(name: str) -> str:
        """The family's name for ``name`` as given."""
        return name

    def labels(self, *values: str) -> ChildT:
        """The child for these label values; past the cap, the shared overflow child."""
        child = self.children.get(values)
        if child is not None:
            return child
        if len(values) != len(self.label_names):
            raise ValueError(
                f"{self.name} takes {len(self.label_names)} label values "
                f"{self.label_names}, got {len(values)}: {values!r}"
            )
        if len(self.children) >= self.max_series:
            return self._overflowed()
        label_values = tuple(str(value) for value in values)
        child = self.children[values] = self._new_child(label_values)
        return child

    def is_overflow(self, child: ChildT) -> bool:
        """Whether ``child`` is the overflow series past the cap."""
        return child is self._overflow

    def unlabelled(self) -> ChildT:
        """The one child of a family without labels."""
        if self.label_names:
            raise ValueError(f"{self.name} has labels {self.label_names}; call labels() first")
        return self.labels()

    def samples_children(self) -> Iterable[ChildT]:
        """Every child to render, the overflow series last."""
        yield from self.children.values()
        if self._overflow is not None:
            yield self._overflow

    @property
    def sample_name(self) -> str:
        """The name queries use: counters carry _total on their samples."""
        return self.name

    def _overflowed(self) -> ChildT:
        if self.on_overflow is not None:
            self.on_overflow(self.sample_name)
        if self._overflow is None:
            overflow_values = (OVERFLOW_LABEL_VALUE,) * len(self.label_names)
            self._overflow = self._new_child(overflow_values)
        return self._overflow

    def _new_child(self, label_values: tuple[str, ...]) -> ChildT:
        raise NotImplementedError


class CounterFamily(Family[CounterChild]):
    """A counter metric: its children only go up."""

    kind = "counter"

    @staticmethod
    def family_name(name: str) -> str:
        """``name`` without _total: the family is named without it, the samples carry it."""
        return name.removesuffix("_total")

    @property
    def sample_name(self) -> str:
        """The family name with _total, as the samples carry it."""
        return f"{self.name}_total"

    def _new_child(self, label_values: tuple[str, ...]) -> CounterChild:
        text = label_text(self.label_names, label_values)
        return CounterChild(label_values, text, self.allocate(label_values, 1))


class GaugeFamily(Family[GaugeChild]):
    """A gauge metric: its children go up and down."""

    kind = "gauge"

    def _new_child(self, label_values: tuple[str, ...]) -> GaugeChild:
        text = label_text(self.label_names, label_values)
        return GaugeChild(label_values, text, self.allocate(label_values, 1))


class HistogramFamily(Family[HistogramChild]):
    """A histogram metric: its children count observations into fixed buckets."""

    kind = "histogram"

    def __init__(
        self,
        name: str,
        documentation: str,
        label_names: Sequence[str] = (),
        *,
        buckets: Sequence[float],
        max_series: int = DEFAULT_MAX_SERIES,
        on_overflow: OverflowHook | None = None,
        aggregate: Aggregate = "sum",
        allocate: Allocator = private_cells,
    ) -> None:
        if "le" in label_names:
            raise ValueError(f"{name}: 'le' is reserved for histogram buckets")
        super().__init__(
            name,
            documentation,
            label_names,
            max_series=max_series,
            on_overflow=on_overflow,
            aggregate=aggregate,
            allocate=allocate,
        )
        self.bounds = check_buckets(name, buckets)

    def _new_child(self, label_values: tuple[str, ...]) -> HistogramChild:
        text = label_text(self.label_names, label_values)
        # One cell per bucket, +Inf included, then one for the sum.
        cells = self.allocate(label_values, len(self.bounds) + 2)
        return HistogramChild(label_values, text, self.bounds, cells)


# Any of the three kinds, as registries and renderers hold them.
AnyFamily = CounterFamily | GaugeFamily | HistogramFamily
