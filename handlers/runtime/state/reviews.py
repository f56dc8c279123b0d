"""Reviews, either backend's: started once, closed once (the claim an accepted copy follows), and
an A2I output rejected once."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

from ..clock import now_iso, today
from .base import TableBase
from .codec import _key, _ser, to_dynamo
from .conditions import AlreadyAnswered, AlreadyDone, ConditionFailed, TaskChanged, TaskLeased
from .items import _COPY, _DAY, _DETECTION, _FAILED, _LOOP, _REJECTED_OUTPUT, _REVIEW, _REVIEWER
from .records import Closing, PendingCopy, ReviewTask, TaskWithAnswers, _attributes, _review, _task_with_answers


class Reviews(TableBase):
    """A2I human loops and builtin review tasks, from their start to their result."""

    def record_review_started(self, task: ReviewTask) -> None:
        """The review, the day's review count and the detection's link, once (a failure of an
        earlier start is no longer listed); a builtin task also enters the open index. Raises
        AlreadyDone."""
        day = task.started_at[:10]
        items = [
            self._put(_key(_REVIEW, task.name), _attributes(task)),
            self._add(_key(_LOOP), {f"reviews_{day}": 1, "open_reviews": 1}),
            self._add(_key(_DAY, day), {f"reviews_started_{task.purpose}": 1}),
            self._add(_key(_DETECTION, task.detection_id), {}, {"human_loop": task.name, "review_status": "open"}),
            self._delete(_key(_FAILED, task.detection_id)),  # a failed start done at last
        ]
        if task.builtin:
            entry = {"name": task.name, "detection_id": task.detection_id, "purpose": task.purpose,
                     "image_uri": task.image_uri, "image_version": task.image_version, "reason": task.reason,
                     "model_labels": task.model_labels, "expires_at": task.expires_at}
            items.append(self._put(self._open_key(task), entry))
        self._transact(items)

    def review(self, name: str) -> ReviewTask | None:
        item = self._get(_key(_REVIEW, name))
        return None if item is None else _review(item)

    def review_with_answers(self, name: str) -> TaskWithAnswers | None:
        """A review with its answers and skips: one Query of its partition."""
        return _task_with_answers(self._query(_REVIEW.key(name)["pk"]))

    def record_review_finished(self, name: str, detection_id: str, status: str, details: Mapping[str, Any], *,
                               closing: Closing | None = None, copy: PendingCopy | None = None) -> None:
        """Close an open review once (accepted, rejected, audited, unresolved, expired, deleted) and
        count it. ``copy``: the image copy an accepted review licenses, noted as pending in the same
        transaction — this write is the claim; the copy follows it (:meth:`copy_done`). A builtin
        task's ``closing`` also takes it out of the open index with the answer that closes it —
        refused while another reviewer holds the lease (TaskLeased), or when another answer came
        since the task was read (TaskChanged) — and counts the reviewers' agreement. Raises
        AlreadyDone if it was closed before (AlreadyAnswered: this reviewer answered it before)."""
        at = details.get("finished_at") or now_iso()
        answer = closing.answer if closing else None
        items: list[dict] = []
        guards: dict[int, type[ConditionFailed]] = {}

        def add(item: dict, guard: type[ConditionFailed] | None = None) -> None:
            if guard:
                guards[len(items)] = guard
            items.append(item)

        if answer:
            add(self._answer_item(answer), AlreadyAnswered)
        update = {"TableName": self.name, "Key": _key(_REVIEW, name), "UpdateExpression": "SET #st = :st, #d = :d",
                  "ConditionExpression": "#st = :open", "ExpressionAttributeNames": {"#st": "status", "#d": "result"},
                  "ExpressionAttributeValues": {":st": {"S": status}, ":open": {"S": "open"},
                                                ":d": _ser.serialize(to_dynamo(dict(details)))}}
        if copy:
            update["UpdateExpression"] += ", #cp = :pending"
            update["ExpressionAttributeNames"]["#cp"] = "copy"
            update["ExpressionAttributeValues"][":pending"] = {"S": "pending"}
        if answer:  # still the answers it was decided with
            given = closing.task.answers or 0
            update["UpdateExpression"] += ", #n = :n1"
            update["ConditionExpression"] += " AND (#n = :n OR attribute_not_exists(#n))" if not given else " AND #n = :n"
            update["ExpressionAttributeNames"]["#n"] = "answers"
            update["ExpressionAttributeValues"] |= {":n": {"N": str(given)}, ":n1": {"N": str(given + 1)}}
        add({"Update": update}, TaskChanged if answer else AlreadyDone)
        day_moves = {f"reviews_{status}": 1}
        if closing:
            entry = {"TableName": self.name, "Key": self._open_key(closing.task)}
            add({"Delete": entry | (self._lease_free(answer.reviewer, at) if answer else {})}, TaskLeased)
            moves: dict[str, dict[str, int]] = {r: {"agreed" if agreed else "disagreed": 1}
                                                for r, agreed in closing.agreement.items()}
            if answer:
                moves[answer.reviewer] = moves.get(answer.reviewer, {}) | {"answers": 1}
                day_moves["review_answers"] = 1
            for reviewer, counts in moves.items():
                named = {"name": answer.reviewer_name} if answer and reviewer == answer.reviewer and answer.reviewer_name else None
                add(self._add(_key(_REVIEWER, reviewer), counts, named))
        add(self._add(_key(_LOOP), {"open_reviews": -1}))
        add(self._add(_key(_DAY, at[:10]), day_moves))
        add(self._add(_key(_DETECTION, detection_id), {}, {"review_status": status,
                                                          "human_label": details.get("label") or "-"}))
        if copy:
            add(self._put(_key(_COPY, name), _attributes(replace(copy, accepted_at=at))))
        self._transact(items, guards)

    def record_output_rejected(self, output_key: str, reason: str) -> bool:
        """Remember a rejected A2I output once; False if it was rejected before."""
        try:
            self._transact([
                self._put(_key(_REJECTED_OUTPUT, output_key), {"reason": reason, "at": now_iso()}),
                self._add(_key(_DAY, today()), {"outputs_rejected": 1}),
            ])
            return True
        except AlreadyDone:
            return False
