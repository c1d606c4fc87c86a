"""deploy/terraform through the terraform CLI: `validate` and the module's `terraform test`.

Each run works on a copy of deploy/ in a temporary directory, so no `.terraform/` or lock
file lands in the checkout, and installs the AWS provider only from a filesystem mirror
(no registry, no network): $FOLIO_TF_PLUGIN_MIRROR, by default /opt/tf-plugins, laid out
as registry.terraform.io/hashicorp/aws/<version>/<os>_<arch>/. `terraform test` plans and
applies the module against the mocked provider of tests/*.tftest.hcl; it still needs the
provider binary for its schema. Without terraform or the mirror these tests skip, and
fail under CI=true.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.ci import unavailable

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
MODULE = Path("terraform/modules/folio-ecs")
EXAMPLE = Path("terraform/examples/basic")

MIRROR_VARIABLE = "FOLIO_TF_PLUGIN_MIRROR"
DEFAULT_MIRROR = "/opt/tf-plugins"
PROVIDER = "registry.terraform.io/hashicorp/aws"

# Nothing a local init or apply leaves behind is copied, no variables file is loaded, and
# no local secrets (deploy/alertmanager/secrets/) leave the checkout.
NOT_COPIED = shutil.ignore_patterns(
    ".terraform",
    ".terraform.lock.hcl",
    "*.tfstate",
    "*.tfstate.*",
    "*.tfvars",
    "*.tfplan",
    "secrets",
)
RUN_BLOCK = re.compile(r'^run\s+"[^"]+"\s*\{', flags=re.MULTILINE)


@dataclass(frozen=True)
class Workspace:
    terraform: str
    env: dict[str, str]
    deploy: Path

    def run(self, directory: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.terraform, *args],
            cwd=self.deploy / directory,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def _mirror() -> Path:
    mirror = Path(os.environ.get(MIRROR_VARIABLE) or DEFAULT_MIRROR)
    if not (mirror / PROVIDER).is_dir():
        unavailable(
            f"the filesystem mirror {mirror} has no {PROVIDER} provider "
            f"(set {MIRROR_VARIABLE} to a mirror laid out as {PROVIDER}/<version>/<os>_<arch>/)"
        )
    return mirror


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A copy of deploy/ and a CLI config that installs providers from the mirror only."""
    terraform = shutil.which("terraform")
    if terraform is None:
        unavailable("terraform is not on PATH (https://developer.hashicorp.com/terraform/install)")
    mirror = _mirror()
    root = tmp_path_factory.mktemp("terraform-cli")
    config = root / "terraform.rc"
    # Only a filesystem_mirror block: no `direct {}`, so nothing is fetched from a registry.
    config.write_text(
        "provider_installation {\n"
        f"  filesystem_mirror {{\n    path = {json.dumps(str(mirror))}\n  }}\n"
        "}\n",
        encoding="utf-8",
    )
    shutil.copytree(DEPLOY, root / "deploy", ignore=NOT_COPIED)
    env = {
        name: value
        for name, value in os.environ.items()
        # A user's plugin cache, data dir or extra arguments would change what is tested.
        if name not in ("TF_PLUGIN_CACHE_DIR", "TF_DATA_DIR") and not name.startswith("TF_CLI_ARGS")
    }
    env |= {
        "TF_CLI_CONFIG_FILE": str(config),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
    }
    return Workspace(terraform, env, root / "deploy")


def _init(workspace: Workspace, directory: Path) -> Path:
    result = workspace.run(
        directory, "init", "-backend=false", "-input=false", "-no-color", timeout=300
    )
    assert result.returncode == 0, (
        f"terraform init in {directory} failed:\n{result.stdout}{result.stderr}"
    )
    return directory


@pytest.fixture(scope="module")
def module(workspace: Workspace) -> Path:
    return _init(workspace, MODULE)


@pytest.fixture(scope="module")
def example(workspace: Workspace) -> Path:
    return _init(workspace, EXAMPLE)


def _diagnostic(diagnostic: dict[str, Any]) -> str:
    where = diagnostic.get("range", {})
    return (
        f"{diagnostic['severity']}: {diagnostic['summary']}: {diagnostic.get('detail', '')} "
        f"({where.get('filename', '?')}:{where.get('start', {}).get('line', '?')})"
    )


def _validate(workspace: Workspace, directory: Path) -> None:
    result = workspace.run(directory, "validate", "-json", "-no-color", timeout=300)
    try:
        report: dict[str, Any] = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"terraform validate:\n{result.stdout}{result.stderr}", pytrace=False)
    problems = "\n".join(_diagnostic(d) for d in report["diagnostics"]) or result.stderr
    assert report["valid"], problems
    assert result.returncode == 0, problems
    assert report["diagnostics"] == [], problems


def test_module_validates(workspace: Workspace, module: Path) -> None:
    """`terraform validate` of modules/folio-ecs: no errors and no warnings."""
    _validate(workspace, module)


def test_example_validates(workspace: Workspace, example: Path) -> None:
    """`terraform validate` of examples/basic, which calls the module and reads deploy/ files."""
    _validate(workspace, example)


def test_module_tests_pass(workspace: Workspace, module: Path) -> None:
    """`terraform test` of the module: every run block in tests/ passes, none is skipped."""
    runs = sum(
        len(RUN_BLOCK.findall(path.read_text(encoding="utf-8")))
        for path in (DEPLOY / MODULE / "tests").glob("*.tftest.hcl")
    )
    assert runs, "no run blocks found in tests/*.tftest.hcl"
    result = workspace.run(module, "test", "-json", "-no-color", timeout=600)
    messages = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    lines = [m["@message"] for m in messages]
    lines += [_diagnostic(m["diagnostic"]) for m in messages if "diagnostic" in m]
    output = "\n".join(lines) + result.stderr
    summaries = [m["test_summary"] for m in messages if m.get("type") == "test_summary"]
    assert result.returncode == 0, output
    assert len(summaries) == 1, output
    assert summaries[0] == {
        "status": "pass",
        "passed": runs,
        "failed": 0,
        "errored": 0,
        "skipped": 0,
    }, output
