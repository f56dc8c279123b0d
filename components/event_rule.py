"""What an event rule is, as a plain description: the stack's own rules (:mod:`components.triggers`)
and a review backend's (:mod:`components.review_backends`) are described alike, and both read this."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Trigger:
    name: str
    description: str
    pattern: dict[str, Any]
    target: str  # a FUNCTIONS key, or "detection" / "lifecycle" for a state machine
    event_bus: str | None = None  # the bus the rule listens on (None: the account's default bus)


def bucket_objects(bucket: str, prefix: str, *detail_types: str) -> dict[str, Any]:
    return {
        "source": ["aws.s3"],
        "detail-type": list(detail_types),
        "detail": {"bucket": {"name": [bucket]}, "object": {"key": [{"prefix": prefix}]}},
    }
