"""A newcomer's first hour: `folio run` makes a token, loadgen writes with it and tidies up.

Also: `folio run` logs no line per request unless asked to with --access-log.
"""

from __future__ import annotations

import asyncio
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx

from folio.stack.loadgen import generate, planned
from tests.ports import free_ports
from tests.stack.running import environment, folio_run, running_stack

SLUG = "observability-stack"  # a demo project


def _without_token(tmp_path: Path) -> dict[str, str]:
    env = environment(tmp_path)
    env.pop("FOLIO_API_TOKEN", None)
    return env


def _loadgen(api: str, web: str, *arguments: str) -> list[str]:
    """`folio loadgen` with no token given: run in tmp_path, it must find var/api-token."""
    return [sys.executable, "-m", "folio", "loadgen", "--api", api, "--web", web, *arguments]


def _stored(api: str, token: str) -> int:
    """Projects stored, drafts included (the token shows them)."""
    answer = httpx.get(
        f"{api}/api/projects?limit=1", headers={"Authorization": f"Bearer {token}"}, timeout=5
    )
    assert answer.status_code == 200, answer.text
    total = answer.json()["total"]
    assert isinstance(total, int)
    return total


def _requests_in_summary(stdout: str) -> int:
    found = re.search(r"^(\d+) requests in ", stdout, re.M)
    assert found, stdout
    return int(found[1])


def test_a_token_is_made_used_by_loadgen_and_loadgen_leaves_no_project(tmp_path: Path) -> None:
    """No FOLIO_API_TOKEN: a kept token, writes from loadgen, no project left, a quiet log."""
    api_port, web_port = free_ports(2)
    ports = {"folio-api": api_port, "folio-web": web_port}
    api, web = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{web_port}"
    env = _without_token(tmp_path)
    log = tmp_path / "run.log"
    command = folio_run(tmp_path, ports, "--no-prometheus")
    with running_stack(command, env, log, cwd=tmp_path):
        kept = tmp_path / "var" / "api-token"
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
        token = kept.read_text().strip()
        assert len(token) >= 32
        printed = log.read_text()
        assert f"api token    {token}" in printed
        assert f"-H 'Authorization: Bearer {token}'" in printed
        # Not the default var/: it says how loadgen finds the token from anywhere else.
        assert f"`folio loadgen --data-dir {tmp_path / 'var'}`" in printed
        assert f"folio-api    {api}/api/docs" in printed  # a page, where the root is a 404
        before = _stored(api, token)

        # --requests N: exactly N, writes included, and the drafts it made are gone after.
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        done = subprocess.run(
            _loadgen(
                api,
                web,
                "--requests",
                "60",
                "--rate",
                "200",
                "--seed",
                "3",
                "--data-dir",
                str(tmp_path / "var"),
            ),
            env=env,
            cwd=elsewhere,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert _requests_in_summary(done.stdout) == 60
        assert re.search(r"^api\s+POST\s+/api/projects\s+201\s+\d+$", done.stdout, re.M)
        assert "draft project(s) it created" in done.stderr
        assert _stored(api, token) == before
        # --duration D at rate R: R * D requests, where it used to send one more.
        timed = asyncio.run(generate(web, api, token=None, rate=30, duration=1))
        assert sum(timed.sent.values()) == 30

        # Ctrl-C mid-run: the drafts made so far are deleted too, and never shown meanwhile.
        long_run = _loadgen(api, web, "--duration", "60", "--rate", "40")
        loadgen = subprocess.Popen(
            long_run, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            deadline = time.monotonic() + 30
            while _stored(api, token) == before:
                assert loadgen.poll() is None
                assert time.monotonic() < deadline, "loadgen created nothing"
                time.sleep(0.1)
            assert "Load test" not in httpx.get(f"{web}/", timeout=5).text
            loadgen.send_signal(signal.SIGINT)
            _, err = loadgen.communicate(timeout=30)
        finally:
            if loadgen.poll() is None:
                loadgen.kill()
                loadgen.communicate()
        assert loadgen.returncode == 130, err
        assert b"stopped" in err
        assert _stored(api, token) == before

        # Quiet: all that traffic, and not one line per request.
        assert '"GET ' not in log.read_text()

    # The next run reuses the token, and --access-log adds a line per request.
    again = tmp_path / "again.log"
    with running_stack([*command, "--access-log"], env, again, cwd=tmp_path):
        assert kept.read_text().strip() == token
        assert f"api token    {token}" in again.read_text()
        assert httpx.get(f"{api}/api/projects/{SLUG}", timeout=5).status_code == 200
        line = f'"GET /api/projects/{SLUG} HTTP/1.1" 200 /api/projects/{{slug}}'
        deadline = time.monotonic() + 10
        while line not in again.read_text():
            assert time.monotonic() < deadline, again.read_text()
            time.sleep(0.1)


def test_a_duration_sends_one_request_per_tick_and_no_more() -> None:
    """10 s at 20/s is 200 requests: the bar's total and the summary's count agree."""
    assert planned(20, None, 10) == 200
    assert planned(30, None, 1) == 30
    assert planned(3, None, 0.1) == 1
    assert planned(20, 7, None) == 7


def test_a_data_dir_that_cannot_hold_the_token_is_named(tmp_path: Path) -> None:
    """--data-dir on a file: one line naming the directory and the cause, and nothing starts."""
    api_port, web_port = free_ports(2)
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    command = folio_run(tmp_path, {"folio-api": api_port, "folio-web": web_port}, "--no-prometheus")
    command[command.index("--data-dir") + 1] = str(not_a_directory)
    done = subprocess.run(
        command,
        env=_without_token(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"folio run: cannot keep the API token in {not_a_directory}" in done.stderr
    assert "database" not in done.stderr
    assert not (tmp_path / "folio.db").exists()  # stopped before seeding
