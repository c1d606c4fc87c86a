"""folio-api: the JSON API over folio's database."""

from folio.api.app import create_app

__all__ = ["create_app"]
