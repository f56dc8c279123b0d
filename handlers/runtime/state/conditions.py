"""Why a conditional write did not happen: one exception per reason, each a ``ConditionFailed``."""

from __future__ import annotations

from typing import Any, Mapping



class ConditionFailed(Exception):
    """A conditional write found the table not as it expected; nothing was written. ``item``: the
    item as it was, when the write asked for it."""

    def __init__(self, message: str = "", item: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.item = item


class AlreadyDone(ConditionFailed):
    """The write happened before (a duplicate delivery): the work is done."""


class LockHeld(ConditionFailed):
    """A training run holds the training lock (or this run does not hold it any more)."""


class ActiveModelMoved(ConditionFailed):
    """The active model is not the one expected: another run switched it (lost compare-and-swap)."""


class TaskClosed(ConditionFailed):
    """The review task is not open (any more): answered, expired or never opened."""


class TaskChanged(ConditionFailed):
    """Another answer reached the review task since it was read: read it again."""


class TaskLeased(ConditionFailed):
    """Another reviewer holds the review task's lease (or answered or skipped it)."""


class AlreadyAnswered(AlreadyDone):
    """This reviewer answered (or skipped) the review task before."""


class CopyWithdrawn(ConditionFailed):
    """An accepted review's copy is no longer to be made (its image was deleted or forgotten meanwhile)."""


class TrainingImageCounted(ConditionFailed):
    """The training image was counted already (the copy's own S3 event came first)."""
