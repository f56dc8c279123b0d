"""Training check: gather the facts in O(1) calls (one query of the loop
partition), ask the policies, and take the training lock when they say train.

An operator's check (``labelloop train``) is a request, which the automatic
training switch does not refuse: it binds the schedule's checks only.

Two checks at the same moment start exactly one training: the lock is a
conditional write. A lock older than the longest a run can last (the state
machine's timeout, passed in as ``run.lock_seconds``) belongs to a run that was
stopped or timed out before its cleanup: it no longer blocks training, it is
taken over and the operator is told.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from plugins import ModelState

from ..runtime import config, context
from ..runtime.lambda_entry import entry_point
from ..runtime.state import LockHeld, LoopState
from ..runtime.workflow import MANUAL, RunState


def stale_before(lock_seconds: int | None) -> str | None:
    """The lock time before which a lock is stale, as the table stores times."""
    if not lock_seconds:
        return None
    at = datetime.now(timezone.utc) - timedelta(seconds=int(lock_seconds))
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lock_is_stale(loop: LoopState, stale: str | None) -> bool:
    return bool(loop.training_owner and stale and (loop.training_started_at or "") < stale)


def training_facts(labels: tuple[str, ...], stale: str | None = None):
    loop, data = context.table().loop_and_dataset()
    dataset = data.stats(labels)
    in_progress = bool(loop.training_owner) and not lock_is_stale(loop, stale)
    model = ModelState(loop.active_version, loop.active_f1, in_progress, loop.training_version if in_progress else None,
                       loop.training_started_at if in_progress else None)
    return loop, dataset, model


def check(owner: str, trigger: str, lock_seconds: int | None = None) -> dict:
    cfg = config.current()
    stale = stale_before(lock_seconds)
    loop, dataset, model = training_facts(cfg.labels, stale)
    if loop.training_owner == owner:
        # This run took the lock already: the attempt that took it died or lost the response. Its decision
        # stands (recorded with the lock); deciding again would meet the run's own training as in progress.
        record = dict(loop.last_training_decision)
        record.pop("at", None)
        return record | {"incumbent_version": loop.active_version, "incumbent_arn": loop.active_arn,
                         "version": loop.training_version or f"v{loop.versions}"}
    decision = context.engine().training(dataset, model, context.settings(), requested=trigger == MANUAL)
    record = {"train": decision.train, "reason": decision.reason, "policy": decision.policy, "trigger": trigger,
              "new_images": dataset.new_total, "images": dataset.total}
    result = record | {"incumbent_version": loop.active_version, "incumbent_arn": loop.active_arn}
    if not decision.train:
        context.table().record_training_decision(record)
        context.announce("training_decided", f"no training: {decision.reason}", record)
        return result
    try:
        version = context.table().take_training_lock(owner, record, stale)
    except LockHeld:
        reason = "another training check took the training lock a moment ago"
        return result | {"train": False, "reason": reason, "policy": "labelloop"}
    if lock_is_stale(loop, stale):
        context.announce(
            "stale_lock", f"Took over the training lock of a run that never finished ({loop.training_owner})",
            {"run": loop.training_owner, "locked_at": loop.training_started_at,
             "version": loop.training_version or "-"}, notify=True,
            footer=f"Check that model {loop.training_version or '(none)'} is not left running.")
    context.announce("training_decided", f"training {version}: {decision.reason}", record | {"version": version})
    return result | {"version": version}


@entry_point
def handler(event: dict) -> dict:
    run = RunState.from_event(event)
    return check(run.owner, run.trigger, run.lock_seconds)
