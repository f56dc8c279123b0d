"""The toy backend at run time: opening a review sends it to the backend's queue (a FIFO queue that
drops a second message for the same review: a repeated open opens nothing new); its function takes
the reviewers' answers and hands them to the shared review outcome."""

from __future__ import annotations

import json
from typing import Any

from handlers import review_outcome
from handlers.review_backends.interface import Opened, ReviewBackend
from handlers.runtime import aws, config, context
from handlers.runtime.events import require
from handlers.runtime.lambda_entry import entry_point
from handlers.runtime.state import ReviewTask
from plugins import WorkerAnswer


def send(message: dict[str, Any], dedup: str) -> None:
    settings, sqs = config.current().review_settings, aws.client("sqs")
    url = sqs.get_queue_url(QueueName=settings["queue"])["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(message), MessageGroupId="reviews",
                     MessageDeduplicationId=dedup)


class Toy(ReviewBackend):
    name = "toy"

    def open(self, task: ReviewTask, detection: dict[str, Any]) -> Opened:
        send({"task": task.name, "image": task.image_uri, "greeting": config.current().review_settings["greeting"]},
             task.name)
        return Opened(task)

    def withdrawn(self, task: ReviewTask, reason: str) -> None:
        send({"withdrawn": task.name, "reason": reason}, f"withdrawn-{task.name}")


@entry_point
def answer_handler(event: dict) -> dict:
    """``{"task": <review>, "answers": [{"worker": …, "label": …}]}``: the review's answers, decided once."""
    name = require(event, "task", "the toy answer")
    task = context.table().review(name)
    if task is None:
        raise ValueError(f"no review named {name!r}")
    if task.status != "open":
        return review_outcome.resume(task)
    answers = tuple(WorkerAnswer(str(a["worker"]), a.get("label")) for a in require(event, "answers", "the toy answer"))
    return review_outcome.conclude(task, review_outcome.decide(task, answers))


BACKEND = Toy()
