"""The training data as the counters see it: images counted once per key, the per-label counters, the
baseline of the last training."""

from __future__ import annotations

from typing import Mapping

from ..clock import now_iso
from .base import TableBase
from .codec import _key
from .conditions import AlreadyDone
from .items import _LABEL_COUNT, _LOOP, _TRAINING_IMAGE


class TrainingData(TableBase):
    """Training images and the per-label counters."""

    def add_training_image(self, key: str, label: str) -> bool:
        """Count a training image once per key; False if it was counted before."""
        try:
            self._transact([
                self._put(_key(_TRAINING_IMAGE, key), {"label": label, "at": now_iso()}),
                self._add(_key(_LABEL_COUNT, label), {"count": 1}),
            ])
            return True
        except AlreadyDone:
            return False

    def remove_training_image(self, key: str, label: str) -> bool:
        """Uncount a deleted training image; False if it was not counted."""
        try:
            self._transact([
                {"Delete": {"TableName": self.name, "Key": _key(_TRAINING_IMAGE, key),
                            "ConditionExpression": "attribute_exists(pk)"}},
                self._add(_key(_LABEL_COUNT, label), {"count": -1}),
            ])
            return True
        except AlreadyDone:
            return False

    def set_counts(self, counts: Mapping[str, int]) -> None:
        """Reconcile the per-label counters with a listing of the training folders."""
        for label, count in counts.items():
            self._update(_key(_LABEL_COUNT, label), {"count": count, "reconciled_at": now_iso()})

    def mark_seen(self, counts: Mapping[str, int]) -> None:
        """Images per label that a finished training saw (deployed or not): 'new' is counted from here."""
        self._update(_key(_LOOP), {"trained_counts": dict(counts)})

    def mark_trained(self, counts: Mapping[str, int]) -> None:
        """A training finished and its version was deployed: its images are the baseline, and now is
        the last training."""
        self._update(_key(_LOOP), {"trained_counts": dict(counts), "trained_at": now_iso()})
