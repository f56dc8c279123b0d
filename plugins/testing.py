"""Realistic facts for a policy's own tests, in a line each, and the engine a function would load.

    from plugins.testing import dataset, detection, policy_engine

    engine, settings = policy_engine("acme_min_per_label", Minimum_F1_Score=0.9)
    decision = engine.review(detection({"cat": 62.0, "dog": 30.0}), settings)

Every builder takes only what a test is about; the rest has the value a typical stack would show.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from .engine import Engine
from .facts import (DatasetStats, Detection, Evaluation, LabelMetrics, ModelState, Purpose, ReviewResult,
                    WorkerAnswer)
from .parameters import Settings

LABELS = ("cat", "dog")


def policy_engine(*modules: str, replace_defaults: bool = False, **parameters: Any) -> tuple[Engine, Settings]:
    """The engine with ``modules`` loaded after the defaults (as the functions load them, installed entry
    points left out) and its settings: every parameter's default, with ``parameters`` changed (``_`` for
    ``-`` in names: ``Minimum_F1_Score=0.9``)."""
    engine = Engine.load(list(modules), entry_points=False, replace_defaults=replace_defaults)
    catalog = engine.catalog
    named = {name if name in catalog else name.replace("_", "-"): value for name, value in parameters.items()}
    return engine, catalog.defaults(named)  # checked as Parameter Store values are: a bad one raises


def detection(scores: Mapping[str, float] | None = None, *, image: str = "cat-0001.png", model_version: str = "v1",
              reviews_today: int = 0, detected_at: str = "2026-01-05T09:30:00Z",
              detection_id: str | None = None) -> Detection:
    """The model's answer for one upload: ``scores`` by label (default: a confident cat). The detection
    id defaults to one derived from ``image``, as the loop derives it from the image's content."""
    scores = {"cat": 96.5, "dog": 3.1} if scores is None else scores
    return Detection(detection_id or f"det-{image}", f"s3://labelloop-dev-data/images_for_detection/{image}",
                     model_version, scores, reviews_today=reviews_today, detected_at=detected_at)


def dataset(images: Mapping[str, int] | None = None, new: Mapping[str, int] | None = None, *,
            label_set: Sequence[str] | None = None, last_trained_at: str | None = "2026-01-04T02:00:00Z") -> DatasetStats:
    """The training folder: ``images`` per label (default 40 each), ``new`` of them since the last training
    (default none); the label set is the labels of ``images``."""
    images = {label: 40 for label in LABELS} if images is None else dict(images)
    return DatasetStats(images, dict(new or {}), tuple(label_set if label_set is not None else images),
                        last_trained_at)


def model(active: str | None = "v1", f1: float | None = 0.9, *, training: str | None = None) -> ModelState:
    """The serving model (``active`` None: none deployed yet) and the version training, if any."""
    return ModelState(active, f1 if active else None, training_in_progress=training is not None,
                      training_version=training, training_started_at="2026-01-05T08:00:00Z" if training else None)


def evaluation(f1: float, per_label: Mapping[str, float] | None = None, *, version: str = "v2") -> Evaluation:
    """A trained version's evaluation: overall ``f1`` and, by label, each label's F1 (default: all ``f1``)."""
    per_label = {label: f1 for label in LABELS} if per_label is None else per_label
    return Evaluation(version, f1, f1, f1, {label: LabelMetrics(v, v, v) for label, v in per_label.items()})


def review(*answers: str | None, purpose: Purpose = "training", label_set: Sequence[str] = LABELS,
           scores: Mapping[str, float] | None = None, maximum_answers: int | None = None) -> ReviewResult:
    """A finished review: one reviewer's answer per item of ``answers`` (None: none of the labels fit)."""
    shown = detection({"cat": 55.0, "dog": 41.0} if scores is None else scores)
    return ReviewResult(f"review-{shown.detection_id}", shown.detection_id, shown.image_uri, purpose,
                        tuple(WorkerAnswer(f"reviewer-{n}", label, "2026-01-05T10:00:00Z", 12.0)
                              for n, label in enumerate(answers, start=1)),
                        tuple(label_set), shown.labels, maximum_answers)
