"""Build the training manifest from the label folders, and the gate set's testing manifest.

Lists only ``images_labeled_by_folder/``, streams one JSON line per image to a
spooled file (memory stays flat however many images), writes it under
``manifests/<version>.manifest`` (a new file per training), reconciles the
per-label counters with what it listed, and checks Rekognition's rules first so
a violation is a recorded reason, not a failed API call.

The gate set (``images_for_testing/<label>/``) is listed the same way; when it
has images they become ``manifests/<version>.testing.manifest``, the training's
TestingData, and the result names the gate-set version: a digest of its keys
and ETags, so every version evaluated on the same images names the same one.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections import Counter
from datetime import datetime, timezone

from ..runtime import aws, config, context, layout
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
    """Every page of the objects under ``prefix``, each page's call retried on its own by the client:
    one throttled page of thousands does not fail the step and list them all again."""
    kwargs = {"Bucket": bucket, "Prefix": prefix}
    while True:
        page = s3.list_objects_v2(**kwargs)
        yield page
        if not page.get("IsTruncated"):
            return
        kwargs["ContinuationToken"] = page["NextContinuationToken"]


def parse_line(line: str) -> tuple[str, str, str]:
    """(bucket, key, label) of one manifest line."""
    entry = json.loads(line)
    bucket, _, key = entry["source-ref"][len("s3://"):].partition("/")
    meta = next(v for k, v in entry.items() if k.endswith("-metadata"))
    return bucket, key, meta["class-name"]


def spool_folder(s3, bucket: str, prefix: str, labels: tuple[str, ...], spool) -> tuple[Counter, Counter, str]:
    """Write a manifest line per image of the label folders under ``prefix``; the images per label, the
    objects skipped by reason, and a digest of the keys and ETags listed (in S3's key order)."""
    counts: Counter = Counter()
    skipped: Counter = Counter()
    digest = hashlib.sha256()
    for page in listing(s3, bucket, prefix):
        for obj in page.get("Contents", []):
            label, why = classify(obj["Key"], labels, prefix)
            if label is None:
                skipped[why] += 1
                continue
            counts[label] += 1
            digest.update(f"{obj['Key']} {obj.get('ETag', '')}\n".encode())
            spool.write(manifest_line(bucket, obj["Key"], label, obj["LastModified"]).encode())
    return counts, skipped, digest.hexdigest()[:12]


def gate_set(s3, bucket: str, version: str, labels: tuple[str, ...]) -> dict:
    """The testing manifest of the gate set, written when it has images: ``{"testing_manifest_key",
    "gate_set": {"version", "images", "counts"}}``; ``{}`` without a gate set."""
    key = f"{layout.MANIFEST_PREFIX}{version}.testing.manifest"
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, mode="w+b") as spool:
        counts, _, digest = spool_folder(s3, bucket, layout.TESTING_PREFIX, labels, spool)
        if not counts:
            return {}
        spool.seek(0)
        s3.upload_fileobj(spool, bucket, key, ExtraArgs={"ContentType": "application/x-ndjson"})
    return {"testing_manifest_key": key, "gate_set": {"version": digest, "images": sum(counts.values()),
                                                      "counts": {label: counts.get(label, 0) for label in labels}}}


def build(bucket: str, version: str, labels: tuple[str, ...]) -> dict:
    s3 = aws.client("s3")
    key = f"{layout.MANIFEST_PREFIX}{version}.manifest"
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, mode="w+b") as spool:
        counts, skipped, _ = spool_folder(s3, bucket, layout.TRAINING_PREFIX, labels, spool)
        context.table().set_counts({label: counts.get(label, 0) for label in labels})
        violation = rule_violation(counts, labels)
        result = {"ok": violation is None, "counts": {label: counts.get(label, 0) for label in labels},
                  "images": sum(counts.values()), "skipped": dict(skipped)}
        if violation:
            return result | {"reason": violation}
        spool.seek(0)
        s3.upload_fileobj(spool, bucket, key, ExtraArgs={"ContentType": "application/x-ndjson"})
    testing = gate_set(s3, bucket, version, labels)
    tested = (f"; tested on the gate set ({testing['gate_set']['images']} images, version "
              f"{testing['gate_set']['version']})" if testing else "")
    return result | testing | {"manifest_key": key,
                               "reason": f"{result['images']} images of {len(labels)} labels{tested}"}


@entry_point
def handler(event: dict) -> dict:
    cfg = config.current()
    return build(cfg.bucket, RunState.from_event(event).check["version"], cfg.labels)
