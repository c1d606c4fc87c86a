"""How hard the reliability suite pushes: bounded in `make test`, longer under `make soak`."""

from __future__ import annotations

import os

SOAK_ENV = "FOLIO_SOAK"


def soaking() -> bool:
    """True under `make soak`, which sets FOLIO_SOAK=1."""
    return os.environ.get(SOAK_ENV, "") not in ("", "0")


def amount(bounded: int, soak: int) -> int:
    """``bounded`` in `make test` (CI has a time limit); ``soak`` under `make soak`."""
    return soak if soaking() else bounded
