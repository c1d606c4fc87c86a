"""folio-web: the server-rendered site that reads from folio-api."""
