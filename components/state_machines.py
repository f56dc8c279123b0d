"""State machine definitions, as pure functions of the function ARNs.

The Pulumi program deploys exactly this JSON, the tests run it in moto's
interpreter, and so does the sandbox.
"""

from __future__ import annotations

from typing import Any

from handlers.runtime.errors import LAMBDA_TRANSIENT, RETRYABLE

RETRY_SERVICE_ERRORS = {
    "ErrorEquals": [*RETRYABLE, *LAMBDA_TRANSIENT],
    "IntervalSeconds": 2,
    "MaxAttempts": 6,
    "BackoffRate": 2.0,
    "MaxDelaySeconds": 60,
    "JitterStrategy": "FULL",
}


def lambda_task(function_arn: str, *, payload: Any = None, result_path: str | None, next_state: str | None,
                catch_to: str | None = None, retry: bool = True, comment: str = "") -> dict[str, Any]:
    """A Lambda task whose result (the function's return value) lands at ``result_path``."""
    task: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": function_arn, **({"Payload": payload} if isinstance(payload, dict)
                                                          else {"Payload.$": payload or "$"})},
        "ResultSelector": {"value.$": "$.Payload"},
        "ResultPath": result_path,
    }
    if comment:
        task["Comment"] = comment
    if retry:
        task["Retry"] = [RETRY_SERVICE_ERRORS]
    if catch_to:
        task["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": catch_to}]
    if next_state:
        task["Next"] = next_state
    else:
        task["End"] = True
    return task


def detection_definition(detect_arn: str, start_review_arn: str, failed_arn: str) -> dict[str, Any]:
    """Express workflow started by an upload to ``images_for_detection/``:
    detect → review needed? → start human loop; any failure after retries is recorded."""
    return {
        "Comment": "labelloop detection: classify an uploaded image and start a human review when a policy asks",
        "StartAt": "Detect",
        "States": {
            "Detect": lambda_task(detect_arn, result_path="$.detection", next_state="ReviewNeeded",
                                  catch_to="RecordFailure",
                                  comment="DetectCustomLabels with every label score; records the policy's decision"),
            "ReviewNeeded": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.detection.value.review", "BooleanEquals": True, "Next": "StartReview"}],
                "Default": "Done",
            },
            "StartReview": lambda_task(start_review_arn, payload="$.detection.value", result_path="$.review",
                                       next_state="Done", catch_to="RecordFailure",
                                       comment="StartHumanLoop named after the image content (idempotent)"),
            "RecordFailure": lambda_task(failed_arn, payload={"input.$": "$$.Execution.Input", "error.$": "$.error"},
                                         result_path="$.failure", next_state="Failed"),
            "Failed": {"Type": "Fail", "Error": "DetectionFailed",
                       "Cause": "The detection failed after its retries; the failure is recorded on the detection."},
            "Done": {"Type": "Succeed"},
        },
    }


ROLLBACK = {"And": [{"Variable": "$.action", "IsPresent": True}, {"Variable": "$.action", "StringEquals": "rollback"}]}


def _outcome(value: str, next_state: str = "Finish") -> dict[str, Any]:
    return {"Type": "Pass", "Result": {"value": value}, "ResultPath": "$.outcome", "Next": next_state}


def _poll_loop(prefix: str, status_arn: str, *, phase: str, version_path: str, since_path: str,
               in_progress: str, done: str, on_done: str, wait_seconds: int, max_wait_seconds: int) -> dict:
    """Wait → poll status → choice, bounded by ``max_wait_seconds`` (the poll answers TIMED_OUT)."""
    return {
        f"WaitFor{prefix}": {"Type": "Wait", "Seconds": wait_seconds, "Next": f"Poll{prefix}"},
        f"Poll{prefix}": lambda_task(
            status_arn, payload={"version.$": version_path, "phase": phase, "since.$": since_path,
                                 "max_wait_seconds": max_wait_seconds},
            result_path="$.poll", next_state=f"{prefix}Status", catch_to="CaughtError"),
        f"{prefix}Status": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.poll.value.status", "StringEquals": done, "Next": on_done},
                {"Variable": "$.poll.value.status", "StringEquals": in_progress, "Next": f"WaitFor{prefix}"},
            ],
            "Default": f"{prefix}Failed",
        },
        f"{prefix}Failed": _outcome("failed"),
    }


def lifecycle_definition(arns: dict[str, str], *, training_poll_seconds: int = 300, start_poll_seconds: int = 30,
                         max_training_seconds: int = 24 * 3600, max_start_seconds: int = 3600) -> dict[str, Any]:
    """Standard workflow for a training check (input ``{"trigger": …}``) or a rollback
    (``{"action": "rollback"}``): check → manifest → train → poll → evaluate →
    start → poll → switch → stop previous → replay pending → finish. Every task
    retries service errors; any failure is caught into Finish, which stops what
    the run started but did not promote and releases the lock."""
    task = lambda key, **kw: lambda_task(arns[key], catch_to="CaughtError", **kw)  # noqa: E731
    timeout = max_training_seconds + max_start_seconds + 3600
    states: dict[str, Any] = {
        # A run never lasts longer than the timeout: a lock older than that belongs to a run that
        # was stopped or timed out before its cleanup, and the next check takes it over.
        "Init": {"Type": "Pass", "Parameters": {"owner.$": "$$.Execution.Id", "lock_seconds": timeout},
                 "ResultPath": "$.run", "Next": "Action"},
        "Action": {"Type": "Choice", "Choices": [ROLLBACK | {"Next": "PrepareRollback"}], "Default": "CheckTraining"},
        "CheckTraining": task("training_check", result_path="$.check", next_state="ShouldTrain"),
        "ShouldTrain": {"Type": "Choice",
                        "Choices": [{"Variable": "$.check.value.train", "BooleanEquals": True, "Next": "BuildManifest"}],
                        "Default": "NoTraining"},
        "NoTraining": {"Type": "Succeed"},
        "BuildManifest": task("build_manifest", result_path="$.manifest", next_state="Trainable"),
        "Trainable": {"Type": "Choice",
                      "Choices": [{"Variable": "$.manifest.value.ok", "BooleanEquals": True, "Next": "StartTraining"}],
                      "Default": "NotTrainable"},
        "NotTrainable": _outcome("not_trainable"),
        "StartTraining": task("start_training", result_path="$.training", next_state="WaitForTraining"),
        **_poll_loop("Training", arns["model_status"], phase="training", version_path="$.training.value.version",
                     since_path="$.training.value.started_at", in_progress="TRAINING_IN_PROGRESS",
                     done="TRAINING_COMPLETED", on_done="Evaluate", wait_seconds=training_poll_seconds,
                     max_wait_seconds=max_training_seconds),
        "Evaluate": task("evaluate", result_path="$.candidate", next_state="Deploy"),
        "Deploy": {"Type": "Choice",
                   "Choices": [{"Variable": "$.candidate.value.deploy", "BooleanEquals": True, "Next": "StartModel"}],
                   "Default": "Rejected"},
        "Rejected": _outcome("rejected"),
        "PrepareRollback": task("prepare_rollback", result_path="$.candidate", next_state="StartModel"),
        "StartModel": task("start_model", result_path="$.start", next_state="WaitForStart"),
        **_poll_loop("Start", arns["model_status"], phase="starting", version_path="$.candidate.value.version",
                     since_path="$.start.value.started_at", in_progress="STARTING", done="RUNNING",
                     on_done="Switch", wait_seconds=start_poll_seconds, max_wait_seconds=max_start_seconds),
        "Switch": task("switch_model", result_path="$.switch", next_state="StopPrevious"),
        "StopPrevious": lambda_task(arns["stop_model"], result_path="$.stop", next_state="ReplayPending",
                                    comment="A failure here leaves the new model serving; Finish reports it"),
        "ReplayPending": task("replay_pending", result_path="$.replay", next_state="MoreToReplay",
                              comment="Starts detections of images that waited for a model, one page at a time"),
        "MoreToReplay": {"Type": "Choice",
                         "Choices": [{"Variable": "$.replay.value.more", "BooleanEquals": True, "Next": "ReplayPending"}],
                         "Default": "Promoted"},
        "Promoted": {"Type": "Choice", "Choices": [ROLLBACK | {"Next": "RolledBack"}], "Default": "Deployed"},
        "Deployed": _outcome("deployed"),
        "RolledBack": _outcome("rolled_back"),
        "CaughtError": _outcome("failed"),
        "Finish": lambda_task(arns["finish_run"], result_path="$.finish", next_state="Outcome"),
        "Outcome": {"Type": "Choice",
                    "Choices": [{"Variable": "$.outcome.value", "StringEquals": "failed", "Next": "Failed"}],
                    "Default": "Done"},
        "Failed": {"Type": "Fail", "Error": "LifecycleFailed",
                   "Cause": "The run failed; it was cleaned up (see the notification and the state table)."},
        "Done": {"Type": "Succeed"},
    }
    states["StopPrevious"]["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.stop_error",
                                        "Next": "ReplayPending"}]
    # A version that is still stopping (a rollback right after the switch) starts once it has stopped.
    states["StartModel"]["Retry"].insert(0, {"ErrorEquals": ["ModelBusy"], "IntervalSeconds": start_poll_seconds,
                                             "MaxAttempts": 10, "BackoffRate": 1.5})
    states["Finish"]["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.finish_error", "Next": "Failed"}]
    return {
        "Comment": "labelloop model lifecycle: train, evaluate, deploy blue/green, roll back; always cleans up",
        "StartAt": "Init",
        "TimeoutSeconds": timeout,
        "States": states,
    }
