"""folio_metrics stands alone: it never imports folio-api or folio-web."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import folio_metrics

PACKAGE = Path(folio_metrics.__file__).parent


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


def test_metrics_library_does_not_import_the_services() -> None:
    """No module under folio/metrics imports folio.api or folio.web."""
    offenders = {
        f"{path.name}: {module}"
        for path in PACKAGE.glob("*.py")
        for module in _imported_modules(path)
        if module.startswith(("folio.api", "folio.web"))
    }
    assert offenders == set()
    assert len(list(PACKAGE.glob("*.py"))) > 5  # the glob really found the library


def test_importing_the_library_does_not_import_sqlalchemy() -> None:
    """Apps without a database do not pay for SQLAlchemy; folio_metrics.db is opt-in."""
    code = "import sys, folio_metrics; print('sqlalchemy' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "False"


# The library's public face: its top level, and the opt-in modules users import by name.
PUBLIC_MODULES = {
    "folio_metrics",
    "folio_metrics.db",
    "folio_metrics.litestar",
    "folio_metrics.multiprocess",
}


def test_the_services_use_only_the_public_api() -> None:
    """folio-api and folio-web import folio_metrics as any other user would."""
    services = Path(__file__).parents[2] / "src" / "folio"
    sources = list(services.rglob("*.py"))
    offenders = {
        f"{path.relative_to(services)}: {module}"
        for path in sources
        for module in _imported_modules(path)
        if module.startswith("folio_metrics") and module not in PUBLIC_MODULES
    }
    assert offenders == set()
    assert any("folio_metrics" in _imported_modules(path) for path in sources)
