"""Settings come from FOLIO_* variables and are checked."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from folio.api.settings import DEFAULT_DATABASE_URL, ApiSettings
from folio.service_settings import ServiceSettings
from folio.web.settings import WebSettings


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
    monkeypatch.setenv("FOLIO_MAX_BODY_BYTES", "4194304")
    settings = ApiSettings()
    assert settings.api_token is not None
    assert settings.api_token.get_secret_value() == "s3cret"
    assert settings.max_body_bytes == 4194304


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


def test_shared_settings_mean_the_same_in_both_services(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both services read the shared FOLIO_* variables through one base, checks included."""
    monkeypatch.setenv("FOLIO_METRICS_TOKEN", "  ")
    monkeypatch.setenv("FOLIO_REQUEST_HEADER_TIMEOUT_SECONDS", "3")
    monkeypatch.setenv("FOLIO_MAX_CONNECTIONS", "50")
    for settings in (ApiSettings(), WebSettings()):
        assert isinstance(settings, ServiceSettings)
        assert settings.metrics_token is None  # blank means no token, in either service
        assert settings.request_header_timeout_seconds == 3
        assert settings.max_connections == 50
        assert settings.log_format == "text"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FOLIO_REQUEST_HEADER_TIMEOUT_SECONDS", "0"),
        ("FOLIO_REQUEST_BODY_TIMEOUT_SECONDS", "-1"),
        ("FOLIO_MAX_CONNECTIONS", "0"),
        ("FOLIO_LOG_FORMAT", "xml"),
    ],
)
def test_shared_settings_are_checked(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """A deadline or cap that could not work, or an unknown log format, is refused."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError):
        WebSettings()
