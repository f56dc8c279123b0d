"""Keep the per-label counters current from S3 events on the training folder
(``images_labeled_by_folder/<label>/…``): created images count, deleted ones
uncount, each key exactly once however often its event arrives.

A key counts while it has a current image, as the manifest (which lists keys)
sees it. A delete event does not always mean that: in a versioned bucket,
noncurrent-version expiry ("Lifecycle Expiration", "Permanently Deleted") and
the deletion of one older version remove a version while the current image
stays. So a delete uncounts only when the key itself is gone — its current
version is a delete marker, or no version is left — which one HeadObject of
the key tells, whatever the event says and in whatever order events arrive.
"""

from __future__ import annotations

from .runtime import aws, config, context, layout
from .runtime.events import object_events
from .runtime.lambda_entry import entry_point

def classify(key: str, labels: tuple[str, ...], prefix: str = layout.TRAINING_PREFIX) -> tuple[str | None, str]:
    """(label, "") for a countable training image (or gate-set image, under ``prefix``), else (None,
    why it is skipped)."""
    label = layout.label_of_training_key(key, prefix)
    if layout.is_folder_marker(key):
        return None, "folder marker"
    if label is None:
        return None, "not inside a label folder"
    if label not in labels:
        return None, f"folder {label!r} is not one of the stack's labels"
    if not layout.is_image(key):
        return None, "not a PNG or JPEG image"
    return label, ""


def update_counters(event: dict) -> list[dict]:
    cfg, table = config.current(), context.table()
    results = []
    for obj in object_events(event):
        label, why = classify(obj.key, cfg.labels)
        if label is None:
            context.logger.info("training object skipped", extra={"key": obj.key, "reason": why})
            results.append({"key": obj.key, "counted": False, "reason": why})
            continue
        if obj.created:
            changed = table.add_training_image(obj.key, label)
            reason = "" if changed else "already counted"
        elif aws.key_exists(obj.bucket, obj.key):
            changed = False
            reason = (f"version {obj.version_id or '?'} was deleted ({obj.deletion or obj.reason or 'deleted'}); "
                      "the key's current image is still there and counts")
        else:
            changed = table.remove_training_image(obj.key, label)
            reason = "" if changed else "was not counted"
        results.append({"key": obj.key, "label": label, "counted": changed, "reason": reason})
    return results


@entry_point
def handler(event: dict) -> list[dict]:
    return update_counters(event)
