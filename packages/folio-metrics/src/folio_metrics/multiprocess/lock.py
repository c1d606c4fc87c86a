"""The lock file of a shared directory: compaction takes it exclusive, merging shared."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: the library still imports, for one process only
    fcntl = None  # type: ignore[assignment]

LOCK = ".lock"


class DirectoryLock:
    """``flock`` on ``<directory>/.lock``, with the descriptors this process holds known."""

    def __init__(self, directory: Path) -> None:
        if fcntl is None:
            raise RuntimeError(
                "metrics shared between worker processes need POSIX file locks (fcntl), "
                "which this platform lacks; run one process, or unset FOLIO_METRICS_DIR"
            )
        self.path = directory / LOCK
        self.held: set[int] = set()

    def shared(self) -> contextlib.AbstractContextManager[None]:
        """Held while merging: any number of merges at once."""
        return self._locked(fcntl.LOCK_SH)

    def exclusive(self) -> contextlib.AbstractContextManager[None]:
        """Held while compacting or replacing files: nothing else meanwhile."""
        return self._locked(fcntl.LOCK_EX)

    def after_fork(self) -> None:
        """In a forked child: let go of the locks other threads held at the fork, or they
        would stay held for as long as the child lives."""
        for descriptor in self.held:
            with contextlib.suppress(OSError):
                os.close(descriptor)
        self.held.clear()

    @contextlib.contextmanager
    def _locked(self, mode: int) -> Iterator[None]:
        try:
            descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            # A read-only directory or mount: flock works as well on a read-only descriptor.
            descriptor = os.open(self.path, os.O_RDONLY)
        self.held.add(descriptor)
        try:
            fcntl.flock(descriptor, mode)
            yield
        finally:
            self.held.discard(descriptor)
            os.close(descriptor)  # closing releases the lock, unless a fork shares it
