"""Settings for folio-api, read from FOLIO_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/folio.db"

# Plain driver names are rewritten to the async drivers folio ships with, so that the
# URL people already have (postgres://…, sqlite:///…) works as it is.
_ASYNC_DRIVERS = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
}


class ApiSettings(BaseSettings):
    """Every knob of folio-api; the README's configuration table lists them."""

    model_config = SettingsConfigDict(env_prefix="FOLIO_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    api_token: SecretStr | None = None
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    ready_timeout_seconds: float = Field(default=2.0, gt=0)
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    # On SIGTERM, readiness answers 503 for this long before the listener closes.
    drain_seconds: float = Field(default=0.0, ge=0, le=300)
    # `folio api` without --workers.
    workers: int = Field(default=1, ge=1, le=64)
    log_level: str = "info"
    metrics_token: SecretStr | None = None
    metrics_max_series: int = Field(default=2000, ge=10)
    metrics_include_self: bool = False
    # Set by `--workers N` for its workers: where they share their metrics.
    metrics_dir: Path | None = None
    metrics_refresh_seconds: float = Field(default=15.0, gt=0)
    build_commit: str = "unknown"

    @field_validator("database_url")
    @classmethod
    def _use_async_driver(cls, url: str) -> str:
        scheme, separator, rest = url.partition("://")
        if not separator:
            raise ValueError(f"FOLIO_DATABASE_URL must look like scheme://..., got {url!r}")
        return f"{_ASYNC_DRIVERS.get(scheme, scheme)}://{rest}"

    @field_validator("api_token", "metrics_token")
    @classmethod
    def _blank_token_means_none(cls, token: SecretStr | None) -> SecretStr | None:
        if token is None or not token.get_secret_value().strip():
            return None
        return token
