"""The ``builtin`` review backend at run time: labelloop's own review app.

Opening a review is a task in the state table with its entry in the open index (the page's queue):
the decision's priority and reviewers, the most answers it may ask for and when it expires, all
written by StartReview's one transaction (1 AWS call). Reviewers answer through the review function
(``handlers/review_api.py``), which hands their answers to ``handlers/review_outcome.py`` with the
task's :func:`closing`. A withdrawn task leaves the open index with its close: nothing else to take back.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from plugins import MAX_REVIEWERS, REVIEWERS_PER_IMAGE, TASK_LIFETIME_HOURS, lowest_confidence_first

from ..runtime import context, state
from ..runtime.state import Closing, ReviewTask, TaskAnswer
from .interface import Opened, ReviewBackend

if TYPE_CHECKING:
    from ..review_outcome import Verdict

TOP_LABELS = 5  # the model's best guesses a reviewer is shown


class Builtin(ReviewBackend):
    name = "builtin"

    def open(self, task: ReviewTask, detection: dict[str, Any]) -> Opened:
        return Opened(review_task(task, detection))


def review_task(task: ReviewTask, detection: dict[str, Any]) -> ReviewTask:
    """The task of the review app: the decision's priority and reviewers (from a detection recorded
    before they were decided: the defaults), within the parameters of now."""
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


def closing(task: ReviewTask, verdict: Verdict, answer: TaskAnswer | None) -> Closing:
    """What closing a task of the review app writes besides its result: its open entry removed, the
    answer that closes it, and each answerer's agreement with an accepted label (their counts)."""
    label = verdict.decision.label
    agreement = {a.worker_id: a.label == label for a in verdict.answers} if verdict.decision.accept else {}
    return Closing(task, answer, agreement)


BACKEND = Builtin()
