"""folio: a portfolio platform with Prometheus observability built in."""

__version__ = "0.1.0"
