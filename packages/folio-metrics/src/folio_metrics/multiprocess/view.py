"""Families shaped for the renderer, holding values merged from every worker.

The view keeps one family per metric and one child per series across scrapes, so label
text and bucket prefixes are built once, not per scrape; each scrape only copies numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from folio_metrics.children import CounterChild, GaugeChild, HistogramChild
from folio_metrics.families import CounterFamily, GaugeFamily, HistogramFamily
from folio_metrics.multiprocess.merged import Merged, SeriesValues

if TYPE_CHECKING:
    from folio_metrics.families import AnyFamily as Family

WORKER_LABEL = "worker"
Child = CounterChild | GaugeChild | HistogramChild
_UNCAPPED = 1 << 62  # the workers' own families enforce the caps


class MergedView:
    def __init__(self) -> None:
        self._views: dict[str, Family] = {}

    def families(self, families: Iterable[Family], merged: Merged) -> list[Family]:
        rendered: list[Family] = []
        for family in families:
            if family.aggregate == "local":
                rendered.append(family)
            elif family.aggregate == "per_worker":
                series = merged.per_worker.get(family.name, {})
                rendered.append(self._filled(family, series, (WORKER_LABEL,)))
            else:
                rendered.append(self._filled(family, merged.summed.get(family.name, {}), ()))
        return rendered

    def _filled(self, family: Family, series: SeriesValues, extra: tuple[str, ...]) -> Family:
        view = self._views.get(family.name)
        if view is None:
            view = self._views[family.name] = _empty_like(family, extra)
        children = view.children
        for label_values in children.keys() - series.keys():
            del children[label_values]  # a gauge or per-worker series whose worker is gone
        for label_values, values in series.items():
            child = view.labels(*label_values)
            child.cells[:] = values
            _copy_exemplars(family, label_values, child)
        return view


def _empty_like(family: Family, extra: tuple[str, ...]) -> Family:
    label_names = (*family.label_names, *extra)
    if isinstance(family, HistogramFamily):
        return HistogramFamily(
            family.name,
            family.documentation,
            label_names,
            buckets=family.bounds,
            max_series=_UNCAPPED,
            native=family.native,
        )
    kind = CounterFamily if isinstance(family, CounterFamily) else GaugeFamily
    return kind(family.name, family.documentation, label_names, max_series=_UNCAPPED)


def _copy_exemplars(family: Family, label_values: tuple[str, ...], child: Child) -> None:
    """This worker's exemplars stand for the series: the others' stay in their memory."""
    local = family.children.get(label_values)
    if isinstance(local, HistogramChild) and isinstance(child, HistogramChild):
        child.exemplars = local.exemplars
    elif isinstance(local, CounterChild) and isinstance(child, CounterChild):
        child.exemplar = local.exemplar
