"""The copies accepted reviews license: noted pending by the close, made, withdrawn, removed."""

from __future__ import annotations

from typing import Any

from ..clock import now_iso
from .base import TableBase
from .codec import _key, _plain, _ser, to_dynamo
from .conditions import AlreadyDone, CopyWithdrawn, TrainingImageCounted
from .items import _COPY, _DAY, _DETECTION, _LABEL_COUNT, _LOOP, _REVIEW, _TRAINING_IMAGE
from .records import PendingCopy, ReviewTask, _pending_copy


class Copies(TableBase):
    """The training and gate-set copies accepted reviews license."""

    def copy_done(self, copy: PendingCopy) -> None:
        """The copy is made: no longer pending, and a training image (not a gate-set one) counted —
        unless its own S3 event counted it a moment ago. Raises CopyWithdrawn when the copy is not
        pending any more: its image was deleted or forgotten meanwhile (the copy must go), or another
        caller completed it (see the review's ``copy``)."""
        items = [
            {"Delete": {"TableName": self.name, "Key": _key(_COPY, copy.review), "ConditionExpression": "attribute_exists(pk)"}},
            self._add(_key(_REVIEW, copy.review), {}, {"copy": "done"}),
        ]
        counted = [self._put(_key(_TRAINING_IMAGE, copy.target), {"label": copy.label, "at": now_iso()}),
                   self._add(_key(_LABEL_COUNT, copy.label), {"count": 1})] if not copy.gate_set else []
        try:
            self._transact(items + counted, {0: CopyWithdrawn, 2: TrainingImageCounted})
        except TrainingImageCounted:
            self._transact(items, {0: CopyWithdrawn})

    def pending_copies(self, limit: int, accepted_before: str | None = None) -> list[PendingCopy]:
        """Copies accepted reviews license that are not made yet (accepted before ``accepted_before``):
        one Query of up to ``limit``."""
        values = {":pk": {"S": _COPY.partition}}
        options: dict[str, Any] = {}
        if accepted_before:
            values[":before"] = {"S": accepted_before}
            options = {"FilterExpression": "accepted_at < :before"}
        page = self._call("query", TableName=self.name, ConsistentRead=True, Limit=limit,
                          KeyConditionExpression="pk = :pk", ExpressionAttributeValues=values, **options)
        return [_pending_copy(_plain(i)) for i in page.get("Items", [])]

    def pending_copy(self, review: str) -> PendingCopy | None:
        item = self._get(_key(_COPY, review))
        return None if item is None else _pending_copy(item)

    def withdraw_review(self, task: ReviewTask, reason: str) -> str | None:
        """A review whose image its uploader deleted: an open one closes as ``deleted``; an accepted one
        whose copy is still pending becomes ``deleted`` and its copy is not made (the day's accepted
        count moves to deleted). Returns the status it had, or None when there was nothing to withdraw
        (closed otherwise, or its copy made: :meth:`copy_removed` is for those)."""
        at = now_iso()
        was, day = task.status, (task.result or {}).get("finished_at", at)[:10]
        result = dict(task.result or {}) | {"reason": reason, "finished_at": at} if was == "open" else \
            dict(task.result or {}) | {"reason": f"{reason} (accepted as {(task.result or {}).get('label')!r} first)",
                                       "withdrawn_at": at}
        update = {"Update": {"TableName": self.name, "Key": _key(_REVIEW, task.name),
                             "UpdateExpression": "SET #st = :deleted, #d = :d",
                             "ExpressionAttributeNames": {"#st": "status", "#d": "result"},
                             "ExpressionAttributeValues": {":deleted": {"S": "deleted"}, ":was": {"S": was},
                                                           ":d": _ser.serialize(to_dynamo(result))}}}
        detection = self._add(_key(_DETECTION, task.detection_id), {}, {"review_status": "deleted"})
        if was == "open":
            update["Update"]["ConditionExpression"] = "#st = :was"
            items = [update, detection, self._add(_key(_LOOP), {"open_reviews": -1}),
                     self._add(_key(_DAY, at[:10]), {"reviews_deleted": 1})]
            if task.builtin:
                items.append(self._delete(self._open_key(task)))
        elif was == "accepted" and task.copy == "pending":
            update["Update"]["ConditionExpression"] = "#st = :was AND #cp = :pending"
            update["Update"]["UpdateExpression"] += " REMOVE #cp"
            update["Update"]["ExpressionAttributeNames"]["#cp"] = "copy"
            update["Update"]["ExpressionAttributeValues"][":pending"] = {"S": "pending"}
            items = [update, detection, self._delete(_key(_COPY, task.name)),
                     self._add(_key(_DAY, day), {"reviews_accepted": -1, "reviews_deleted": 1})]
        else:
            return None
        try:
            self._transact(items)
        except AlreadyDone:
            return None  # it changed meanwhile: the caller reads it again
        return was

    def copy_removed(self, task: ReviewTask, target: str, label: str, reason: str, *, gate_set: bool) -> None:
        """An accepted review's copy was deleted (its image was forgotten): the review says so, and a
        training image is uncounted (if it was counted: its S3 event may have done it already)."""
        at = now_iso()
        items = [self._add(_key(_REVIEW, task.name), {}, {"copy": "removed", "removed_at": at, "removed_reason": reason}),
                 self._add(_key(_DETECTION, task.detection_id), {}, {"forgotten_at": at}),
                 self._add(_key(_DAY, at[:10]), {"copies_removed": 1})]
        counted = [{"Delete": {"TableName": self.name, "Key": _key(_TRAINING_IMAGE, target),
                               "ConditionExpression": "attribute_exists(pk)"}},
                   self._add(_key(_LABEL_COUNT, label), {"count": -1})] if not gate_set else []
        try:
            self._transact(items + counted, {3: TrainingImageCounted})
        except TrainingImageCounted:  # not counted (or uncounted by its delete event already)
            self._transact(items)
