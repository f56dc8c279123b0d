"""Start the human review the policy asked for (second task of the detection
state machine). The loop name comes from the image content, so a repeated
start is a no-op: A2I refuses the name and the record is written once.

2 AWS calls: StartHumanLoop and one transaction (loop record, day's review
count, detection link). The task shows ``taskObject`` (the S3 URI: A2I's
``grant_read_access`` takes no version); the version detected travels beside
it, in the loop's input and record, and is the one copied when the answer is
accepted.
"""

from __future__ import annotations

import json

from botocore.exceptions import ClientError

from .runtime import aws, config, context
from .runtime.events import require
from .runtime.ids import human_loop_name
from .runtime.lambda_entry import entry_point
from .runtime.state import AlreadyDone, ReviewTask, now_iso


def start_review(detection: dict) -> dict:
    cfg = config.current()
    detection_id, bucket, key, purpose = (require(detection, field, "the detection to review")
                                          for field in ("detection_id", "bucket", "key", "purpose"))
    name = human_loop_name(detection_id)
    loop_input = {
        "taskObject": f"s3://{bucket}/{key}",
        "taskObjectVersion": detection.get("version_id"),
        "detectionId": detection_id,
        "purpose": purpose,
        "modelVersion": detection.get("model_version"),
        "modelLabels": detection.get("labels", []),
        "reason": detection.get("reason", ""),
    }
    already = False
    try:
        aws.client("sagemaker-a2i-runtime").start_human_loop(
            HumanLoopName=name, FlowDefinitionArn=cfg.flow_definition_arn,
            HumanLoopInput={"InputContent": json.dumps(loop_input)})
    except ClientError as exc:
        if aws.error_code(exc) != "ConflictException":
            raise
        already = True  # started by an earlier delivery of this event
    try:
        context.table().record_review_started(ReviewTask(
            name, detection_id, purpose, loop_input["taskObject"], now_iso(), image_version=detection.get("version_id"),
            model_version=detection.get("model_version"), reason=detection.get("reason", "")))
    except AlreadyDone:
        return {"human_loop": name, "started": False, "reason": "already started for this image"}
    context.metrics.add_metric(name=f"ReviewsStarted_{purpose}", unit="Count", value=1)
    context.announce("review_started", f"review started for {loop_input['taskObject']}",
                     {"human_loop": name, "purpose": purpose, "reason": detection.get("reason", "")})
    return {"human_loop": name, "started": True, "resumed": already}


@entry_point
def handler(event: dict) -> dict:
    return start_review(event)
