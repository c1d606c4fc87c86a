"""Settings both services read, with the same FOLIO_* names, defaults and checks."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from folio.protocol.limits import ProtocolLimits

DEFAULT_LIMITS = ProtocolLimits()


class ServiceSettings(BaseSettings):
    """The knobs folio-api and folio-web share; each service's settings add their own."""

    model_config = SettingsConfigDict(env_prefix="FOLIO_", extra="ignore")

    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    # On SIGTERM, readiness answers 503 for this long before the listener closes.
    drain_seconds: float = Field(default=0.0, ge=0, le=300)
    # `folio api` / `folio web` without --workers.
    workers: int = Field(default=1, ge=1, le=64)
    log_level: str = "info"
    log_format: Literal["text", "json"] = "text"
    metrics_token: SecretStr | None = None
    metrics_max_series: int = Field(default=2000, ge=10)
    metrics_include_self: bool = False
    # Set by `--workers N` for its workers: where they share their metrics.
    metrics_dir: Path | None = None
    build_commit: str = "unknown"
    # folio.protocol.ProtocolLimits holds the defaults and says why they are what they are.
    request_header_timeout_seconds: float = Field(
        default=DEFAULT_LIMITS.header_timeout_seconds, gt=0
    )
    request_body_timeout_seconds: float = Field(default=DEFAULT_LIMITS.body_timeout_seconds, gt=0)
    max_connections: int = Field(default=DEFAULT_LIMITS.max_connections, ge=1)

    @field_validator("metrics_token")
    @classmethod
    def _blank_metrics_token_means_none(cls, token: SecretStr | None) -> SecretStr | None:
        return blank_means_none(token)


def blank_means_none(token: SecretStr | None) -> SecretStr | None:
    """A blank token is no token: otherwise an empty ``Bearer`` would match it."""
    if token is None or not token.get_secret_value().strip():
        return None
    return token
