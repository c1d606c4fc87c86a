"""folio_metrics' public API is documented, and docs/api.md is what the generator writes."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

PACKAGE = Path(__file__).resolve().parents[2] / "packages" / "folio-metrics"
SCRIPT = PACKAGE / "scripts" / "api_reference.py"
API_DOC = PACKAGE / "docs" / "api.md"


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    # dataclasses look the module up in sys.modules while building its classes.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


def _generator() -> ModuleType:
    return _load("folio_metrics_api_reference", SCRIPT)


def test_every_public_name_and_method_has_a_docstring() -> None:
    """Each name in folio_metrics.__all__, and each public method of those classes."""
    missing = _generator().missing_docstrings()
    assert missing == [], f"no docstring (constants: no comment above them): {missing}"


def test_api_doc_is_current() -> None:
    """docs/api.md equals a fresh render; the fix is to run the script it names."""
    generator = _generator()
    assert API_DOC.read_text() == generator.render(), f"{API_DOC} is stale: run {generator.COMMAND}"


def test_the_check_sees_what_is_missing(tmp_path: Path) -> None:
    """The walk finds an undocumented function, class, method and constant."""
    source = '''
"""A module shaped like a package's __init__."""
__all__ = ["LIMIT", "NOTED", "Documented", "Bare", "helper"]
LIMIT = 3
# Why the value is what it is.
NOTED = 4


class Documented:
    """Has a docstring."""

    def explained(self) -> None:
        """Has one too."""

    def unexplained(self) -> None:
        pass

    def _private(self) -> None:
        pass


class Bare:
    pass


def helper(value: int, *, twice: bool = False) -> int:
    return value
'''
    path = tmp_path / "fake_api.py"
    path.write_text(source)
    module = _load("fake_api", path)
    generator = _generator()
    assert generator.missing_docstrings(module) == [
        "LIMIT",
        "Documented.unexplained",
        "Bare",
        "helper",
    ]
    rendered = generator.render(module)
    assert "helper(value: int, *, twice: bool = False) -> int" in rendered
    assert "### `Documented.explained`" in rendered
    assert "_private" not in rendered
