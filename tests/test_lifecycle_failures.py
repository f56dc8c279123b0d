"""Every way a lifecycle run can fail, through the real state machine: the
running model keeps serving, nothing this run started is left running, the
lock is free, the operator is told why, and the same data does not retrain on
the next poll.

The failures that leave v1 serving share one stack, as a loop in an account
would meet them one after another; each test first checks that the previous
one left the loop as it should be.
"""

from __future__ import annotations

import itertools

import pytest
from lifecycle_support import (
    deploy_first,
    lifecycle_stack,
    loop,
    new_since_training,
    output,
    seed,
)

from handlers.runtime import context
from sandbox.custom_labels import START_FAILS, TRAINING_FAILS
from sandbox.scripted_trainer import scripted_custom_labels

_batches = itertools.count(1)


@pytest.fixture(scope="module")
def serving():
    with lifecycle_stack(scripted_custom_labels()) as stack:
        deploy_first(stack)
        yield stack


@pytest.fixture
def stack(serving):
    """The shared stack with v1 serving alone, no lock held, no new data, nothing to tell."""
    state = loop()
    assert (state.active_version, state.training_owner) == ("v1", None)
    assert serving.models.running == {"v1"} and new_since_training(serving) == 0
    serving.notifications()
    return serving


def _next_version() -> str:
    return f"v{context.table().loop().versions + 1}"


def _replace_attempt(stack) -> dict:
    """New data after v1, then a run that tries to replace v1."""
    seed(stack, {"cat": 5, "dog": 5}, start=1000 * next(_batches))
    assert new_since_training(stack) == 10
    return stack.run_lifecycle()


def _assert_cleaned_up(stack, *, why: str, active: str = "v1") -> list[dict]:
    state = loop()
    assert state.active_version == active
    assert state.active_arn == stack.models.arn(active)
    assert stack.models.running == {active}, "a model this run started is still running"
    assert state.training_owner is None, "the training lock was not released"
    notes = stack.notifications()
    assert any(why in note["message"] for note in notes), notes
    return notes


def _assert_does_not_retrain(stack) -> None:
    assert new_since_training(stack) == 0
    trained = len(stack.models.versions)
    again = stack.run_lifecycle()
    assert output(again)["check"]["value"]["train"] is False
    assert len(stack.models.versions) == trained


def test_f1_below_the_gate_is_not_deployed(stack):
    models, version = stack.models, _next_version()
    models.trainer.script(version, f1=0.55)
    starts = len(models.operations("StartProjectVersion"))
    execution = _replace_attempt(stack)

    assert execution["status"] == "SUCCEEDED"  # a rejection is a decision, not a failure
    assert output(execution)["outcome"]["value"] == "rejected"
    notes = _assert_cleaned_up(stack, why="F1 0.550 is below Minimum-F1-Score 0.8")
    assert f"Model {version} not deployed" in notes[0]["subject"]
    assert len(models.operations("StartProjectVersion")) == starts  # never started
    record = context.table().model(version)
    assert record.decision == {"deploy": False, "reason": "F1 0.550 is below Minimum-F1-Score 0.8",
                                  "policy": "policies.defaults"}
    assert record.evaluation["f1"] == 0.55
    assert loop().active_f1 == 0.9
    _assert_does_not_retrain(stack)


def test_training_failure(stack):
    models, version = stack.models, _next_version()
    models.trainer.script(version, training=TRAINING_FAILS, message="The manifest has no valid images.")
    starts = len(models.operations("StartProjectVersion"))
    execution = _replace_attempt(stack)

    assert execution["status"] == "FAILED" and execution["error"] == "LifecycleFailed"
    assert models.status(version) == "TRAINING_FAILED"
    notes = _assert_cleaned_up(stack, why="model status TRAINING_FAILED: The manifest has no valid images.")
    assert "Model lifecycle run failed" in notes[0]["subject"]
    assert len(models.operations("StartProjectVersion")) == starts
    assert context.table().model(version).status == "TRAINING_FAILED"
    _assert_does_not_retrain(stack)


def test_start_failure(stack):
    models, version = stack.models, _next_version()
    models.trainer.script(version, starting=START_FAILS, message="Not enough capacity.")
    execution = _replace_attempt(stack)

    assert execution["status"] == "FAILED"
    assert models.status(version) == "FAILED"
    _assert_cleaned_up(stack, why="model status FAILED: Not enough capacity.")
    assert models.arn("v1") not in [c["ProjectVersionArn"] for c in models.operations("StopProjectVersion")]
    _assert_does_not_retrain(stack)


def test_error_in_a_task_is_caught_and_cleaned_up(stack):
    models, version = stack.models, _next_version()

    def lose_the_summary():  # the evaluation summary cannot be read: evaluate fails after training
        summary = models.versions[version].evaluation["Summary"]["S3Object"]
        stack.client("s3").delete_object(Bucket=summary["Bucket"], Key=summary["Name"])

    models.on_status[(version, "TRAINING_COMPLETED")] = lose_the_summary
    execution = _replace_attempt(stack)

    assert execution["status"] == "FAILED"
    assert version not in models.running and models.status(version) == "TRAINING_COMPLETED"
    _assert_cleaned_up(stack, why="NoSuchKey")
    _assert_does_not_retrain(stack)


def test_switch_lost_to_a_concurrent_change_stops_the_candidate(stack):
    models, version, table = stack.models, _next_version(), context.table()
    v1 = models.arn("v1")
    # While the candidate starts, something else moves the pointer (say an operator's rollback elsewhere).
    models.on_status[(version, "RUNNING")] = lambda: table.switch_active("v1b", f"{v1}b", 0.91, "v1")
    try:
        execution = _replace_attempt(stack)

        assert execution["status"] == "FAILED"
        state = loop()
        assert state.active_version == "v1b"  # the winner keeps serving
        assert state.training_owner is None
        assert version not in models.running and models.status(version) == "STOPPING"
        note = stack.notifications()[0]["message"]
        assert "SwitchLost" in note and "active model is v1b, expected v1" in note
    finally:
        table.switch_active("v1", v1, 0.9, "v1b")
