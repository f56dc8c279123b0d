"""Process an A2I output (``a2i-human-loop-data/…/output.json``): validate it and
turn its answers into the review's result — the label decision, the copy into
the label's training folder, the record (``handlers/review_outcome.py``, the
same for the builtin review app) — once, however often the output is delivered.

Every malformed or unacceptable output is a recorded, explained rejection and
nothing is copied; the loop it names is closed (rejected), so no loop waits
forever for an answer that cannot be read.
"""

from __future__ import annotations

import json
from typing import Any

from plugins import WorkerAnswer

from .review_outcome import close, conclude, decide, resume
from .runtime import aws, config, context, layout
from .runtime.events import object_events
from .runtime.ids import human_loop_name
from .runtime.lambda_entry import entry_point
from .runtime.clock import now_iso
from .runtime.state import AlreadyDone, ReviewTask

# An A2I output holds this loop's input (an image URI and a few labels) and at most three answers
# (TaskCount ≤ 3): a few kilobytes. Anything near this limit is not an output of this stack's loops.
MAX_OUTPUT_BYTES = 1024 * 1024
ANSWER_FIELD = "crowd-image-classifier"


class Rejected(Exception):
    """The output cannot be used; the message says why."""


def parse_output(body: bytes) -> dict[str, Any]:
    """The A2I output document, checked for the fields this loop needs."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Rejected(f"output.json is not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise Rejected("output.json is not a JSON object")
    if not isinstance(doc.get("humanLoopName"), str) or not doc["humanLoopName"]:
        raise Rejected("output.json has no humanLoopName")
    content = doc.get("inputContent")
    if isinstance(content, str):
        try:
            content = json.loads(content)
        except json.JSONDecodeError:
            raise Rejected("inputContent is not valid JSON") from None
    if not isinstance(content, dict):
        raise Rejected("output.json has no inputContent object")
    answers = doc.get("humanAnswers")
    if not isinstance(answers, list):
        raise Rejected("output.json has no humanAnswers list")
    return {"name": doc["humanLoopName"], "input": content, "answers": answers}


def worker_answers(answers: list) -> tuple[WorkerAnswer, ...]:
    result = []
    for i, answer in enumerate(answers):
        if not isinstance(answer, dict):
            raise Rejected(f"answer {i + 1} is not an object")
        content = answer.get("answerContent") or {}
        field = content.get(ANSWER_FIELD) if isinstance(content, dict) else None
        label = field.get("label") if isinstance(field, dict) else None
        result.append(WorkerAnswer(str(answer.get("workerId", f"worker-{i + 1}")),
                                   label if isinstance(label, str) and label.strip() else None,
                                   str(answer.get("submissionTime", "")), answer.get("timeSpentInSeconds")))
    return tuple(result)


def read_output(bucket: str, key: str) -> bytes:
    """The output's bytes, refused (by its real size, read from the same call) when over the limit."""
    response = aws.client("s3").get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{MAX_OUTPUT_BYTES - 1}")
    size = int(str(response.get("ContentRange") or "").rpartition("/")[2] or response.get("ContentLength") or 0)
    if size > MAX_OUTPUT_BYTES:
        raise Rejected(f"output.json is {size} bytes, over the {MAX_OUTPUT_BYTES} byte limit")
    return response["Body"].read()


def process_output(bucket: str, key: str) -> dict[str, Any]:
    cfg, table = config.current(), context.table()
    try:
        output = parse_output(read_output(bucket, key))
    except Rejected as exc:
        loop = table.review(layout.human_loop_of_output(key) or "")
        if loop is not None and loop.status == "open":  # the loop's answer cannot be read: it is closed
            return close(loop, "rejected", {"reason": str(exc), "output": key}, notify=True)
        return _reject_output(key, str(exc))

    loop = started_loop(table, output)
    if loop is None:
        return _reject_output(key, f"human loop {output['name']!r} was not started by this stack")
    if loop.status != "open":  # a duplicate output, or this output's retry: a pending copy is made now
        return resume(loop)

    task_object = output["input"].get("taskObject")
    expected_prefix = f"s3://{cfg.bucket}/{layout.DETECTION_PREFIX}"
    try:
        if task_object != loop.image_uri or not str(task_object).startswith(expected_prefix):
            raise Rejected(f"taskObject {task_object!r} is not this loop's image under {expected_prefix}")
        if not output["answers"]:
            raise Rejected("no human answer (the loop was stopped or expired)")
        answers = worker_answers(output["answers"])
    except Rejected as exc:
        return close(loop, "rejected", {"reason": str(exc), "output": key}, notify=True)

    return conclude(loop, decide(loop, answers), {"output": key})


def started_loop(table, output: dict) -> ReviewTask | None:
    """The loop's record. A loop this stack started whose record was never written (the start's record
    failed after every retry) is known by its detection: the loop is named after it and the detection
    asked for the review; its record is written now."""
    loop = table.review(output["name"])
    detection_id = output["input"].get("detectionId")
    if loop is not None or not isinstance(detection_id, str) or not layout.is_detection_id(detection_id) \
            or human_loop_name(detection_id) != output["name"]:
        return loop
    record = table.detection(detection_id)
    decision = (record.decision if record else None) or {}
    if not decision.get("review"):
        return None
    try:
        table.record_review_started(ReviewTask(
            output["name"], detection_id, decision.get("purpose") or "training", record.image_uri, now_iso(),
            image_version=record.version_id, model_version=record.model_version, reason=record.reason or ""))
        context.logger.warning("human loop record written from its detection", extra={"human_loop": output["name"]})
    except AlreadyDone:
        pass  # written a moment ago
    return table.review(output["name"])


def _reject_output(key: str, reason: str) -> dict:
    if context.table().record_output_rejected(key, reason):
        context.announce("review_rejected", "An A2I output was rejected", {"output": key, "reason": reason},
                         notify=True, footer="Nothing was copied into the training data.")
    return {"output": key, "status": "rejected", "reason": reason}


def process_event(event: dict) -> list[dict]:
    results = []
    for obj in object_events(event):
        if not obj.created or not obj.key.endswith("/output.json"):
            results.append({"output": obj.key, "status": "ignored", "reason": "not a created output.json"})
            continue
        results.append(process_output(obj.bucket, obj.key))
    return results


@entry_point
def handler(event: dict) -> list[dict]:
    return process_event(event)
