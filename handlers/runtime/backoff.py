"""Bounded retries with exponential backoff and full jitter, inside a function.

Which errors are worth another attempt is :func:`errors.is_transient`'s decision; this module only
spaces the attempts. A call that is still failing after its attempts raises its last error, which
the entry point names for the state machines' Retry rules (the next, longer level of retries).
``sleep`` is looked up on every wait, so tests and simulations can replace it.
"""

from __future__ import annotations

import random
import time
from typing import Callable, TypeVar

from . import errors

T = TypeVar("T")
sleep = time.sleep

# One AWS call of many (a page, one start in a loop, a single write): tried again within a fraction of
# a second, so one throttled call does not fail, and restart, the step that makes them all.
CALL_ATTEMPTS, CALL_BASE_DELAY, CALL_MAX_DELAY = 5, 0.025, 0.4


def delay(attempt: int, base: float, cap: float) -> float:
    """The wait before retry ``attempt`` (0-based): a random time up to ``base · 2^attempt``, at most ``cap``."""
    return random.uniform(0, min(cap, base * 2 ** attempt))


def retried(call: Callable[[], T], *, attempts: int, base: float, cap: float,
            transient: Callable[[BaseException], bool] = errors.is_transient) -> T:
    """``call()``, again after a jittered wait while it raises a transient error, ``attempts`` times at most."""
    failed = 0
    while True:
        try:
            return call()
        except Exception as exc:
            failed += 1
            if failed >= attempts or not transient(exc):
                raise
        sleep(delay(failed - 1, base, cap))


def call(fn: Callable[[], T]) -> T:
    """One AWS call, tried again while it fails transiently (:data:`CALL_ATTEMPTS` times at most)."""
    return retried(fn, attempts=CALL_ATTEMPTS, base=CALL_BASE_DELAY, cap=CALL_MAX_DELAY)
