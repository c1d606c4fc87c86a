"""The API token `folio run` makes when FOLIO_API_TOKEN is unset, kept for `folio loadgen`.

It lives in ``<data dir>/api-token`` (mode 0600) and is reused by every later run, so a
curl command or a loadgen started once keeps working across restarts.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
from pathlib import Path

DEFAULT_DATA_DIR = Path("var")
TOKEN_FILE = "api-token"  # noqa: S105 - a file name, not a secret
PRIVATE = 0o600


def token_path(data_dir: Path) -> Path:
    """Where the token for ``data_dir`` is kept."""
    return data_dir / TOKEN_FILE


def read_token(data_dir: Path) -> str | None:
    """The kept token, or None when there is none (or it is blank or unreadable)."""
    try:
        token = token_path(data_dir).read_text().strip()
    except OSError:
        return None
    return token or None


def ensure_token(data_dir: Path) -> str:
    """The kept token; a new random one, written with mode 0600, when there is none yet."""
    path = token_path(data_dir)
    existing = read_token(data_dir)
    if existing is not None:
        with contextlib.suppress(OSError):  # a copy restored with looser permissions
            if path.stat().st_mode & 0o077:
                path.chmod(PRIVATE)
        return existing
    data_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    # Written to a private name first and renamed: no moment where it is readable by others
    # or half written.
    staging = path.with_name(f".{TOKEN_FILE}.{os.getpid()}")
    # A stale staging file (a crashed run with this pid) would keep its own, maybe looser,
    # mode; O_EXCL makes the file ours and new, so it gets PRIVATE.
    with contextlib.suppress(FileNotFoundError):
        staging.unlink()
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
    replaced = False
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(token + "\n")
        os.replace(staging, path)
        replaced = True
    finally:
        if not replaced:
            with contextlib.suppress(OSError):
                staging.unlink()
    return token


def token_lines(token: str | None, data_dir: Path, api_url: str) -> list[str]:
    """What `folio run` prints about writing: where the token is, and a curl that uses it."""
    if token is None:
        return ["  api token    the one in FOLIO_API_TOKEN (writes need it as a bearer token)"]
    more = " " * 17
    body = '{"slug": "my-project", "title": "My project", "published": true}'
    return [
        f"  api token    {token}",
        f"               kept in {token_path(data_dir)} for later runs and"
        f" `{_loadgen_command(data_dir)}`; FOLIO_API_TOKEN overrides it",
        f"  try a write  curl -X POST {api_url}/api/projects \\",
        f"{more}-H 'Authorization: Bearer {token}' \\",
        f"{more}-H 'Content-Type: application/json' -d '{body}'",
    ]


def _loadgen_command(data_dir: Path) -> str:
    """How to start loadgen so that it finds this token."""
    if data_dir == DEFAULT_DATA_DIR:
        return "folio loadgen"
    return f"folio loadgen --data-dir {shlex.quote(str(data_dir))}"
