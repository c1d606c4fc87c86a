"""Where a registry's series keep their numbers when several processes share them.

A registry without storage keeps every series in its own process. With a ``SeriesStorage``
(``folio_metrics.multiprocess.WorkerMetrics`` is the one the library ships), series get
their cells from the storage, and renders show every process's values merged.
"""

from __future__ import annotations

from typing import Protocol

from folio_metrics.families import Aggregate, Allocator, AnyFamily, CounterFamily


class StorageOwner(Protocol):
    """What a storage sees of the registry it serves."""

    families: dict[str, AnyFamily]
    hook_errors: CounterFamily

    def record_hook_error(self, hook: str) -> None:
        """Log and count a failure inside instrumentation."""
        ...


class SeriesStorage(Protocol):
    """Cells for a registry's series, shared with other processes, and their merged view."""

    @property
    def live_pids(self) -> list[int]:
        """The processes whose series the last merge found alive, this one included."""
        ...

    def attach(self, registry: StorageOwner) -> None:
        """Called once by the registry this storage serves."""
        ...

    def allocator(self, name: str, kind: str, aggregate: Aggregate) -> Allocator | None:
        """How ``name``'s series get their cells; None keeps them in this process."""
        ...

    def merged_families(self, registry: StorageOwner) -> list[AnyFamily]:
        """Every family of ``registry`` with all processes' values combined."""
        ...

    def maintain(self) -> None:
        """Repair this process's part of the storage; called on the event loop."""
        ...
