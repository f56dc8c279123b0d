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


def score(version: str, pairs: Iterable[tuple[str, str | None]], gate_set: str | None = None) -> Evaluation:
    """The evaluation of ``(true label, predicted label or None)`` pairs, per label that has images
    (the overall figures are their means: macro averages)."""
    counted = [(truth, predicted or NO_LABEL) for truth, predicted in pairs]
    confusion: dict[str, Counter] = {}
    for truth, predicted in counted:
        confusion.setdefault(truth, Counter())[predicted] += 1
    present = sorted(confusion)  # the labels with images; ``labels`` only adds columns nobody answered
    per_label = {}
    for label in present:
        hits, actual = confusion[label][label], sum(confusion[label].values())
        answered = sum(row[label] for row in confusion.values())
        precision, recall = _ratio(hits, answered), _ratio(hits, actual)
        per_label[label] = (_ratio(2 * precision * recall, precision + recall), precision, recall)
    mean = lambda i: round(sum(m[i] for m in per_label.values()) / len(per_label), 6) if per_label else 0.0  # noqa: E731
    return Evaluation(version, mean(0), mean(1), mean(2),
                      {k: LabelMetrics(*(round(v, 6) for v in m)) for k, m in per_label.items()},
                      gate_set=gate_set, images=len(counted),
                      confusion={truth: dict(confusion[truth]) for truth in present})
