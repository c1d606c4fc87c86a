"""Write a runnable Prometheus config from the repo's deploy/prometheus/prometheus.yml."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

import folio

CONFIG_NAME = "prometheus.yml"
# The UI pages `folio run` links to. Release builds serve them at /targets and /alerts (the
# React UI); Debian's package, built without it, serves only the classic UI, under
# /classic/ (2.42.0+ds: /targets answers 404, /classic/targets 200). The version number
# alone does not tell the two apart, so the running server is asked.
UI_PAGES = ("targets", "alerts")
# Native histograms: on 2.40-3.7 this flag makes Prometheus ask for protobuf and store
# native histograms; on 3.8 it only makes scrape_native_histograms default to true, and
# from 3.9 it does nothing (histogram_settings() covers those). Harmless everywhere: a
# Prometheus that does not know a feature name logs it and starts.
NATIVE_HISTOGRAMS_FLAG = "--enable-feature=native-histograms"
VERSION = re.compile(r"version (\d+)\.(\d+)\.")


@dataclass(frozen=True)
class Targets:
    """Where each scraped service listens, as host:port."""

    api: str
    web: str
    prometheus: str


def deploy_dir() -> Path:
    """deploy/ of this checkout (src layout), else of the working directory."""
    checkout = Path(folio.__file__).resolve().parents[2] / "deploy"
    return checkout if checkout.is_dir() else Path.cwd() / "deploy"


def prometheus_binary() -> str | None:
    """The `prometheus` on PATH, if any."""
    return shutil.which("prometheus")


def command(binary: str, config: Path, storage: Path, address: str) -> list[str]:
    """Prometheus's command line, listening on ``address`` (host:port)."""
    return [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={storage}",
        f"--web.listen-address={address}",
        "--web.enable-lifecycle",
        NATIVE_HISTOGRAMS_FLAG,
    ]


def version(binary: str | None) -> tuple[int, int] | None:
    """(major, minor) of the Prometheus ``binary``, from ``--version``; None if unknown."""
    if binary is None:
        return None
    try:
        # The binary is the one `folio run` itself starts (prometheus_binary()).
        result = subprocess.run(  # noqa: S603
            [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = VERSION.search(result.stdout + result.stderr)
    return (int(match[1]), int(match[2])) if match else None


def histogram_settings(release: tuple[int, int] | None) -> dict[str, bool]:
    """Scrape-config keys that make ``release`` store native and classic series both.

    Without them, 2.40-2.44 with the flag keep only the native series of a family served
    both ways. Each key exists only from the version that added it, and Prometheus refuses
    a config with a key it does not know, so an unknown version gets none.
    """
    if release is None or release < (2, 45):
        return {}
    if release < (3, 0):
        return {"scrape_classic_histograms": True}
    settings = {"always_scrape_classic_histograms": True}
    if release >= (3, 8):
        settings["scrape_native_histograms"] = True
    return settings


def _every(interval: str, rules: Path, destination: Path) -> Path:
    """A copy of ``rules`` whose groups all run every ``interval``, the long-window ones too,
    so that a short test sees every rule evaluated within seconds."""
    groups = yaml.safe_load(rules.read_text())
    for group in groups["groups"]:
        group["interval"] = interval
    copy = destination / "rules" / rules.name
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_text(yaml.safe_dump(groups, sort_keys=False))
    return copy


def write_config(
    destination: Path,
    targets: Targets,
    *,
    token: str | None = None,
    interval: str | None = None,
    alertmanager: str | None = None,
    source: Path | None = None,
    release: tuple[int, int] | None = None,
) -> Path:
    """Copy the repo's config to ``destination`` with these targets, interval and token.

    Alerts go to the Alertmanager at ``alertmanager`` (host:port), or nowhere without one.
    The folio jobs get the histogram settings of Prometheus ``release`` (None: the version
    of the ``prometheus`` on PATH).
    """
    source = source or deploy_dir() / "prometheus" / CONFIG_NAME
    config: dict[str, Any] = yaml.safe_load(source.read_text())
    rule_files = [(source.parent / name).resolve() for name in config["rule_files"]]
    if interval:
        config["global"]["scrape_interval"] = interval
        config["global"]["evaluation_interval"] = interval
        config["global"]["scrape_timeout"] = interval
        rule_files = [_every(interval, path, destination) for path in rule_files]
    config["rule_files"] = [str(path) for path in rule_files]
    addresses = {
        "folio-api": targets.api,
        "folio-web": targets.web,
        "prometheus": targets.prometheus,
    }
    if alertmanager:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    else:
        config.pop("alerting", None)
    destination.mkdir(parents=True, exist_ok=True)
    histograms = histogram_settings(release or version(prometheus_binary()))
    for job in config["scrape_configs"]:
        if job["job_name"] in addresses:
            job["static_configs"][0]["targets"] = [addresses[job["job_name"]]]
        if job["job_name"].startswith("folio-"):
            job.update(histograms)
        if token and job["job_name"].startswith("folio-"):
            job["authorization"] = {
                "type": "Bearer",
                "credentials_file": str(_token_file(destination, token)),
            }
    path = destination / CONFIG_NAME
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _token_file(directory: Path, token: str) -> Path:
    path = directory / "metrics-token"
    path.write_text(token)
    os.chmod(path, 0o600)
    return path


def ui_links(url: str, timeout: float = 2.0) -> dict[str, str]:
    """Where the Prometheus at ``url`` serves each page of UI_PAGES, by asking it.

    A page it serves at neither place (it is not answering) gets the release builds' address.
    """
    links: dict[str, str] = {}
    for page in UI_PAGES:
        candidates = [f"{url}/{page}", f"{url}/classic/{page}"]
        links[page] = next((link for link in candidates if _serves(link, timeout)), candidates[0])
    return links


def _serves(url: str, timeout: float) -> bool:
    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False
