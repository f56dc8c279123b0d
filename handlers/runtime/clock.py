"""The runtime's one clock: the time every record is stamped with, and its text form.

Handlers read the time here and nowhere else. A simulation or a test moves it by replacing
:data:`source` (``monkeypatch.setattr(clock, "source", …)``, or the sandbox's
:meth:`sandbox.clock.SimulatedClock.installed`): ``utcnow``, ``now_iso`` and ``today`` read it on
every call, so every reader sees the moved time, whichever module it imported them from.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Callable


def system_time() -> datetime:
    return datetime.now(timezone.utc)


# The one seam: what "now" is (the system's clock unless a simulation or a test installed another).
source: Callable[[], datetime] = system_time


def utcnow() -> datetime:
    """The time every record is stamped with."""
    return source()


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def now_iso() -> str:
    return iso(utcnow())


def today() -> str:
    return utcnow().strftime("%Y-%m-%d")
