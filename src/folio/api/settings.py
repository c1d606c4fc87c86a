"""Settings for folio-api, read from FOLIO_* environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from folio.api.request_size import DEFAULT_MAX_BODY_BYTES, REQUIRED_BODY_BYTES
from folio.service_settings import ServiceSettings, blank_means_none

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/folio.db"

# Plain driver names are rewritten to the async drivers folio ships with, so that the
# URL people already have (postgres://…, sqlite:///…) works as it is.
_ASYNC_DRIVERS = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
}


class ApiSettings(ServiceSettings):
    """Every knob of folio-api; the README's configuration table lists them."""

    database_url: str = DEFAULT_DATABASE_URL
    api_token: SecretStr | None = None
    # Computed from the request schemas: every body /api/openapi.json calls valid fits.
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    ready_timeout_seconds: float = Field(default=2.0, gt=0)
    metrics_refresh_seconds: float = Field(default=15.0, gt=0)

    @field_validator("database_url")
    @classmethod
    def _use_async_driver(cls, url: str) -> str:
        scheme, separator, rest = url.partition("://")
        if not separator:
            raise ValueError(f"FOLIO_DATABASE_URL must look like scheme://..., got {url!r}")
        return f"{_ASYNC_DRIVERS.get(scheme, scheme)}://{rest}"

    @field_validator("max_body_bytes")
    @classmethod
    def _fits_every_valid_body(cls, limit: int) -> int:
        # Lower, a request the published schema calls valid would get 413 depending only on
        # how its client escapes text: refuse to start rather than break the contract.
        if limit < REQUIRED_BODY_BYTES:
            raise ValueError(
                f"{limit} bytes is below {REQUIRED_BODY_BYTES}, the largest request body "
                "/api/openapi.json calls valid (with its whitespace allowance); set at least "
                f"{REQUIRED_BODY_BYTES}, or leave it unset for {DEFAULT_MAX_BODY_BYTES}"
            )
        return limit

    @field_validator("api_token")
    @classmethod
    def _blank_api_token_means_none(cls, token: SecretStr | None) -> SecretStr | None:
        return blank_means_none(token)
