"""Build the training manifest from the label folders.

Lists only ``images_labeled_by_folder/``, streams one JSON line per image to a
spooled file (memory stays flat however many images), writes it under
``manifests/<version>.manifest`` (a new file per training), reconciles the
per-label counters with what it listed, and checks Rekognition's rules first so
a violation is a recorded reason, not a failed API call.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from datetime import datetime, timezone

from ..runtime import aws, backoff, config, context, layout
from ..runtime.lambda_entry import entry_point
from ..runtime.workflow import RunState
from ..training_data import classify

SPOOL_BYTES = 8 * 1024 * 1024
ATTRIBUTE = "labelloop-class"


def manifest_line(bucket: str, key: str, label: str, created: datetime) -> str:
    return json.dumps({
        "source-ref": f"s3://{bucket}/{key}",
        ATTRIBUTE: 1,
        f"{ATTRIBUTE}-metadata": {
            "confidence": 1,
            "class-name": label,
            "human-annotated": "yes",
            "creation-date": created.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3],
            "type": "groundtruth/image-classification",
        },
    }, separators=(",", ":")) + "\n"


def rule_violation(counts: Counter, labels: tuple[str, ...]) -> str | None:
    """Rekognition's rules for image classification, as a reason not to train."""
    present = [label for label in labels if counts.get(label)]
    if len(present) < 2:
        return f"Rekognition needs images of at least 2 labels; found images of {len(present)} ({', '.join(present) or 'none'})"
    missing = [label for label in labels if not counts.get(label)]
    if missing:
        return f"every label needs at least one image; none for {', '.join(missing)}"
    return None


def listing(s3, bucket: str, prefix: str):
    """Every page of the objects under ``prefix``, each page's call retried on its own (``backoff.call``):
    one throttled page of thousands does not fail the step and list them all again."""
    kwargs = {"Bucket": bucket, "Prefix": prefix}
    while True:
        page = backoff.call(lambda: s3.list_objects_v2(**kwargs))
        yield page
        if not page.get("IsTruncated"):
            return
        kwargs["ContinuationToken"] = page["NextContinuationToken"]


def build(bucket: str, version: str, labels: tuple[str, ...]) -> dict:
    s3 = aws.client("s3")
    counts: Counter = Counter()
    skipped: Counter = Counter()
    key = f"{layout.MANIFEST_PREFIX}{version}.manifest"
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, mode="w+b") as spool:
        for page in listing(s3, bucket, layout.TRAINING_PREFIX):
            for obj in page.get("Contents", []):
                label, why = classify(obj["Key"], labels)
                if label is None:
                    skipped[why] += 1
                    continue
                counts[label] += 1
                spool.write(manifest_line(bucket, obj["Key"], label, obj["LastModified"]).encode())
        context.table().set_counts({label: counts.get(label, 0) for label in labels})
        violation = rule_violation(counts, labels)
        result = {"ok": violation is None, "counts": {label: counts.get(label, 0) for label in labels},
                  "images": sum(counts.values()), "skipped": dict(skipped)}
        if violation:
            return result | {"reason": violation}
        spool.seek(0)
        s3.upload_fileobj(spool, bucket, key, ExtraArgs={"ContentType": "application/x-ndjson"})
    return result | {"manifest_key": key, "reason": f"{result['images']} images of {len(labels)} labels"}


@entry_point
def handler(event: dict) -> dict:
    cfg = config.current()
    return build(cfg.bucket, RunState.from_event(event).check["version"], cfg.labels)
