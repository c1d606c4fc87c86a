"""The README's configuration table matches the settings folio really reads."""

from __future__ import annotations

import re
from pathlib import Path

from folio.api.settings import ApiSettings
from folio.web.settings import WebSettings

README = Path(__file__).resolve().parent.parent / "README.md"


def _documented_variables() -> dict[str, str]:
    rows = re.findall(r"^\| `(FOLIO_[A-Z_]+)` \| `?([^`|]*)`? \|", README.read_text(), re.M)
    return dict(rows)


def _fields() -> dict[str, list[object]]:
    """Each FOLIO_ variable's default in every service that reads it."""
    defaults: dict[str, list[object]] = {}
    for settings in (ApiSettings, WebSettings):
        for name, field in settings.model_fields.items():
            defaults.setdefault(f"FOLIO_{name.upper()}", []).append(field.default)
    return defaults


def test_every_setting_is_documented_and_nothing_else() -> None:
    """Each FOLIO_ setting of either service has a README row, and each row is real."""
    assert set(_documented_variables()) == set(_fields())


def test_documented_defaults_are_the_real_defaults() -> None:
    """The README's default is the code's, and a shared variable means one thing."""
    fields = _fields()
    for variable, documented in _documented_variables().items():
        defaults = fields[variable]
        assert all(default == defaults[0] for default in defaults), variable
        default = defaults[0]
        actual = "unset" if default in (None, []) else str(default)
        assert documented.strip() in {actual, actual.removesuffix(".0")}, variable
