"""S3 object events, whichever way they arrive: EventBridge ("Object Created"/
"Object Deleted") or S3 notification records (keys URL-encoded there)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Mapping
from urllib.parse import unquote_plus


class UnrecognisedEvent(ValueError):
    """The event is not an S3 object event this handler understands."""


@dataclass(frozen=True)
class ObjectEvent:
    bucket: str
    key: str
    etag: str | None
    version_id: str | None
    size: int | None
    created: bool  # False: deleted
    reason: str = ""

    @property
    def content_id(self) -> str:
        """What identifies the object's content: its version, else its ETag."""
        return self.version_id or self.etag or ""


def object_events(event: Mapping[str, Any]) -> Iterator[ObjectEvent]:
    """Every object event in a Lambda event (one for EventBridge, one per record for notifications)."""
    if event.get("source") == "aws.s3" and "detail" in event:
        detail = event["detail"]
        obj = detail.get("object") or {}
        kind = event.get("detail-type", "")
        if kind not in ("Object Created", "Object Deleted"):
            raise UnrecognisedEvent(f"S3 event type {kind!r} is not handled (only Object Created/Deleted)")
        yield ObjectEvent(detail["bucket"]["name"], obj["key"], _etag(obj.get("etag") or obj.get("eTag")),
                          _version(obj.get("version-id")),
                          obj.get("size"), kind == "Object Created", detail.get("reason", ""))
        return
    if "Records" in event:
        for record in event["Records"]:
            s3 = record.get("s3")
            if not s3:
                raise UnrecognisedEvent("a record without 's3' is not an S3 notification")
            obj, name = s3["object"], record.get("eventName", "")
            yield ObjectEvent(s3["bucket"]["name"], unquote_plus(obj["key"]), _etag(obj.get("eTag")),
                              _version(obj.get("versionId")), obj.get("size"), name.startswith("ObjectCreated"), name)
        return
    if {"bucket", "key"} <= event.keys():  # a replay or a direct invocation
        yield ObjectEvent(event["bucket"], event["key"], event.get("etag"), event.get("version_id"),
                          event.get("size"), True, event.get("reason", "replay"))
        return
    raise UnrecognisedEvent(f"not an S3 object event (keys: {', '.join(sorted(event)) or 'none'})")


def _etag(value: str | None) -> str | None:
    return value.strip('"') if value else None


def _version(value: str | None) -> str | None:
    return None if value in (None, "", "null") else value
