"""folio's Grafana dashboards, generated from Python into deploy/grafana/dashboards/.

Plain dicts, not grafanalib or grafana-foundation-sdk: the dashboards use a handful of
panel kinds, and a small builder (model.py) keeps the JSON exactly as Grafana exports it without
a dependency that must track Grafana's schema. ``python -m folio.dashboards`` rewrites the
files; tests/dashboards fails when they are stale.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from folio.dashboards import api, slo, web
from folio.dashboards.model import JSON

BUILDERS: dict[str, Callable[[], JSON]] = {
    "folio-api.json": api.build,
    "folio-web.json": web.build,
    "folio-slo.json": slo.build,
}


def render(dashboard: JSON) -> str:
    """The JSON as committed: stable key order, two-space indent, a final newline."""
    return json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n"


def generate() -> dict[str, str]:
    """File name to the text it should hold."""
    return {name: render(build()) for name, build in BUILDERS.items()}


def stale(directory: Path) -> list[str]:
    """The dashboard files in ``directory`` that differ from what the code generates."""
    return [
        name
        for name, text in generate().items()
        if not (directory / name).is_file() or (directory / name).read_text() != text
    ]


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in generate().items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written
