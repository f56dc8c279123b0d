"""Bounded waits with exponential backoff and full jitter, inside a function.

botocore retries each call (see :mod:`handlers.runtime.errors`: who retries what); what is left to
space out here is the state package's second sending of a cancelled transaction and the waits that
are not an error's retry (a model still starting before it can be stopped). ``sleep`` is looked up on
every wait, so tests and simulations can replace it.
"""

from __future__ import annotations

import random
import time
from typing import Callable, TypeVar

T = TypeVar("T")
sleep = time.sleep

# A cancelled transaction sent again within a fraction of a second.
CALL_BASE_DELAY, CALL_MAX_DELAY = 0.025, 0.4


def delay(attempt: int, base: float, cap: float) -> float:
    """The wait before retry ``attempt`` (0-based): a random time up to ``base · 2^attempt``, at most ``cap``."""
    return random.uniform(0, min(cap, base * 2 ** attempt))


def retried(call: Callable[[], T], *, attempts: int, base: float, cap: float,
            again: Callable[[BaseException], bool]) -> T:
    """``call()``, again after a jittered wait while it raises what ``again`` picks, ``attempts`` times at most."""
    failed = 0
    while True:
        try:
            return call()
        except Exception as exc:
            failed += 1
            if failed >= attempts or not again(exc):
                raise
        sleep(delay(failed - 1, base, cap))
