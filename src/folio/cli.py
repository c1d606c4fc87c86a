"""The ``folio`` command: run the services and manage the database."""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from folio.api.settings import ApiSettings
from folio.web.settings import WebSettings

if TYPE_CHECKING:
    from fastapi import FastAPI


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # folio-web's calls are in metrics
    try:
        if arguments.command == "web":
            return _serve_web(WebSettings(), arguments.host, arguments.port)
        return _run(arguments, ApiSettings())
    except ValidationError as error:
        print(f"folio: invalid configuration:\n{_problems(error)}", file=sys.stderr)
        return 2
    except (OSError, SQLAlchemyError) as error:
        print(f"folio: the database is not usable: {error}", file=sys.stderr)
        return 1


def _run(arguments: argparse.Namespace, settings: ApiSettings) -> int:
    if arguments.command == "api":
        return _serve_api(settings, arguments.host, arguments.port)
    if arguments.db_command == "upgrade":
        asyncio.run(_upgrade(settings))
        print(f"database is at the latest schema: {_redacted(settings.database_url)}")
        return 0
    added = asyncio.run(_seed(settings))
    print(f"seeded {len(added)} demo project(s): {', '.join(added) or 'all present already'}")
    return 0


def _problems(error: ValidationError) -> str:
    return "\n".join(
        f"  FOLIO_{'_'.join(map(str, problem['loc'])).upper()}: {problem['msg']}"
        for problem in error.errors()
    )


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="folio", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    api = commands.add_parser("api", help="serve folio-api (applies migrations first)")
    api.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    api.add_argument("--port", type=int, default=3001, help="port to bind (default 3001)")
    web = commands.add_parser("web", help="serve folio-web, the site (reads FOLIO_API_URL)")
    web.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    web.add_argument("--port", type=int, default=3000, help="port to bind (default 3000)")
    db = commands.add_parser("db", help="manage the database named by FOLIO_DATABASE_URL")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply the migrations (idempotent)")
    db_commands.add_parser("seed", help="add the demo projects that are missing (idempotent)")
    return parser


def _serve_api(settings: ApiSettings, host: str, port: int) -> int:
    from folio.api.app import create_app

    asyncio.run(_upgrade(settings))
    grace = math.ceil(settings.shutdown_grace_seconds)
    return _serve(create_app(settings), host, port, settings.log_level, grace)


def _serve_web(settings: WebSettings, host: str, port: int) -> int:
    from folio.web.app import create_app

    return _serve(create_app(settings), host, port, settings.log_level, grace=10)


def _serve(app: FastAPI, host: str, port: int, log_level: str, grace: int) -> int:
    import uvicorn

    from folio.metrics import uvicorn_protocol

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        timeout_graceful_shutdown=grace,
        # Counts open TCP connections (http_active_connections) where uvicorn sees them.
        http=uvicorn_protocol(app.state.observability.connections),
    )
    # uvicorn handles SIGTERM: it stops listening, lets in-flight requests finish, then exits.
    uvicorn.Server(config).run()
    return 0


async def _upgrade(settings: ApiSettings) -> None:
    from folio.api.db import create_engine
    from folio.api.migrate import upgrade

    engine = create_engine(settings.database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


async def _seed(settings: ApiSettings) -> list[str]:
    from folio.api.db import create_engine, create_session_factory
    from folio.api.seed import seed

    await _upgrade(settings)
    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine)() as session:
            return await seed(session)
    finally:
        await engine.dispose()


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
