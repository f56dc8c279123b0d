"""The events the handlers receive, read with Powertools' event source data
classes: S3 object events, whichever way they arrive (EventBridge "Object
Created"/"Object Deleted", or S3 notification records, keys URL-encoded
there), and SSM's "Parameter Store Change" through EventBridge.

An event that is not what it should be raises :class:`UnrecognisedEvent` naming
what is missing or wrong ("the event has no records", "record 2 has no
s3.object.key"), never a bare KeyError or StopIteration.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterator, Mapping
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, S3EventBridgeNotificationEvent
from aws_lambda_powertools.utilities.data_classes.common import DictWrapper
from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventRecord

OBJECT_CREATED, OBJECT_DELETED = "Object Created", "Object Deleted"
PERMANENTLY_DELETED, DELETE_MARKER_CREATED = "Permanently Deleted", "Delete Marker Created"


class UnrecognisedEvent(ValueError):
    """The event (or payload) is not one this handler understands; the message says what is missing or wrong."""


def require(data: Any, path: str, where: str) -> Any:
    """The value at the dotted ``path`` inside ``data``; UnrecognisedEvent naming the field when it is
    missing, empty or not inside an object."""
    value = data
    for name in path.split("."):
        if not isinstance(value, Mapping):
            raise UnrecognisedEvent(f"{where} has no {path} ({name!r} is not inside an object)")
        value = value.get(name)
        if value is None or value == "":
            raise UnrecognisedEvent(f"{where} has no {path}")
    return value


@dataclass(frozen=True)
class ObjectEvent:
    bucket: str
    key: str
    etag: str | None
    version_id: str | None
    size: int | None
    created: bool  # False: deleted
    reason: str = ""
    deletion: str | None = None  # a deleted object: "Permanently Deleted" or "Delete Marker Created", if known

    @property
    def content_id(self) -> str:
        """What identifies the object's content: its version, else its ETag."""
        return self.version_id or self.etag or ""


def object_events(event: Any) -> Iterator[ObjectEvent]:
    """Every object event in a Lambda event (one for EventBridge, one per record for notifications),
    each checked for the fields the handlers need before any is handed out."""
    return iter(_object_events(event))


def _object_events(event: Any) -> list[ObjectEvent]:
    if not isinstance(event, Mapping):
        raise UnrecognisedEvent(f"the event is a {type(event).__name__}, not an object")
    if event.get("source") == "aws.s3" and "detail" in event:
        return [_from_eventbridge(event)]
    if "Records" in event:
        records = event["Records"]
        if not records:
            raise UnrecognisedEvent("the event has no records")
        if not isinstance(records, list):
            raise UnrecognisedEvent(f"the event's Records is a {type(records).__name__}, not a list")
        return [_from_record(record, f"record {i}" if len(records) > 1 else "the record")
                for i, record in enumerate(records, start=1)]
    if "bucket" in event or "key" in event:  # a replay or a direct invocation
        where = "the direct invocation"
        return [ObjectEvent(require(event, "bucket", where), require(event, "key", where), event.get("etag"),
                            event.get("version_id"), event.get("size"), True, event.get("reason", "replay"))]
    raise UnrecognisedEvent(f"not an S3 object event (keys: {', '.join(sorted(map(str, event))) or 'none'})")


def _from_eventbridge(raw: Mapping[str, Any]) -> ObjectEvent:
    kind = raw.get("detail-type", "")
    if kind not in (OBJECT_CREATED, OBJECT_DELETED):
        raise UnrecognisedEvent(f"S3 event type {kind!r} is not handled (only Object Created/Deleted)")
    where = f"the {kind} event"
    bucket, key = require(raw, "detail.bucket.name", where), require(raw, "detail.object.key", where)
    detail = S3EventBridgeNotificationEvent(raw).detail
    obj = detail.object
    # EventBridge keys are not URL-encoded (the class's ``key`` decodes a literal '+' or '%2B' in a
    # name); moto writes the ETag as 'eTag'; a deleted object has no 'version-id' on an unversioned
    # bucket, and no size.
    return ObjectEvent(bucket, key, _etag(obj.etag or obj.get("eTag")), _version(obj.get("version-id")),
                       obj.get("size"), kind == OBJECT_CREATED, detail.reason or "", detail.get("deletion-type"))


def _from_record(raw: Any, where: str) -> ObjectEvent:
    if not isinstance(raw, Mapping) or "s3" not in raw:
        raise UnrecognisedEvent(f"{where} has no s3 (it is not an S3 notification record)")
    bucket, key = require(raw, "s3.bucket.name", where), require(raw, "s3.object.key", where)
    record = S3EventRecord(raw)
    name = record.get("eventName", "")
    obj = record.s3.get_object
    # A delete record has no size (the class's ``size`` requires one).
    deletion = {"ObjectRemoved:Delete": PERMANENTLY_DELETED,
                "ObjectRemoved:DeleteMarkerCreated": DELETE_MARKER_CREATED}.get(name)
    return ObjectEvent(bucket, unquote_plus(key), _etag(obj.etag), _version(obj.version_id),
                       obj.get("size"), name.startswith("ObjectCreated"), name, deletion)


def _etag(value: str | None) -> str | None:
    return value.strip('"') if value else None


def _version(value: str | None) -> str | None:
    return None if value in (None, "", "null") else value


class ParameterChange(DictWrapper):
    """The detail of a "Parameter Store Change": which parameter, and Create/Update/Delete/…"""

    @property
    def name(self) -> str:
        return require(self._data, "name", "the Parameter Store Change event's detail")

    @property
    def operation(self) -> str:
        return self.get("operation", "Update")


class ParameterStoreChangeEvent(EventBridgeEvent):
    """SSM → EventBridge "Parameter Store Change" (Powertools has no class of its own for it)."""

    @property
    def detail(self) -> ParameterChange:  # type: ignore[override]
        detail = self.get("detail")
        if not isinstance(detail, Mapping):
            raise UnrecognisedEvent("the Parameter Store Change event has no detail")
        return ParameterChange(detail)


# -- labelloop's own event: an image waits for a model that does not run ---------------------------
# Sent by detect to the stack's own event bus; a rule there (``components.triggers.waiting_trigger``) hands
# it to the serving function, which decides at once whether to start the model.
WAITING_SOURCE = "labelloop"
WAITING_DETAIL_TYPE = "Image waiting for a model"


ARRIVAL = "arrival"  # the serving function's trigger when an image waits (a wake-up, not the schedule)


def waiting_event(stack: str, bus: str) -> dict[str, str]:
    """The ``PutEvents`` entry: this stack's image waits (the serving function's trigger is ``arrival``)."""
    return {"Source": WAITING_SOURCE, "DetailType": WAITING_DETAIL_TYPE, "EventBusName": bus,
            "Detail": json.dumps({"stack": stack, "trigger": ARRIVAL})}


def waiting_pattern(stack: str) -> dict[str, Any]:
    """The event pattern of this stack's waiting-image events."""
    return {"source": [WAITING_SOURCE], "detail-type": [WAITING_DETAIL_TYPE], "detail": {"stack": [stack]}}
