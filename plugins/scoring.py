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


def score(version: str, pairs: Iterable[tuple[str, str | None]], labels: Iterable[str] = (),
          gate_set: str | None = None) -> Evaluation:
    """The evaluation of ``(true label, predicted label or None)`` pairs. Labels are those of ``labels``
    and every true label met; the overall figures are the means over the labels that have images."""
    counted = [(truth, predicted or NO_LABEL) for truth, predicted in pairs]
    confusion: dict[str, Counter] = {}
    for truth, predicted in counted:
        confusion.setdefault(truth, Counter())[predicted] += 1
    names = sorted(set(labels) | set(confusion))
    per_label = {}
    for label in names:
        hits = confusion.get(label, Counter())[label]
        actual = sum(confusion.get(label, Counter()).values())
        answered = sum(row[label] for row in confusion.values())
        precision, recall = _ratio(hits, answered), _ratio(hits, actual)
        f1 = _ratio(2 * precision * recall, precision + recall) if precision + recall else 0.0
        per_label[label] = LabelMetrics(round(f1, 6), round(precision, 6), round(recall, 6))
    present = [per_label[label] for label in names if label in confusion]
    mean = lambda values: round(sum(values) / len(values), 6) if values else 0.0  # noqa: E731
    return Evaluation(version, mean([m.f1 for m in present]), mean([m.precision for m in present]),
                      mean([m.recall for m in present]), {k: per_label[k] for k in names if k in confusion},
                      gate_set=gate_set, images=len(counted),
                      confusion={truth: dict(row) for truth, row in sorted(confusion.items())})
