"""The ``folio`` command line: its commands, options, help texts and defaults."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_PORTS = {"api": 3001, "web": 3000}


def build_parser() -> argparse.ArgumentParser:
    """Every command with its options; each help text names its default."""
    parser = argparse.ArgumentParser(
        prog="folio", description="Run the folio services and manage their database."
    )
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
        help="Prometheus's scrape interval, and every rule group's, e.g. 1s for tests "
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
