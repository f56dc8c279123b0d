"""How a simulated reviewer errs, at its error rate: uniformly over the images (another label or
"None of the Above", drawn at random — the sandbox's default), or concentrated on the hard images
(the same rate on average, in proportion to how unsure a reference model is of the true label, and
answering the label it is confused with: reviewers who err where the model errs).

The reference model is a logistic regression scored out of fold (5 folds) on the whole data set, so
an image's hardness is not learnt from itself."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping

import numpy as np

from plugins import NONE_OF_THE_ABOVE

KINDS = ("uniform", "hard")


@dataclass(frozen=True)
class Hardness:
    """One image: how much more often than on average a reviewer errs on it, and the label it is
    mistaken for."""

    weight: float
    confused_with: str


@dataclass(frozen=True)
class Mistakes:
    """What a reviewer answers for an image; ``hardness`` (image -> Hardness) makes the errors
    concentrate on the hard images, without it they are uniform."""

    labels: tuple[str, ...]
    hardness: Mapping[object, Hardness] | None = None

    def answer(self, rng: np.random.Generator, rate: float, truth: str, image: object = None) -> tuple[str, bool]:
        """(the answer, whether it is wrong); one draw of ``rng`` per answer, two for a uniform error."""
        if self.hardness is None:
            if rng.random() >= rate:
                return truth, False
            choices = [name for name in self.labels if name != truth] + [NONE_OF_THE_ABOVE]
            return choices[int(rng.integers(len(choices)))], True
        hard = self.hardness[image]
        if rng.random() >= min(1.0, rate * hard.weight):
            return truth, False
        return hard.confused_with, True


@lru_cache(maxsize=4)
def hardness(dataset: str) -> dict[int, Hardness]:
    """Sample index -> its Hardness, for every image of the data set (computed once per process)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict

    from .dataset import load_samples

    samples = load_samples(dataset)
    x = np.array([s.features() for s in samples]) / 16.0
    y = np.array([s.label for s in samples])
    model = LogisticRegression(max_iter=300, C=1.0)
    probabilities = cross_val_predict(model, x, y, cv=5, method="predict_proba")
    classes = np.unique(y)
    truth = np.searchsorted(classes, y)
    unsure = 1.0 - probabilities[np.arange(len(y)), truth]
    probabilities[np.arange(len(y)), truth] = -1.0
    confused = classes[probabilities.argmax(axis=1)]
    mean = float(unsure.mean()) or 1.0
    return {s.index: Hardness(float(u / mean), str(c)) for s, u, c in zip(samples, unsure, confused)}
