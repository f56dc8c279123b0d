"""Detections: each image version's record, the detection sequence, the images waiting for a model and the failed."""

from __future__ import annotations

from typing import Any, Iterator

from ..clock import now_iso
from .base import TableBase
from .codec import _item, _key, _plain
from .conditions import AlreadyDone, ConditionFailed, SequenceTaken
from .items import _DETECTION, _FAILED, _LOOP, _PENDING
from .records import (
    DetectionFailure,
    DetectionRecord,
    LoopState,
    PendingDetection,
    Waiting,
    _attributes,
    _detection,
    _failure,
    _loop_state,
    _pending,
)


class Detections(TableBase):
    """Detections, the pending and the failed."""

    def begin_detection(self) -> LoopState:
        """One read: the active model, the detections counted so far, today's reviews and the training
        images per label at the last training."""
        return _loop_state(self._get(_key(_LOOP)))

    # A classified image (its record has a ``sequence``) is counted in the same transaction that writes
    # its record, so a duplicate or a retry counts nothing. ``exact``: the count must still be the one
    # the decision was made with (``sequence - 1``), else SequenceTaken; without it, it is counted
    # whatever the count is now (two detections may then share a number).
    def record_detection(self, record: DetectionRecord, *, pending: bool = False, exact: bool = True) -> None:
        """Write a detection once, with its day's outcome count. Raises AlreadyDone if it exists,
        SequenceTaken if another detection took its number."""
        items = [
            self._put(_key(_DETECTION, record.detection_id), _attributes(record)),
            *self._days((record.detected_at[:10], {f"outcome_{record.outcome}": 1})),
        ]
        if pending:
            items.append(self._pending_item(record))
        self._write_detection(items, record, exact)

    def replace_pending(self, record: DetectionRecord, cursor: str, *, exact: bool = True) -> None:
        """A pending detection detected at last: overwrite the record, move the day's count, drop the
        pending item (and a failure of an earlier replay). Raises AlreadyDone if it was replaced before."""
        self._write_detection([
            self._replace(record, "pending"),
            *self._days((record.detected_at[:10], {f"outcome_{record.outcome}": 1, "replayed": 1}),
                        (cursor[:10], {"outcome_pending": -1})),
            {"Delete": {"TableName": self.name, "Key": _key(_PENDING, *cursor.split("#", 1))}},
            self._delete(_key(_FAILED, record.detection_id)),
        ], record, exact)

    def replace_failed(self, record: DetectionRecord, failed: DetectionRecord, *, pending: bool = False,
                       exact: bool = True) -> None:
        """A failed detection done at last (its event redelivered, or replayed): overwrite the record,
        move the failure's count to this outcome, drop it from the failed. Raises AlreadyDone if it is
        not failed (any more)."""
        items = [
            self._replace(record, "failed"),
            *self._days((record.detected_at[:10], {f"outcome_{record.outcome}": 1}),
                        (failed.detected_at[:10], {"outcome_failed": -1})),
            self._delete(_key(_FAILED, record.detection_id)),
        ]
        if pending:
            items.append(self._pending_item(record))
        self._write_detection(items, record, exact)

    def _replace(self, record: DetectionRecord, outcome: str) -> dict:
        """A put of the record over one whose outcome is ``outcome``."""
        return {"Put": {"TableName": self.name, "Item": _key(_DETECTION, record.detection_id) | _item(_attributes(record)),
                        "ConditionExpression": "#o = :was", "ExpressionAttributeNames": {"#o": "outcome"},
                        "ExpressionAttributeValues": {":was": {"S": outcome}}}}

    def _pending_item(self, record: DetectionRecord) -> dict:
        return self._put(_key(_PENDING, record.detected_at, record.detection_id), {
            "detection_id": record.detection_id, "bucket": record.bucket, "key": record.key,
            "etag": record.etag, "version_id": record.version_id})

    def _write_detection(self, items: list[dict], record: DetectionRecord, exact: bool) -> None:
        """The transaction, with the record's count in the detection sequence last (a duplicate says AlreadyDone first)."""
        if record.sequence is None:
            self._transact(items)
            return
        if not exact:
            self._transact([*items, self._add(_key(_LOOP), {"detections": 1}, {"last_detected_at": record.detected_at})])
            return
        previous = record.sequence - 1
        count = {"Update": {
            "TableName": self.name, "Key": _key(_LOOP), "UpdateExpression": "SET #d = :n, #l = :l",
            "ConditionExpression": "#d = :p" if previous else "attribute_not_exists(#d) OR #d = :p",
            "ExpressionAttributeNames": {"#d": "detections", "#l": "last_detected_at"},
            "ExpressionAttributeValues": {":n": {"N": str(record.sequence)}, ":p": {"N": str(previous)},
                                          ":l": {"S": record.detected_at}},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}
        self._transact([*items, count], {len(items): SequenceTaken})

    def pending(self) -> list[PendingDetection]:
        return [_pending(i) for i in self._query(_PENDING.partition)]

    def waiting(self) -> Waiting:
        """How many images wait for a model and when the first arrived: the oldest pending item and a
        count of the partition (one page per 1 MB of keys)."""
        first = self.pending_page(None, 1)
        if not first:
            return Waiting()
        kwargs: dict[str, Any] = {"TableName": self.name, "ConsistentRead": True, "Select": "COUNT",
                                  "KeyConditionExpression": "pk = :pk",
                                  "ExpressionAttributeValues": {":pk": {"S": _PENDING.partition}}}
        count = 0
        while True:
            page = self._call("query", **kwargs)
            count += int(page.get("Count", 0))
            if "LastEvaluatedKey" not in page:
                return Waiting(count, first[0].cursor.split("#", 1)[0])
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def pending_page(self, after: str | None, limit: int) -> list[PendingDetection]:
        """Up to ``limit`` pending detections after the cursor ``after``, oldest first."""
        values = {":pk": {"S": _PENDING.partition}, **({":after": {"S": after}} if after else {})}
        page = self._call("query", TableName=self.name, ConsistentRead=True, Limit=limit,
                          ExpressionAttributeValues=values,
                          KeyConditionExpression="pk = :pk" + (" AND sk > :after" if after else ""))
        return [_pending(_plain(i)) for i in page.get("Items", [])]

    def detection(self, detection_id: str) -> DetectionRecord | None:
        item = self._get(_key(_DETECTION, detection_id))
        return None if item is None else _detection(item)

    def note_detection_failure(self, record: DetectionRecord, *, pending_cursor: str | None = None) -> str:
        """Record a failed detection and list it among the failed (``failed_detections``). Returns
        "recorded" (counted as failed on its day), "failed again" (a failed detection failed once
        more: counted once) or "noted" (an image detected before — a later step, the review start,
        failed; or waiting for a model — keeps its record and has the failure noted on it)."""
        what = {"bucket": record.bucket, "key": record.key, "etag": record.etag, "version_id": record.version_id,
                "reason": record.reason, "failed_at": record.detected_at, "pending_cursor": pending_cursor}
        failure = self._add(_key(_FAILED, record.detection_id), {"failures": 1},
                            {k: v for k, v in what.items() if v is not None}, removes=("replayed_at",))
        try:
            self._transact([self._put(_key(_DETECTION, record.detection_id), _attributes(record)),
                            *self._days((record.detected_at[:10], {"outcome_failed": 1})), failure])
            return "recorded"
        except AlreadyDone:
            existing = self.detection(record.detection_id)
        again = existing is not None and existing.outcome == "failed"
        noted = {"reason": record.reason} if again else {"failure": record.reason, "failed_at": record.detected_at}
        self._transact([self._add(_key(_DETECTION, record.detection_id), {}, noted), failure])
        return "failed again" if again else "noted"

    def failed_detections(self) -> list[DetectionFailure]:
        """Every detection that failed and was not done since, oldest failure first (one query, no scan)."""
        return sorted((_failure(i) for i in self._query(_FAILED.partition)), key=lambda f: f.failed_at or "")

    def claim_failed(self, detection_id: str, stale_before: str) -> bool:
        """Mark a failure as being replayed; False if it is not failed any more, or a replay started
        after ``stale_before`` is still under way."""
        try:
            self._update(_key(_FAILED, detection_id), {"replayed_at": now_iso()},
                         condition="attribute_exists(pk) AND (attribute_not_exists(replayed_at) "
                                   "OR replayed_at < :stale)", values={":stale": stale_before})
            return True
        except ConditionFailed:
            return False

    def unclaim_failed(self, detection_id: str) -> None:
        """A replay that could not be started: the failure is to replay again."""
        try:
            self._update(_key(_FAILED, detection_id), {}, condition="attribute_exists(pk)", removes=("replayed_at",))
        except ConditionFailed:
            pass  # done meanwhile

    def clear_failure(self, detection_id: str) -> None:
        """A failed detection found done (a redelivery had nothing left to do): no longer listed as failed."""
        self._call("delete_item", TableName=self.name, Key=_key(_FAILED, detection_id))

    def detections(self) -> Iterator[DetectionRecord]:
        """Every detection record (for export and backtests; not on any hot path)."""
        return (_detection(i) for i in self._scan(FilterExpression="sk = :det",
                                                  ExpressionAttributeValues={":det": {"S": _DETECTION.sk}}))
