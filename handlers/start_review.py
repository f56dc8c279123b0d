"""Start the review the policy asked for (second task of the detection state
machine), with the stack's review backend. The review is named after the image
content (``ids.human_loop_name``), so a repeated start is a no-op.

* **The builtin review app** (no flow definition): 1 AWS call, one transaction
  that opens the task — its record (priority, answers wanted and the most it
  may ask for, the pinned image version, the reason and the model's best
  labels, when it expires), its entry in the open index, the day's review
  count and the detection's link. A second start finds the task and writes
  nothing.
* **Amazon A2I**: 2 calls, StartHumanLoop (A2I refuses the name a second time)
  and the same transaction without the index. The task shows ``taskObject``
  (the S3 URI: A2I's ``grant_read_access`` takes no version); the version
  detected travels beside it, in the loop's input and record.

Either way the version detected is the one copied when the answer is accepted.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

from botocore.exceptions import ClientError

from plugins import MAX_REVIEWERS, REVIEWERS_PER_IMAGE, TASK_LIFETIME_HOURS, lowest_confidence_first

from .runtime import aws, config, context, state
from .runtime.events import require
from .runtime.ids import human_loop_name
from .runtime.lambda_entry import entry_point
from .runtime.state import AlreadyDone, ReviewTask

TOP_LABELS = 5  # the model's best guesses a reviewer is shown


def start_review(detection: dict) -> dict:
    cfg = config.current()
    detection_id, bucket, key, purpose = (require(detection, field, "the detection to review")
                                          for field in ("detection_id", "bucket", "key", "purpose"))
    name = human_loop_name(detection_id)
    image_uri = f"s3://{bucket}/{key}"
    task = ReviewTask(name, detection_id, purpose, image_uri, state.now_iso(), image_version=detection.get("version_id"),
                      model_version=detection.get("model_version"), reason=detection.get("reason", ""))
    resumed = False
    if cfg.flow_definition_arn is None:
        task = builtin_task(task, detection)
    else:
        resumed = start_human_loop(cfg.flow_definition_arn, task, detection)
    try:
        context.table().record_review_started(task)
    except AlreadyDone:
        return {"human_loop": name, "started": False, "reason": "already started for this image"}
    context.metrics.add_metric(name=f"ReviewsStarted_{purpose}", unit="Count", value=1)
    context.announce("review_started", f"review started for {image_uri}",
                     {"human_loop": name, "purpose": purpose, "reason": task.reason})
    return {"human_loop": name, "started": True, "resumed": resumed}


def builtin_task(task: ReviewTask, detection: dict) -> ReviewTask:
    """The task of the builtin review app: the decision's priority and reviewers (from a detection
    recorded before they were decided: the defaults), within the parameters of now."""
    settings = context.settings()
    labels = tuple(detection.get("labels") or ())[:TOP_LABELS]
    top = float(labels[0]["confidence"]) if labels else 0.0
    priority = detection.get("priority")
    maximum = settings[MAX_REVIEWERS]
    started = state.from_iso(task.started_at)
    return replace(task, model_labels=labels,
                   priority=float(lowest_confidence_first(top) if priority is None else priority),
                   reviewers=min(int(detection.get("reviewers") or settings[REVIEWERS_PER_IMAGE]), maximum),
                   max_reviewers=maximum, answers=0,
                   expires_at=state.iso(started + timedelta(hours=settings[TASK_LIFETIME_HOURS])))


def start_human_loop(flow_definition_arn: str, task: ReviewTask, detection: dict) -> bool:
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


@entry_point
def handler(event: dict) -> dict:
    return start_review(event)
