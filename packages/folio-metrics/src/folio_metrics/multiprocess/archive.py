"""``archive.json``: the summed series of every worker gone, and the files folded into it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from folio_metrics.multiprocess.checks import CORRUPT, StoreFault, checked_count
from folio_metrics.multiprocess.store import SUMMED, SeriesKey

ARCHIVE = "archive.json"

Values = list[float]
# The files already folded in, and the summed series of every worker gone.
Archive = tuple[frozenset[str], list[tuple[SeriesKey, Values]]]


def read_archive(directory: Path) -> Archive:
    """The archive in ``directory``; StoreFault if it is not one folio wrote."""
    try:
        content = json.loads((directory / ARCHIVE).read_bytes())
        folded = frozenset(content["folded"])
        series = [
            ((SUMMED, name, tuple(labels)), [float(value) for value in values])
            for name, labels, values in content["series"]
        ]
    except (OSError, ValueError, TypeError, KeyError) as error:
        raise StoreFault(CORRUPT, f"{ARCHIVE} is unreadable: {error!r}") from None
    if not all(isinstance(name, str) for name in folded) or not all(
        isinstance(name, str) and all(isinstance(label, str) for label in labels) and values
        for (_, name, labels), values in series
    ):
        raise StoreFault(CORRUPT, f"{ARCHIVE} holds something other than series")
    for _, values in series:
        checked_count(True, values)
    return folded, series


def write_archive(
    directory: Path, summed: dict[str, dict[tuple[str, ...], Values]], folded: list[str]
) -> None:
    """Replace the archive at once: readers see the old one or the new one, never half.

    Raises OSError (and leaves nothing behind) when the directory refuses it.
    """
    rows = [
        [name, list(label_values), values]
        for name, series in sorted(summed.items())
        for label_values, values in series.items()
    ]
    temporary = directory / f".{ARCHIVE}.{os.getpid()}"
    content = json.dumps({"folded": folded, "series": rows}, separators=(",", ":"))
    try:
        temporary.write_text(content)
        os.replace(temporary, directory / ARCHIVE)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise
