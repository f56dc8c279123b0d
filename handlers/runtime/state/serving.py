"""Serving: the claim on a start or stop, the serving decision, and the cost ledger's periods (a
version running, a version training)."""

from __future__ import annotations

from typing import Any, Mapping

from ..clock import now_iso
from .base import TableBase
from .codec import _key
from .conditions import AlreadyDone, ConditionFailed
from .items import _LOOP, _MODEL, _SERVING, _TRAINING
from .records import ServingPeriod, TrainingPeriod, _fields, _serving_period


class ServingLedger(TableBase):
    """Serving claims and the cost ledger."""

    def claim_serving(self, action: str, version: str, stale_before: str, *, training_free: bool) -> bool:
        """Claim a serving action (``start``, ``stop``) on the active model ``version``: one at a time
        (a claim older than ``stale_before`` is taken over), only while the pointer still names the
        version and, with ``training_free``, while no lifecycle run holds the training lock. False
        when the claim is refused."""
        condition = ("active_version = :v AND (attribute_not_exists(serving_claim_at) OR serving_claim_at < :stale)"
                     + (" AND attribute_not_exists(training_owner)" if training_free else ""))
        try:
            self._update(_key(_LOOP), {"serving_claim": action, "serving_claim_at": now_iso()}, condition=condition,
                         values={":v": version, ":stale": stale_before})
            return True
        except ConditionFailed:
            return False

    def release_serving(self, action: str) -> None:
        """The serving action is done (or failed): the next one may be claimed."""
        try:
            self._update(_key(_LOOP), {}, condition="serving_claim = :a", values={":a": action},
                         removes=("serving_claim", "serving_claim_at"))
        except ConditionFailed:
            pass  # released already, or another claim took over a stale one

    def record_serving_decision(self, decision: Mapping[str, Any]) -> None:
        self._update(_key(_LOOP), {"last_serving_decision": dict(decision) | {"at": now_iso()}})

    # -- admission at the model's capacity: the backlog and its drain ----------------------------
    def mark_backlog(self, at: str) -> bool:
        """Images wait for the running model's capacity from ``at`` on (detections park at once until the
        drain has caught up). True for the call that marked it, False when it was marked already."""
        try:
            self._update(_key(_LOOP), {"backlog_since": at}, condition="attribute_not_exists(backlog_since)")
            return True
        except ConditionFailed:
            return False

    def claim_drain(self, owner: str, until: str, now: str) -> bool:
        """Take the drain of the waiting images until ``until`` (one serving look at a time); False while
        another look holds it."""
        try:
            self._update(_key(_LOOP), {"drain_owner": owner, "drain_until": until},
                         condition="attribute_not_exists(drain_until) OR drain_until < :now OR drain_owner = :o",
                         values={":now": now, ":o": owner})
            return True
        except ConditionFailed:
            return False

    def release_drain(self, owner: str, rate: float | None, *, drained: bool) -> None:
        """Give the drain up, with the rate it measured (detections a second per inference unit);
        ``drained``: no image waits any more, so the backlog ends."""
        removes = ("drain_owner", "drain_until", *(("backlog_since",) if drained else ()))
        try:
            self._update(_key(_LOOP), {"drain_rate": rate} if rate else {}, condition="drain_owner = :o",
                         values={":o": owner}, removes=removes)
        except ConditionFailed:
            pass  # its lease ran out and another look took the drain over

    def open_serving_period(self, version: str, units: int, at: str, max_units: int | None = None) -> bool:
        """The version runs (and bills) from ``at``: its period opens once; False if one is open. A stop
        recorded before (``stopped_at``) is over: it is removed."""
        cursor = f"{at}#{version}"
        try:
            self._transact([
                self._put(_key(_SERVING, at, version), {"version": version, "units": units, "start": at,
                                                        "max_units": max_units}),
                {"Update": {"TableName": self.name, "Key": _key(_MODEL, version),
                            "UpdateExpression": "SET serving_since = :c, version = :v REMOVE stopped_at",
                            "ConditionExpression": "attribute_not_exists(serving_since)",
                            "ExpressionAttributeValues": {":c": {"S": cursor}, ":v": {"S": version}}}},
            ])
            return True
        except AlreadyDone:
            return False

    def close_serving_period(self, version: str, at: str) -> bool:
        """The version stopped billing at ``at``: its open period closes once; False if none was open."""
        record = self.model(version)
        if record is None or not record.serving_since:
            return False
        start, _ = record.serving_since.split("#", 1)
        try:
            self._transact([
                {"Update": {"TableName": self.name, "Key": _key(_SERVING, start, version),
                            "UpdateExpression": "SET #u = :u", "ConditionExpression": "attribute_not_exists(#u)",
                            "ExpressionAttributeNames": {"#u": "until"},
                            "ExpressionAttributeValues": {":u": {"S": max(at, start)}}}},
                {"Update": {"TableName": self.name, "Key": _key(_MODEL, version),
                            "UpdateExpression": "REMOVE serving_since", "ConditionExpression": "serving_since = :c",
                            "ExpressionAttributeValues": {":c": {"S": record.serving_since}}}},
            ])
            return True
        except AlreadyDone:
            return False

    def open_training_period(self, version: str, at: str) -> bool:
        """The version trains (and bills) from ``at``; False if its training was recorded before."""
        try:
            self._transact([self._put(_key(_TRAINING, at, version), {"version": version, "start": at})])
            return True
        except AlreadyDone:
            return False

    def close_training_period(self, version: str, started_at: str, at: str) -> bool:
        """The training that started at ``started_at`` ended at ``at``, once; False if it was closed before
        (or never recorded)."""
        try:
            self._update(_key(_TRAINING, started_at, version), {"until": max(at, started_at)},
                         condition="attribute_exists(pk) AND attribute_not_exists(#until)")
            return True
        except ConditionFailed:
            return False

    def serving_periods(self) -> list[ServingPeriod]:
        """Every period a version ran, oldest first."""
        return self.ledger_periods()[0]

    def ledger_periods(self) -> tuple[list[ServingPeriod], list[TrainingPeriod]]:
        """The cost ledger's records, oldest first: the periods versions ran, and the trainings (one query)."""
        items = self._query(_SERVING.partition)
        return ([_serving_period(i) for i in items if _SERVING.matches(i)],
                [TrainingPeriod(**_fields(TrainingPeriod, i)) for i in items if _TRAINING.matches(i)])
