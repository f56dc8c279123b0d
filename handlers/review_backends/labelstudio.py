"""The ``labelstudio`` review backend at run time: reviews as tasks of a team's own Label Studio
(``handlers/labelstudio/``).

Opening a review makes its Label Studio task (found, not made again, on a repeated start) and records
the review as the builtin review app's are — a task of the open index with its priority, the
annotations it wants and its expiry — which the reconcile reads. Label Studio down or refusing: the
review is recorded all the same, and the reconcile makes its task later. Answers come back through the
``labelstudio`` function (webhook and reconcile). A withdrawn review's task is deleted in Label
Studio; one that cannot be deleted now goes when the reconcile next meets it.
"""

from __future__ import annotations

from typing import Any

from ..labelstudio import backend
from ..runtime.state import ReviewTask
from .builtin import review_task
from .interface import Opened, ReviewBackend


class LabelStudio(ReviewBackend):
    name = "labelstudio"

    def open(self, task: ReviewTask, detection: dict[str, Any]) -> Opened:
        record = review_task(task, detection)
        return Opened(record, resumed=backend.push(record, detection).get("labelstudio") == "found")

    def withdrawn(self, task: ReviewTask, reason: str) -> None:
        backend.withdraw(task)


BACKEND = LabelStudio()
