"""The drain: the serving function detects the images that wait, oldest first, at the rate the running
model accepts.

One look at a time holds the drain (a lease on the loop item). It reads the waiting images a page at a
time (every shard, merged in arrival order) and detects each with the detection's own code — the
record replaces the pending one once, so nothing is lost or detected twice — then starts its review,
as the detection workflow's next step would. The pace is measured, not configured: AWS publishes no
rate per inference unit, so the drain starts from the rate the last drain measured — or, with none,
unpaced until the model first refuses a call, then from the rate it accepted over the last second,
growing fast until the next refusal (a slow start) — and then speeds up by a small step after each
accepted call and slows down by a larger one after each refusal (as a congestion window does); a
refused image is tried again. The drain stops when no image waits (the backlog ends) or its time is up (it asks for the next
look at once, so the drain goes on without a gap). What fails for good is recorded as the workflow's
RecordFailure records it: listed among the failed, for ``labelloop replay --failed``.
"""

from __future__ import annotations

import os
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Callable

from . import admission
from .detect import detect
from .detection_failed import record_failure
from .runtime import backoff, context, errors, state
from .runtime.events import ObjectEvent
from .runtime.state import LoopState, PendingDetection, iso
from .runtime.workflow import DETECTION_RETRIES, RECORD_FAILURE_RETRIES, RETRY_INTERVAL_SECONDS, detection_input
from .start_review import start_review

DRAIN_SECONDS = 240  # within the serving function's timeout (300 s), and about one schedule period
PAGE = 500  # waiting images read at a time (one Query per shard)
# Images in flight at once: the rate a drain can reach is about this many divided by DetectCustomLabels'
# latency. LABELLOOP_DRAIN_WORKERS overrides it (the sandbox: 1, for a reproducible order).
WORKERS = 16
# The rate × after an accepted call (while probing up to the first refusal; after it), × after a refusal.
SLOW_START, GROWTH, BACKOFF = 1.05, 1.002, 0.93
sleep: Callable[[float], None] = time.sleep  # looked up on every wait: a simulation replaces it


@dataclass
class Pacer:
    """The pace of the calls: ``rate`` calls a second (None: unpaced, until the first refusal),
    adjusted by what the model answers. Times are seconds on the drain's clock."""

    rate: float | None = None
    probing: bool = False  # growing fast from a first estimate, until the model refuses again
    refused: int = 0
    accepted: int = 0
    _next: float = 0.0  # when the next call may go
    _recent: deque = field(default_factory=deque)  # when the calls of the last second were accepted

    def delay(self, now: float) -> float:
        """Seconds to wait before the next call; the call is then counted as sent."""
        if self.rate is None:
            return 0.0
        wait_for = max(0.0, self._next - now)
        self._next = max(self._next, now) + 1.0 / self.rate
        return wait_for

    def answered(self, accepted: bool, now: float) -> None:
        if accepted:
            self.accepted += 1
            self._recent.append(now)
            while self._recent and self._recent[0] <= now - 1.0:
                self._recent.popleft()
            if self.rate is not None:
                self.rate *= SLOW_START if self.probing else GROWTH
            return
        self.refused += 1
        if self.rate is None:  # what the model took in the last second: a floor of what it sustains
            self.rate, self.probing = float(max(1, len(self._recent))), True
            self._next = now + 1.0 / self.rate
        else:
            self.rate, self.probing = max(0.1, self.rate * BACKOFF), False


@dataclass
class Drained:
    detected: int = 0
    refused: int = 0
    failed: int = 0
    deferred: int = 0  # left waiting after a transient error: the next look tries again
    left: bool = False  # images still wait (the time was up)
    rate_per_unit: float | None = None  # what this drain measured (only once the model refused a call)
    outcomes: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"detected": self.detected, "refused": self.refused, "failed": self.failed,
                "deferred": self.deferred, "left": self.left, "rate_per_unit": self.rate_per_unit}


def drain(table, owner: str, units: int, *, seconds: float = DRAIN_SECONDS) -> Drained:
    """Detect the waiting images until none is left or ``seconds`` have passed (one look at a time)."""
    started = state.utcnow()
    if not table.claim_drain(owner, iso(started + timedelta(seconds=seconds + 60)), iso(started)):
        return Drained(left=True)
    loop = table.loop()
    table.mark_backlog(iso(started))  # while the drain runs, new uploads queue behind the waiting ones
    units = max(1, units)
    pacer = Pacer(loop.drain_rate * units if loop.drain_rate else None)
    result = Drained()
    try:
        _run(table, loop, pacer, result, started, seconds)
    finally:
        if pacer.refused and pacer.rate:
            result.rate_per_unit = round(pacer.rate / units, 3)
        result.left = result.left or bool(result.deferred)
        table.release_drain(owner, result.rate_per_unit, drained=not result.left)
    if not result.left and table.pending_page(None, 1):  # parked behind the last page read: look again
        result.left = True
    if result.left:
        admission.wake_serving()  # the next look goes on at once
    return result


def _run(table, loop: LoopState, pacer: Pacer, result: Drained, started, seconds: float) -> None:
    clock = lambda: (state.utcnow() - started).total_seconds()  # noqa: E731
    queue: deque[PendingDetection] = deque()
    after, more = None, True
    workers = int(os.environ.get("LABELLOOP_DRAIN_WORKERS", WORKERS))
    pool = ThreadPoolExecutor(workers) if workers > 1 else None
    running: dict[Future, PendingDetection] = {}
    try:
        while True:
            for done in [f for f in running if f.done()]:
                _answered(running.pop(done), done.result(), pacer, result, queue, clock())
            if clock() >= seconds:
                result.left = bool(queue) or more
                break
            if not queue and more:
                try:
                    page = table.pending_page(after, PAGE)
                    if page and after is not None:
                        loop = table.loop()  # today's reviews (what a budget counts), fresh for each page
                except Exception as exc:
                    if not errors.is_transient(exc):
                        raise
                    result.left, more = True, False  # the next look reads it again
                    continue
                more = len(page) == PAGE
                after = page[-1].cursor if page else after
                queue.extend(page)
            if not queue:
                if not running:
                    break
                wait(list(running), return_when=FIRST_COMPLETED)
                continue
            if pool and len(running) >= workers:
                wait(list(running), return_when=FIRST_COMPLETED)
                continue
            sleep(pacer.delay(clock()))
            pending = queue.popleft()
            if pool:
                running[pool.submit(_detect_one, pending, loop)] = pending
            else:
                _answered(pending, _detect_one(pending, loop), pacer, result, queue, clock())
    finally:
        if pool:
            pool.shutdown(wait=True)
            for done, pending in running.items():
                _answered(pending, done.result(), pacer, result, queue, clock())


def _answered(pending: PendingDetection, answer: dict, pacer: Pacer, result: Drained, queue: deque,
              now: float) -> None:
    if answer.get("saturated"):
        pacer.answered(False, now)
        result.refused += 1
        queue.appendleft(pending)  # first again, once the model accepts more
        return
    pacer.answered(True, now)
    kind = answer.get("drain", "detected")
    setattr(result, kind, getattr(result, kind) + 1)
    outcome = answer.get("outcome", "?")
    result.outcomes[outcome] = result.outcomes.get(outcome, 0) + 1


def _detect_one(pending: PendingDetection, loop: LoopState) -> dict:
    """One waiting image through the detection workflow's steps: detect, then its review. An image sent
    to review keeps its pending item until its review has started (or its failure is listed), so a drain
    that dies in between leaves it waiting: the next look detects it again (a duplicate, whose review is
    still to start) and starts its review."""
    obj = ObjectEvent(pending.bucket, pending.key, pending.etag, pending.version_id, None, True)
    try:
        answer = detect(obj, pending.cursor, loop, keep_pending=True)
    except Exception as exc:
        if errors.is_transient(exc):  # it still waits: the next look tries again
            return {"outcome": "pending", "drain": "deferred"}
        return _failed(pending, exc)
    kept = bool(answer.get("review") or answer.get("duplicate"))  # its pending item is still there
    try:
        if answer.get("review"):
            _retried(lambda: start_review(answer), DETECTION_RETRIES)
    except Exception as exc:  # detected, its review not started: listed among the failed, as the workflow does
        answer = _failed(pending, exc) | {"outcome": answer.get("outcome")}
    if kept:
        context.table().drop_pending(pending.cursor)  # its review started (or its failure is listed to replay)
    return answer


def _failed(pending: PendingDetection, exc: Exception) -> dict:
    """Recorded as the detection workflow's RecordFailure records a failure (after the calls' own retries)."""
    code = errors.error_code(exc)
    failure = {"input": detection_input(pending.bucket, pending.key, pending.etag, pending.version_id,
                                        reason="drain", pending_cursor=pending.cursor),
               "error": {"Error": code or type(exc).__name__, "Cause": str(exc)}}
    _retried(lambda: record_failure(failure), RECORD_FAILURE_RETRIES)
    return {"outcome": "failed", "drain": "failed"}


def _retried(step: Callable[[], Any], retries: int) -> Any:
    """A step of the detection workflow, retried as its Retry does (passing errors, backing off)."""
    return backoff.retried(step, attempts=retries + 1, base=RETRY_INTERVAL_SECONDS,
                           cap=RETRY_INTERVAL_SECONDS * 2 ** retries, again=errors.is_transient)
