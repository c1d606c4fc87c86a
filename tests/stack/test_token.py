"""The API token `folio run` keeps: private, and no staging file left behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from folio.stack.token import TOKEN_FILE, ensure_token, read_token


def _staging(data_dir: Path) -> Path:
    return data_dir / f".{TOKEN_FILE}.{os.getpid()}"


def test_a_stale_staging_file_does_not_lend_its_permissions(tmp_path: Path) -> None:
    """A `.api-token.<pid>` left readable by others: the token kept is still 0600."""
    stale = _staging(tmp_path)
    stale.write_text("stale\n")
    stale.chmod(0o644)
    token = ensure_token(tmp_path)
    assert read_token(tmp_path) == token
    assert (tmp_path / TOKEN_FILE).stat().st_mode & 0o777 == 0o600
    assert not stale.exists()


def test_a_failed_write_leaves_no_staging_file(tmp_path: Path) -> None:
    """The token cannot be renamed into place (a directory is there): nothing is left."""
    (tmp_path / TOKEN_FILE).mkdir()
    (tmp_path / TOKEN_FILE / "keep").write_text("")
    with pytest.raises(IsADirectoryError):
        ensure_token(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [TOKEN_FILE]
