"""Each reviewer's answers against the true labels: the sandbox knows every image's label (the run's
``truth``), so a person reviewing a saved run, and each simulated reviewer, can be told how often
they were right. Read from the reviews' recorded answers; light (no moto, no scikit-learn)."""

from __future__ import annotations

from typing import Iterable, Mapping

from handlers.runtime.state import Snapshot


def reviewer_accuracy(items: Iterable[dict], truth: Mapping[str, str]) -> dict[str, tuple[int, int]]:
    """Reviewer (the name they signed in with, else their id) → (answers that named the true label,
    answers) over the finished reviews in the table ``items``, for images whose true label is known."""
    snapshot, counts = Snapshot.of(items), {}
    names = {r.reviewer: r.name for r in snapshot.reviewers if r.name}
    for review in snapshot.reviews:
        true = truth.get(review.image_uri)
        for answer in (review.result or {}).get("answers") or () if true else ():
            who = names.get(answer["worker"], answer["worker"])
            right, answered = counts.get(who, (0, 0))
            counts[who] = (right + (answer.get("label") == true), answered + 1)
    return dict(sorted(counts.items()))


def accuracy_line(reviewer: str, right: int, answered: int) -> str:
    return f"{reviewer}: {right} of {answered} answers right against the true labels ({right / answered:.0%})"
