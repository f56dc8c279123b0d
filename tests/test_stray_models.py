"""A model the loop must stop is stopped. A throttled StopProjectVersion is retried by the client
(botocore's standard mode, the functions' configuration) until the model is STOPPING; if it still cannot be stopped, the StopFailed alarm fires, the run fails saying the
model still runs, its lock is kept (naming the model), and the next lifecycle run stops it before
anything else. Every run stops any model that is running without being the active one."""

from __future__ import annotations

import pytest
from fault_support import production_clients
from lifecycle_support import deploy_first, finish_result, lifecycle_stack, loop, output, seed
from pulumi_mocks import DEFAULT, run_program

from handlers.lifecycle import deploy, strays
from handlers.runtime import context
from handlers.runtime.aws import CALL_ATTEMPTS

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


@pytest.fixture
def metrics(monkeypatch):
    """The metrics the functions emit: (name, value)."""
    emitted: list[tuple[str, float]] = []
    monkeypatch.setattr(context.metrics, "add_metric", lambda name, unit, value, **_: emitted.append((name, value)))
    return emitted


def lose_the_switch(stack) -> str:
    """v2 is trained and started, but the active pointer moves away before the switch: v2 must be
    stopped by the run's cleanup. Returns v1's ARN (the pointer is put back by ``restore_pointer``)."""
    models, table = stack.models, context.table()
    v1 = models.arn("v1")
    models.on_status[("v2", "RUNNING")] = lambda: table.switch_active("v1b", f"{v1}b", 0.91, "v1")
    seed(stack, {"cat": 5, "dog": 5}, start=100)
    return v1


def restore_pointer(v1: str) -> None:
    context.table().switch_active("v1", v1, 0.9, "v1b")


@pytest.mark.usefixtures("waits")
def test_a_throttled_stop_is_retried_until_the_model_stops():
    with lifecycle_stack() as stack:
        deploy_first(stack)
        lose_the_switch(stack)
        stack.models.fail_next("StopProjectVersion", "ThrottlingException", "ThrottlingException")
        with production_clients(stack.session) as waits:
            execution = stack.run_lifecycle()

        assert execution["status"] == "FAILED"  # the switch was lost, the candidate cleaned up
        assert stack.models.status("v2") == "STOPPING" and "v2" not in stack.models.running
        assert len(waits) == 2
        finish = finish_result(stack, execution)
        assert finish["all_stopped"] is True and "stopped v2, which this run started" in finish["notes"]
        assert loop().training_owner is None and loop().strays == {}


def test_a_model_that_cannot_be_stopped_fires_the_alarm_keeps_the_lock_and_the_next_run_stops_it(waits, metrics):
    with lifecycle_stack() as stack:
        deploy_first(stack)
        v1 = lose_the_switch(stack)
        stack.models.fail_next("StopProjectVersion", *["ThrottlingException"] * CALL_ATTEMPTS)  # every attempt
        with production_clients(stack.session):
            execution = stack.run_lifecycle()

        assert execution["status"] == "FAILED"
        assert "v2" in stack.models.running  # still billing …
        finish = finish_result(stack, execution)
        assert (finish["all_stopped"], finish["still_running"]) == (False, ["v2"])
        assert any("could not stop v2" in note and "still running" in note for note in finish["notes"])
        assert (deploy.STOP_FAILED, 1) in metrics  # … the alarm's metric says so
        state = loop()
        assert state.training_owner == execution["executionArn"]  # the lock is not released as if all were well
        assert state.strays == {"v2": stack.models.arn("v2")}
        [note] = stack.notifications()
        assert "could not stop v2" in note["message"]

        restore_pointer(v1)
        metrics.clear()
        again = stack.run_lifecycle()  # the next scheduled check

        assert again["status"] == "SUCCEEDED"
        assert stack.models.running == {"v1"} and stack.models.status("v2") == "STOPPING"
        assert output(again)["strays"]["value"] | {"checked": True} == {
            "checked": True, "strays": ["v2"], "stopped": ["v2"], "still_running": [], "lock_released": True}
        assert loop().training_owner is None and loop().strays == {}
        assert ("StrayModels", 1) in metrics and (deploy.STOP_FAILED, 0) in metrics
        assert any("Stopped 1 model(s)" in n["subject"] for n in stack.notifications())


def test_every_run_stops_a_model_running_without_being_the_active_one():
    with lifecycle_stack() as stack:
        deploy_first(stack)
        project = stack.models.arn("v1").split("/version/")[0]
        stack.models.add_running(f"{project}/version/by-hand/1700000000999")  # started outside the loop
        execution = stack.run_lifecycle()

        assert execution["status"] == "SUCCEEDED"
        assert stack.models.running == {"v1"}  # the active model is never touched
        assert output(execution)["strays"]["value"]["stopped"] == ["by-hand"]
        [note] = stack.notifications()
        assert "by-hand" in note["message"] and "Stopped 1 model(s)" in note["subject"]


def test_models_of_a_run_in_progress_are_its_own():
    with lifecycle_stack() as stack:
        deploy_first(stack)
        project = stack.models.arn("v1").split("/version/")[0]
        stack.models.add_running(f"{project}/version/v2/1700000000001")  # another run's candidate, starting
        context.table().take_training_lock("another-run", {"train": True})
        assert strays.stop_strays(lock_seconds=3600)["checked"] is False
        assert stack.models.running == {"v1", "v2"}


@pytest.mark.usefixtures("waits")
def test_stop_previous_retries_a_throttled_stop():
    with lifecycle_stack() as stack:
        deploy_first(stack)
        seed(stack, {"cat": 5, "dog": 5}, start=100)
        stack.models.fail_next("StopProjectVersion", "ThrottlingException", "ThrottlingException")
        with production_clients(stack.session) as waits:
            execution = stack.run_lifecycle()

        assert execution["status"] == "SUCCEEDED"
        assert stack.models.running == {"v2"} and "stop_error" not in output(execution)
        assert len(waits) == 2 and stack.retry_sleeps == []  # retried inside StopPrevious, by its client


def test_the_stop_failed_alarm_tells_the_topic():
    deployment = run_program(DEFAULT)
    [alarm] = [a for a in deployment.of_type(METRIC_ALARM) if a.inputs["metricName"] == deploy.STOP_FAILED]
    assert (alarm.inputs["namespace"], alarm.inputs["dimensions"]) == ("labelloop", {"service": "labelloop-test"})
    assert alarm.inputs["statistic"] == "Sum" and alarm.inputs["threshold"] == 0
    assert alarm.inputs["comparisonOperator"] == "GreaterThanThreshold"
    assert alarm.inputs["alarmActions"] == [deployment.stack_outputs["topicArn"]]
    assert "still running" in alarm.inputs["alarmDescription"]
