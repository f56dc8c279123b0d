"""State machine definitions, as pure functions of the function ARNs.

The Pulumi program deploys exactly this JSON, the tests run it in moto's
interpreter, and so does the sandbox. State names, result paths and payloads
come from :mod:`handlers.runtime.workflow`, the contract the handlers read.
"""

from __future__ import annotations

from typing import Any, Mapping

from handlers.runtime import workflow as wf
from handlers.runtime.errors import RETRY_ERROR_NAMES, IncumbentStarting, ModelBusy


def retry_service_errors(*, interval: int, attempts: int, max_delay: int) -> dict[str, Any]:
    """Retry the transient errors (:mod:`handlers.runtime.errors`) with exponential backoff and full jitter."""
    return {"ErrorEquals": list(RETRY_ERROR_NAMES), "IntervalSeconds": interval, "MaxAttempts": attempts,
            "BackoffRate": 2.0, "MaxDelaySeconds": max_delay, "JitterStrategy": "FULL"}


# The lifecycle (Standard) has hours: six attempts, up to a minute apart.
RETRY_SERVICE_ERRORS = retry_service_errors(interval=2, attempts=6, max_delay=60)
# An Express run lasts at most five minutes, retries and backoff included, and what the limit cuts
# off is lost with the run (its failure record too). Detect and StartReview, then RecordFailure,
# each with every attempt running to its function's timeout, fit in four minutes
# (tests/test_detection_time_budget.py); TimeoutSeconds ends a run that still overran itself.
DETECTION_RETRY = retry_service_errors(interval=wf.RETRY_INTERVAL_SECONDS, attempts=wf.DETECTION_RETRIES, max_delay=8)
RECORD_FAILURE_RETRY = retry_service_errors(interval=wf.RETRY_INTERVAL_SECONDS, attempts=wf.RECORD_FAILURE_RETRIES,
                                            max_delay=4)
DETECTION_TIMEOUT_SECONDS = 270
CAUGHT = "CaughtError"  # the lifecycle's catch-all: the run failed, Finish cleans up


def catch_all(next_state: str, result_path: str = wf.ERROR.path) -> list[dict[str, Any]]:
    return [{"ErrorEquals": ["States.ALL"], "ResultPath": result_path, "Next": next_state}]


def lambda_task(task: wf.Task, function_arn: str, *, next_state: str | None, payload: Any = None,
                retry: tuple[dict[str, Any], ...] = (RETRY_SERVICE_ERRORS,), catch: list[dict[str, Any]] | None = None,
                comment: str = "") -> dict[str, Any]:
    """A Lambda task whose return value lands at ``task.result`` (as ``{"value": …}``).

    ``payload``: a JSONPath (default the whole state) or a dict of parameters."""
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": function_arn, **({"Payload": payload} if isinstance(payload, dict)
                                                          else {"Payload.$": payload or "$"})},
        "ResultSelector": {f"{wf.VALUE}.$": "$.Payload"},
        "ResultPath": task.result.path,
    }
    if comment:
        state["Comment"] = comment
    if retry:
        state["Retry"] = list(retry)
    if catch:
        state["Catch"] = catch
    if next_state:
        state["Next"] = next_state
    else:
        state["End"] = True
    return state


def is_true(path: str, next_state: str, default: str) -> dict[str, Any]:
    """A Choice: ``next_state`` when the boolean at ``path`` is true, else ``default``."""
    return {"Type": "Choice", "Choices": [{"Variable": path, "BooleanEquals": True, "Next": next_state}],
            "Default": default}


def detection_definition(detect_arn: str, start_review_arn: str, failed_arn: str) -> dict[str, Any]:
    """Express workflow started by an upload to ``images_for_detection/``:
    detect → review needed? → start human loop; any failure after retries is recorded."""
    record_failure = catch_all(wf.RECORD_FAILURE.state)
    return {
        "Comment": "labelloop detection: classify an uploaded image and start a human review when a policy asks",
        "StartAt": wf.DETECT.state,
        "TimeoutSeconds": DETECTION_TIMEOUT_SECONDS,
        "States": {
            wf.DETECT.state: lambda_task(
                wf.DETECT, detect_arn, next_state="ReviewNeeded", catch=record_failure, retry=(DETECTION_RETRY,),
                comment="DetectCustomLabels with every label score; records the policy's decision"),
            "ReviewNeeded": is_true(wf.DETECTION.field("review"), wf.START_REVIEW.state, "Done"),
            wf.START_REVIEW.state: lambda_task(
                wf.START_REVIEW, start_review_arn, payload=wf.DETECTION.field(), next_state="Done",
                catch=record_failure, retry=(DETECTION_RETRY,),
                comment="StartHumanLoop named after the image content (idempotent)"),
            wf.RECORD_FAILURE.state: lambda_task(wf.RECORD_FAILURE, failed_arn, payload=wf.FailedDetection.payload(),
                                                 next_state="Failed", retry=(RECORD_FAILURE_RETRY,)),
            "Failed": {"Type": "Fail", "Error": "DetectionFailed",
                       "Cause": "The detection failed after its retries; the failure is recorded on the detection."},
            "Done": {"Type": "Succeed"},
        },
    }


ROLLBACK = {"And": [{"Variable": f"$.{wf.ACTION}", "IsPresent": True},
                    {"Variable": f"$.{wf.ACTION}", "StringEquals": wf.ROLLBACK}]}


def _outcome(outcome: wf.Outcome, next_state: str = wf.FINISH_RUN.state) -> dict[str, Any]:
    return {"Type": "Pass", "Result": {wf.VALUE: outcome.value}, "ResultPath": wf.OUTCOME.path, "Next": next_state}


def _poll_loop(prefix: str, poll: wf.Task, status_arn: str, *, phase: str, version_path: str, since_path: str,
               in_progress: str, done: str, on_done: str, wait_seconds: int, max_wait_seconds: int) -> dict:
    """Wait → poll status → choice, bounded by ``max_wait_seconds`` (the poll answers TIMED_OUT)."""
    status = wf.POLL.field("status")
    return {
        f"WaitFor{prefix}": {"Type": "Wait", "Seconds": wait_seconds, "Next": poll.state},
        poll.state: lambda_task(
            poll, status_arn, next_state=f"{prefix}Status", catch=catch_all(CAUGHT),
            payload=wf.PollRequest.payload(version_path=version_path, phase=phase, since_path=since_path,
                                           max_wait_seconds=max_wait_seconds)),
        f"{prefix}Status": {
            "Type": "Choice",
            "Choices": [
                {"Variable": status, "StringEquals": done, "Next": on_done},
                {"Variable": status, "StringEquals": in_progress, "Next": f"WaitFor{prefix}"},
            ],
            "Default": f"{prefix}Failed",
        },
        f"{prefix}Failed": _outcome(wf.Outcome.FAILED),
    }


def _run_start(arns: Mapping[str, str], lock_seconds: int) -> dict[str, Any]:
    """Who this run is (its lock owner); no model running that should not; whether it trains or rolls back."""
    return {
        "Init": {"Type": "Pass", "Parameters": wf.run_parameters(lock_seconds), "ResultPath": wf.RUN.path,
                 "Next": wf.STOP_STRAYS.state},
        wf.STOP_STRAYS.state: _task(
            wf.STOP_STRAYS, arns, next_state="Action", catch=catch_all("Action", wf.STRAYS_ERROR.path),
            comment="Stops any model running that is not the active one (unless a run is deploying); "
                    "a failure here does not stop the run"),
        "Action": {"Type": "Choice", "Choices": [ROLLBACK | {"Next": wf.PREPARE_ROLLBACK.state}],
                   "Default": wf.CHECK_TRAINING.state},
    }


def _training(arns: Mapping[str, str], *, poll_seconds: int, max_seconds: int) -> dict[str, Any]:
    """Check → manifest → train → poll → evaluate: ends in StartModel, or in an outcome."""
    return {
        wf.CHECK_TRAINING.state: _task(wf.CHECK_TRAINING, arns, next_state="ShouldTrain"),
        "ShouldTrain": is_true(wf.CHECK.field("train"), wf.BUILD_MANIFEST.state, "NoTraining"),
        "NoTraining": {"Type": "Succeed"},
        wf.BUILD_MANIFEST.state: _task(wf.BUILD_MANIFEST, arns, next_state="Trainable"),
        "Trainable": is_true(wf.MANIFEST.field("ok"), wf.START_TRAINING.state, "NotTrainable"),
        "NotTrainable": _outcome(wf.Outcome.NOT_TRAINABLE),
        wf.START_TRAINING.state: _task(wf.START_TRAINING, arns, next_state="WaitForTraining"),
        **_poll_loop("Training", wf.POLL_TRAINING, arns[wf.POLL_TRAINING.function], phase="training",
                     version_path=wf.TRAINING.field("version"), since_path=wf.TRAINING.field("started_at"),
                     in_progress="TRAINING_IN_PROGRESS", done="TRAINING_COMPLETED", on_done=wf.EVALUATE.state,
                     wait_seconds=poll_seconds, max_wait_seconds=max_seconds),
        wf.EVALUATE.state: _task(wf.EVALUATE, arns, next_state="Deploy"),
        "Deploy": is_true(wf.CANDIDATE.field("deploy"), wf.START_MODEL.state, "Rejected"),
        "Rejected": _outcome(wf.Outcome.REJECTED),
    }


def _deployment(arns: Mapping[str, str], *, poll_seconds: int, max_seconds: int) -> dict[str, Any]:
    """Blue/green from the candidate (trained, or the rollback's): start → poll → switch → stop
    the previous → replay what waited for a model."""
    # A version that is still stopping (a rollback right after the switch) starts once it has stopped.
    model_busy = {"ErrorEquals": [ModelBusy.__name__], "IntervalSeconds": poll_seconds, "MaxAttempts": 10,
                  "BackoffRate": 1.5}
    # A stopped running model started for the comparison: looked at again until it runs (as long as a start may take).
    incumbent_starting = {"ErrorEquals": [IncumbentStarting.__name__], "IntervalSeconds": poll_seconds,
                          "MaxAttempts": max(1, max_seconds // max(1, poll_seconds)), "BackoffRate": 1.0}
    # A training tested on a gate set is compared with the running model on it before the switch;
    # a rollback (no manifest) and a training without a gate set switch at once.
    has_gate_set = {"Variable": wf.MANIFEST.field("gate_set"), "IsPresent": True}
    return {
        wf.PREPARE_ROLLBACK.state: _task(wf.PREPARE_ROLLBACK, arns, next_state=wf.START_MODEL.state),
        wf.START_MODEL.state: _task(wf.START_MODEL, arns, next_state="WaitForStart",
                                    retry=(model_busy, RETRY_SERVICE_ERRORS)),
        **_poll_loop("Start", wf.POLL_START, arns[wf.POLL_START.function], phase="starting",
                     version_path=wf.CANDIDATE.field("version"), since_path=wf.START.field("started_at"),
                     in_progress="STARTING", done="RUNNING", on_done="GateSet",
                     wait_seconds=poll_seconds, max_wait_seconds=max_seconds),
        "GateSet": {"Type": "Choice", "Choices": [has_gate_set | {"Next": wf.COMPARE.state}],
                    "Default": wf.SWITCH_MODEL.state},
        wf.COMPARE.state: _task(wf.COMPARE, arns, next_state="SideBySide",
                                retry=(incumbent_starting, RETRY_SERVICE_ERRORS),
                                comment="Candidate and running model on the same gate-set images (a stopped "
                                        "running model never scored on them is started for it); the deployment "
                                        "decision sees both"),
        "SideBySide": is_true(wf.COMPARISON.field("deploy"), wf.SWITCH_MODEL.state, "Rejected"),
        wf.SWITCH_MODEL.state: _task(wf.SWITCH_MODEL, arns, next_state=wf.STOP_PREVIOUS.state),
        wf.STOP_PREVIOUS.state: _task(
            wf.STOP_PREVIOUS, arns, next_state=wf.REPLAY_PENDING.state,
            catch=catch_all(wf.REPLAY_PENDING.state, wf.STOP_ERROR.path),
            comment="A failure here leaves the new model serving; Finish reports it"),
        wf.REPLAY_PENDING.state: _task(
            wf.REPLAY_PENDING, arns, next_state="MoreToReplay",
            comment="Starts detections of images that waited for a model, one page at a time"),
        "MoreToReplay": is_true(wf.REPLAY.field("more"), wf.REPLAY_PENDING.state, "Promoted"),
        "Promoted": {"Type": "Choice", "Choices": [ROLLBACK | {"Next": "RolledBack"}], "Default": "Deployed"},
    }


def _endings(arns: Mapping[str, str]) -> dict[str, Any]:
    """Every path ends in Finish, which cleans up and reports, then fails the run if it failed."""
    return {
        "Deployed": _outcome(wf.Outcome.DEPLOYED),
        "RolledBack": _outcome(wf.Outcome.ROLLED_BACK),
        CAUGHT: _outcome(wf.Outcome.FAILED),
        wf.FINISH_RUN.state: _task(wf.FINISH_RUN, arns, next_state="Outcome",
                                   catch=catch_all("Failed", wf.FINISH_ERROR.path)),
        "Outcome": {"Type": "Choice",
                    "Choices": [{"Variable": wf.OUTCOME.field(), "StringEquals": wf.Outcome.FAILED.value,
                                 "Next": "Failed"},
                                # Finish could not stop a model: it still bills, the run did not end well.
                                {"And": [{"Variable": wf.FINISH.field("all_stopped"), "IsPresent": True},
                                         {"Variable": wf.FINISH.field("all_stopped"), "BooleanEquals": False}],
                                 "Next": "Failed"}],
                    "Default": "Done"},
        "Failed": {"Type": "Fail", "Error": "LifecycleFailed",
                   "Cause": "The run failed; it was cleaned up (see the notification and the state table)."},
        "Done": {"Type": "Succeed"},
    }


def _task(task: wf.Task, arns: Mapping[str, str], *, next_state: str,
          catch: list[dict[str, Any]] | None = None, **options: Any) -> dict[str, Any]:
    """A lifecycle task: any failure it does not catch itself fails the run (CaughtError)."""
    return lambda_task(task, arns[task.function], next_state=next_state, catch=catch or catch_all(CAUGHT), **options)


def lifecycle_definition(arns: dict[str, str], *, training_poll_seconds: int = 300, start_poll_seconds: int = 30,
                         max_training_seconds: int = 24 * 3600, max_start_seconds: int = 3600) -> dict[str, Any]:
    """Standard workflow for a training check (input ``{"trigger": …}``) or a rollback
    (``{"action": "rollback"}``): stop strays → check → manifest → train → poll →
    evaluate → start → poll → (with a gate set: side by side on it) → switch → stop previous →
    replay pending → finish.
    Every task retries service errors; any failure is caught into Finish, which
    stops what the run started but did not promote and releases the lock (or,
    when a model cannot be stopped, keeps it for the next run's StopStrays)."""
    # A run never lasts longer than the timeout: a lock older than that belongs to a run that
    # was stopped or timed out before its cleanup, and the next check takes it over.
    timeout = max_training_seconds + max_start_seconds + 3600
    return {
        "Comment": "labelloop model lifecycle: train, evaluate, deploy blue/green, roll back; always cleans up",
        "StartAt": "Init",
        "TimeoutSeconds": timeout,
        "States": {
            **_run_start(arns, timeout),
            **_training(arns, poll_seconds=training_poll_seconds, max_seconds=max_training_seconds),
            **_deployment(arns, poll_seconds=start_poll_seconds, max_seconds=max_start_seconds),
            **_endings(arns),
        },
    }
