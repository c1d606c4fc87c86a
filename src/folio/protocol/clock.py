"""A per-connection deadline that stops counting while the server, not the client, waits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from folio_metrics import TimeoutPhase


class DeadlineClock:
    """Gives the client a time budget for one phase of a request, and calls back when it runs out.

    The budget is spent only while the server is reading: when the server pauses reading
    (its buffer is full, or a pipelined request waits its turn), the clock holds.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, on_expiry: Callable[[TimeoutPhase], None]
    ) -> None:
        self._loop = loop
        self._on_expiry = on_expiry
        self.phase: TimeoutPhase | None = None
        self._remaining = 0.0
        self._armed_at = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._held = False

    def start(self, phase: TimeoutPhase, seconds: float) -> None:
        """Give ``seconds`` for ``phase``; a clock already running for ``phase`` runs on."""
        if self.phase == phase:
            return
        self.stop()
        self.phase = phase
        self._remaining = seconds
        if not self._held:
            self._arm()

    def restart(self, phase: TimeoutPhase, seconds: float) -> None:
        """Give ``phase`` a fresh ``seconds``, whatever was left of it."""
        self.stop()
        self.start(phase, seconds)

    def stop(self) -> None:
        """No phase is timed any more."""
        self._cancel()
        self.phase = None

    def hold(self) -> None:
        """Stop spending the budget until ``release``."""
        if self._held:
            return
        self._held = True
        if self._timer is not None:
            self._remaining -= self._loop.time() - self._armed_at
            self._cancel()

    def release(self) -> None:
        """Spend the rest of the budget from now."""
        if not self._held:
            return
        self._held = False
        if self.phase is not None:
            self._arm()

    def _arm(self) -> None:
        self._armed_at = self._loop.time()
        self._timer = self._loop.call_later(max(self._remaining, 0.0), self._expire)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        phase, self.phase, self._timer = self.phase, None, None
        if phase is not None:
            self._on_expiry(phase)
