"""One bench.appspeed stack: a commit's code, a fresh database, folio-api and folio-web."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from subprocess import DEVNULL, Popen
from typing import IO

from bench.appspeed_report import ROWS
from bench.common import ROOT, free_port, stop
from bench.overhead import HOST, SERVER_CPU, Server, VariantFailed, wait_until_ready

SETUP_TIMEOUT = 120


def clean_environment() -> dict[str, str]:
    """The caller's environment without FOLIO_* settings (a metrics token would skew runs)."""
    return {name: value for name, value in os.environ.items() if not name.startswith("FOLIO_")}


def environment(code_dir: Path | None, database_url: str) -> dict[str, str]:
    """What both services of one code run with: no caller FOLIO_* settings, quiet logs."""
    settings = clean_environment() | {
        "FOLIO_DATABASE_URL": database_url,
        "FOLIO_LOG_LEVEL": "warning",
    }
    if code_dir is not None:
        settings["PYTHONPATH"] = f"{code_dir / 'src'}:{code_dir / 'packages/folio-metrics/src'}"
    return settings


def imported_from(settings: dict[str, str], code_dir: Path | None) -> dict[str, str]:
    """Where folio and folio_metrics import from under ``settings``; the code must be ours."""
    # The servers run with this interpreter, environment and directory: they import the same.
    probe = (
        "import folio, folio_metrics, json; "
        "print(json.dumps([folio.__file__, folio_metrics.__file__]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=settings, capture_output=True, text=True
    )
    if result.returncode:
        raise VariantFailed(f"cannot import folio: {result.stderr.strip()[-300:]}")
    folio, metrics = json.loads(result.stdout)
    expected = code_dir or ROOT
    if not all(Path(path).is_relative_to(expected) for path in (folio, metrics)):
        raise VariantFailed(f"folio imported from {folio} and {metrics}, not {expected}")
    return {"folio": folio, "folio_metrics": metrics}


def extract(commit: str, directory: Path) -> str:
    """``commit``'s tree, read-only from git, into ``directory``; its short hash."""
    short = subprocess.run(
        ["git", "rev-parse", "--short", f"{commit}^{{commit}}"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    with subprocess.Popen(["git", "archive", short], cwd=ROOT, stdout=subprocess.PIPE) as archive:
        subprocess.run(["tar", "-x", "-C", str(directory)], stdin=archive.stdout, check=True)
    if archive.returncode:
        raise VariantFailed(f"git archive {short} exited {archive.returncode}")
    return short


@contextmanager
def fresh_database(backend: str, directory: Path, postgres_url: str | None) -> Iterator[str]:
    """An empty database for one code and backend, dropped afterwards if on PostgreSQL."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{directory / 'folio.db'}"
        return
    assert postgres_url is not None
    from sqlalchemy.engine import make_url

    from folio.api.settings import ApiSettings

    admin = ApiSettings(database_url=postgres_url).database_url
    name = f"folio_bench_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_as_admin(admin, f'CREATE DATABASE "{name}"'))
    except Exception as error:  # the driver's errors: a refused login, no such server
        raise VariantFailed(f"cannot create a database on PostgreSQL: {error}") from error
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_as_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _as_admin(admin_url: str, statement: str) -> None:
    """One statement outside a transaction, as CREATE and DROP DATABASE require."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


def prepare(settings: dict[str, str]) -> None:
    """`folio db seed`, which applies the migrations first, as `folio db upgrade` does."""
    done = subprocess.run(
        [sys.executable, "-m", "folio", "db", "seed"],
        cwd=ROOT, env=settings, capture_output=True, text=True,
        timeout=SETUP_TIMEOUT, check=False,
    )  # fmt: skip
    if done.returncode:
        raise VariantFailed(f"folio db seed exited {done.returncode}: {done.stderr[-300:]}")


# --- the servers ---------------------------------------------------------------------------


@dataclass
class Stack:
    """One code's folio-api and folio-web on one database."""

    code: str
    api: Server
    web: Server
    slug: str


def fetch(port: int, method: str, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def service_command(service: str, port: int) -> list[str]:
    return [
        *("taskset", "-c", SERVER_CPU, sys.executable, "-m", "folio", service),
        *("--host", HOST, "--port", str(port), "--workers", "1"),
    ]


def published_slug(api: Server) -> str:
    """The newest published project's slug, from folio-api itself."""
    status, body = fetch(api.port, "GET", "/api/projects?limit=1")
    items = json.loads(body).get("items") if status == 200 else None
    if not items:
        raise VariantFailed(f"GET /api/projects answered {status}: {body[:200]!r}")
    return str(items[0]["slug"])


def check_rows(stack: Stack) -> None:
    """Every row answers 200 with what it should before any is timed."""
    for row in ROWS:
        server = stack.api if row.service == "api" else stack.web
        status, body = fetch(server.port, "GET", row.url(stack.slug))
        expected = b"</html>" if row.service == "web" else b"{"
        if status != 200 or expected not in body:
            raise VariantFailed(f"{stack.code} {row.request} answered {status}: {body[:200]!r}")


@contextmanager
def running_stack(code: str, settings: dict[str, str]) -> Iterator[Stack]:
    """One code's folio-api and folio-web, started together, checked, and always stopped."""
    api_port, web_port = free_port(), free_port()
    web_settings = settings | {"FOLIO_API_URL": f"http://{HOST}:{api_port}"}
    with tempfile.TemporaryFile() as api_log, tempfile.TemporaryFile() as web_log:
        api = Server(
            f"{code} folio-api", api_port, _start("api", api_port, settings, api_log), api_log
        )
        web = Server(
            f"{code} folio-web", web_port, _start("web", web_port, web_settings, web_log), web_log
        )
        try:
            wait_until_ready(api)
            wait_until_ready(web)
            running = Stack(code, api, web, published_slug(api))
            check_rows(running)
            yield running
        finally:
            stop(api.process)
            stop(web.process)


def _start(service: str, port: int, settings: dict[str, str], log: IO[bytes]) -> Popen[bytes]:
    return Popen(
        service_command(service, port),
        cwd=ROOT, env=settings, stdin=DEVNULL, stdout=DEVNULL, stderr=log, start_new_session=True,
    )  # fmt: skip
