"""Keep the training data true to the reviews and to the uploaders, whatever the review backend:

* **An upload deleted** (S3 → EventBridge "Object Deleted" under ``images_for_detection/``): an image
  someone removed must not be training data. Every detection of the deleted versions is forgotten:
  an open review closes as ``deleted`` (not trained, counted), an accepted one whose copy is still
  pending is not copied, and a copy made already — training or gate set — is deleted with every
  version of its key, and uncounted. A version expired by the bucket's lifecycle is housekeeping, not
  a removal: nothing is forgotten.
* **``labelloop forget IMAGE``** (``{"forget": "<upload key, s3:// URI, detection id or training
  key>"}``): the same on demand, for an image whose upload stays; the answer says what was removed.
* **The sweep** (every few minutes, ``{"sweep": true}``; ``{"copies": true}`` from ``labelloop replay
  --copies``): the copies accepted reviews license that a crash or a throttle left unmade are made
  (``review_outcome.complete_copy``), each once.

Forgetting decides first, then acts: the review is withdrawn (or its copy marked removed) before the
objects go, so an answer or a sweep copying at that moment deletes its own copy again, and a forget
that fails half-way is finished by its retry (every step is idempotent).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from . import review_outcome
from .runtime import aws, clock, config, context, layout
from .runtime.events import DELETE_MARKER_CREATED, ObjectEvent, UnrecognisedEvent, object_events
from .runtime.ids import detection_id
from .runtime.lambda_entry import entry_point
from .runtime.state import ReviewTask

SWEEP = {"sweep": True}
COPIES = {"copies": True}
# A pending copy younger than this is left to the answer that is making it.
COPY_GRACE = timedelta(minutes=2)
# Pending copies one sweep completes (the rest: the next sweep).
SWEEP_COPIES = 100
LIFECYCLE = "Lifecycle Expiration"
DETECTION_ID = re.compile(r"^[0-9a-f]{40}$")


def deleted(obj: ObjectEvent) -> dict[str, Any]:
    """An upload's deletion: forget the detections of the versions it removed."""
    if obj.created:
        return {"image": obj.key, "forgotten": [], "reason": "not a deletion"}
    if not obj.key.startswith(layout.DETECTION_PREFIX):
        return {"image": obj.key, "forgotten": [], "reason": f"not an upload under {layout.DETECTION_PREFIX}"}
    if obj.reason == LIFECYCLE or obj.reason.startswith("LifecycleExpiration"):
        return {"image": obj.key, "forgotten": [], "reason": "expired by the bucket's lifecycle, not removed"}
    # The versions the deletion removed: behind a delete marker, every one before it; else the one
    # deleted for good (an unversioned bucket's object, known by its ETag).
    ids = detections_of_key(obj.bucket, obj.key, deleted_by=obj.version_id) \
        if obj.deletion == DELETE_MARKER_CREATED else []
    ids += [detection_id(obj.bucket, obj.key, content) for content in (obj.version_id, obj.etag) if content]
    reason = f"{obj.key} was deleted by its uploader"
    return {"image": obj.key, "forgotten": [f for f in (forget_detection(i, reason) for i in ids) if f]}


def forget(image: str) -> dict[str, Any]:
    """``labelloop forget IMAGE``: every detection of an upload (all its versions), or one detection."""
    cfg = config.current()
    key = image.removeprefix(f"s3://{cfg.bucket}/")
    training = layout.label_of_training_key(key) or layout.label_of_training_key(key, layout.TESTING_PREFIX)
    if DETECTION_ID.match(image):
        ids = [image]
    elif training and layout.detection_of_copy(key):
        ids = [layout.detection_of_copy(key)]
    elif key.startswith(layout.DETECTION_PREFIX) and "://" not in key:
        ids = detections_of_key(cfg.bucket, key)
    else:
        raise UnrecognisedEvent(f"{image!r} is not an upload under s3://{cfg.bucket}/{layout.DETECTION_PREFIX}, a "
                                "training or gate-set image of this stack, or a detection id")
    reason = f"{image} was forgotten by an operator"
    found = [f for f in (forget_detection(i, reason) for i in ids) if f]
    return {"image": image, "forgotten": found,
            "reason": "" if found else "no detection of this image is recorded"}


def detections_of_key(bucket: str, key: str, *, deleted_by: str | None = None) -> list[str]:
    """The detection ids the versions of ``key`` may have been recorded under (by version or ETag):
    every version, or with ``deleted_by`` (a delete marker's version) those older than that marker —
    an upload after the deletion is a new image. A marker no longer listed: the versions before the
    key's current object, or all when the key has none."""
    versions, markers = [], []
    for page in aws.client("s3").get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
        versions += [v for v in page.get("Versions", []) if v["Key"] == key]
        markers += [m for m in page.get("DeleteMarkers", []) if m["Key"] == key]
    marker = next((m for m in markers if deleted_by and m["VersionId"] == deleted_by), None)
    if marker is not None:
        # S3 stamps versions to the second: an upload in the marker's second is after it only when
        # it is the key's current object (boto3 lists versions and markers apart, not in one order)
        versions = [v for v in versions if v["LastModified"] < marker["LastModified"]
                    or (v["LastModified"] == marker["LastModified"] and not v.get("IsLatest"))]
    elif deleted_by is not None:
        versions = [v for v in versions if not v.get("IsLatest")]
    ids = [i for v in versions for i in (detection_id(bucket, key, v.get("VersionId")), detection_id(bucket, key, v["ETag"].strip('"')))]
    return list(dict.fromkeys(ids))


def forget_detection(detection: str, reason: str) -> dict[str, Any] | None:
    """Take one detection out of the dataset: None when it is not recorded."""
    table = context.table()
    record = table.detection(detection)
    if record is None:
        return None
    found = {"detection_id": detection, "image": record.image_uri, "version": record.version_id, "removed": []}
    review = table.review(record.human_loop) if record.human_loop else None
    if review is None:
        return found | {"review": None}
    found |= {"review": review.name, "was": review.status}
    if review.status == "open" or (review.status == "accepted" and review.copy == "pending"):
        review_outcome.withdraw(review.name, reason)
        review = table.review(review.name)
    target, label, gate_set = _copy_of(review)
    if target:
        if review.copy == "done":
            table.copy_removed(review, target, label, reason, gate_set=gate_set)
            found["uncounted"] = None if gate_set else label
        found["removed"] = delete_every_version(target)
    context.announce("image_forgotten", f"{record.image_uri} taken out of the dataset: {reason}",
                     {"detection_id": detection, "review": review.name, "removed": found["removed"]})
    return found | {"now": table.review(review.name).status}


def _copy_of(review: ReviewTask) -> tuple[str | None, str | None, bool]:
    """The copy an accepted review licensed: (key, label, in the gate set)."""
    result = review.result or {}
    if review.status not in ("accepted", "deleted") or not (result.get("training_key") or result.get("gate_set_key")):
        return None, None, False
    gate_set = bool(result.get("gate_set_key"))
    return result.get("gate_set_key") or result.get("training_key"), result.get("label"), gate_set


def delete_every_version(key: str) -> list[str]:
    """Delete every version of ``key`` (a copy's bytes go, not only its current version); the key if
    anything was deleted."""
    cfg, s3 = config.current(), aws.client("s3")
    versions = [{"Key": key, "VersionId": v["VersionId"]}
                for page in s3.get_paginator("list_object_versions").paginate(Bucket=cfg.bucket, Prefix=key)
                for kind in ("Versions", "DeleteMarkers") for v in page.get(kind, []) if v["Key"] == key]
    if not versions:
        return []
    answer = s3.delete_objects(Bucket=cfg.bucket, Delete={"Objects": versions, "Quiet": True})
    if answer.get("Errors"):
        raise RuntimeError(f"could not delete every version of {key}: {answer['Errors'][:3]}")
    return [key]


def complete_copies(*, all_ages: bool = False) -> dict[str, Any]:
    """Make the copies accepted reviews licensed and that are not made yet (the oldest first)."""
    before = None if all_ages else clock.iso(clock.utcnow() - COPY_GRACE)
    results = []
    for pending in context.table().pending_copies(SWEEP_COPIES, accepted_before=before):
        try:
            results.append({"review": pending.review} | review_outcome.complete_copy(pending))
        except ClientError as exc:  # throttled or refused: the next sweep tries again
            context.logger.warning("a pending copy is still pending", extra={"review": pending.review,
                                                                            "error": aws.error_code(exc)})
            results.append({"review": pending.review, "copy": "pending", "reason": aws.error_code(exc)})
    done = sum(1 for r in results if r.get("copy") == "done")
    if results:
        context.logger.info("pending copies completed", extra={"done": done, "seen": len(results)})
    return {"copies": results, "done": done, "pending": sum(1 for r in results if r.get("copy") == "pending")}


def handle(event: dict) -> dict[str, Any]:
    if event == SWEEP:
        return complete_copies()
    if event == COPIES:
        return complete_copies(all_ages=True)
    if isinstance(event, dict) and "forget" in event:
        if not isinstance(event["forget"], str) or not event["forget"].strip():
            raise UnrecognisedEvent('"forget" names no image: give an upload key, an s3:// URI or a detection id')
        return forget(event["forget"].strip())
    return {"deleted": [deleted(obj) for obj in object_events(event)]}


@entry_point
def handler(event: dict) -> dict:
    return handle(event)
