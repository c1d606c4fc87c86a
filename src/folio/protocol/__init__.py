"""folio's uvicorn protocol: deadlines for receiving requests, a connection cap, JSON 400s.

Server behaviour, kept out of folio_metrics: it extends the library's tracked protocol
(``folio_metrics.uvicorn_protocol``), which counts connections and nothing more.
"""

from __future__ import annotations

import asyncio

from folio_metrics import ConnectionTracker, uvicorn_protocol

from folio.protocol.limits import ProtocolLimits

__all__ = ["ProtocolLimits", "server_protocol"]


def server_protocol(
    tracker: ConnectionTracker, limits: ProtocolLimits, base: str = "h11"
) -> type[asyncio.Protocol]:
    """A uvicorn HTTP protocol class that guards requests and reports to ``tracker``.

    Pass it as ``http=``; ``base`` is ``h11`` (the default) or ``httptools``.
    """
    guarded: type[asyncio.Protocol]
    if base == "httptools":
        from folio.protocol.httptools_variant import GuardedHttpToolsProtocol as guarded
    else:
        from folio.protocol.h11_variant import GuardedH11Protocol as guarded
    tracked = uvicorn_protocol(tracker, base)
    # Guarded first: its hooks wrap the tracked protocol's, which wrap uvicorn's.
    namespace = {"limits": limits, "tracker": tracker}
    return type(f"Folio{guarded.__name__}", (guarded, tracked), namespace)
