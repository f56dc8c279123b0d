"""Scoring a model's answers against the true labels: overall (macro) and per-label F1, precision and
recall, and the confusion matrix, as an :class:`~plugins.facts.Evaluation`.

Pure, so the side-by-side evaluation on the gate set (a Lambda function) and the sandbox's report
score models the same way. An image the model gave no label counts as answered :data:`NO_LABEL`:
a miss of its true label.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable

from .facts import Evaluation, LabelMetrics

NO_LABEL = "(no label)"


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def score(version: str, pairs: Iterable[tuple[str, str | None]], gate_set: str | None = None,
          labels: Iterable[str] = ()) -> Evaluation:
    """The evaluation of ``(true label, predicted label or None)`` pairs, per label of ``labels`` and
    per label that has images (the overall figures are their means: macro averages). A label of
    ``labels`` without images scores 0: a gate set that lacks a label cannot vouch for it."""
    counted = [(truth, predicted or NO_LABEL) for truth, predicted in pairs]
    confusion: dict[str, Counter] = {}
    for truth, predicted in counted:
        confusion.setdefault(truth, Counter())[predicted] += 1
    present = sorted(confusion)
    per_label = {}
    for label in sorted(set(present) | set(labels)):
        row = confusion.get(label, Counter())
        hits, actual = row[label], sum(row.values())
        answered = sum(r[label] for r in confusion.values())
        precision, recall = _ratio(hits, answered), _ratio(hits, actual)
        per_label[label] = (_ratio(2 * precision * recall, precision + recall), precision, recall, actual)
    mean = lambda i: round(sum(m[i] for m in per_label.values()) / len(per_label), 6) if per_label else 0.0  # noqa: E731
    return Evaluation(version, mean(0), mean(1), mean(2),
                      {k: LabelMetrics(*(round(v, 6) for v in m[:3]), images=m[3]) for k, m in per_label.items()},
                      gate_set=gate_set, images=len(counted),
                      confusion={truth: dict(confusion[truth]) for truth in present})
