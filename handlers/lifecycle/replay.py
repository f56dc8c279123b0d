"""After a model is promoted, detect the images that were uploaded while no
model was running (recorded as pending, never lost).

One invocation starts at most ``PAGE`` detections and returns a cursor; the
state machine calls it again while there are more, so any number of pending
images is replayed within the function's timeout. A retried step starts its
page again: asynchronous Express starts are not idempotent by name (AWS starts
a second, concurrent execution under the same name), so every start has a name
of its own and the detection is what makes a duplicate harmless — keyed by the
image's content, it replaces the pending record once (a conditional write), so
the second execution records nothing, counts nothing and opens no second review. Each start is
retried on its own by the client, and a start that still fails for a passing reason ends the
invocation with what it started: the cursor is the last image started and the state machine calls
again from there, so one throttled start among hundreds does not fail the page and start it all
again. An invocation that started nothing raises, and the step's Retry backs off.
"""

from __future__ import annotations

import hashlib

from ..detect import start_detection
from ..runtime import context, errors
from ..runtime.ids import execution_name
from ..runtime.lambda_entry import entry_point
from ..runtime.workflow import RunState, detection_input

PAGE = 200


def replay_pending(owner: str, after: str | None = None, page: int | None = None) -> dict:
    page = page or PAGE
    waiting = context.table().pending_page(after, page)
    run = hashlib.sha256(owner.encode()).hexdigest()[:16]  # names the run, for tracing
    started = 0
    for pending in waiting:
        try:
            start_detection(execution_name(f"replay-{run}", pending.detection_id),
                            detection_input(pending.bucket, pending.key, pending.etag, pending.version_id,
                                            reason="replay", pending_cursor=pending.cursor))
        except Exception as exc:
            if not started or not errors.is_transient(exc):
                raise
            context.logger.warning("a replayed start failed: the next call goes on from it",
                                   extra={"key": pending.key, "error": errors.error_code(exc)})
            return {"replayed": started, "more": True, "after": waiting[started - 1].cursor}
        started += 1
    more = len(waiting) == page
    return {"replayed": len(waiting), "more": more, "after": waiting[-1].cursor if waiting else after}


@entry_point
def handler(event: dict) -> dict:
    run = RunState.from_event(event)
    previous = run.replay
    result = replay_pending(run.owner, previous.get("after") if previous.get("more") else None)
    return result | {"replayed": result["replayed"] + (previous.get("replayed", 0) if previous.get("more") else 0)}
