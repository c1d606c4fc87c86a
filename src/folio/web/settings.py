"""Settings for folio-web, read from FOLIO_* environment variables."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from folio.service_settings import ServiceSettings, blank_means_none


class WebSettings(ServiceSettings):
    """Every knob of folio-web; the README's configuration table lists them."""

    api_url: str = "http://127.0.0.1:3001"
    api_timeout_seconds: float = Field(default=2.0, gt=0)
    api_retries: int = Field(default=1, ge=0, le=5)
    site_origins: list[str] = Field(default=[])  # pydantic copies it for each instance
    rum_rate_per_minute: int = Field(default=60, ge=1)
    rum_burst: int = Field(default=20, ge=1)
    # Beacons with vitals per client address and hour that reach the web_vitals_* histograms.
    rum_vitals_per_hour: int = Field(default=2, ge=1)
    trust_forwarded_for: bool = False
    # The /status page: its charts come from this Prometheus (unset: the page says so).
    prometheus_url: str | None = None
    status_page: bool = True
    status_token: SecretStr | None = None

    @field_validator("api_url")
    @classmethod
    def _strip_slash(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"FOLIO_API_URL must be an http(s) URL, got {url!r}")
        return url.rstrip("/")

    @field_validator("prometheus_url")
    @classmethod
    def _check_prometheus_url(cls, url: str | None) -> str | None:
        if url is None or not url.strip():
            return None  # FOLIO_PROMETHEUS_URL= (blank) means not configured, as unset does
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"FOLIO_PROMETHEUS_URL must be an http(s) URL, got {url!r}")
        return url.rstrip("/")

    @field_validator("status_token")
    @classmethod
    def _blank_status_token_means_none(cls, token: SecretStr | None) -> SecretStr | None:
        return blank_means_none(token)
