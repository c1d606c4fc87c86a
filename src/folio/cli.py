"""The ``folio`` command: run the services and manage the database."""

from __future__ import annotations

import argparse
import asyncio
import errno
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from folio.api.settings import ApiSettings
from folio.cli_parser import DEFAULT_PORTS, build_parser
from folio.logs import configure_logging
from folio.protocol import ProtocolLimits
from folio.serve import MetricsDirectoryError, ServeOptions, serve
from folio.web.settings import WebSettings

if TYPE_CHECKING:
    from folio.served import ServedApp


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    configure_logging()  # text until the settings say otherwise
    if arguments.command == "healthcheck":
        from folio.healthcheck import check

        return check(arguments.port or DEFAULT_PORTS[arguments.service])
    try:
        if arguments.command == "web":
            return _serve_web(WebSettings(), arguments)
        if arguments.command == "loadgen":
            return _loadgen(arguments)
        if arguments.command == "run":
            return _run_stack(arguments, ApiSettings())
        return _run(arguments, ApiSettings())
    except ValidationError as error:
        print(f"folio: invalid configuration:\n{_problems(error)}", file=sys.stderr)
        return 2
    except MetricsDirectoryError as error:
        # As a port in use: the setting is well formed, the machine refuses it.
        print(f"folio: {error} (FOLIO_METRICS_DIR)", file=sys.stderr)
        return 1
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            address = f"{arguments.host}:{getattr(arguments, 'port', '')}".rstrip(":")
            print(f"folio: cannot listen on {address}: it is already in use", file=sys.stderr)
            return 1
        print(f"folio: the database is not usable: {error}", file=sys.stderr)
        return 1
    except SQLAlchemyError as error:
        print(f"folio: the database is not usable: {error}", file=sys.stderr)
        return 1


def _run(arguments: argparse.Namespace, settings: ApiSettings) -> int:
    if arguments.command == "api":
        return _serve_api(settings, arguments)
    configure_logging(settings.log_format)
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


def _run_stack(arguments: argparse.Namespace, settings: ApiSettings) -> int:
    from folio.stack.options import StackOptions, port_problem
    from folio.stack.supervisor import run_stack
    from folio.stack.token import ensure_token

    options = StackOptions(
        host=arguments.host,
        api_port=arguments.api_port,
        web_port=arguments.web_port,
        prometheus_port=arguments.prometheus_port,
        alertmanager_port=arguments.alertmanager_port,
        data_dir=arguments.data_dir,
        scrape_interval=arguments.scrape_interval,
        with_prometheus=not arguments.no_prometheus,
        with_alertmanager=not arguments.no_alertmanager,
        workers=arguments.workers,
        access_log=arguments.access_log,
    )
    # Before the seeding too: a busy port stops `folio run` before it changes anything.
    problem = port_problem(options)
    if problem is not None:
        print(f"folio run: {problem}", file=sys.stderr)
        return 1
    if settings.api_token is None:
        try:
            options.api_token = ensure_token(options.data_dir)
        except OSError as error:  # otherwise reported as the database's problem
            print(
                f"folio run: cannot keep the API token in {options.data_dir}: {error}",
                file=sys.stderr,
            )
            return 1
    added = asyncio.run(_seed(settings))
    print(f"seeded {len(added)} demo project(s)", file=sys.stderr)
    return run_stack(options)


def _loadgen(arguments: argparse.Namespace) -> int:
    import os

    from folio.stack.loadgen import run_loadgen
    from folio.stack.token import read_token

    if arguments.rate <= 0:
        print("folio loadgen: --rate must be positive", file=sys.stderr)
        return 2
    requests = arguments.requests if arguments.duration is None else None
    if requests is None and arguments.duration is None:
        requests = 200
    token = arguments.token or os.environ.get("FOLIO_API_TOKEN") or read_token(arguments.data_dir)
    return run_loadgen(
        arguments.web,
        arguments.api,
        token,
        arguments.rate,
        requests,
        arguments.duration,
        arguments.seed,
    )


def _serve_api(settings: ApiSettings, arguments: argparse.Namespace) -> int:
    from folio.api.app import create_served_app

    configure_logging(settings.log_format, settings.log_level, "folio-api")
    asyncio.run(_upgrade(settings))
    grace = math.ceil(settings.shutdown_grace_seconds)

    def build(metrics_dir: Path | None) -> ServedApp:
        return create_served_app(_with_metrics_dir(settings, metrics_dir))

    return serve(build, _serve_options(arguments, settings, grace))


def _serve_web(settings: WebSettings, arguments: argparse.Namespace) -> int:
    from folio.web.app import create_served_app

    configure_logging(settings.log_format, settings.log_level, "folio-web")

    def build(metrics_dir: Path | None) -> ServedApp:
        return create_served_app(_with_metrics_dir(settings, metrics_dir))

    grace = math.ceil(settings.shutdown_grace_seconds)
    return serve(build, _serve_options(arguments, settings, grace))


SettingsT = TypeVar("SettingsT", ApiSettings, WebSettings)


def _with_metrics_dir(settings: SettingsT, metrics_dir: Path | None) -> SettingsT:
    return settings.model_copy(update={"metrics_dir": metrics_dir})


def _serve_options(
    arguments: argparse.Namespace, settings: ApiSettings | WebSettings, grace: int
) -> ServeOptions:
    return ServeOptions(
        host=arguments.host,
        port=arguments.port,
        log_level=settings.log_level,
        grace_seconds=grace,
        workers=arguments.workers or settings.workers,
        max_requests=arguments.max_requests,
        metrics_dir=settings.metrics_dir,
        drain_seconds=settings.drain_seconds,
        access_log=arguments.access_log,
        limits=ProtocolLimits(
            settings.request_header_timeout_seconds,
            settings.request_body_timeout_seconds,
            settings.max_connections,
        ),
    )


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
