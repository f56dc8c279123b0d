"""Identifiers derived from an image's content, so duplicate events map to the same records."""

from __future__ import annotations

import hashlib
import re
import uuid

HUMAN_LOOP_NAME = re.compile(r"^[a-z0-9](-*[a-z0-9])*$")


def detection_id(bucket: str, key: str, content_id: str | None) -> str:
    """40 hex characters from bucket, key and the object's version or ETag."""
    return hashlib.sha256(f"{bucket}\0{key}\0{content_id or ''}".encode()).hexdigest()[:40]


def execution_name(purpose: str, detection_id: str) -> str:
    """A detection execution's name: what started it (at most 24 characters) and the detection, for
    tracing, and new on every start (asynchronous Express starts are not idempotent by name), within
    Step Functions' 80 characters of [A-Za-z0-9-_]."""
    assert len(purpose) <= 24 and re.fullmatch(r"[A-Za-z0-9_-]+", purpose), purpose
    return f"{purpose}-{detection_id[:40]}-{uuid.uuid4().hex[:12]}"


def human_loop_name(detection_id: str) -> str:
    """An A2I human loop name (1-63 chars, ``^[a-z0-9](-*[a-z0-9])*$``), unique per image content."""
    name = f"labelloop-{detection_id}"
    assert len(name) <= 63 and HUMAN_LOOP_NAME.match(name), name
    return name
