"""Counter, gauge and histogram families, their label children, and the series cap."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Generic, Literal, TypeVar

from folio_metrics.children import (
    Cells,
    CounterChild,
    GaugeChild,
    HistogramChild,
    NativeHistogramChild,
)
from folio_metrics.naming import check_buckets, check_label_name, check_name, label_text
from folio_metrics.native import NativeBuckets

# The label value of the one series a family sends observations to past its series cap.
OVERFLOW_LABEL_VALUE = "__overflow__"
DEFAULT_MAX_SERIES = 2000

OverflowHook = Callable[[str], None]
# How a family's series combine across worker processes: summed over every worker that
# ever lived (gauges: over live ones), one series per live worker, or this worker's only.
Aggregate = Literal["sum", "per_worker", "local"]
# Hands a new series its cells: (label values, how many numbers) -> zeroed cells.
Allocator = Callable[[tuple[str, ...], int], Cells]


def private_cells(_label_values: tuple[str, ...], size: int) -> Cells:
    """Cells for a series only this process sees."""
    return [0.0] * size


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
        if len(set(label_names)) != len(label_names):
            raise ValueError(f"{name}: label names must differ, got {tuple(label_names)}")
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
    """A histogram metric: its children count observations into fixed buckets, and with
    ``native`` into exponential ones too."""

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
        native: NativeBuckets | None = None,
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
        if native is not None and self.bounds[0] < 0:
            raise ValueError(
                f"{name}: native buckets count values >= 0, but the first bucket is "
                f"{self.bounds[0]}; leave native off for a histogram of negative values"
            )
        self.native = native
        self._classic_indexes = native.classic_indexes(self.bounds) if native else ()

    def _new_child(self, label_values: tuple[str, ...]) -> HistogramChild:
        text = label_text(self.label_names, label_values)
        # One cell per bucket, +Inf included, then the native ones, then one for the sum.
        classic = len(self.bounds) + 1
        if self.native is None:
            return HistogramChild(
                label_values, text, self.bounds, self.allocate(label_values, classic + 1)
            )
        cells = self.allocate(label_values, classic + self.native.cell_count + 1)
        return NativeHistogramChild(
            label_values, text, self.bounds, cells, self.native, self._classic_indexes
        )


# Any of the three kinds, as registries and renderers hold them.
AnyFamily = CounterFamily | GaugeFamily | HistogramFamily
