"""Process an A2I output (``a2i-human-loop-data/…/output.json``): validate it,
ask the policies whether the answer becomes training data, and copy the image
into its label's training folder — once, however often the output is delivered.

Every malformed or unacceptable output is a recorded, explained rejection and
nothing is copied.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from plugins import ReviewResult, WorkerAnswer

from .runtime import aws, config, context, layout
from .runtime.events import object_events
from .runtime.lambda_entry import entry_point
from .runtime.state import AlreadyDone, ReviewTask, now_iso

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


def process_output(bucket: str, key: str) -> dict[str, Any]:
    cfg, table = config.current(), context.table()
    try:
        body = aws.client("s3").get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{MAX_OUTPUT_BYTES}")["Body"].read()
        output = parse_output(body)
    except Rejected as exc:
        return _reject_output(key, str(exc))

    loop = table.review(output["name"])
    if loop is None:
        return _reject_output(key, f"human loop {output['name']!r} was not started by this stack")
    if loop.status != "open":
        return {"human_loop": output["name"], "status": loop.status, "duplicate": True}

    task_object = output["input"].get("taskObject")
    expected_prefix = f"s3://{cfg.bucket}/{layout.DETECTION_PREFIX}"
    try:
        if task_object != loop.image_uri or not str(task_object).startswith(expected_prefix):
            raise Rejected(f"taskObject {task_object!r} is not this loop's image under {expected_prefix}")
        if not output["answers"]:
            raise Rejected("no human answer (the loop was stopped or expired)")
        answers = worker_answers(output["answers"])
    except Rejected as exc:
        return _finish(loop, "rejected", {"reason": str(exc), "output": key}, notify=True)

    review = ReviewResult(loop.name, loop.detection_id, loop.image_uri, loop.purpose, answers, cfg.labels)
    decision = context.engine().label(review, context.settings())
    details = {"reason": decision.reason, "policy": decision.policy, "output": key,
               "answers": [{"worker": a.worker_id, "label": a.label} for a in answers]}
    if not decision.accept:
        return _finish(loop, "audited" if loop.purpose == "audit" else "rejected", details)

    source_key = loop.image_uri[len(f"s3://{cfg.bucket}/"):]
    target = layout.training_key(decision.label, loop.detection_id, source_key)
    try:
        aws.client("s3").copy_object(
            Bucket=cfg.bucket, Key=target, CopySource={"Bucket": cfg.bucket, "Key": source_key},
            MetadataDirective="REPLACE",
            Metadata={"labelloop-detection": loop.detection_id, "labelloop-human-loop": loop.name})
    except ClientError as exc:
        if aws.error_code(exc) != "NoSuchKey":
            raise
        return _finish(loop, "rejected", details | {
            "reason": f"{loop.image_uri} was deleted before the answer arrived; nothing was copied"}, notify=True)
    table.add_training_image(target, decision.label)  # the copy's own S3 event finds it counted
    return _finish(loop, "accepted", details | {"label": decision.label, "training_key": target})


def _finish(loop: ReviewTask, status: str, details: dict, *, notify: bool = False) -> dict:
    try:
        context.table().record_review_finished(loop.name, loop.detection_id, status,
                                               details | {"finished_at": now_iso()})
    except AlreadyDone:
        return {"human_loop": loop.name, "status": status, "duplicate": True}
    context.metrics.add_metric(name=f"Reviews_{status}", unit="Count", value=1)
    kind = "review_rejected" if status == "rejected" else "review_completed"
    context.announce(kind, f"review {status}: {details.get('reason', '')}",
                     {"human_loop": loop.name, "image": loop.image_uri, **{k: v for k, v in details.items()
                                                                                 if k in ("reason", "label", "policy")}},
                     notify=notify)
    return {"human_loop": loop.name, "status": status, **details}


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
