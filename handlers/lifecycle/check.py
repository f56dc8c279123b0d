"""Training check: gather the facts in O(1) calls (one query of the loop
partition), ask the policies, and take the training lock when they say train.

Two checks at the same moment start exactly one training: the lock is a
conditional write.
"""

from __future__ import annotations

from plugins import DatasetStats, ModelState

from ..runtime import config, context
from ..runtime.lambda_entry import entry_point
from ..runtime.state import Duplicate


def training_facts(labels: tuple[str, ...]):
    loop, counts = context.table().loop_and_counts()
    trained = loop.raw.get("trained_counts") or {}
    current = {label: max(0, int(counts.get(label, {}).get("count", 0))) for label in labels}
    dataset = DatasetStats(current, {label: max(0, n - int(trained.get(label, 0))) for label, n in current.items()},
                           labels, loop.raw.get("trained_at"))
    model = ModelState(loop.active_version, loop.active_f1, bool(loop.training_owner), loop.training_version,
                       loop.training_started_at)
    return loop, dataset, model


def check(owner: str, trigger: str) -> dict:
    cfg = config.current()
    loop, dataset, model = training_facts(cfg.labels)
    decision = context.engine().training(dataset, model, context.settings())
    record = {"train": decision.train, "reason": decision.reason, "policy": decision.policy, "trigger": trigger,
              "new_images": dataset.new_total, "images": dataset.total}
    result = record | {"incumbent_version": loop.active_version, "incumbent_arn": loop.active_arn}
    if not decision.train:
        context.table().record_training_decision(record)
        context.announce("training_decided", f"no training: {decision.reason}", record)
        return result
    try:
        version = context.table().take_training_lock(owner, record)
    except Duplicate:
        reason = "another training check took the training lock a moment ago"
        return result | {"train": False, "reason": reason, "policy": "labelloop"}
    context.announce("training_decided", f"training {version}: {decision.reason}", record | {"version": version})
    return result | {"version": version}


@entry_point
def handler(event: dict) -> dict:
    return check(event["run"]["owner"], event.get("trigger", "schedule"))
