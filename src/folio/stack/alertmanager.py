"""Write a runnable Alertmanager config from the repo's deploy/alertmanager/."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from folio.stack.prometheus import deploy_dir

CONFIG_NAME = "alertmanager.yml"
# Debian and Ubuntu name the binary prometheus-alertmanager; release tarballs, alertmanager.
BINARY_NAMES = ("alertmanager", "prometheus-alertmanager")
# The one place the templates name folio-web's address, for the runbook links.
SITE_URL_DEFINE = re.compile(
    r'(\{\{-? *define "folio\.site_url" *-?\}\})[^{]*(\{\{-? *end *-?\}\})'
)


def alertmanager_binary() -> str | None:
    """Alertmanager on PATH, under either name it is packaged as."""
    return next(filter(None, map(shutil.which, BINARY_NAMES)), None)


def write_config(destination: Path, site_url: str, source: Path | None = None) -> Path:
    """Copy the repo's config and templates to ``destination``, linking runbooks at ``site_url``."""
    source = source or deploy_dir() / "alertmanager"
    if destination.exists():
        shutil.rmtree(destination)
    shutil.copytree(source, destination)
    for template in destination.glob("templates/*.tmpl"):
        text = template.read_text(encoding="utf-8")
        template.write_text(SITE_URL_DEFINE.sub(rf"\g<1>{site_url}\g<2>", text), encoding="utf-8")
    return destination / CONFIG_NAME


def command(binary: str, config: Path, storage: Path, address: str) -> list[str]:
    """Alertmanager's command line for one instance, listening on ``address`` (host:port)."""
    return [
        binary,
        f"--config.file={config}",
        f"--storage.path={storage}",
        f"--web.listen-address={address}",
        "--cluster.listen-address=",  # one instance: no gossip port to collide with
    ]
