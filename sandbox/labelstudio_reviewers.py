"""Simulated annotators of a Label Studio project, each a Label Studio user with an error rate of its
own, annotating through Label Studio's API as a person's submit does: each takes the next task that
still wants annotations and that it has not annotated, looks at the image the task shows (the stack's
image route, redirected to the presigned image) — and knows the true label of that upload — then
annotates it, wrongly at its error rate (``sandbox.mistakes``). Label Studio then tells the stack by
its webhook, as it would for a person."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import unquote, urlsplit

import numpy as np

from handlers.labelstudio import labeling
from handlers.labelstudio.backend import annotator
from handlers.labelstudio.client import LabelStudio
from plugins import NONE_OF_THE_ABOVE

from .mistakes import Mistakes
from .reviewers import SimulatedReviewer


@dataclass
class Annotator(SimulatedReviewer):
    user_id: int = 0


@dataclass
class LabelStudioTeam:
    """Annotators who know the truth (image URI -> label). ``ls``: an administrator's client (it creates
    the annotators and annotates as each of them); ``show``: what opening a task's image link gives
    (the presigned URL it redirects to)."""

    ls: LabelStudio
    project: int
    truth: dict[str, str]
    labels: tuple[str, ...]
    show: Callable[[str], str]
    error_rates: tuple[float, ...] = (0.0,)
    seed: int = 0
    mistakes: Mistakes | None = None
    members: list[Annotator] = field(init=False)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed + 7919)
        self.mistakes = self.mistakes or Mistakes(self.labels)
        self.members = [Annotator(f"annotator-{i + 1}", rate, user_id=self._user(f"annotator-{i + 1}"))
                        for i, rate in enumerate(self.error_rates)]

    def _user(self, name: str) -> int:
        email = f"{name}@labelloop.invalid"
        known = {u.get("email"): u["id"] for u in self.ls.request("GET", "/api/users/") or []}
        return known.get(email) or self.ls.request("POST", "/api/users/", {"email": email, "username": name})["id"]

    @property
    def answered(self) -> int:
        return sum(m.answered for m in self.members)

    def answer_open_tasks(self, limit: int | None = None) -> int:
        """Each task that wants more annotations gets them from the annotators who have not annotated
        it yet, in turn, until none is left or ``limit`` annotations were made; returns how many."""
        given = 0
        for task in self.ls.tasks(self.project):
            done = {annotator(a) for a in task.get("annotations") or () if labeling.answer_label(a) is not None}
            for member in self.members:
                if len(done) >= int(task.get("overlap") or 1) or (limit is not None and given >= limit):
                    break
                who = f"labelstudio:{member.user_id}"
                if who in done:
                    continue
                self.ls.annotate(task["id"], self.label(member, task), completed_by=member.user_id)
                done.add(who)
                given += 1
        return given

    def label(self, member: Annotator, task: dict[str, Any]) -> str:
        """What ``member`` chooses for the image the task shows."""
        uri = object_of(self.show(task["data"][labeling.IMAGE]))
        label, wrong = self.mistakes.answer(self.rng, member.error_rate, self.truth.get(uri, NONE_OF_THE_ABOVE), uri)
        member.answered += 1
        member.wrong += wrong
        return label


def object_of(presigned: str) -> str:
    """The ``s3://bucket/key`` a presigned URL reads, virtual-hosted (``bucket.s3….``) or path-style."""
    shown = urlsplit(presigned)
    path = unquote(shown.path.lstrip("/"))
    host = shown.hostname or ""
    if ".s3." in host or host.endswith(".s3.amazonaws.com"):
        return f"s3://{host.split('.s3.', 1)[0]}/{path}"
    bucket, _, key = path.partition("/")
    return f"s3://{bucket}/{key}"
