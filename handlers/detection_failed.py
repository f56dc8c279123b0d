"""Catch target of the detection state machine: a detection that failed after
its retries is recorded with the error and listed among the failed (redelivery
or ``labelloop replay --failed`` detects it again), and the operator is told
once per error type per day (not once per image).

It records and tells whatever it receives: an event it cannot read is reported
with what is wrong with it, and a failure to record is reported too."""

from __future__ import annotations

import json
from dataclasses import replace

from .detect import image_record
from .runtime import context, errors
from .runtime.events import object_events
from .runtime.lambda_entry import entry_point
from .runtime.clock import today
from .runtime.workflow import FailedDetection


def record_failure(event) -> dict:
    failed = FailedDetection.from_event(event)
    name, cause = failed.error_name, failed.cause
    reason = f"detection failed after retries: {name}: {cause}"
    try:
        objects, unreadable = list(object_events(failed.input)), None
    except Exception as exc:  # whatever reached the task: tell what it was
        objects, unreadable = [], f"{type(exc).__name__}: {exc}"
    pending_cursor = failed.input.get("pending_cursor") if isinstance(failed.input, dict) else None
    problems, retry = [], None
    for obj in objects:
        try:
            context.table().note_detection_failure(replace(image_record(obj), outcome="failed", reason=reason),
                                                   pending_cursor=pending_cursor)
        except Exception as exc:  # tell the operator; a transient error is raised after, so the task retries
            problems.append(f"{obj.key}: {type(exc).__name__}: {exc}")
            retry = retry or (exc if errors.is_transient(exc) else None)
    try:
        first = context.table().first_alert("detection-failure", f"{today()}:{name}", reason)
    except Exception as exc:
        first = True  # better told twice than not at all
        problems.append(f"alert record: {type(exc).__name__}: {exc}")
    if first or problems:
        facts = {"error": name, "cause": cause, "images": ", ".join(o.key for o in objects[:5]) or "unknown"}
        if unreadable:
            facts["event"] = f"not an image event ({unreadable}): {json.dumps(failed.input, default=str)[:500]}"
        if problems:
            facts["not recorded"] = "; ".join(problems)[:1000]
        context.announce("error", f"Detections are failing: {name}", facts, notify=True,
                         footer="Further failures of this kind today are counted in the daily summary; "
                                "`labelloop replay --failed` detects the failed images again.")
    if retry is not None:
        raise retry
    return {"outcome": "failed", "reason": reason, "images": [o.key for o in objects],
            **({"unreadable": unreadable} if unreadable else {}), **({"not_recorded": problems} if problems else {})}


@entry_point
def handler(event: dict) -> dict:
    return record_failure(event)
