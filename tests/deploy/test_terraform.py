"""deploy/terraform: the ECS module agrees with the apps it deploys.

Every .tf file is parsed with python-hcl2, and what it says is compared with the code, never
with a second copy of the numbers: ports with the CLI's defaults, health-check and metrics
paths with the apps' routes, FOLIO_* names with the settings classes. The `terraform fmt`
check needs terraform on PATH: without it, it skips, or fails under CI=true.
`terraform validate` and `terraform test` are in test_terraform_cli.py.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import typing
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import httpx
import pytest
import yaml
from fastapi import FastAPI
from hcl2.utils import SerializationOptions
from pydantic import SecretStr
from pydantic_settings import BaseSettings

from folio.api import observability as api_observability
from folio.api.app import create_app as create_api_app
from folio.api.routes import health
from folio.api.settings import ApiSettings
from folio.cli_parser import build_parser
from folio.web import observability as web_observability
from folio.web.app import create_app as create_web_app
from folio.web.settings import WebSettings
from tests.ci import unavailable

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "deploy" / "terraform"
MODULE = TERRAFORM / "modules" / "folio-ecs"
EXAMPLE = TERRAFORM / "examples" / "basic"
TEMPLATE = MODULE / "templates" / "prometheus.yml.tftpl"

SERVICES = ("api", "web")
JOBS = {"api": "folio-api", "web": "folio-web"}
SETTINGS: dict[str, type[BaseSettings]] = {"api": ApiSettings, "web": WebSettings}
METRICS_PATHS = {"api": api_observability.METRICS_PATH, "web": web_observability.METRICS_PATH}

# Strings without their quotes, blocks as lists of dicts, expressions as "${...}".
HCL = SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)
LOCAL_REFERENCE = re.compile(r"^\$\{local\.([A-Za-z0-9_.]+)\}$")
FOLIO_NAME = re.compile(r'"(FOLIO_[A-Z0-9_]+)"')


def _tf_files() -> list[Path]:
    return sorted(path for path in TERRAFORM.rglob("*.tf") if ".terraform" not in path.parts)


@cache
def _parse(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return hcl2.load(handle, serialization_options=HCL)


@cache
def _module() -> dict[str, list[Any]]:
    """The module's top-level blocks (resource, locals, variable, ...) over all its files."""
    merged: dict[str, list[Any]] = {}
    for path in sorted(MODULE.glob("*.tf")):
        for kind, blocks in _parse(path).items():
            merged.setdefault(kind, []).extend(blocks)
    return merged


def _locals() -> dict[str, Any]:
    return {name: value for block in _module()["locals"] for name, value in block.items()}


def _resources(kind: str) -> dict[str, dict[str, Any]]:
    """Every `resource "<kind>" "<name>"` of the module, by name."""
    return {
        name: body
        for block in _module()["resource"]
        for resource_kind, named in block.items()
        if resource_kind == kind
        for name, body in named.items()
    }


def _default(variable: str) -> Any:
    for block in _module()["variable"]:
        if variable in block:
            return block[variable]["default"]
    raise KeyError(f"no variable {variable!r} in the module")


def _resolve(value: Any) -> Any:
    """A literal as it is; "${local.a.b}" as the (literal) value of that local."""
    match = LOCAL_REFERENCE.match(value) if isinstance(value, str) else None
    if match is None:
        return value
    node: Any = _locals()
    for part in match.group(1).split("."):
        node = node[part]
    return _resolve(node)


def _container(service: str) -> dict[str, Any]:
    container: dict[str, Any] = _locals()["containers"][service]
    return container


def _cli_default_port(command: str) -> int:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    port = subparsers.choices[command].get_default("port")
    assert isinstance(port, int)
    return port


def _env_names(settings: type[BaseSettings]) -> set[str]:
    prefix = str(settings.model_config.get("env_prefix", ""))
    return {f"{prefix}{field}".upper() for field in settings.model_fields}


def _secret_names(settings: type[BaseSettings]) -> set[str]:
    """The settings typed SecretStr: they must come from `secrets`, never `environment`."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    return {
        f"{prefix}{name}".upper()
        for name, field in settings.model_fields.items()
        if field.annotation is SecretStr or SecretStr in typing.get_args(field.annotation)
    }


def _readiness_path() -> str:
    """The path of folio-api's readiness handler, as its router declares it."""
    # A set: GET and HEAD are separate routes (one operationId each) on the same path.
    paths = {
        route.path
        for route in health.router.routes
        if getattr(route, "endpoint", None) is health.readiness
    }
    assert len(paths) == 1, f"health.readiness is routed at {sorted(paths)}"
    (path,) = paths
    return str(path)


async def _statuses(app: FastAPI, paths: list[str]) -> dict[str, int]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://folio.test") as client:
        return {path: (await client.get(path)).status_code for path in paths}


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, int]]:
    """The status each app, built as its service builds it, gives a GET of each checked path.

    A real request rather than a look at app.routes (FastAPI nests included routers): any
    status but 404 and 405 means the route exists (readiness may well say 503 here).
    """
    paths = [_readiness_path(), *METRICS_PATHS.values()]
    database = tmp_path_factory.mktemp("terraform") / "folio.db"

    async def collect() -> dict[str, dict[str, int]]:
        api = create_api_app(ApiSettings(database_url=f"sqlite+aiosqlite:///{database}"))
        web = create_web_app(WebSettings())
        try:
            return {"api": await _statuses(api, paths), "web": await _statuses(web, paths)}
        finally:
            await api.state.engine.dispose()
            await web.state.api.aclose()

    return asyncio.run(collect())


def _served(answers: dict[str, dict[str, int]], service: str, path: str) -> bool:
    return answers[service][path] not in (404, 405)


@pytest.mark.parametrize("path", _tf_files(), ids=lambda path: str(path.relative_to(TERRAFORM)))
def test_every_tf_file_parses(path: Path) -> None:
    """Each .tf file under deploy/terraform is valid HCL with at least one block."""
    assert _parse(path), f"{path} has no blocks"


def test_example_calls_the_module() -> None:
    """examples/basic uses modules/folio-ecs, passing the network and the three secrets in."""
    modules = [block for block in _parse(EXAMPLE / "main.tf")["module"] if "folio" in block]
    assert len(modules) == 1
    call = modules[0]["folio"]
    assert (EXAMPLE / call["source"]).resolve() == MODULE
    required = {"vpc_id", "public_subnet_ids", "private_subnet_ids", "api_image", "web_image"}
    required |= {"database_url_secret_arn", "api_token_secret_arn", "metrics_token_secret_arn"}
    assert required <= call.keys(), f"not passed: {sorted(required - call.keys())}"


@pytest.mark.parametrize("service", SERVICES)
def test_container_port_is_the_cli_default(service: str) -> None:
    """The container listens on `folio <service> --port`'s default, as does its target group."""
    port = _cli_default_port(service)
    assert _locals()["ports"][service] == port
    mappings = [_resolve(m["containerPort"]) for m in _container(service)["portMappings"]]
    assert mappings == [port]
    target_group = _resources("aws_lb_target_group")["app"]
    assert target_group["for_each"] == "${local.ports}"
    assert target_group["port"] == "${each.value}"
    (balancer,) = _resources("aws_ecs_service")["app"]["load_balancer"]
    assert balancer["container_port"] == "${local.ports[each.key]}"


def test_target_groups_check_readiness() -> None:
    """Both target groups health-check folio-api's readiness path for a 200, and drain longer."""
    target_group = _resources("aws_lb_target_group")["app"]
    assert set(_resolve(target_group["for_each"])) == set(SERVICES)
    (check,) = target_group["health_check"]
    assert _resolve(check["path"]) == _readiness_path()
    assert check["matcher"] == "200"
    assert target_group["deregistration_delay"] == "${var.deregistration_delay_seconds}"
    assert _default("deregistration_delay_seconds") > _default("drain_seconds")


@pytest.mark.parametrize("service", ["api", "web"])
def test_readiness_route_exists(service: str, answers: dict[str, dict[str, int]]) -> None:
    """The app serves GET on the readiness path its target group health-checks."""
    assert _served(answers, service, _readiness_path()), answers[service]


@pytest.mark.parametrize("service", SERVICES)
def test_prometheus_scrapes_the_metrics_route(
    service: str, answers: dict[str, dict[str, int]]
) -> None:
    """The Prometheus job finds the service's ECS tasks and scrapes the path the app serves."""
    metrics_path = METRICS_PATHS[service]
    assert _served(answers, service, metrics_path), answers[service]
    assert _resolve("${local.metrics_path}") == metrics_path
    assert "/templates/prometheus.yml.tftpl" in _locals()["prometheus_config"]

    scrape_configs = TEMPLATE.read_text(encoding="utf-8").split("\nscrape_configs:\n", 1)[1]
    jobs = {
        body.split("\n", 1)[0].strip(): body
        for body in re.split(r"^  - job_name: ", scrape_configs, flags=re.MULTILINE)[1:]
    }
    job = jobs[JOBS[service]]
    assert re.findall(r"^ +metrics_path: (\S+)$", job, flags=re.MULTILINE) == [metrics_path]
    assert re.search(r"^ +aws_sd_configs:\n +- role: ecs$", job, flags=re.MULTILINE)
    assert f"port: ${{ports.{service}}}" in job
    assert "credentials_file: ${jsonencode(metrics_token_file)}" in job


@pytest.mark.parametrize("service", SERVICES)
def test_container_healthcheck_runs_folio_healthcheck(service: str) -> None:
    """The container health check is the image's own `folio healthcheck <service>`."""
    command = _container(service)["healthCheck"]["command"]
    assert command == ["CMD", "folio", "healthcheck", service]
    try:
        arguments = build_parser().parse_args(command[2:])
    except SystemExit:
        pytest.fail(f"`folio` does not accept {command[2:]}", pytrace=False)
    assert (arguments.command, arguments.service) == ("healthcheck", service)


def test_deployments_keep_full_capacity_and_roll_back() -> None:
    """Both services deploy at 100-200 % with a rolling-back circuit breaker."""
    service = _resources("aws_ecs_service")["app"]
    assert _resolve(service["for_each"]).keys() == set(SERVICES)
    assert service["deployment_minimum_healthy_percent"] == 100
    assert service["deployment_maximum_percent"] == 200
    assert service["deployment_circuit_breaker"] == [{"enable": True, "rollback": True}]
    assert service["health_check_grace_period_seconds"] == (
        "${var.health_check_grace_period_seconds}"
    )


@pytest.mark.parametrize("service", SERVICES)
def test_stop_timeout_covers_the_drain(service: str) -> None:
    """stopTimeout is drain + grace + margin, within Fargate's 120 s, by default."""
    assert _container(service)["stopTimeout"] == "${local.stop_timeout}"
    assert _locals()["stop_timeout"] == (
        "${var.drain_seconds + var.shutdown_grace_seconds + var.stop_timeout_margin_seconds}"
    )
    parts = ("drain_seconds", "shutdown_grace_seconds", "stop_timeout_margin_seconds")
    assert 0 < sum(_default(part) for part in parts) <= 120


@pytest.mark.parametrize("service", SERVICES)
def test_container_variables_are_real_settings(service: str) -> None:
    """Every FOLIO_* variable a task definition sets is a setting that service reads."""
    container = _container(service)
    plain = {entry["name"] for entry in container["environment"]}
    secret = {entry["name"] for entry in container["secrets"]}
    settings = SETTINGS[service]
    unknown = sorted((plain | secret) - _env_names(settings))
    assert not unknown, f"folio-{service} does not read {unknown}"
    exposed = sorted(plain & (_secret_names(settings) | {"FOLIO_DATABASE_URL"}))
    assert not exposed, f"secrets set as plain environment of folio-{service}: {exposed}"
    assert "FOLIO_METRICS_TOKEN" in secret


def test_every_folio_name_in_the_terraform_is_a_setting() -> None:
    """No FOLIO_* name anywhere under deploy/terraform (optional ones too) is misspelt."""
    known = _env_names(ApiSettings) | _env_names(WebSettings)
    names = {
        (path.name, name)
        for path in _tf_files()
        for name in FOLIO_NAME.findall(path.read_text(encoding="utf-8"))
    }
    assert names, "no FOLIO_* names found: is the pattern still right?"
    unknown = sorted((file, name) for file, name in names if name not in known)
    assert not unknown, f"not settings of folio-api or folio-web: {unknown}"


def test_alertmanager_matches_compose() -> None:
    """The module runs the compose stack's Alertmanager release, on the same port."""
    services = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())["services"]
    compose_image = services["alertmanager"]["image"]
    module_image = _default("alertmanager_image")
    assert module_image.rsplit("/", 1)[1] == compose_image.rsplit("/", 1)[1], (
        f"the module runs {module_image}, the compose stack {compose_image}"
    )
    port = _locals()["alertmanager_port"]
    assert services["alertmanager"]["ports"] == [f"{port}:{port}"]
    assert "port: ${alertmanager_port}" in TEMPLATE.read_text(encoding="utf-8")


def test_terraform_fmt() -> None:
    """`terraform fmt -check -recursive deploy/terraform` finds nothing to reformat."""
    terraform = shutil.which("terraform")
    if terraform is None:
        unavailable("terraform is not on PATH (https://developer.hashicorp.com/terraform/install)")
    command = [terraform, "fmt", "-check", "-recursive", "-diff", str(TERRAFORM)]
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"terraform fmt would change:\n{result.stdout}{result.stderr}"
