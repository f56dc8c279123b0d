"""The lifecycle state machine's happy paths, run by moto's Step Functions
interpreter with the real handlers and a Custom Labels stand-in."""

from __future__ import annotations

import json

import state_support
from lifecycle_support import (
    PNG,
    deploy_first,
    finish_result,
    lifecycle_stack,
    loop,
    new_since_training,
    output,
    seed,
    wait_for_detections,
)

from handlers.runtime import context
from sandbox.scripted_trainer import scripted_custom_labels


def _calls(stack, operation: str) -> list[dict]:
    return stack.models.operations(operation)


def test_first_deployment_trains_evaluates_starts_and_switches():
    models = scripted_custom_labels(per_label={
        "cat": {"F1Score": 0.95, "Precision": 0.97, "Recall": 0.93, "Threshold": 0.41},
        "dog": {"F1Score": 0.81, "Precision": 0.78, "Recall": 0.84, "Threshold": 0.55}})
    with lifecycle_stack(models) as stack:
        seed(stack, {"cat": 7, "dog": 5})
        execution = stack.run_lifecycle()

        assert execution["status"] == "SUCCEEDED"
        assert output(execution)["outcome"]["value"] == "deployed"
        state = loop()
        assert (state.active_version, state.active_f1) == ("v1", 0.9)
        assert state.active_arn == stack.models.arn("v1")
        assert state.training_owner is None
        assert stack.models.running == {"v1"}

        (create,) = _calls(stack, "CreateProjectVersion")
        assert create["ProjectArn"] == stack.project_arn and create["VersionName"] == "v1"
        assert create["OutputConfig"] == {"S3Bucket": stack.bucket, "S3KeyPrefix": "evaluation/v1/"}
        manifest = create["TrainingData"]["Assets"][0]["GroundTruthManifest"]["S3Object"]
        assert manifest == {"Bucket": stack.bucket, "Name": "manifests/v1.manifest"}
        assert create["TestingData"] == {"AutoCreate": True}
        lines = stack.client("s3").get_object(Bucket=stack.bucket, Key=manifest["Name"])["Body"].read().splitlines()
        assert len(lines) == 12

        (start,) = _calls(stack, "StartProjectVersion")
        assert start["MinInferenceUnits"] == 1 and start["MaxInferenceUnits"] is None
        assert _calls(stack, "StopProjectVersion") == []

        model = context.table().model("v1")
        assert model.status == "RUNNING" and model.decision["deploy"] is True
        # Per-label metrics come from the evaluation summary Rekognition wrote to the bucket.
        assert model.evaluation["per_label"]["dog"] == {"f1": 0.81, "precision": 0.78, "recall": 0.84,
                                                           "threshold": 0.55}
        assert model.evaluation["per_label"]["cat"]["threshold"] == 0.41
        assert model.counts == {"cat": 7, "dog": 5}

        (note,) = stack.notifications()
        assert note["subject"].startswith("[labelloop sandbox] Model v1 deployed")
        assert "F1 0.900 meets Minimum-F1-Score" in note["message"]

        # The data it was trained on does not train again.
        assert new_since_training(stack) == 0
        again = stack.run_lifecycle()
        assert again["status"] == "SUCCEEDED" and output(again)["check"]["value"]["train"] is False
        assert len(_calls(stack, "CreateProjectVersion")) == 1

        # Nothing to roll back to yet: nothing changes and the operator is told why.
        rollback = stack.run_lifecycle({"action": "rollback"})
        assert rollback["status"] == "FAILED"
        assert loop().active_version == "v1" and loop().training_owner is None
        assert stack.models.running == {"v1"} and len(_calls(stack, "StartProjectVersion")) == 1
        (note,) = stack.notifications()
        assert "NothingToRollBack" in note["message"] and "no previous version" in note["message"]


def test_replacement_starts_new_switches_then_stops_old():
    with lifecycle_stack() as stack:
        deploy_first(stack)
        seed(stack, {"cat": 5, "dog": 5}, start=100)
        execution = stack.run_lifecycle()

        assert execution["status"] == "SUCCEEDED"
        state = loop()
        assert (state.active_version, state.previous_version) == ("v2", "v1")
        assert state.previous_arn == stack.models.arn("v1")
        assert stack.models.running == {"v2"}
        assert stack.models.status("v1") == "STOPPING"
        assert state.training_owner is None

        # Blue/green: the new version runs before the pointer moves, the old one stops after it.
        order = [i.key for i in stack.invocations
                 if i.event.get("run", {}).get("owner") == execution["executionArn"]]
        assert order.index("start_model") < order.index("switch_model") < order.index("stop_model")
        (stop,) = _calls(stack, "StopProjectVersion")
        assert stop["ProjectVersionArn"] == stack.models.arn("v1")
        assert context.table().model("v1").status == "STOPPING"

        (note,) = stack.notifications()
        assert "Model v2 deployed" in note["subject"] and "replaced  v1" in note["message"]
        assert finish_result(stack, execution)["notes"] == []


def test_stop_failure_of_the_old_model_is_reported_new_model_keeps_serving():
    with lifecycle_stack() as stack:
        deploy_first(stack)
        seed(stack, {"cat": 5, "dog": 5}, start=100)
        stack.models.fail_next("StopProjectVersion", "AccessDeniedException")
        execution = stack.run_lifecycle()

        assert execution["status"] == "SUCCEEDED"
        assert loop().active_version == "v2" and loop().training_owner is None
        # StopPrevious was refused; Finish stopped v1 (nothing is left billing) and says so.
        assert stack.models.running == {"v2"}
        (note,) = stack.notifications()
        assert "could not be stopped (AccessDeniedException)" in note["message"]


def test_throttled_calls_are_retried_by_the_state_machine():
    with lifecycle_stack() as stack:
        seed(stack, {"cat": 6, "dog": 6})
        stack.models.fail_next("CreateProjectVersion", "ThrottlingException")
        stack.models.fail_next("StartProjectVersion", "ThrottlingException", "ThrottlingException")
        execution = stack.run_lifecycle()
        assert execution["status"] == "SUCCEEDED"
        assert loop().active_version == "v1"
        assert len(_calls(stack, "CreateProjectVersion")) == 2
        assert len(_calls(stack, "StartProjectVersion")) == 3
        assert stack.models.running == {"v1"}


def test_pending_detections_are_replayed_after_the_first_deployment(monkeypatch):
    from handlers.lifecycle import replay

    monkeypatch.setattr(replay, "PAGE", 2)  # three pending images: two pages
    with lifecycle_stack() as stack:
        s3 = stack.client("s3")
        keys = [f"images_for_detection/upload-{i}.png" for i in range(3)]
        for i, key in enumerate(keys):
            s3.put_object(Bucket=stack.bucket, Key=key, Body=PNG + bytes([i]))
        stack.pump()
        table = context.table()
        assert len(table.pending()) == 3
        assert {d.outcome for d in table.detections()} == {"pending"}

        seed(stack, {"cat": 6, "dog": 6})
        execution = stack.run_lifecycle()
        wait_for_detections(stack)

        assert execution["status"] == "SUCCEEDED"
        assert output(execution)["replay"]["value"]["replayed"] == 3
        assert len([i for i in stack.invocations if i.key == "replay_pending"]) == 2
        assert table.pending() == []
        records = list(table.detections())
        assert sorted(r.key for r in records) == keys
        assert {(r.outcome, r.model_version) for r in records} == {("confident", "v1")}
        detected = [c["Image"]["S3Object"]["Name"] for c in stack.models.operations("DetectCustomLabels")]
        assert sorted(detected) == keys
        stats = table.day_stats().counts
        assert ("outcome_pending" in stats, stats["outcome_confident"], stats["replayed"]) == (False, 3, 3)
        assert "replayed  3" in stack.notifications()[-1]["message"]


def test_rollback_starts_previous_switches_back_and_stops_current():
    with lifecycle_stack() as stack:
        deploy_first(stack)
        seed(stack, {"cat": 5, "dog": 5}, start=100)
        assert stack.run_lifecycle()["status"] == "SUCCEEDED"
        stack.notifications()
        assert stack.models.status("v1") == "STOPPING"  # right after the switch: v1 is still stopping

        execution = stack.run_lifecycle({"action": "rollback"})

        assert execution["status"] == "SUCCEEDED"
        assert output(execution)["outcome"]["value"] == "rolled_back"
        state = loop()
        assert (state.active_version, state.previous_version) == ("v1", "v2")
        assert state.active_f1 == 0.9
        assert stack.models.running == {"v1"}
        assert stack.models.status("v2") == "STOPPING"
        assert state.training_owner is None
        assert len(stack.models.operations("CreateProjectVersion")) == 2  # no training for a rollback
        # v1 was still stopping: the start was retried until it had stopped. (Each DescribeProjectVersions
        # is a step of the stand-in's clock; StopStrays' look at the project at the run's start is one.)
        assert len(stack.models.operations("StartProjectVersion")) == 2 + 2
        assert len(stack.retry_sleeps) == 1
        (note,) = stack.notifications()
        assert "Rolled back to model v1" in note["subject"]
        assert "operator rollback from v2" in note["message"]


def test_rollback_while_a_training_runs_waits_its_turn():
    with lifecycle_stack() as stack:
        deploy_first(stack)
        table = context.table()
        state_support.set_loop(previous_version="v0", previous_arn="arn:aws:rekognition:x:v0")
        table.take_training_lock("someone-else", {"train": True})
        execution = stack.run_lifecycle({"action": "rollback"})
        assert execution["status"] == "FAILED"
        assert loop().active_version == "v1" and loop().training_owner == "someone-else"
        assert stack.models.running == {"v1"}
        assert len(stack.models.operations("StartProjectVersion")) == 1
        assert "TrainingInProgress" in json.dumps(stack.notifications())


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
        assert context.table().model("v1").inference_units == 2
        assert "team capacity: 2 to 5 units" in stack.notifications()[0]["message"]
