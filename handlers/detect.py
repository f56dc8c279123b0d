"""Detection (first task of the detection state machine): classify one uploaded
image with the active model, record every label score and the review decision.

Steady state: 3 AWS calls — one UpdateItem (count the detection, read the
active model and today's reviews), DetectCustomLabels, one transaction (the
record and the day's count). A duplicate event writes nothing new.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from botocore.exceptions import ClientError

from plugins import Detection, LabelScore

from .runtime import aws, context, layout
from .runtime.events import ObjectEvent, object_events
from .runtime.ids import detection_id
from .runtime.lambda_entry import entry_point
from .runtime.state import AlreadyDone, DetectionRecord, now_iso

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


def detect(obj: ObjectEvent, pending_cursor: str | None = None) -> dict[str, Any]:
    """``pending_cursor``: the pending detection a replay detects at last."""
    table = context.table()
    record = image_record(obj)
    skipped = skip_reason(obj)
    if skipped:
        return _finish(table, replace(record, outcome="skipped", reason=skipped))

    loop = table.begin_detection()
    if not loop.active_arn:
        return _pending(table, record, "no model is deployed yet; it is detected once the first model is promoted",
                        pending_cursor)

    image = {"S3Object": {"Bucket": obj.bucket, "Name": obj.key, **({"Version": obj.version_id} if obj.version_id else {})}}
    try:
        response = aws.client("rekognition").detect_custom_labels(
            ProjectVersionArn=loop.active_arn, Image=image, MinConfidence=0)
    except ClientError as exc:
        code = aws.error_code(exc)
        if code in UNREADABLE:
            return _finish(table, replace(record, outcome="unreadable", reason=f"{UNREADABLE[code]} ({code})",
                                          model_version=loop.active_version), pending_cursor)
        if code == "ResourceNotReadyException":
            return _pending(table, record, f"model {loop.active_version} is not running ({code}); "
                            "it is detected once a model runs again", pending_cursor)
        raise  # throttling and service errors: the state machine retries with backoff

    scores = tuple(LabelScore(l["Name"], float(l["Confidence"])) for l in response.get("CustomLabels", []))
    facts = Detection(record.detection_id, record.image_uri, loop.active_version, scores,
                      sequence=loop.sequence, reviews_today=loop.reviews_today, detected_at=record.detected_at)
    decision = context.engine().review(facts, context.settings())
    outcome = "no_label" if not scores else ("confident" if not decision.review else f"to_{decision.purpose}")
    labels = [{"name": s.name, "confidence": s.confidence} for s in facts.labels]
    record = replace(
        record, outcome=outcome, reason=decision.reason, model_version=loop.active_version, labels=tuple(labels),
        sequence=loop.sequence, decision={"review": decision.review, "purpose": decision.purpose,
                                          "reason": decision.reason, "policy": decision.policy})
    result = _finish(table, record, pending_cursor)
    if result.get("duplicate"):
        return result | _unstarted_review(table, record.detection_id)
    return result | {"review": decision.review, "purpose": decision.purpose,
                     "model_version": loop.active_version, "labels": labels}


def _unstarted_review(table, detection_id: str) -> dict:
    """A duplicate event records nothing new; but a review its first delivery decided on and
    could not start (StartHumanLoop failed after its retries) is started now, as first decided."""
    existing = table.detection(detection_id) or DetectionRecord(detection_id)
    decision = existing.decision or {}
    return {"review": bool(decision.get("review")) and not existing.human_loop,
            "purpose": decision.get("purpose"), "model_version": existing.model_version,
            "labels": list(existing.labels)}


def _pending(table, record: DetectionRecord, reason: str, pending_cursor: str | None) -> dict:
    if pending_cursor:  # a replay that still finds no model: stays pending, nothing to write
        return {"detection_id": record.detection_id, "outcome": "pending", "reason": reason, "review": False}
    return _finish(table, replace(record, outcome="pending", reason=reason), pending=True)


def _finish(table, record: DetectionRecord, pending_cursor: str | None = None, *, pending: bool = False) -> dict:
    summary = {"detection_id": record.detection_id, "outcome": record.outcome, "reason": record.reason,
               "bucket": record.bucket, "key": record.key, "review": False}
    try:
        if pending_cursor:
            table.replace_pending(record, pending_cursor)
        else:
            table.record_detection(record, pending=pending)
    except AlreadyDone:
        context.logger.info("duplicate event, already recorded", extra={"detection_id": record.detection_id})
        return summary | {"duplicate": True, "outcome": "duplicate"}
    context.metrics.add_metric(name=f"Detections_{record.outcome}", unit="Count", value=1)
    return summary


@entry_point
def handler(event: dict) -> dict:
    obj = next(object_events(event))
    return detect(obj, event.get("pending_cursor"))
