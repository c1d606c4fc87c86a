"""folio-web: the server-rendered site (see issue 4)."""
