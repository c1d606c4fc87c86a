"""Settings come from FOLIO_* variables and are checked."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from folio.api.settings import DEFAULT_DATABASE_URL, ApiSettings


def test_defaults_need_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no FOLIO_ variables, folio uses the embedded SQLite file and no token."""
    for name in ["FOLIO_DATABASE_URL", "FOLIO_API_TOKEN"]:
        monkeypatch.delenv(name, raising=False)
    settings = ApiSettings()
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.api_token is None


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """FOLIO_ variables set the fields."""
    monkeypatch.setenv("FOLIO_API_TOKEN", "s3cret")
    monkeypatch.setenv("FOLIO_MAX_BODY_BYTES", "2048")
    settings = ApiSettings()
    assert settings.api_token is not None
    assert settings.api_token.get_secret_value() == "s3cret"
    assert settings.max_body_bytes == 2048


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgres://u:p@db/folio", "postgresql+asyncpg://u:p@db/folio"),
        ("postgresql://u:p@db/folio", "postgresql+asyncpg://u:p@db/folio"),
        ("postgresql+asyncpg://u@db/folio", "postgresql+asyncpg://u@db/folio"),
        ("sqlite:///./var/x.db", "sqlite+aiosqlite:///./var/x.db"),
    ],
)
def test_plain_urls_get_the_async_driver(given: str, used: str) -> None:
    """Plain postgres:// and sqlite:// URLs are rewritten to the async drivers."""
    assert ApiSettings(database_url=given).database_url == used


def test_malformed_database_url_is_refused() -> None:
    """A database URL without a scheme fails with a message naming the variable."""
    with pytest.raises(ValidationError, match="FOLIO_DATABASE_URL"):
        ApiSettings(database_url="just-a-path.db")


def test_token_is_not_shown_in_repr() -> None:
    """The token never appears in a repr or a log line of the settings."""
    assert "s3cret" not in repr(ApiSettings(api_token="s3cret"))
