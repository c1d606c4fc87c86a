"""folio-web's routers, one module each, included by create_app."""
