"""Rollback (an operator action): make the previous version the deployment
candidate again; the lifecycle state machine then starts it, switches back and
stops the current one."""

from __future__ import annotations

from ..runtime import context
from ..runtime.lambda_entry import entry_point
from ..runtime.state import LockHeld
from ..runtime.workflow import RunState
from .check import stale_before
from .evaluate import candidate, evaluation_from_record
from plugins import Evaluation


class NothingToRollBack(Exception):
    """There is no previous version to go back to."""


class TrainingInProgress(Exception):
    """A lifecycle run holds the lock; roll back after it finishes."""


def prepare(owner: str, lock_seconds: int | None = None, to: str | None = None) -> dict:
    table = context.table()
    loop = table.loop()
    version, arn = _target(table, loop, to)
    try:
        table.take_training_lock(owner, {"train": False, "reason": f"rollback to {version}",
                                         "policy": "operator", "trigger": "rollback"}, stale_before(lock_seconds))
    except LockHeld:
        raise TrainingInProgress(f"a lifecycle run ({loop.training_version or 'starting'}) holds the lock") from None
    evaluation = evaluation_from_record(version, table.model(version)) or Evaluation(version, 0.0)
    return {"deploy": True, "reason": f"operator rollback from {loop.active_version}", "policy": "operator"} | candidate(
        version, arn, evaluation, loop.active_version, loop.active_arn, context.settings())


def _target(table, loop, to: str | None) -> tuple[str, str]:
    """The version to go back to and its model's ARN: ``to``, or the previous version."""
    if to is None or to == loop.previous_version:
        if not loop.previous_version or not loop.previous_arn:
            raise NothingToRollBack(f"no previous version to roll back to (active: {loop.active_version or 'none'})")
        return loop.previous_version, loop.previous_arn
    if to == loop.active_version:
        raise NothingToRollBack(f"{to} is the active version already")
    record = table.model(to)
    if record is None or not record.arn:
        raise NothingToRollBack(f"no trained version {to} to roll back to")
    return to, record.arn


@entry_point
def handler(event: dict) -> dict:
    run = RunState.from_event(event)
    return prepare(run.owner, run.lock_seconds, run.rollback_to)
