"""Detection (first task of the detection state machine): classify one uploaded
image with the active model, record every label score and the review decision.

Steady state: 3 AWS calls — one GetItem (the active model, whether images wait
for its capacity, today's reviews), DetectCustomLabels, one transaction (the
record and its count on the image's shard of the day: no item every image
writes). A duplicate event writes nothing new and counts nothing; an image whose
detection failed is detected again (its redelivered event, or ``labelloop replay
--failed``). An event with several records starts one detection per record.

At capacity (``handlers.admission``): while images wait for the running model's
capacity, an upload parks at once (2 calls: the read and one transaction, the
record and its place in the queue), and one the model refuses for throughput
parks the same way; the serving function detects them at the rate the model
accepts, oldest first.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from botocore.exceptions import ClientError

from plugins import Detection, LabelScore

from . import admission
from .runtime import aws, config, context, layout
from .runtime.clock import now_iso
from .runtime.events import ObjectEvent, object_events
from .runtime.ids import detection_id, execution_name
from .runtime.lambda_entry import entry_point
from .runtime.state import AlreadyDone, DetectionRecord, LoopState
from .runtime.workflow import detection_input

UNREADABLE = {
    "InvalidImageFormatException": "Rekognition cannot read this image format (PNG or JPEG only)",
    "ImageTooLargeException": "the image is larger than Rekognition accepts (15 MB, 4096 px per side)",
    "InvalidS3ObjectException": "Rekognition cannot read the object from S3 (deleted, or no access)",
}


def skip_reason(obj: ObjectEvent) -> str | None:
    """Why an uploaded object is not an image to classify, or None."""
    if layout.is_folder_marker(obj.key):
        return "folder marker, not an image"
    if not layout.is_image(obj.key):
        return f"not a PNG or JPEG file ({layout.extension(obj.key) or 'no extension'}); Rekognition reads PNG and JPEG only"
    if obj.size is not None and obj.size > layout.MAX_IMAGE_BYTES:
        return f"{obj.size} bytes is over Rekognition's 15 MB limit for images in S3"
    if obj.size == 0:
        return "empty object (0 bytes)"
    return None


def image_record(obj: ObjectEvent) -> DetectionRecord:
    """The detection record of an uploaded image version, before anything is known of it."""
    return DetectionRecord(detection_id(obj.bucket, obj.key, obj.content_id), bucket=obj.bucket, key=obj.key,
                           etag=obj.etag, version_id=obj.version_id, image_uri=f"s3://{obj.bucket}/{obj.key}",
                           detected_at=now_iso())


def detect(obj: ObjectEvent, pending_cursor: str | None = None, loop: LoopState | None = None, *,
           keep_pending: bool = False) -> dict[str, Any]:
    """``pending_cursor``: the pending detection a replay detects at last; ``loop``: the loop state,
    when the caller (the drain) has read it already; ``keep_pending``: an image sent to review keeps its
    pending item until the caller has started the review (the drain: it has no Retry to finish it)."""
    table = context.table()
    record = image_record(obj)
    skipped = skip_reason(obj)
    if skipped:
        return _finish(table, replace(record, outcome="skipped", reason=skipped))

    loop = loop or table.begin_detection()
    if not loop.active_arn:
        return _pending(table, record, "no model is deployed yet; it is detected once the first model is promoted",
                        pending_cursor)
    if loop.backlog_since and not pending_cursor:  # images wait for capacity: this one queues behind them
        return _pending(table, record, admission.waiting_reason(loop), None)

    image = {"S3Object": {"Bucket": obj.bucket, "Name": obj.key, **({"Version": obj.version_id} if obj.version_id else {})}}
    try:
        response = aws.client("rekognition").detect_custom_labels(
            ProjectVersionArn=loop.active_arn, Image=image, MinConfidence=0)
    except ClientError as exc:
        code = aws.error_code(exc)
        if code in UNREADABLE:
            return _finish(table, replace(record, outcome="unreadable", reason=f"{UNREADABLE[code]} ({code})",
                                          model_version=loop.active_version), pending_cursor)
        if code in admission.SATURATED:  # beyond what the running units sustain: it waits, it does not fail
            result = _saturated(table, record, f"model {loop.active_version} is at capacity ({code}); "
                                "it is detected in arrival order as capacity frees up", pending_cursor)
            admission.note_saturated(table)
            return result
        if code == "ResourceNotReadyException":
            result = _pending(table, record, f"model {loop.active_version} is not running ({code}); "
                              "it is detected once a model runs again", pending_cursor)
            if not pending_cursor and not result.get("duplicate"):
                admission.wake_serving()
            return result
        raise  # throttling and service errors: the state machine retries with backoff

    scores = tuple(LabelScore(l["Name"], float(l["Confidence"])) for l in response.get("CustomLabels", []))
    model_version = loop.active_version
    decided = _decided(record, model_version, scores, loop)
    result = _finish(table, decided, pending_cursor, keep_pending=keep_pending and decided.decision["review"])
    if result.get("duplicate"):
        return result
    decision = decided.decision
    return result | {"review": decision["review"], "purpose": decision["purpose"], "model_version": model_version,
                     "labels": list(decided.labels), **_review_task(decision)}


def _decided(record: DetectionRecord, model_version: str, scores: tuple[LabelScore, ...],
             loop: LoopState) -> DetectionRecord:
    """The record with the policies' review decision."""
    facts = Detection(record.detection_id, record.image_uri, model_version, scores,
                      reviews_today=loop.reviews_today, detected_at=record.detected_at,
                      training_counts=loop.trained_counts)
    decision = context.engine().review(facts, context.settings("review_decision"))
    outcome = "no_label" if not scores else ("confident" if not decision.review else f"to_{decision.purpose}")
    return replace(record, outcome=outcome, reason=decision.reason, model_version=model_version,
                   labels=tuple({"name": s.name, "confidence": s.confidence} for s in facts.labels),
                   decision={"review": decision.review, "purpose": decision.purpose,
                                                "reason": decision.reason, "policy": decision.policy,
                                                "priority": decision.priority, "reviewers": decision.reviewers})


def _review_task(decision: dict) -> dict:
    """What a review decision tells the builtin review app: the task's priority and reviewers."""
    return {name: decision[name] for name in ("priority", "reviewers") if decision.get(name) is not None}


def _saturated(table, record: DetectionRecord, reason: str, pending_cursor: str | None) -> dict:
    """The model refused the call for throughput: a new image parks; a waiting one stays where it is
    (nothing written: the drain tries it again once the model accepts more)."""
    if pending_cursor:
        return {"detection_id": record.detection_id, "outcome": "pending", "reason": reason, "review": False,
                "saturated": True}
    return _pending(table, record, reason, None) | {"saturated": True}


def _pending(table, record: DetectionRecord, reason: str, pending_cursor: str | None) -> dict:
    if pending_cursor:  # a replay that still finds no model: stays pending (not failed), nothing else to write
        table.clear_failure(record.detection_id)
        return {"detection_id": record.detection_id, "outcome": "pending", "reason": reason, "review": False}
    return _finish(table, replace(record, outcome="pending", reason=reason), pending=True)


def _finish(table, record: DetectionRecord, pending_cursor: str | None = None, *, pending: bool = False,
            keep_pending: bool = False) -> dict:
    """Write the record once; a failed detection of the same image is replaced (its retry)."""
    summary = {"detection_id": record.detection_id, "outcome": record.outcome, "reason": record.reason,
               "bucket": record.bucket, "key": record.key, "version_id": record.version_id, "review": False}
    try:
        if pending_cursor:
            table.replace_pending(record, pending_cursor, keep_pending=keep_pending)
        else:
            table.record_detection(record, pending=pending)
    except AlreadyDone:
        existing = table.detection(record.detection_id) or DetectionRecord(record.detection_id)
        if existing.outcome != "failed":
            return _duplicate(table, summary, existing)
        try:
            table.replace_failed(record, existing, pending=pending)
        except AlreadyDone:  # another delivery retried it a moment ago
            return _duplicate(table, summary, table.detection(record.detection_id) or existing)
        summary["retried"] = f"detected again after a failure ({existing.reason})"
    context.metrics.add_metric(name=f"Detections_{record.outcome}", unit="Count", value=1)
    return summary


def _duplicate(table, summary: dict, existing: DetectionRecord) -> dict:
    """A duplicate event records nothing new; but a review its first delivery decided on and could
    not start (StartHumanLoop or its record failed after the retries) is started now, as first
    decided. A failure noted on a detection with nothing left to do is no longer listed."""
    context.logger.info("duplicate event, already recorded", extra={"detection_id": existing.detection_id})
    decision = existing.decision or {}
    review = bool(decision.get("review")) and not existing.human_loop
    if existing.failure and not review and existing.outcome != "pending":
        table.clear_failure(existing.detection_id)
    return summary | {"duplicate": True, "outcome": "duplicate", "review": review,
                      "purpose": decision.get("purpose"), "model_version": existing.model_version,
                      "labels": list(existing.labels), **_review_task(decision)}


def start_detection(name: str, detection: dict) -> None:
    """Start one detection execution. One already under ``name`` is this start: its request was
    applied, its response lost, and the client (or a retried step) sent it again."""
    try:
        aws.client("stepfunctions").start_execution(stateMachineArn=config.current().detection_state_machine_arn,
                                                    name=name, input=json.dumps(detection))
    except ClientError as exc:
        if aws.error_code(exc) != "ExecutionAlreadyExists":
            raise


def split(objects: list[ObjectEvent]) -> dict[str, Any]:
    """An event with several records: each starts a detection of its own (as an upload's event does)."""
    for obj in (o for o in objects if o.created):  # a duplicate start is harmless (content-keyed)
        start_detection(execution_name("split", detection_id(obj.bucket, obj.key, obj.content_id)),
                        detection_input(obj.bucket, obj.key, obj.etag, obj.version_id, size=obj.size,
                                        reason=f"one of {len(objects)} records of an event"))
    return {"outcome": "split", "records": len(objects), "review": False,
            "reason": f"an event with {len(objects)} records: each is detected on its own",
            "keys": [obj.key for obj in objects]}


@entry_point
def handler(event: dict) -> dict:
    objects = list(object_events(event))
    if len(objects) > 1:
        return split(objects)
    if not objects[0].created:  # only uploads are detected; a deletion is the dataset function's
        return {"outcome": "ignored", "review": False, "key": objects[0].key,
                "reason": f"a deletion ({objects[0].reason or 'object removed'}), not an upload: nothing to detect"}
    return detect(objects[0], event.get("pending_cursor"))
