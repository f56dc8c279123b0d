"""The ``a2i`` review backend at run time: Amazon A2I, for accounts that are existing A2I customers.

Opening a review starts a human loop of the stack's flow definition (``StartHumanLoop``; A2I refuses
the same name a second time, so a repeated start opens nothing new), then StartReview records it (2
AWS calls). The task shows ``taskObject``, the image's S3 URI (A2I's ``grant_read_access`` takes no
version); the version detected travels beside it, in the loop's input and record. A2I writes the
answers under ``a2i-human-loop-data/``, where ``handlers/review_output.py`` reads them.

A withdrawn review is closed in the table only: its human loop runs on until it is answered or
expires, and its output then finds the review closed and changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from ..runtime import aws, config
from ..runtime.state import ReviewTask
from .interface import Opened, ReviewBackend


class A2I(ReviewBackend):
    name = "a2i"

    def open(self, task: ReviewTask, detection: dict[str, Any]) -> Opened:
        flow = config.current().flow_definition_arn
        if not flow:
            raise config.MissingConfiguration("environment variable LABELLOOP_FLOW_DEFINITION_ARN is not set on this "
                                              "function; deploy it with the labelloop Pulumi program (review: a2i)")
        return Opened(task, resumed=start_human_loop(flow, task, detection))


def start_human_loop(flow_definition_arn: str, task: ReviewTask, detection: dict[str, Any]) -> bool:
    """Start the A2I human loop; True when an earlier delivery of this event had started it."""
    loop_input = {
        "taskObject": task.image_uri,
        "taskObjectVersion": task.image_version,
        "detectionId": task.detection_id,
        "purpose": task.purpose,
        "modelVersion": task.model_version,
        "modelLabels": detection.get("labels", []),
        "reason": task.reason,
    }
    try:
        aws.client("sagemaker-a2i-runtime").start_human_loop(
            HumanLoopName=task.name, FlowDefinitionArn=flow_definition_arn,
            HumanLoopInput={"InputContent": json.dumps(loop_input)})
    except ClientError as exc:
        if aws.error_code(exc) != "ConflictException":
            raise
        return True  # started by an earlier delivery of this event
    return False


BACKEND = A2I()
