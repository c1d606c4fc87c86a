"""folio-api: the JSON API over folio's database; build it with folio.api.app.create_app."""
