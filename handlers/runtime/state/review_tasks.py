"""The builtin review app's tasks: the open index, leases, answers, skips, expiry and the reviewers'
counts. Only the builtin backend's code calls these; ``_open_key``, ``_answer_item`` and ``_lease_free``
also serve the reviews' and copies' writes, which take a builtin task out of the open index."""

from __future__ import annotations

from typing import Iterable

from .base import TableBase
from .codec import _key, _plain, _ser, to_dynamo
from .conditions import AlreadyAnswered, AlreadyDone, TaskChanged, TaskClosed, TaskLeased
from .items import _DAY, _DETECTION, _LOOP, _OPEN_TASK, _REVIEW, _REVIEWER, _TASK_ANSWER, _TASK_SKIP
from .records import (
    OpenTask,
    OpenTaskOverview,
    OpenTaskPage,
    ReviewerStats,
    ReviewTask,
    TaskAnswer,
    _open_task,
    _reviewer_stats,
)


# A transaction holds at most 100 items: expired tasks take 3 each, besides the counters.
MAX_EXPIRED_PER_CALL = 25


class ReviewTasks(TableBase):
    """The builtin review app's tasks and reviewers."""

    def open_tasks(self, reviewer: str, at: str, limit: int, after: str | None = None,
                   exclude: Iterable[str] = ()) -> OpenTaskPage:
        """The next ``limit`` entries of the open index in serving order (after the cursor ``after``),
        less those ``reviewer`` answered or skipped, those past their lifetime at ``at`` (the sweep
        expires them) and the tasks named in ``exclude``: one Query, however many tasks are open.
        Entries leased to other reviewers are among them (the caller passes them over, and learns
        from them how many reviewers are at work)."""
        names = {"#seen": "seen", "#exp": "expires_at"}
        values = {":pk": {"S": _OPEN_TASK.partition}, ":at": {"S": at}, ":me": {"S": reviewer}}
        condition = "NOT contains(#seen, :me) AND #exp > :at"
        excluded = sorted(set(exclude))
        if excluded:
            names["#n"] = "name"
            values |= {f":x{i}": {"S": name} for i, name in enumerate(excluded)}
            condition += f" AND NOT (#n IN ({', '.join(f':x{i}' for i in range(len(excluded)))}))"
        page = self._call(
            "query", TableName=self.name, ConsistentRead=True, Limit=limit,
            KeyConditionExpression="pk = :pk", FilterExpression=condition,
            ExpressionAttributeNames=names, ExpressionAttributeValues=values,
            **({"ExclusiveStartKey": _key(_OPEN_TASK, *after.split("#", 2))} if after else {}))
        last = page.get("LastEvaluatedKey")
        return OpenTaskPage(tuple(_open_task(_plain(i)) for i in page.get("Items", [])),
                            _plain(last)["sk"] if last else None)

    def open_task_overview(self, at: str, max_pages: int) -> OpenTaskOverview:
        """Count the open index, find its oldest entry and those expired by ``at``: Queries of the
        few attributes needed (about 5 000 entries a page), at most ``max_pages``."""
        count, oldest, expired, after = 0, None, [], None
        for _ in range(max_pages):
            page = self._call(
                "query", TableName=self.name, KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": _OPEN_TASK.partition}},
                ProjectionExpression="pk, sk, #n, detection_id, purpose, image_uri, expires_at",
                ExpressionAttributeNames={"#n": "name"}, **({"ExclusiveStartKey": after} if after else {}))
            for entry in (_open_task(_plain(i)) for i in page.get("Items", [])):
                if entry.expires_at <= at:
                    expired.append(entry)
                    continue
                count += 1
                opened = entry.cursor.split("#", 2)[1]
                oldest = opened if oldest is None or opened < oldest else oldest
            after = page.get("LastEvaluatedKey")
            if not after:
                return OpenTaskOverview(count, oldest, tuple(expired))
        return OpenTaskOverview(count, oldest, tuple(expired), complete=False)

    def lease_task(self, task: ReviewTask | OpenTask, reviewer: str, at: str, until: str) -> None:
        """Lease an open task to ``reviewer`` until ``until``, on its entry in the open index and on
        its record (one transaction); raises TaskLeased if another reviewer holds it, or this one
        answered or skipped it, and TaskClosed if it is not open."""
        free = self._lease_free(reviewer, at)
        lease = {":me": {"S": reviewer}, ":until": {"S": until}}
        try:
            self._transact([
                {"Update": {"TableName": self.name, "Key": self._open_key(task),
                            "UpdateExpression": "SET #lr = :me, #lu = :until",
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                            "ConditionExpression": f"attribute_exists(pk) AND ({free['ConditionExpression']}) "
                                                   "AND NOT contains(#seen, :me)",
                            "ExpressionAttributeNames": free["ExpressionAttributeNames"] | {"#seen": "seen"},
                            "ExpressionAttributeValues": free["ExpressionAttributeValues"] | lease}},
                {"Update": {"TableName": self.name, "Key": _key(_REVIEW, task.name),
                            "UpdateExpression": "SET #lr = :me, #lu = :until", "ConditionExpression": "#st = :open",
                            "ExpressionAttributeNames": {"#lr": "lease_reviewer", "#lu": "lease_until", "#st": "status"},
                            "ExpressionAttributeValues": lease | {":open": {"S": "open"}}}},
            ], {0: TaskLeased, 1: TaskClosed})
        except TaskLeased as exc:
            if exc.item is None:  # no entry in the open index: the task closed
                raise TaskClosed(f"task {task.name} is not open") from exc
            raise

    def record_task_answer(self, task: ReviewTask, answer: TaskAnswer, *, wanted: int) -> None:
        """An answer that leaves the task open, now wanting ``wanted`` answers: the answer once, the
        task's count — still the count it was read with, else TaskChanged —, the reviewer seen and
        their lease let go (refused while another reviewer holds it: TaskLeased), the reviewer's and
        the day's count. Raises AlreadyAnswered, TaskClosed."""
        given = task.answers or 0
        self._transact([
            self._answer_item(answer),
            {"Update": {"TableName": self.name, "Key": _key(_REVIEW, task.name),
                        "UpdateExpression": "SET #n = :n1, #w = :w REMOVE lease_reviewer, lease_until",
                        "ConditionExpression": "#st = :open AND (#n = :n OR attribute_not_exists(#n))"
                                               if not given else "#st = :open AND #n = :n",
                        "ExpressionAttributeNames": {"#st": "status", "#n": "answers", "#w": "reviewers"},
                        "ExpressionAttributeValues": {":open": {"S": "open"}, ":n": {"N": str(given)},
                                                      ":n1": {"N": str(given + 1)}, ":w": {"N": str(wanted)}}}},
            self._seen(task, answer.reviewer, answer.answered_at),
            self._add(_key(_REVIEWER, answer.reviewer), {"answers": 1},
                      {"name": answer.reviewer_name} if answer.reviewer_name else None),
            self._add(_key(_DAY, answer.answered_at[:10]), {"review_answers": 1}),
        ], {0: AlreadyAnswered, 1: TaskChanged, 2: TaskLeased})

    def skip_task(self, task: ReviewTask, reviewer: str, at: str) -> None:
        """``reviewer`` skips an open task: never served it again; their lease is let go. Raises
        AlreadyAnswered (skipped before), TaskClosed."""
        skip = self._put(_key(_TASK_SKIP, task.name, reviewer), {"reviewer": reviewer, "at": at})
        count = self._add(_key(_REVIEWER, reviewer), {"skips": 1})
        release = self._add(_key(_REVIEW, task.name), {}, removes=("lease_reviewer", "lease_until"))
        try:
            self._transact([skip, self._seen(task, reviewer, at), release, count], {0: AlreadyAnswered, 1: TaskLeased})
        except TaskLeased:  # another reviewer holds the lease (or the task closed): only note this one as seen
            seen = {"Update": {"TableName": self.name, "Key": self._open_key(task), "UpdateExpression": "ADD #seen :seen",
                               "ConditionExpression": "attribute_exists(pk)", "ExpressionAttributeNames": {"#seen": "seen"},
                               "ExpressionAttributeValues": {":seen": {"SS": [reviewer]}}}}
            self._transact([skip, seen, count], {0: AlreadyAnswered, 1: TaskClosed})

    def expire_review_tasks(self, entries: Iterable[OpenTask | ReviewTask], at: str) -> int:
        """Close open tasks whose lifetime ended before ``at`` as expired, in one transaction that
        moves the counters once; returns how many (0, and nothing changes, when one of them was
        closed meanwhile: the next sweep finds the others)."""
        expired = [e for e in entries if e.expires_at <= at][:MAX_EXPIRED_PER_CALL]
        if not expired:
            return 0
        result = _ser.serialize(to_dynamo({"reason": "no answer within the task's lifetime", "finished_at": at}))
        items: list[dict] = []
        for entry in expired:
            items += [
                {"Update": {"TableName": self.name, "Key": _key(_REVIEW, entry.name),
                            "UpdateExpression": "SET #st = :st, #d = :d", "ConditionExpression": "#st = :open",
                            "ExpressionAttributeNames": {"#st": "status", "#d": "result"},
                            "ExpressionAttributeValues": {":st": {"S": "expired"}, ":open": {"S": "open"},
                                                          ":d": result}}},
                self._delete(self._open_key(entry)),
                self._add(_key(_DETECTION, entry.detection_id), {}, {"review_status": "expired", "human_label": "-"}),
            ]
        items += [self._add(_key(_LOOP), {"open_reviews": -len(expired)}),
                  self._add(_key(_DAY, at[:10]), {"reviews_expired": len(expired)})]
        try:
            self._transact(items)
        except AlreadyDone:
            return 0
        return len(expired)

    def reviewer_stats(self, reviewer: str) -> ReviewerStats:
        return _reviewer_stats(reviewer, self._get(_key(_REVIEWER, reviewer)))

    def reviewers(self) -> list[ReviewerStats]:
        """Every reviewer's counts (one partition: a Query, however large the table), most answers first."""
        items = self._query(_REVIEWER.partition)
        return sorted((_reviewer_stats(i["sk"], i) for i in items), key=lambda r: (-r.answers, r.reviewer))

    def _open_key(self, task: ReviewTask | OpenTask) -> dict:
        cursor = task.cursor if isinstance(task, OpenTask) else task.open_cursor
        return _key(_OPEN_TASK, *cursor.split("#", 2))

    def _answer_item(self, answer: TaskAnswer) -> dict:
        return self._put(_key(_TASK_ANSWER, answer.task, answer.reviewer),
                         {"reviewer": answer.reviewer, "label": answer.label, "answered_at": answer.answered_at})

    @staticmethod
    def _lease_free(reviewer: str, at: str) -> dict:
        """The condition that no other reviewer holds the lease at ``at``."""
        return {"ConditionExpression": "attribute_not_exists(#lu) OR #lu < :at OR #lr = :me",
                "ExpressionAttributeNames": {"#lu": "lease_until", "#lr": "lease_reviewer"},
                "ExpressionAttributeValues": {":at": {"S": at}, ":me": {"S": reviewer}}}

    def _seen(self, task: ReviewTask, reviewer: str, at: str) -> dict:
        """The open entry notes ``reviewer`` (answered or skipped) and drops their lease; refused while
        another reviewer holds it, or when the task left the index."""
        free = self._lease_free(reviewer, at)
        return {"Update": {"TableName": self.name, "Key": self._open_key(task),
                           "UpdateExpression": "ADD #seen :seen REMOVE #lu, #lr",
                           "ConditionExpression": f"attribute_exists(pk) AND ({free['ConditionExpression']})",
                           "ExpressionAttributeNames": free["ExpressionAttributeNames"] | {"#seen": "seen"},
                           "ExpressionAttributeValues": free["ExpressionAttributeValues"] | {
                               ":seen": {"SS": [reviewer]}}}}
