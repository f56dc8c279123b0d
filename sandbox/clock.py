"""The sandbox's simulated clock: minutes of model start-up and hours of idle time pass at once.

Every record the handlers write is stamped by ``handlers.runtime.clock`` (the one clock of the
runtime); while a clock is installed, that is this clock's time, and the Custom Labels stand-in
given ``clock=clock.now`` starts and stops models by it.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Iterator

from handlers.runtime import clock as runtime_clock


class SimulatedClock:
    def __init__(self, start: datetime):
        self.start = self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> datetime:
        """Move on by a ``timedelta(**delta)`` (never back)."""
        self._now += timedelta(**delta)
        return self._now

    def at_minute(self, minute: float) -> datetime:
        """Move to ``minute`` minutes after the start (never back)."""
        self._now = max(self._now, self.start + timedelta(minutes=minute))
        return self._now

    def minutes(self, moment: datetime | None = None) -> float:
        """Minutes from the start to ``moment`` (default now)."""
        return ((moment or self._now) - self.start).total_seconds() / 60

    @contextlib.contextmanager
    def installed(self) -> Iterator["SimulatedClock"]:
        """The runtime's records are stamped with this clock's time inside the block."""
        real = runtime_clock.source
        runtime_clock.source = self.now
        try:
            yield self
        finally:
            runtime_clock.source = real
