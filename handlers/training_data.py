"""Keep the per-label counters current from S3 events on the training folder
(``images_labeled_by_folder/<label>/…``): created images count, deleted ones
uncount, each key exactly once however often its event arrives."""

from __future__ import annotations

from .runtime import config, context, layout
from .runtime.events import object_events
from .runtime.lambda_entry import entry_point


def classify(key: str, labels: tuple[str, ...]) -> tuple[str | None, str]:
    """(label, "") for a countable training image, else (None, why it is skipped)."""
    label = layout.label_of_training_key(key)
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
        changed = table.add_training_image(obj.key, label) if obj.created else table.remove_training_image(obj.key, label)
        results.append({"key": obj.key, "label": label, "counted": changed,
                        "reason": "" if changed else "already counted" if obj.created else "was not counted"})
    return results


@entry_point
def handler(event: dict) -> list[dict]:
    return update_counters(event)
