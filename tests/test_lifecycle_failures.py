"""Every way a lifecycle run can fail, through the real state machine: the
running model keeps serving, nothing this run started is left running, the
lock is free, the operator is told why, and the same data does not retrain on
the next poll."""

from __future__ import annotations

from fakes import FakeCustomLabels
from handlers.runtime import context
from lifecycle_support import deploy_first, finish_result, lifecycle_stack, loop, new_since_training, output, seed


def _replace_attempt(stack) -> dict:
    """New data after v1, then a run that tries to replace v1 with v2."""
    seed(stack, {"cat": 5, "dog": 5}, start=100)
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
    again = stack.run_lifecycle()
    assert output(again)["check"]["value"]["train"] is False
    assert "v3" not in stack.models.versions


def test_f1_below_the_gate_is_not_deployed():
    models = FakeCustomLabels()
    models.script("v2", f1=0.55)
    with lifecycle_stack(models) as stack:
        deploy_first(stack)
        execution = _replace_attempt(stack)

        assert execution["status"] == "SUCCEEDED"  # a rejection is a decision, not a failure
        assert output(execution)["outcome"]["value"] == "rejected"
        notes = _assert_cleaned_up(stack, why="F1 0.550 is below Minimum-F1-Score 0.8")
        assert "Model v2 not deployed" in notes[0]["subject"]
        assert [c["ProjectVersionArn"] for c in models.operations("StartProjectVersion")] == [models.arn("v1")]
        record = context.table().model("v2")
        assert record["decision"] == {"deploy": False, "reason": "F1 0.550 is below Minimum-F1-Score 0.8",
                                      "policy": "policies.defaults"}
        assert record["evaluation"]["f1"] == 0.55
        assert loop().active_f1 == 0.9
        _assert_does_not_retrain(stack)


def test_training_failure():
    models = FakeCustomLabels()
    models.script("v2", training=FakeCustomLabels.TRAINING_FAILS, message="The manifest has no valid images.")
    with lifecycle_stack(models) as stack:
        deploy_first(stack)
        execution = _replace_attempt(stack)

        assert execution["status"] == "FAILED" and execution["error"] == "LifecycleFailed"
        assert models.status("v2") == "TRAINING_FAILED"
        notes = _assert_cleaned_up(stack, why="model status TRAINING_FAILED: The manifest has no valid images.")
        assert "Model lifecycle run failed" in notes[0]["subject"]
        assert len(models.operations("StartProjectVersion")) == 1  # v1 only
        assert context.table().model("v2")["status"] == "TRAINING_FAILED"
        _assert_does_not_retrain(stack)


def test_start_failure():
    models = FakeCustomLabels()
    models.script("v2", starting=FakeCustomLabels.START_FAILS, message="Not enough capacity.")
    with lifecycle_stack(models) as stack:
        deploy_first(stack)
        execution = _replace_attempt(stack)

        assert execution["status"] == "FAILED"
        assert models.status("v2") == "FAILED"
        _assert_cleaned_up(stack, why="model status FAILED: Not enough capacity.")
        assert models.arn("v1") not in [c["ProjectVersionArn"] for c in models.operations("StopProjectVersion")]
        _assert_does_not_retrain(stack)


def test_start_timeout_stops_the_model_it_started():
    models = FakeCustomLabels()
    models.script("v1", starting=("RUNNING",))  # v1 is up at the first poll: the 0 s maximum does not hit it
    models.script("v2", starting=("STARTING",))
    with lifecycle_stack(models, max_start_seconds=0) as stack:
        deploy_first(stack)
        execution = _replace_attempt(stack)

        assert execution["status"] == "FAILED"
        assert models.status("v2") == "STOPPING"
        notes = _assert_cleaned_up(stack, why="TIMED_OUT: still STARTING after")
        assert "stopped v2, which this run started" in notes[0]["message"]
        (stop,) = models.operations("StopProjectVersion")
        assert stop["ProjectVersionArn"] == models.arn("v2")


def test_training_timeout_never_starts_the_version():
    models = FakeCustomLabels(training=("TRAINING_IN_PROGRESS",))
    models.script("v1", training=("TRAINING_COMPLETED",))  # trained at the first poll
    with lifecycle_stack(models, max_training_seconds=0) as stack:
        deploy_first(stack)
        execution = _replace_attempt(stack)

        assert execution["status"] == "FAILED"
        assert models.status("v2") == "TRAINING_IN_PROGRESS"
        _assert_cleaned_up(stack, why="TIMED_OUT: still TRAINING_IN_PROGRESS after")
        assert len(models.operations("StartProjectVersion")) == 1
        assert context.table().model("v2")["status"] == "TIMED_OUT"


def test_first_deployment_failure_leaves_nothing_running():
    models = FakeCustomLabels(starting=FakeCustomLabels.START_FAILS)
    with lifecycle_stack(models) as stack:
        seed(stack, {"cat": 6, "dog": 6})
        execution = stack.run_lifecycle()

        assert execution["status"] == "FAILED"
        state = loop()
        assert state.active_version is None and state.training_owner is None
        assert models.running == set()
        assert any("model status FAILED" in n["message"] for n in stack.notifications())


def test_switch_lost_to_a_concurrent_change_stops_the_candidate():
    models = FakeCustomLabels()
    with lifecycle_stack(models) as stack:
        deploy_first(stack)
        # While v2 starts, another run promotes v1b (e.g. an operator's rollback elsewhere).
        models.on_status[("v2", "RUNNING")] = lambda: context.table().switch_active(
            "v1b", "arn:aws:rekognition:us-east-1:123456789012:project/labelloop-sandbox/version/v1b/1", 0.91, "v1")
        execution = _replace_attempt(stack)

        assert execution["status"] == "FAILED"
        state = loop()
        assert state.active_version == "v1b"  # the winner keeps serving
        assert state.training_owner is None
        assert "v2" not in models.running and models.status("v2") == "STOPPING"
        note = stack.notifications()[0]["message"]
        assert "SwitchLost" in note and "active model is v1b, expected v1" in note


def test_error_in_a_task_is_caught_and_cleaned_up():
    with lifecycle_stack() as stack:
        deploy_first(stack)
        seed(stack, {"cat": 5, "dog": 5}, start=100)
        # The evaluation summary cannot be read: evaluate fails after the version trained.
        original = stack.models._write_evaluation

        def write_then_lose(v):
            original(v)
            stack.client("s3").delete_object(Bucket=v["output"]["S3Bucket"],
                                             Key=v["evaluation"]["Summary"]["S3Object"]["Name"])

        stack.models._write_evaluation = write_then_lose
        execution = stack.run_lifecycle()

        assert execution["status"] == "FAILED"
        assert "v2" not in stack.models.running
        _assert_cleaned_up(stack, why="NoSuchKey")


def test_stale_lock_of_a_run_that_never_finished_is_taken_over():
    with lifecycle_stack() as stack:
        seed(stack, {"cat": 6, "dog": 6})
        table = context.table()
        table.take_training_lock("ghost-run", {"train": True})
        table.set_training_version("ghost-run", "v1")

        fresh = stack.run_lifecycle()  # a recent lock blocks
        assert output(fresh)["check"]["value"]["train"] is False
        assert loop().training_owner == "ghost-run"

        table.update("LOOP", "STATE", {"training_started_at": "2020-01-01T00:00:00.000000Z"})
        execution = stack.run_lifecycle()

        assert execution["status"] == "SUCCEEDED"
        assert loop().active_version == "v2" and loop().training_owner is None
        subjects = [n["subject"] for n in stack.notifications()]
        assert any("Took over the training lock of a run that never finished (ghost-run)" in s for s in subjects)


def test_capacity_from_a_team_policy(write_module):
    name = write_module("capacity_policy", """
from plugins import InferenceCapacity, hookimpl

@hookimpl
def inference_capacity(candidate, settings):
    return InferenceCapacity(2, "team capacity: 2 to 5 units", 5)
""")
    with lifecycle_stack(policies=(name,)) as stack:
        seed(stack, {"cat": 6, "dog": 6})
        assert stack.run_lifecycle()["status"] == "SUCCEEDED"
        (start,) = stack.models.operations("StartProjectVersion")
        assert (start["MinInferenceUnits"], start["MaxInferenceUnits"]) == (2, 5)
        assert context.table().model("v1")["inference_units"] == 2
        assert "team capacity: 2 to 5 units" in stack.notifications()[0]["message"]
