"""Every worker's series combined, as a scrape shows them."""

from __future__ import annotations

from dataclasses import dataclass, field
from operator import add

from folio_metrics.multiprocess.store import PER_WORKER, SeriesKey

Values = list[float]
SeriesValues = dict[tuple[str, ...], Values]


@dataclass
class Merged:
    """Every worker's series combined: summed per family, and per worker (pid appended)."""

    summed: dict[str, SeriesValues] = field(default_factory=dict)
    per_worker: dict[str, SeriesValues] = field(default_factory=dict)
    pids: set[int] = field(default_factory=set)  # the live workers whose files were read

    def add(self, key: SeriesKey, values: Values, pid: str) -> None:
        kind, name, label_values = key
        if kind == PER_WORKER:
            self.per_worker.setdefault(name, {})[(*label_values, pid)] = values
            return
        series = self.summed.setdefault(name, {})
        current = series.get(label_values)
        series[label_values] = values if current is None else list(map(add, current, values))
