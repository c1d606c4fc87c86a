"""`folio run` starts Alertmanager with a copy of deploy/alertmanager that links to its site."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from folio.stack import alertmanager
from folio.stack.supervisor import Stack, StackOptions, _start_alertmanager
from tests.ci import unavailable

SITE = "http://folio.example:8080"


def test_the_site_url_is_written_into_the_templates(tmp_path: Path) -> None:
    """The copy links runbooks at the given site, once, and amtool accepts it."""
    config = alertmanager.write_config(tmp_path / "am", SITE)
    templates = "".join(path.read_text() for path in config.parent.glob("templates/*.tmpl"))
    assert templates.count(SITE) == 1
    assert "127.0.0.1:3000" not in templates
    amtool = shutil.which("amtool")
    if amtool is None:
        unavailable("amtool not found: install Debian's prometheus-alertmanager (.ci/run does)")
    check = subprocess.run(
        [amtool, "check-config", str(config)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_either_packaged_name_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Debian's prometheus-alertmanager counts as Alertmanager; an empty PATH has none."""
    binary = tmp_path / "prometheus-alertmanager"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert alertmanager.alertmanager_binary() == str(binary)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert alertmanager.alertmanager_binary() is None


def test_without_alertmanager_folio_run_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No binary on PATH: nothing starts, and the message names the package to install."""
    monkeypatch.setenv("PATH", str(tmp_path))
    stack = Stack()
    assert _start_alertmanager(stack, StackOptions(data_dir=tmp_path), SITE) is None
    assert stack.services == []
    message = capsys.readouterr().err
    assert "apt-get install prometheus-alertmanager" in message
    assert not os.listdir(tmp_path)
