"""Two training checks at the same moment start exactly one training."""

from __future__ import annotations

import threading

from lifecycle_support import lifecycle_stack, loop, output, seed

from handlers.lifecycle import check as check_module
from handlers.runtime import context


def test_two_checks_that_read_the_same_facts_take_the_lock_once(monkeypatch):
    with lifecycle_stack() as stack:
        seed(stack, {"cat": 6, "dog": 6})
        facts = check_module.training_facts(stack.config.labels)  # both read before either writes
        monkeypatch.setattr(check_module, "training_facts", lambda labels, stale=None: facts)

        first = check_module.check("run-a", "schedule")
        second = check_module.check("run-b", "schedule")

        assert first["train"] is True and first["version"] == "v1"
        assert second["train"] is False and "version" not in second
        assert second["reason"] == "another training check took the training lock a moment ago"
        assert loop().training_owner == "run-a"
        assert context.table().release_training_lock("run-b") is False  # not its lock
        assert loop().training_owner == "run-a"
        monkeypatch.undo()  # a check that reads the facts now sees the training in progress
        third = check_module.check("run-c", "schedule")
        assert third["train"] is False and "already in progress" in third["reason"]
        assert context.table().release_training_lock("run-a") is True
        assert loop().training_owner is None


def test_two_executions_at_once_train_one_version(monkeypatch):
    arrived = threading.Barrier(2, timeout=10)
    read_facts = check_module.training_facts

    def facts_then_meet(labels, stale=None):
        facts = read_facts(labels, stale)
        arrived.wait()  # both executions have read "no training in progress" before either takes the lock
        return facts

    monkeypatch.setattr(check_module, "training_facts", facts_then_meet)
    with lifecycle_stack() as stack:
        seed(stack, {"cat": 6, "dog": 6})
        arns = [stack.start_execution("lifecycle", {"trigger": "schedule"}) for _ in range(2)]
        stack.wait_for_executions()
        runs = [next(e for e in stack.executions if e["executionArn"] == arn) for arn in arns]

        errors = [(i.function, i.error, i.result) for i in stack.invocations if i.error]
        assert [r["status"] for r in runs] == ["SUCCEEDED", "SUCCEEDED"], ([output(r).get("check") for r in runs], errors)
        trained = [output(r)["check"]["value"]["train"] for r in runs]
        assert sorted(trained) == [False, True]
        assert len(stack.models.operations("CreateProjectVersion")) == 1
        assert loop().active_version == "v1" and loop().training_owner is None
        assert stack.models.running == {"v1"}
        loser = runs[trained.index(False)]
        assert output(loser)["check"]["value"]["reason"] == "another training check took the training lock a moment ago"


def test_a_check_run_again_after_it_took_the_lock_keeps_its_decision():
    """The function died after taking the lock and Step Functions runs it again: the run trains the version
    it numbered, instead of meeting its own lock as a training in progress."""
    with lifecycle_stack() as stack:
        seed(stack, {"cat": 6, "dog": 6})
        first = check_module.check("run-a", "schedule")
        again = check_module.check("run-a", "schedule")
        assert first["train"] is True and again == first
        assert loop().versions == 1 and loop().training_owner == "run-a"
        other = check_module.check("run-b", "schedule")
        assert other["train"] is False and "already in progress" in other["reason"]
