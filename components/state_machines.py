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
        "OutputPath": "$",
    }
    if comment:
        task["Comment"] = comment
    if result_path is None:
        task["ResultPath"] = None
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
