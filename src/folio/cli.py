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
from folio.logs import configure_logging
from folio.protocol import ProtocolLimits
from folio.serve import MetricsDirectoryError, ServeOptions, serve
from folio.web.settings import WebSettings

if TYPE_CHECKING:
    from folio.served import ServedApp


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
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


DEFAULT_PORTS = {"api": 3001, "web": 3000}


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="folio", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    api = commands.add_parser("api", help="serve folio-api (applies migrations first)")
    api.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    api.add_argument("--port", type=int, default=DEFAULT_PORTS["api"], help="port (default 3001)")
    web = commands.add_parser("web", help="serve folio-web, the site (reads FOLIO_API_URL)")
    web.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    web.add_argument("--port", type=int, default=DEFAULT_PORTS["web"], help="port (default 3000)")
    for service in (api, web):
        _add_worker_arguments(service)
        service.add_argument(
            "--access-log",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="log a line per request, with its route, status, duration and trace id "
            "(default: on)",
        )
    run = commands.add_parser(
        "run",
        help="seed demo data, then run folio-api, folio-web, and Prometheus and Alertmanager "
        "(if installed)",
    )
    # Each help states the default: %(default)s where argparse knows it, in words otherwise.
    run.add_argument(
        "--host", default="127.0.0.1", help="address every service listens on (default %(default)s)"
    )
    run.add_argument(
        "--api-port", type=int, default=3001, help="folio-api's port (default %(default)s)"
    )
    run.add_argument(
        "--web-port", type=int, default=3000, help="folio-web's port (default %(default)s)"
    )
    run.add_argument(
        "--prometheus-port", type=int, default=9090, help="Prometheus's port (default %(default)s)"
    )
    run.add_argument(
        "--alertmanager-port",
        type=int,
        default=9093,
        help="Alertmanager's port (default %(default)s)",
    )
    run.add_argument(
        "--data-dir",
        type=Path,
        default=Path("var"),
        help="Prometheus's and Alertmanager's data, config and logs, and the API token that "
        "`folio run` makes, go here (default %(default)s)",
    )
    run.add_argument(
        "--scrape-interval",
        help="Prometheus's scrape and rule interval, e.g. 1s for tests "
        "(default: deploy/prometheus/prometheus.yml's, 15s)",
    )
    run.add_argument(
        "--no-prometheus",
        action="store_true",
        help="do not start Prometheus (default: start it if `prometheus` is on PATH)",
    )
    run.add_argument(
        "--no-alertmanager",
        action="store_true",
        help="do not start Alertmanager (default: start it with Prometheus if it is on PATH)",
    )
    run.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="worker processes per service (default %(default)s)",
    )
    run.add_argument(
        "--access-log",
        action="store_true",
        help="have folio-api and folio-web log a line per request (default: off, so that "
        "warnings and errors stand out)",
    )
    loadgen = commands.add_parser("loadgen", help="send realistic mixed traffic to a running stack")
    loadgen.add_argument(
        "--web", default="http://127.0.0.1:3000", help="folio-web's URL (default %(default)s)"
    )
    loadgen.add_argument(
        "--api", default="http://127.0.0.1:3001", help="folio-api's URL (default %(default)s)"
    )
    loadgen.add_argument(
        "--token",
        help="bearer token for writes (default: FOLIO_API_TOKEN, else the one `folio run` "
        "keeps in DATA_DIR/api-token, else none: no writes)",
    )
    loadgen.add_argument(
        "--data-dir",
        type=Path,
        default=Path("var"),
        help="the --data-dir of the `folio run` whose token to use (default %(default)s)",
    )
    loadgen.add_argument(
        "--rate", type=float, default=20.0, help="requests per second (default %(default)s)"
    )
    amount = loadgen.add_mutually_exclusive_group()
    amount.add_argument(
        "--requests",
        type=int,
        help="stop after this many requests (default 200, unless --duration is given)",
    )
    amount.add_argument(
        "--duration", type=float, help="stop after this many seconds (default: stop by --requests)"
    )
    loadgen.add_argument(
        "--seed", type=int, default=0, help="random seed, for repeatable runs (default %(default)s)"
    )
    health = commands.add_parser(
        "healthcheck", help="exit 0 if the local folio-api or folio-web answers /api/health"
    )
    health.add_argument("service", choices=sorted(DEFAULT_PORTS), help="which service to check")
    health.add_argument(
        "--port", type=int, help="its port (default: the service's, 3001 for api, 3000 for web)"
    )
    db = commands.add_parser("db", help="manage the database named by FOLIO_DATABASE_URL")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply the migrations (idempotent)")
    db_commands.add_parser("seed", help="add the demo projects that are missing (idempotent)")
    return parser


def _add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        help="worker processes sharing the port and exact metrics (default FOLIO_WORKERS, 1)",
    )
    parser.add_argument(
        "--max-requests",
        type=_positive_int,
        default=None,
        help="replace a worker after it has served this many requests (default: never)",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


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
        options.api_token = ensure_token(options.data_dir)
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
