"""The events the handlers receive, read with Powertools' event source data
classes: S3 object events, whichever way they arrive (EventBridge "Object
Created"/"Object Deleted", or S3 notification records, keys URL-encoded
there), and SSM's "Parameter Store Change" through EventBridge."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Mapping
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, S3Event, S3EventBridgeNotificationEvent
from aws_lambda_powertools.utilities.data_classes.common import DictWrapper
from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventRecord

OBJECT_CREATED, OBJECT_DELETED = "Object Created", "Object Deleted"


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
        yield _from_eventbridge(S3EventBridgeNotificationEvent(event))
        return
    if "Records" in event:
        yield from map(_from_record, S3Event(event).records)
        return
    if {"bucket", "key"} <= event.keys():  # a replay or a direct invocation
        yield ObjectEvent(event["bucket"], event["key"], event.get("etag"), event.get("version_id"),
                          event.get("size"), True, event.get("reason", "replay"))
        return
    raise UnrecognisedEvent(f"not an S3 object event (keys: {', '.join(sorted(event)) or 'none'})")


def _from_eventbridge(event: S3EventBridgeNotificationEvent) -> ObjectEvent:
    kind = event.get("detail-type", "")
    if kind not in (OBJECT_CREATED, OBJECT_DELETED):
        raise UnrecognisedEvent(f"S3 event type {kind!r} is not handled (only Object Created/Deleted)")
    detail = event.detail
    obj = detail.object
    # EventBridge keys are not URL-encoded (the class's ``key`` decodes a literal '+' or '%2B' in a
    # name); moto writes the ETag as 'eTag'; a deleted object has no 'version-id' on an unversioned bucket.
    return ObjectEvent(detail.bucket.name, obj["key"], _etag(obj.etag or obj.get("eTag")),
                       _version(obj.get("version-id")), obj.size, kind == OBJECT_CREATED, detail.reason or "")


def _from_record(record: S3EventRecord) -> ObjectEvent:
    if "s3" not in record:
        raise UnrecognisedEvent("a record without 's3' is not an S3 notification")
    s3, name = record.s3, record.get("eventName", "")
    obj = s3.get_object
    # A delete record has no size (the class's ``size`` requires one).
    return ObjectEvent(s3.bucket.name, unquote_plus(obj.key), _etag(obj.etag), _version(obj.version_id),
                       obj.get("size"), name.startswith("ObjectCreated"), name)


def _etag(value: str | None) -> str | None:
    return value.strip('"') if value else None


def _version(value: str | None) -> str | None:
    return None if value in (None, "", "null") else value


class ParameterChange(DictWrapper):
    """The detail of a "Parameter Store Change": which parameter, and Create/Update/Delete/…"""

    @property
    def name(self) -> str:
        return self.get("name", "")

    @property
    def operation(self) -> str:
        return self.get("operation", "Update")


class ParameterStoreChangeEvent(EventBridgeEvent):
    """SSM → EventBridge "Parameter Store Change" (Powertools has no class of its own for it)."""

    @property
    def detail(self) -> ParameterChange:  # type: ignore[override]
        return ParameterChange(self.get("detail") or {})
