"""Write docs/api.md: signature and first docstring paragraph of every public name.

Run from anywhere: ``python packages/folio-metrics/scripts/api_reference.py``. With
``--check`` it writes nothing and exits 1 when docs/api.md is stale or a docstring is missing.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

PACKAGE = "folio_metrics"
OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "api.md"
COMMAND = "python packages/folio-metrics/scripts/api_reference.py"
WIDTH = 92  # longer signatures get one parameter per line
HEADER = f"""# folio_metrics API reference

Everything `folio_metrics.__all__` exports, with its signature and the first paragraph of its
docstring. Generated; do not edit by hand. Regenerate from the repository root with:

```sh
{COMMAND}
```

`tests/metrics/test_api_reference.py` fails when this file is stale or a public name or
method has no docstring. Database metrics live in `folio_metrics.db`, imported on their own.
"""


@dataclass(frozen=True)
class Entry:
    """One documented object: its dotted name, rendered signature and docstring."""

    name: str
    signature: str
    doc: str | None
    level: int


class _Raw:
    """An annotation kept as written: ``from __future__ import annotations`` makes strings."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _clean(signature: inspect.Signature) -> inspect.Signature:
    def unquote(annotation: Any) -> Any:
        return _Raw(annotation) if isinstance(annotation, str) else annotation

    parameters = [
        parameter.replace(annotation=unquote(parameter.annotation))
        for parameter in signature.parameters.values()
    ]
    return signature.replace(
        parameters=parameters, return_annotation=unquote(signature.return_annotation)
    )


def _format(name: str, signature: inspect.Signature, prefix: str = "") -> str:
    text = f"{prefix}{name}{_clean(signature)}"
    # Object defaults print their address, which changes on every run.
    text = re.sub(r" at 0x[0-9a-f]+", "", text)
    if len(text) <= WIDTH:
        return text
    single = f"{prefix}{name}{_clean(signature.replace(parameters=[]))}"
    head, tail = single.split("()", 1)
    parts = []
    star_written = False  # the bare * before keyword-only parameters, unless *args is there
    for parameter in _clean(signature).parameters.values():
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and not star_written:
            parts.append("*")
        if parameter.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.VAR_POSITIONAL):
            star_written = True
        parts.append(re.sub(r" at 0x[0-9a-f]+", "", str(parameter)))
    lines = "".join(f"    {part},\n" for part in parts)
    return f"{head}(\n{lines}){tail}"


def _own_doc(obj: Any) -> str | None:
    """The object's own docstring; a class does not borrow one from its bases."""
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else getattr(obj, "__doc__", None)
    if isinstance(obj, property):
        doc = obj.fget.__doc__ if obj.fget is not None else None
    return inspect.cleandoc(doc) if isinstance(doc, str) and doc.strip() else None


def _first_paragraph(doc: str | None) -> str:
    if doc is None:
        return "*No docstring.*"
    return " ".join(line.strip() for line in doc.split("\n\n", 1)[0].splitlines())


def _is_protocol(cls: type) -> bool:
    return bool(getattr(cls, "_is_protocol", False))


def _methods(cls: type, package: str) -> Iterator[tuple[str, Any]]:
    """Public methods and properties defined on the class or its bases in ``package``."""
    seen: set[str] = set()
    for base in cls.__mro__:
        if base.__module__ != package and not base.__module__.startswith(f"{package}."):
            continue
        for name, member in vars(base).items():
            public = not name.startswith("_") or (name == "__call__" and _is_protocol(cls))
            if not public or name in seen:
                continue
            if isinstance(member, staticmethod | classmethod):
                member = member.__func__
            if inspect.isfunction(member) or isinstance(member, property):
                seen.add(name)
                yield name, member


def _constant_comment(module: ModuleType, name: str) -> str | None:
    """The comment block right above a module-level ``name = ...``, as its docstring."""
    value = getattr(module, name)
    # The defining module is the package itself or one of its submodules that holds it.
    candidates = [module] + [
        candidate
        for key, candidate in list(sys.modules.items())
        if key.startswith(f"{module.__name__}.") and getattr(candidate, name, None) is value
    ]
    for candidate in candidates:
        try:
            source = inspect.getsource(candidate)
        except (OSError, TypeError):
            continue
        lines = source.splitlines()
        for node in ast.parse(source).body:
            targets = node.targets if isinstance(node, ast.Assign) else []
            if isinstance(node, ast.AnnAssign):
                targets = [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                comments: list[str] = []
                index = node.lineno - 2
                while index >= 0 and lines[index].lstrip().startswith("#"):
                    comments.insert(0, lines[index].strip().lstrip("#:").strip())
                    index -= 1
                if comments:
                    return " ".join(comments)
    return None


def entries(module: ModuleType | None = None) -> list[Entry]:
    """Every public name of ``module`` (folio_metrics by default) and its public methods."""
    module = module or importlib.import_module(PACKAGE)
    found: list[Entry] = []
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isclass(obj):
            if _is_protocol(obj):
                signature = f"class {name}(Protocol)"
            else:
                constructor = inspect.signature(obj).replace(
                    return_annotation=inspect.Signature.empty
                )
                signature = _format(name, constructor, prefix="class ")
            found.append(Entry(name, signature, _own_doc(obj), 2))
            for method_name, method in _methods(obj, module.__name__):
                qualified = f"{name}.{method_name}"
                if isinstance(method, property):
                    found.append(Entry(qualified, f"{qualified}  # property", _own_doc(method), 3))
                    continue
                method_signature = inspect.signature(method)
                parameters = list(method_signature.parameters.values())[1:]  # without self
                bound = method_signature.replace(parameters=parameters)
                found.append(Entry(qualified, _format(qualified, bound), _own_doc(method), 3))
        elif inspect.isroutine(obj):
            found.append(Entry(name, _format(name, inspect.signature(obj)), _own_doc(obj), 2))
        else:
            # Double quotes, as ruff formats the Python blocks of this page.
            value = json.dumps(obj) if isinstance(obj, str) else repr(obj)
            found.append(Entry(name, f"{name} = {value}", _constant_comment(module, name), 2))
    return found


def missing_docstrings(module: ModuleType | None = None) -> list[str]:
    """The public names and methods that have no docstring (constants: no comment above)."""
    return [entry.name for entry in entries(module) if entry.doc is None]


def render(module: ModuleType | None = None) -> str:
    """The text of docs/api.md."""
    parts = [HEADER]
    for entry in entries(module):
        heading = "#" * entry.level
        parts.append(
            f"{heading} `{entry.name}`\n\n```python\n{entry.signature}\n```\n\n"
            f"{_first_paragraph(entry.doc)}\n"
        )
    return "\n".join(parts)


def main(argv: list[str]) -> int:
    """Write docs/api.md, or with ``--check`` report whether it is current."""
    text = render()
    if "--check" in argv:
        missing = missing_docstrings()
        stale = not OUTPUT.exists() or OUTPUT.read_text() != text
        if missing:
            print("no docstring: " + ", ".join(missing), file=sys.stderr)
        if stale:
            print(f"{OUTPUT} is stale; run {COMMAND}", file=sys.stderr)
        return 1 if missing or stale else 0
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
