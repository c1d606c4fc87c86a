"""The README's configuration table matches the settings folio really reads."""

from __future__ import annotations

import re
from pathlib import Path

from folio.api.settings import ApiSettings

README = Path(__file__).resolve().parent.parent / "README.md"


def _documented_variables() -> dict[str, str]:
    rows = re.findall(r"^\| `(FOLIO_[A-Z_]+)` \| `?([^`|]*)`? \|", README.read_text(), re.M)
    return dict(rows)


def test_every_setting_is_documented_and_nothing_else() -> None:
    """Each FOLIO_ setting has a README row, and each row is a real setting."""
    settings = {f"FOLIO_{name.upper()}" for name in ApiSettings.model_fields}
    assert set(_documented_variables()) == settings


def test_documented_defaults_are_the_real_defaults() -> None:
    """The default the README gives for each setting is the one the code uses."""
    for variable, documented in _documented_variables().items():
        field = ApiSettings.model_fields[variable.removeprefix("FOLIO_").lower()]
        actual = "unset" if field.default is None else str(field.default)
        assert documented.strip() in {actual, actual.removesuffix(".0")}, variable
