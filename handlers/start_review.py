"""Start the review the policy asked for (second task of the detection state machine), with the
stack's review backend (``handlers/review_backends/``). The review is named after the image's
content (``ids.human_loop_name``), so a repeated start is a no-op: the backend opens nothing new, and
one transaction writes the review's record, the day's review count and the detection's link once (a
second start finds the record and writes nothing). The builtin review app's task also enters the
open index in that transaction (1 AWS call in all); A2I starts its human loop first (2 calls).

Whatever the backend, the version detected is the one copied when the answer is accepted.
"""

from __future__ import annotations

from .review_backends.interface import review_backend
from .runtime import context, state
from .runtime.events import require
from .runtime.ids import human_loop_name
from .runtime.lambda_entry import entry_point
from .runtime.state import AlreadyDone, ReviewTask


def start_review(detection: dict) -> dict:
    detection_id, bucket, key, purpose = (require(detection, field, "the detection to review")
                                          for field in ("detection_id", "bucket", "key", "purpose"))
    name = human_loop_name(detection_id)
    image_uri = f"s3://{bucket}/{key}"
    task = ReviewTask(name, detection_id, purpose, image_uri, state.now_iso(), image_version=detection.get("version_id"),
                      model_version=detection.get("model_version"), reason=detection.get("reason", ""))
    opened = review_backend().open(task, detection)
    try:
        context.table().record_review_started(opened.task)
    except AlreadyDone:
        return {"human_loop": name, "started": False, "reason": "already started for this image"}
    context.metrics.add_metric(name=f"ReviewsStarted_{purpose}", unit="Count", value=1)
    context.announce("review_started", f"review started for {image_uri}",
                     {"human_loop": name, "purpose": purpose, "reason": task.reason})
    return {"human_loop": name, "started": True, "resumed": opened.resumed}


@entry_point
def handler(event: dict) -> dict:
    return start_review(event)
