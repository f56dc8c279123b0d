"""Catch target of the detection state machine: a detection that failed after
its retries is recorded with the error, and the operator is told once per
error type per day (not once per image)."""

from __future__ import annotations

from .runtime import context
from .runtime.events import UnrecognisedEvent, object_events
from .runtime.ids import detection_id
from .runtime.lambda_entry import entry_point
from .runtime.state import now_iso, today
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
        record = {"detection_id": detection_id(obj.bucket, obj.key, obj.content_id), "bucket": obj.bucket,
                  "key": obj.key, "etag": obj.etag, "version_id": obj.version_id,
                  "image_uri": f"s3://{obj.bucket}/{obj.key}", "detected_at": now_iso(),
                  "outcome": "failed", "reason": reason}
        table = context.table()
        table.mark_detection_failed(record)
        if (table.detection(record["detection_id"]) or {}).get("outcome") != "failed":
            # detected before: a later step (the review start) failed; note it on the detection
            table.update(f"DET#{record['detection_id']}", "DET", {"failure": reason, "failed_at": record["detected_at"]})
    if context.table().first_alert("detection-failure", f"{today()}:{name}", reason):
        context.announce("error", f"Detections are failing: {name}",
                         {"error": name, "cause": cause, "first image": obj.key if obj else "unknown"},
                         notify=True, footer="Further failures of this kind today are counted in the daily summary.")
    return {"outcome": "failed", "reason": reason}


@entry_point
def handler(event: dict) -> dict:
    return record_failure(event)
