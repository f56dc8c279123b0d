"""The model lifecycle: the training lock, the versions and their records, the active model pointer
(compare-and-swap)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Mapping

from botocore.exceptions import ClientError

from .. import aws
from ..clock import now_iso
from .base import TableBase
from .codec import _key, _plain, _ser, to_dynamo
from .conditions import ActiveModelMoved, LockHeld
from .items import _LOOP, _MODEL
from .records import ModelVersion, _model


class Lifecycle(TableBase):
    """The training lock, model versions and the active model."""

    def take_training_lock(self, owner: str, decision: Mapping[str, Any], stale_before: str | None = None) -> str:
        """Take the lock and number the next version; raises LockHeld if a training holds it.
        A lock taken before ``stale_before`` (its run can no longer be running) is taken over."""
        at = now_iso()
        condition, values = "attribute_not_exists(training_owner)", {}
        if stale_before:
            condition += " OR training_started_at < :stale"
            values[":stale"] = {"S": stale_before}
        try:
            item = self._call(
                "update_item", TableName=self.name, Key=_key(_LOOP),
                UpdateExpression="SET training_owner = :o, training_started_at = :t, last_training_decision = :d "
                                 "REMOVE training_version, strays ADD versions :one",
                ConditionExpression=condition,
                ExpressionAttributeValues={":o": {"S": owner}, ":t": {"S": at}, ":one": {"N": "1"}, **values,
                                           ":d": _ser.serialize(to_dynamo(dict(decision) | {"at": at}))},
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if aws.error_code(exc) != "ConditionalCheckFailedException":
                raise
            loop = self.loop()
            if loop.training_owner == owner:  # this call took it already: the response to a retried write was lost
                return loop.training_version or f"v{loop.versions}"
            raise LockHeld("a training holds the lock") from exc
        return f"v{int(_plain(item['Attributes'])['versions'])}"

    def set_training_version(self, owner: str, version: str) -> None:
        """Name the version this run trains; raises LockHeld if the lock is not this run's."""
        self._update(_key(_LOOP), {"training_version": version}, condition="training_owner = :o",
                     values={":o": owner}, conflict=LockHeld)

    def record_training_decision(self, decision: Mapping[str, Any]) -> None:
        self._update(_key(_LOOP), {"last_training_decision": dict(decision) | {"at": now_iso()}})

    def release_training_lock(self, owner: str) -> bool:
        try:
            self._update(_key(_LOOP), {}, condition="training_owner = :o", values={":o": owner},
                         removes=("training_owner", "training_version", "training_started_at", "strays"),
                         conflict=LockHeld)
            return True
        except LockHeld:
            return False  # already released (a retried cleanup) or taken by another run

    def keep_lock_for_strays(self, owner: str, strays: Mapping[str, str]) -> bool:
        """The run ends with models it could not stop (version -> ARN): its lock stays, naming them, until
        a later run has stopped them. False if the lock is not this run's."""
        try:
            self._update(_key(_LOOP), {"strays": dict(strays)}, condition="training_owner = :o",
                         values={":o": owner}, conflict=LockHeld)
            return True
        except LockHeld:
            return False

    def switch_active(self, version: str, arn: str, f1: float | None, expected_version: str | None) -> dict:
        """Compare-and-swap the active model pointer; raises ActiveModelMoved if it moved since
        ``expected_version``."""
        loop = self.loop()
        if loop.active_version != expected_version:
            raise ActiveModelMoved(f"active model is {loop.active_version}, expected {expected_version}")
        condition = "attribute_not_exists(active_version)" if expected_version is None else "active_version = :expected"
        values = {} if expected_version is None else {":expected": expected_version}
        self._update(_key(_LOOP), {
            "active_version": version, "active_arn": arn, "active_f1": f1, "switched_at": now_iso(),
            "previous_version": loop.active_version or "", "previous_arn": loop.active_arn or "",
        }, condition=condition, values=values, conflict=ActiveModelMoved)
        return {"previous_version": loop.active_version, "previous_arn": loop.active_arn}

    def update_model(self, version: str, **changes: Any) -> ModelVersion:
        """Set fields of a version's record (``ModelVersion``'s names; None clears one)."""
        unknown = set(changes) - {f.name for f in fields(ModelVersion)} - {"version"}
        if unknown:
            raise TypeError(f"ModelVersion has no field {', '.join(sorted(unknown))}")
        return _model(self._update(_key(_MODEL, version), changes | {"version": version, "updated_at": now_iso()}))

    def model(self, version: str | None) -> ModelVersion | None:
        item = self._get(_key(_MODEL, version)) if version else None
        return None if item is None else _model(item)

    def models(self) -> list[ModelVersion]:
        """Every numbered version's record, oldest first (one read each: versions are v1 … v<versions>)."""
        count = self.loop().versions
        return [m for m in (self.model(f"v{n}") for n in range(1, count + 1)) if m is not None]
