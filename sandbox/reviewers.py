"""Simulated reviewers of the builtin review app, each with an error rate of its own, answering
through the review API a person's page uses: each asks the review function (HTTP API events, with
its own token's claims) for the next task, looks at the image its URL names — and knows the true
label of that upload — then answers it, wrongly at its error rate (uniformly: another label or "None
of the Above"; or on the hard images: ``sandbox.mistakes``). Several reviewers and ``Reviewers-Per-Image`` > 1 exercise consensus end to end."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np

from plugins import NONE_OF_THE_ABOVE

from .api_gateway import http_api_event, reviewer_claims
from .local_aws import LocalStack
from .mistakes import Mistakes

TOKEN_SECONDS = 3600


@dataclass
class SimulatedReviewer:
    name: str
    error_rate: float = 0.0
    answered: int = 0
    wrong: int = 0


@dataclass
class ReviewTeam:
    """Reviewers who know the truth (image URI -> label) and take turns at the open tasks; they err
    at their error rates as ``mistakes`` says (uniformly, by default; keyed by image URI)."""

    stack: LocalStack
    truth: dict[str, str]
    labels: tuple[str, ...]
    error_rates: tuple[float, ...] = (0.0,)
    seed: int = 0
    mistakes: Mistakes | None = None
    members: list[SimulatedReviewer] = field(init=False)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed + 7919)
        self.mistakes = self.mistakes or Mistakes(self.labels)
        self.members = [SimulatedReviewer(f"reviewer-{i + 1}", rate) for i, rate in enumerate(self.error_rates)]

    @property
    def answered(self) -> int:
        return sum(m.answered for m in self.members)

    @property
    def wrong(self) -> int:
        return sum(m.wrong for m in self.members)

    def answer_open_tasks(self, limit: int | None = None) -> int:
        """Each reviewer in turn takes the next task (the highest priority first, as the review app
        serves them) and answers it, until none is served a task or ``limit`` answers were given;
        returns how many answers were given."""
        given, idle = 0, 0
        while idle < len(self.members) and (limit is None or given < limit):
            idle = 0
            for member in self.members:
                if limit is not None and given >= limit:
                    break
                task = self.call(member, "GET", "/api/tasks/next")["task"]
                if task is None:
                    idle += 1
                    continue
                self.call(member, "POST", f"/api/tasks/{task['id']}/answer", {"label": self.label(member, task)})
                given += 1
        self.stack.pump()  # the accepted answers' copies reach the counters
        return given

    def label(self, member: SimulatedReviewer, task: dict[str, Any]) -> str:
        """What ``member`` answers for the image the task shows."""
        key = unquote(urlsplit(task["image"]).path.lstrip("/")).removeprefix(f"{self.stack.bucket}/")  # path-style
        uri = f"s3://{self.stack.bucket}/{key}"
        label, wrong = self.mistakes.answer(self.rng, member.error_rate, self.truth.get(uri, NONE_OF_THE_ABOVE), uri)
        member.answered += 1
        member.wrong += wrong
        return label

    def call(self, member: SimulatedReviewer, method: str, path: str, body: Any = None) -> dict[str, Any]:
        claims = reviewer_claims(member.name, "access", 0, 2**31)  # a token that does not expire in a run
        response = self.stack.deliver("review_api", http_api_event(
            method, path, claims=claims, body=None if body is None else json.dumps(body)))
        reply = json.loads(response.get("body") or "{}")
        if response.get("statusCode") != 200:
            raise RuntimeError(f"the review API refused {member.name}'s {method} {path}: {reply}")
        return reply
