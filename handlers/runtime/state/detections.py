"""Detections: each image version's record and its count, the images waiting (for a model or for its
capacity, sharded) and the failed."""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from .. import shards
from ..clock import now_iso
from .base import TableBase
from .codec import _key, _plain, attribute_values
from .conditions import AlreadyDone, ConditionFailed
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


def _pending_partition(part: int) -> str:
    return _PENDING.key(part, "", "")["pk"]


class Detections(TableBase):
    """Detections, the pending and the failed."""

    def begin_detection(self) -> LoopState:
        """One read: the active model, whether images wait for its capacity, today's reviews and the
        training images per label at the last training."""
        return _loop_state(self._get(_key(_LOOP)))

    # Every write of an image touches only its own items and its shard of the day's counts (no item that
    # every image writes): a classified image is counted in the transaction that writes its record, so a
    # duplicate or a retry counts nothing; an image that waits (pending) is counted once it is detected.
    def record_detection(self, record: DetectionRecord, *, pending: bool = False) -> None:
        """Write a detection once, with its day's outcome count (a pending one: its place in the queue).
        Raises AlreadyDone if it exists."""
        if pending:
            self._transact([self._put(_key(_DETECTION, record.detection_id), _attributes(record)),
                            self._pending_item(record)])
            return
        self._transact([self._put(_key(_DETECTION, record.detection_id), _attributes(record)),
                        *self._counted(record, {f"outcome_{record.outcome}": 1})])

    def replace_pending(self, record: DetectionRecord, cursor: str, *, keep_pending: bool = False) -> None:
        """A pending detection detected at last: overwrite the record, count it, drop the pending item
        (and a failure of an earlier replay). Raises AlreadyDone if it was replaced before.
        ``keep_pending``: the pending item stays (its review is still to start: ``drop_pending`` once it
        has, so a caller that dies in between finds the image waiting again)."""
        self._transact([
            self._replace(record, "pending"),
            *self._counted(record, {f"outcome_{record.outcome}": 1, "replayed": 1}),
            *([] if keep_pending else [{"Delete": {"TableName": self.name, "Key": self._pending_key(cursor)}}]),
            self._delete(_key(_FAILED, record.detection_id)),
        ])

    def drop_pending(self, cursor: str) -> None:
        """The pending item of an image whose detection is done, its review started (or its failure listed)."""
        self._call("delete_item", TableName=self.name, Key=self._pending_key(cursor))

    def replace_failed(self, record: DetectionRecord, failed: DetectionRecord, *, pending: bool = False) -> None:
        """A failed detection done at last (its event redelivered, or replayed): overwrite the record,
        move the failure's count to this outcome, drop it from the failed. Raises AlreadyDone if it is
        not failed (any more)."""
        counted = {} if pending else {f"outcome_{record.outcome}": 1}
        self._transact([
            self._replace(record, "failed"),
            *self._days((record.detected_at[:10], counted), (failed.detected_at[:10], {"outcome_failed": -1}),
                        shard_of=record.detection_id, detected_at=None if pending else record.detected_at),
            self._delete(_key(_FAILED, record.detection_id)),
            *([self._pending_item(record)] if pending else []),
        ])

    def _counted(self, record: DetectionRecord, counts: Mapping[str, int]) -> list[dict]:
        """A detected image's counts, on its shard of its day."""
        return self._days((record.detected_at[:10], counts), shard_of=record.detection_id,
                          detected_at=record.detected_at)

    def _replace(self, record: DetectionRecord, outcome: str) -> dict:
        """A put of the record over one whose outcome is ``outcome``."""
        item = _key(_DETECTION, record.detection_id) | attribute_values(_attributes(record))
        return {"Put": {"TableName": self.name, "Item": item,
                        "ConditionExpression": "#o = :was", "ExpressionAttributeNames": {"#o": "outcome"},
                        "ExpressionAttributeValues": {":was": {"S": outcome}}}}

    def _pending_item(self, record: DetectionRecord) -> dict:
        return self._put(self._pending_key(f"{record.detected_at}#{record.detection_id}"), {
            "detection_id": record.detection_id, "bucket": record.bucket, "key": record.key,
            "etag": record.etag, "version_id": record.version_id})

    @staticmethod
    def _pending_key(cursor: str) -> dict:
        """The key of a pending item: its shard is its detection id's."""
        detected_at, detection_id = cursor.split("#", 1)
        return _key(_PENDING, shards.shard(detection_id), detected_at, detection_id)

    def pending(self) -> list[PendingDetection]:
        """Every pending detection, oldest first (a Query per shard)."""
        return sorted((_pending(i) for part in shards.all_shards() for i in self._query(_pending_partition(part))),
                      key=lambda p: p.cursor)

    def waiting(self) -> Waiting:
        """How many images wait and when the first arrived: each shard's keys, in order (a Query per shard
        and per 1 MB of keys)."""
        count, oldest = 0, None
        for part in shards.all_shards():
            kwargs: dict[str, Any] = {"TableName": self.name, "ConsistentRead": True, "ProjectionExpression": "sk",
                                      "KeyConditionExpression": "pk = :pk",
                                      "ExpressionAttributeValues": {":pk": {"S": _pending_partition(part)}}}
            while True:
                page = self._call("query", **kwargs)
                items = page.get("Items", [])
                if items and (oldest is None or items[0]["sk"]["S"] < oldest):
                    oldest = items[0]["sk"]["S"]  # a shard's first key is its oldest (the cursor starts with the time)
                count += len(items)
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return Waiting(count, oldest.split("#", 1)[0]) if count else Waiting()

    def pending_page(self, after: str | None, limit: int) -> list[PendingDetection]:
        """Up to ``limit`` pending detections after the cursor ``after``, oldest first: the first ``limit``
        of each shard (a Query each), merged."""
        values = {**({":after": {"S": after}} if after else {})}
        found: list[PendingDetection] = []
        for part in shards.all_shards():
            page = self._call("query", TableName=self.name, ConsistentRead=True, Limit=limit,
                              ExpressionAttributeValues=values | {":pk": {"S": _pending_partition(part)}},
                              KeyConditionExpression="pk = :pk" + (" AND sk > :after" if after else ""))
            found.extend(_pending(_plain(i)) for i in page.get("Items", []))
        return sorted(found, key=lambda p: p.cursor)[:limit]

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
                            *self._days((record.detected_at[:10], {"outcome_failed": 1}),
                                        shard_of=record.detection_id), failure])
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
