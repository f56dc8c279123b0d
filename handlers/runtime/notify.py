"""Operator notifications: readable SNS messages, never one per detected image."""

from __future__ import annotations

import logging
import re
from typing import Mapping, Sequence

from . import aws

log = logging.getLogger(__name__)
SUBJECT_LIMIT = 100  # SNS e-mail subjects: ASCII, no line breaks, at most 100 characters


def subject_line(stack: str, text: str) -> str:
    line = re.sub(r"[^\x20-\x7e]", "-", f"[labelloop {stack}] {text}".replace("\n", " "))
    return line if len(line) <= SUBJECT_LIMIT else line[: SUBJECT_LIMIT - 3] + "..."


def message_body(summary: str, facts: Mapping[str, object] | Sequence[tuple[str, object]] = (), footer: str = "") -> str:
    """A short summary, then aligned 'name: value' lines."""
    pairs = list(facts.items()) if isinstance(facts, Mapping) else list(facts)
    width = max((len(str(k)) for k, _ in pairs), default=0)
    lines = [summary, ""] + [f"{str(k).ljust(width)}  {v}" for k, v in pairs]
    if footer:
        lines += ["", footer]
    return "\n".join(lines).rstrip() + "\n"


class Notifier:
    def __init__(self, topic_arn: str | None, stack: str):
        self.topic_arn, self.stack = topic_arn, stack

    def send(self, subject: str, summary: str, facts: Mapping[str, object] | Sequence[tuple[str, object]] = (),
             footer: str = "") -> None:
        if not self.topic_arn:
            log.info("no topic configured; not sent: %s", subject)
            return
        aws.client("sns").publish(TopicArn=self.topic_arn, Subject=subject_line(self.stack, subject),
                                  Message=message_body(summary, facts, footer))
