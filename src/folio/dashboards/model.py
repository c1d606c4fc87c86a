"""Small builders for Grafana's classic dashboard JSON model, as plain dicts.

Only what folio's dashboards use is here. Each builder returns the dict Grafana stores, so
the committed JSON reads like a dashboard exported from Grafana 12, and the code reads
like the JSON it makes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]

# The classic model as Grafana 12.2 and later export it; older Grafanas refuse nothing in
# these dashboards, and newer ones migrate the classic model on load.
SCHEMA_VERSION = 42
# The uid of the provisioned datasource (deploy/grafana/provisioning/datasources).
DATASOURCE_UID = "folio-prometheus"
# Every query names the datasource through this variable, so a user can point the
# dashboards at another Prometheus without editing them.
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
GRID_WIDTH = 24
PANEL_HEIGHT = 8


@dataclass(frozen=True)
class Query:
    """One PromQL target of a panel, and how its series are named in the legend."""

    expr: str
    legend: str = ""
    heatmap: bool = False


@dataclass(frozen=True)
class Panel:
    """A panel before layout: its kind, what it shows, and how wide it is (of 24 columns)."""

    title: str
    answers: str
    queries: tuple[Query, ...]
    unit: str
    kind: str = "timeseries"
    width: int = 12
    options: JSON = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...]


def timeseries(title: str, answers: str, *queries: Query, unit: str, width: int = 12) -> Panel:
    return Panel(title, answers, queries, unit, width=width)


def stat(title: str, answers: str, query: Query, *, unit: str, width: int = 6) -> Panel:
    return Panel(title, answers, (query,), unit, kind="stat", width=width)


def heatmap(title: str, answers: str, query: Query, *, unit: str, width: int = 12) -> Panel:
    return Panel(title, answers, (query,), unit, kind="heatmap", width=width)


def query_variable(name: str, label: str, query: str) -> JSON:
    """A multi-value variable filled from ``label_values(...)``; "All" matches anything."""
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": f"variable-{name}"},
        "definition": query,
        "refresh": 2,  # on time range change: new workers and endpoints appear
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
        "options": [],
        "hide": 0,
    }


def datasource_variable() -> JSON:
    return {
        "name": "datasource",
        "label": "Prometheus",
        "type": "datasource",
        "query": "prometheus",
        "current": {"selected": False, "text": "Prometheus", "value": DATASOURCE_UID},
        "options": [],
        "refresh": 1,
        "hide": 0,
    }


def dashboard(
    uid: str, title: str, description: str, variables: list[JSON], rows: list[Row]
) -> JSON:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["folio"],
        "editable": True,
        "graphTooltip": 1,  # a shared crosshair lines up cause and effect across panels
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "30s",
        "timezone": "browser",
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "links": [{"type": "dashboards", "tags": ["folio"], "asDropdown": True, "title": "folio"}],
        "annotations": {"list": []},
        "templating": {"list": [datasource_variable(), *variables]},
        "panels": _layout(rows),
    }


def _layout(rows: list[Row]) -> list[JSON]:
    """Place rows top to bottom and their panels left to right, wrapping at 24 columns."""
    placed: list[JSON] = []
    y = 0
    for row in rows:
        placed.append(_row(row.title, len(placed) + 1, y))
        y += 1
        x = 0
        for panel in row.panels:
            if x + panel.width > GRID_WIDTH:
                x, y = 0, y + PANEL_HEIGHT
            grid = {"x": x, "y": y, "w": panel.width, "h": PANEL_HEIGHT}
            placed.append(_panel(panel, len(placed) + 1, grid))
            x += panel.width
        y += PANEL_HEIGHT
    return placed


def _row(title: str, panel_id: int, y: int) -> JSON:
    grid = {"x": 0, "y": y, "w": GRID_WIDTH, "h": 1}
    return {"type": "row", "id": panel_id, "title": title, "gridPos": grid, "collapsed": False}


def _panel(panel: Panel, panel_id: int, grid: JSON) -> JSON:
    return {
        "type": panel.kind,
        "id": panel_id,
        "title": panel.title,
        "description": panel.answers,
        "datasource": DATASOURCE,
        "gridPos": grid,
        "targets": [_target(query, index) for index, query in enumerate(panel.queries)],
        "fieldConfig": {"defaults": _field_defaults(panel), "overrides": []},
        "options": _options(panel),
    }


def _target(query: Query, index: int) -> JSON:
    target: JSON = {
        "refId": chr(ord("A") + index),
        "datasource": DATASOURCE,
        "expr": query.expr,
        "legendFormat": query.legend or "__auto",
        "range": True,
        "instant": False,
    }
    if query.heatmap:
        target["format"] = "heatmap"
    return target


def _field_defaults(panel: Panel) -> JSON:
    defaults: JSON = {"unit": panel.unit}
    if panel.kind == "timeseries":
        defaults["custom"] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10}
        defaults["min"] = 0
    if panel.kind == "stat":
        defaults["decimals"] = 2
    return defaults


def _options(panel: Panel) -> JSON:
    if panel.kind == "heatmap":
        return {
            "calculate": False,  # the histogram's own buckets, not Grafana's
            "yAxis": {"unit": panel.unit},
            "cellGap": 1,
            "color": {"mode": "scheme", "scheme": "Oranges", "exponent": 0.5},
            "tooltip": {"mode": "single", "yHistogram": True},
            **panel.options,
        }
    if panel.kind == "stat":
        return {"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "value", **panel.options}
    return {
        "legend": {"displayMode": "table", "placement": "bottom", "calcs": ["mean", "max"]},
        "tooltip": {"mode": "multi", "sort": "desc"},
        **panel.options,
    }
