"""What a review backend does at run time: the same calls whichever backend a stack has.

* :meth:`ReviewBackend.open` opens the review of a detection (the detection state machine's
  StartReview): the backend's own side of it (a task of the review app, a human loop, …) and the
  review as the state table records it, which ``handlers/start_review.py`` then writes in one
  transaction. The review is named after the image's content: a second open of the same image must
  open nothing new at the backend.
* The answers come back through the backend's own functions (the review app's API, A2I's output
  files, …), which turn them into :class:`plugins.WorkerAnswer` s and hand them to
  ``handlers/review_outcome.py``: the label decision (a :class:`plugins.ReviewResult`), the close
  that decides, then the copy — exactly once, and never for an image its uploader deleted.
* :meth:`ReviewBackend.withdrawn`: the loop closed a review whose image was deleted
  (``handlers/review_outcome.withdraw``: decided first, in the table); a backend that can take the
  task back from its reviewers does so here. An answer that arrives anyway changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..runtime import config
from ..runtime.state import ReviewTask
from . import backend


@dataclass(frozen=True)
class Opened:
    """A review opened: the task as the state table records it, and whether an earlier delivery of
    the same start had opened it at the backend already (its record may still be missing)."""

    task: ReviewTask
    resumed: bool = False


class ReviewBackend:
    """A review backend at run time; a backend's runtime module exposes one as ``BACKEND``."""

    name: str

    def open(self, task: ReviewTask, detection: dict[str, Any]) -> Opened:
        """Open the review of ``task``. ``detection``: what the detection state machine hands
        StartReview (the model's labels, the decision's priority and reviewers, …). What it calls,
        StartReview's role may do by the backend's ``Deployable.open_grants``."""
        raise NotImplementedError(f"the review backend {self.name!r} does not open reviews")

    def withdrawn(self, task: ReviewTask, reason: str) -> None:
        """The loop closed ``task`` as ``deleted`` (its image is gone): take it back from the reviewers.
        By default there is nothing to take back. What it calls, the dataset function's role may do by
        the backend's ``Deployable.withdraw_grants``."""


def review_backend() -> ReviewBackend:
    """The review backend of this function's stack (``LABELLOOP_REVIEW_BACKEND``)."""
    return backend(config.current().review_backend, "runtime")
