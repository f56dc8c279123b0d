"""The toy backend on this machine: its queue in moto, and reviewers who read it and answer through
the toy's function with the true label."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sandbox.review_backends import SandboxBackend
from toy_review.deploy import Settings, queue_name


@dataclass
class Reviewers:
    stack: Any
    truth: dict[str, str]
    wrong: int = 0
    withdrawn: list[str] = field(default_factory=list)

    def answer(self, budget: int | None) -> int:
        sqs = self.stack.client("sqs")
        url = sqs.get_queue_url(QueueName=queue_name(self.stack.naming))["QueueUrl"]
        given = 0
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                body = json.loads(message["Body"])
                if "withdrawn" in body:
                    self.withdrawn.append(body["withdrawn"])
                    continue
                self.stack.deliver("toy_answer", {"task": body["task"], "answers": [
                    {"worker": "toy-reviewer", "label": self.truth[body["image"]]}]})
                given += 1
        self.stack.pump()
        return given


class ToySandbox(SandboxBackend):
    name = "toy"

    def create(self, stack) -> None:
        stack.client("sqs").create_queue(QueueName=queue_name(stack.naming),
                                         Attributes={"FifoQueue": "true"})

    def settings(self, naming) -> dict[str, Any]:
        return {"review_settings": {"queue": queue_name(naming), "greeting": Settings.greeting}}

    def reviewers(self, stack, truth, labels, error_rates, seed, mistakes) -> Reviewers:
        return Reviewers(stack, truth)


BACKEND = ToySandbox()
