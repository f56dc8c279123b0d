"""Lifecycle failures that need a stack of their own: bounded polling (short
maximum waits), a failed first deployment, and a lock left behind by a run
that never reached its cleanup."""

from __future__ import annotations

import state_support
from lifecycle_support import (
    deploy_first,
    lifecycle_stack,
    loop,
    new_since_training,
    output,
    seed,
)

from handlers.runtime import context
from sandbox.custom_labels import START_FAILS
from sandbox.scripted_trainer import scripted_custom_labels


def _replace_attempt(stack, start: int) -> dict:
    seed(stack, {"cat": 5, "dog": 5}, start=start)
    assert new_since_training(stack) == 10
    return stack.run_lifecycle()


def _assert_cleaned_up(stack, *, why: str) -> list[dict]:
    state = loop()
    assert state.active_version == "v1" and state.active_arn == stack.models.arn("v1")
    assert stack.models.running == {"v1"}, "a model this run started is still running"
    assert state.training_owner is None, "the training lock was not released"
    notes = stack.notifications()
    assert any(why in note["message"] for note in notes), notes
    return notes


def test_polling_is_bounded():
    # Every version is up at its first poll unless scripted otherwise: the 0 s maxima hit only the stuck ones.
    models = scripted_custom_labels(training=("TRAINING_COMPLETED",), starting=("RUNNING",))
    models.trainer.script("v2", starting=("STARTING",))
    models.trainer.script("v3", training=("TRAINING_IN_PROGRESS",))
    with lifecycle_stack(models, max_training_seconds=0, max_start_seconds=0) as stack:
        deploy_first(stack)

        start_stuck = _replace_attempt(stack, 100)
        assert start_stuck["status"] == "FAILED"
        assert models.status("v2") == "STOPPING"
        notes = _assert_cleaned_up(stack, why="TIMED_OUT: still STARTING after")
        assert "stopped v2, which this run started" in notes[0]["message"]
        (stop,) = models.operations("StopProjectVersion")
        assert stop["ProjectVersionArn"] == models.arn("v2")

        training_stuck = _replace_attempt(stack, 200)
        assert training_stuck["status"] == "FAILED"
        assert models.status("v3") == "TRAINING_IN_PROGRESS"
        _assert_cleaned_up(stack, why="TIMED_OUT: still TRAINING_IN_PROGRESS after")
        assert len(models.operations("StartProjectVersion")) == 2  # v1 and v2
        assert context.table().model("v3").status == "TIMED_OUT"


def test_first_deployment_failure_leaves_nothing_running():
    models = scripted_custom_labels(starting=START_FAILS)
    with lifecycle_stack(models) as stack:
        seed(stack, {"cat": 6, "dog": 6})
        execution = stack.run_lifecycle()

        assert execution["status"] == "FAILED"
        state = loop()
        assert state.active_version is None and state.training_owner is None
        assert models.running == set()
        assert any("model status FAILED" in n["message"] for n in stack.notifications())


def test_stale_lock_of_a_run_that_never_finished_is_taken_over():
    with lifecycle_stack() as stack:
        seed(stack, {"cat": 6, "dog": 6})
        table = context.table()
        table.take_training_lock("ghost-run", {"train": True})
        table.set_training_version("ghost-run", "v1")

        fresh = stack.run_lifecycle()  # a recent lock blocks
        assert output(fresh)["check"]["value"]["train"] is False
        assert loop().training_owner == "ghost-run"

        state_support.set_loop(training_started_at="2020-01-01T00:00:00.000000Z")
        execution = stack.run_lifecycle()

        assert execution["status"] == "SUCCEEDED"
        assert loop().active_version == "v2" and loop().training_owner is None
        subjects = [n["subject"] for n in stack.notifications()]
        assert any("Took over the training lock of a run that never finished (ghost-run)" in s for s in subjects)
