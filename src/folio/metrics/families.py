"""Counter, gauge and histogram families, their label children, and the series cap."""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

OVERFLOW_LABEL_VALUE = "__overflow__"
DEFAULT_MAX_SERIES = 2000

OverflowHook = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Exemplar:
    """A sample's example: labels such as trace_id, the observed value, and when."""

    labels: Mapping[str, str]
    value: float
    timestamp: float


class CounterChild:
    __slots__ = ("exemplar", "label_text", "label_values", "value")

    def __init__(self, label_values: tuple[str, ...], label_text: str) -> None:
        self.label_values = label_values
        self.label_text = label_text
        self.value = 0.0
        self.exemplar: Exemplar | None = None

    def inc(self, amount: float = 1.0, exemplar: Mapping[str, str] | None = None) -> None:
        if amount < 0:
            raise ValueError(f"counters only go up: inc({amount}) is negative")
        self.value += amount
        if exemplar:
            self.exemplar = Exemplar(exemplar, amount, time.time())


class GaugeChild:
    __slots__ = ("label_text", "label_values", "value")

    def __init__(self, label_values: tuple[str, ...], label_text: str) -> None:
        self.label_values = label_values
        self.label_text = label_text
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def dec(self, amount: float = 1.0) -> None:
        self.value -= amount

    def set(self, value: float) -> None:
        self.value = float(value)


class HistogramChild:
    """Per-bucket (not cumulative) counts; the renderer accumulates them."""

    __slots__ = (
        "bounds",
        "bucket_counts",
        "bucket_prefixes",
        "exemplars",
        "label_text",
        "label_values",
        "sum",
    )

    def __init__(
        self, label_values: tuple[str, ...], label_text: str, bounds: tuple[float, ...]
    ) -> None:
        self.label_values = label_values
        self.label_text = label_text
        self.bounds = bounds
        # Built by the renderer on first use: the text before each bucket's count.
        self.bucket_prefixes: tuple[str, ...] | None = None
        self.bucket_counts = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.exemplars: list[Exemplar | None] | None = None

    def observe(self, value: float, exemplar: Mapping[str, str] | None = None) -> None:
        index = bisect_left(self.bounds, value)
        self.bucket_counts[index] += 1
        self.sum += value
        if exemplar:
            if self.exemplars is None:
                self.exemplars = [None] * len(self.bucket_counts)
            self.exemplars[index] = Exemplar(exemplar, value, time.time())

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
    ) -> None:
        name = self.family_name(name)
        _check_name(name)
        for label_name in label_names:
            _check_label_name(label_name)
        if max_series < 1:
            raise ValueError(f"{name}: max_series must be at least 1, got {max_series}")
        self.name = name
        self.documentation = documentation
        self.label_names = tuple(label_names)
        self.max_series = max_series
        self.on_overflow = on_overflow
        self.children: dict[tuple[str, ...], ChildT] = {}
        self._overflow: ChildT | None = None

    @staticmethod
    def family_name(name: str) -> str:
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
        return child is self._overflow

    def unlabelled(self) -> ChildT:
        if self.label_names:
            raise ValueError(f"{self.name} has labels {self.label_names}; call labels() first")
        return self.labels()

    def samples_children(self) -> Iterable[ChildT]:
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
    kind = "counter"

    @staticmethod
    def family_name(name: str) -> str:
        # The family is named without _total; the sample carries the suffix.
        return name.removesuffix("_total")

    @property
    def sample_name(self) -> str:
        return f"{self.name}_total"

    def _new_child(self, label_values: tuple[str, ...]) -> CounterChild:
        return CounterChild(label_values, label_text(self.label_names, label_values))


class GaugeFamily(Family[GaugeChild]):
    kind = "gauge"

    def _new_child(self, label_values: tuple[str, ...]) -> GaugeChild:
        return GaugeChild(label_values, label_text(self.label_names, label_values))


class HistogramFamily(Family[HistogramChild]):
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
    ) -> None:
        if "le" in label_names:
            raise ValueError(f"{name}: 'le' is reserved for histogram buckets")
        super().__init__(
            name, documentation, label_names, max_series=max_series, on_overflow=on_overflow
        )
        self.bounds = _check_buckets(name, buckets)

    def _new_child(self, label_values: tuple[str, ...]) -> HistogramChild:
        text = label_text(self.label_names, label_values)
        return HistogramChild(label_values, text, self.bounds)


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def label_text(names: Sequence[str], values: Sequence[str]) -> str:
    """The inside of a sample's braces, escaped once here so rendering only concatenates."""
    return ",".join(
        f'{name}="{escape_label_value(value)}"' for name, value in zip(names, values, strict=True)
    )


def _check_buckets(name: str, buckets: Sequence[float]) -> tuple[float, ...]:
    bounds = tuple(float(bound) for bound in buckets if bound != math.inf)
    if not bounds:
        raise ValueError(f"{name}: a histogram needs at least one finite bucket")
    if any(math.isnan(bound) for bound in bounds) or list(bounds) != sorted(set(bounds)):
        raise ValueError(f"{name}: buckets must be strictly increasing numbers, got {buckets!r}")
    return bounds


def _check_name(name: str) -> None:
    if (
        not name
        or not (name[0].isalpha() or name[0] in "_:")
        or not all(character.isalnum() or character in "_:" for character in name)
        or not name.isascii()
    ):
        raise ValueError(f"invalid metric name {name!r}: use [a-zA-Z_:][a-zA-Z0-9_:]*")


def _check_label_name(name: str) -> None:
    if (
        not name
        or name.startswith("__")
        or not (name[0].isalpha() or name[0] == "_")
        or not all(character.isalnum() or character == "_" for character in name)
        or not name.isascii()
    ):
        raise ValueError(f"invalid label name {name!r}: use [a-zA-Z_][a-zA-Z0-9_]*, no '__' prefix")
