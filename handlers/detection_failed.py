"""Catch target of the detection state machine: a detection that failed after
its retries is recorded with the error, and the operator is told once per
error type per day (not once per image)."""

from __future__ import annotations

from dataclasses import replace

from .detect import image_record
from .runtime import context
from .runtime.events import UnrecognisedEvent, object_events
from .runtime.lambda_entry import entry_point
from .runtime.state import today
from .runtime.workflow import FailedDetection


def record_failure(event: dict) -> dict:
    failed = FailedDetection.from_event(event)
    name, cause = failed.error.get("Error", "Unknown"), str(failed.error.get("Cause", ""))[:1000]
    try:
        obj = next(object_events(failed.input))
    except (UnrecognisedEvent, StopIteration, KeyError):
        obj = None
    reason = f"detection failed after retries: {name}: {cause}"
    if obj is not None:
        context.table().note_detection_failure(replace(image_record(obj), outcome="failed", reason=reason))
    if context.table().first_alert("detection-failure", f"{today()}:{name}", reason):
        context.announce("error", f"Detections are failing: {name}",
                         {"error": name, "cause": cause, "first image": obj.key if obj else "unknown"},
                         notify=True, footer="Further failures of this kind today are counted in the daily summary.")
    return {"outcome": "failed", "reason": reason}


@entry_point
def handler(event: dict) -> dict:
    return record_failure(event)
