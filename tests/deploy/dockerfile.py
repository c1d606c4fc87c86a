"""Read deploy/docker/Dockerfile: its stages, and each stage's instructions with inheritance."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
FROM = re.compile(r"(?P<base>\S+)(?:\s+AS\s+(?P<name>\S+))?", re.IGNORECASE)
ENV_PAIR = re.compile(r'(?P<key>\w+)=(?P<value>"[^"]*"|\S+)')


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) pairs, with continuation lines joined and comments dropped."""
    joined = re.sub(
        r"\\\n",
        " ",
        "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")),
    )
    pairs = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, arguments = line.strip().partition(" ")
            pairs.append((keyword.upper(), " ".join(arguments.split())))
    return pairs


def stages(path: Path = DOCKERFILE) -> dict[str, Stage]:
    found: dict[str, Stage] = {}
    current: Stage | None = None
    for keyword, arguments in instructions(path.read_text()):
        if keyword == "FROM":
            match = FROM.fullmatch(arguments)
            assert match, arguments
            current = Stage(match["name"] or f"stage{len(found)}", match["base"])
            found[current.name] = current
        elif current is not None:
            current.instructions.append((keyword, arguments))
    return found


def lineage(target: str, path: Path = DOCKERFILE) -> list[Stage]:
    """The target stage and the stages it is built FROM, base first."""
    every = stages(path)
    chain = [every[target]]
    while chain[0].base in every:
        chain.insert(0, every[chain[0].base])
    return chain


def last(target: str, keyword: str) -> str | None:
    """The arguments of the target's last ``keyword``, inherited from its bases."""
    found = None
    for stage in lineage(target):
        for key, arguments in stage.instructions:
            if key == keyword:
                found = arguments
    return found


def exec_form(arguments: str) -> list[str]:
    """An exec-form (JSON array) command; a shell form is a test failure."""
    command = json.loads(arguments)
    assert isinstance(command, list), arguments
    assert all(isinstance(part, str) for part in command), arguments
    return command


def healthcheck(target: str) -> list[str]:
    arguments = last(target, "HEALTHCHECK")
    assert arguments is not None, f"{target} has no HEALTHCHECK"
    _, _, command = arguments.partition("CMD ")
    return exec_form(command)


def environment(target: str) -> dict[str, str]:
    """ENV values the target's containers start with (without ${...} expansion)."""
    values: dict[str, str] = {}
    for stage in lineage(target):
        for key, arguments in stage.instructions:
            if key == "ENV":
                for pair in ENV_PAIR.finditer(arguments):
                    values[pair["key"]] = pair["value"].strip('"')
    return values
