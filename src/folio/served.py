"""What `folio api` and `folio web` hand to the server: the app and the parts it drives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI
    from folio_metrics import ConnectionTracker

    from folio.draining import Drain


@dataclass(frozen=True)
class ServedApp:
    """An app with the connection tracker its server protocol feeds and the drain SIGTERM starts."""

    app: FastAPI
    connections: ConnectionTracker
    drain: Drain
