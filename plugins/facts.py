"""Facts: what a policy is told. Frozen, so a policy cannot change what others see.

Handlers gather these from AWS; policies read them and return decisions. Nothing
here talks to AWS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, Mapping

Purpose = Literal["training", "audit"]
PURPOSES: tuple[str, ...] = ("training", "audit")
# The answer of a reviewer for whom no label fits: a choice in every review, never a label.
NONE_OF_THE_ABOVE = "None of the Above"


def _frozen_map(value: Mapping | None) -> Mapping:
    return MappingProxyType(dict(value or {}))


@dataclass(frozen=True)
class LabelScore:
    """One label the model knows and its confidence for an image, 0–100."""

    name: str
    confidence: float


@dataclass(frozen=True)
class Detection:
    """The model's answer for one uploaded image, with every label's score.

    ``labels`` is sorted by confidence, highest first, and may be empty (the
    model returned nothing). ``detection_id`` is fixed by the image's content
    (what audit sampling draws from: a duplicate or a replay draws the same);
    ``reviews_today`` is how many human reviews were started since 00:00 UTC;
    ``training_counts`` the training images per label at the last training
    (empty before the first). ``labels`` may also be given as
    ``{"cat": 62.0, "dog": 30.0}`` or as (name, confidence) pairs.
    """

    detection_id: str
    image_uri: str
    model_version: str
    labels: tuple[LabelScore, ...] = ()
    reviews_today: int = 0
    detected_at: str = ""
    training_counts: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        scores = self.labels.items() if isinstance(self.labels, Mapping) else self.labels
        scores = [s if isinstance(s, LabelScore) else LabelScore(str(s[0]), float(s[1])) for s in scores]
        ordered = tuple(sorted(scores, key=lambda s: -s.confidence))
        object.__setattr__(self, "labels", ordered)
        object.__setattr__(self, "training_counts", _frozen_map(self.training_counts))

    @property
    def top(self) -> LabelScore | None:
        return self.labels[0] if self.labels else None

    @property
    def top_confidence(self) -> float:
        """Confidence of the best label; 0 when the model returned no label."""
        return self.labels[0].confidence if self.labels else 0.0

    @property
    def margin(self) -> float:
        """Confidence gap between the two best labels (the best one's confidence if alone)."""
        if not self.labels:
            return 0.0
        second = self.labels[1].confidence if len(self.labels) > 1 else 0.0
        return self.labels[0].confidence - second

    def score(self, label: str) -> float:
        return next((s.confidence for s in self.labels if s.name == label), 0.0)


@dataclass(frozen=True)
class DatasetStats:
    """The training folder: images per label now, and new ones since the last successful training."""

    label_counts: Mapping[str, int] = field(default_factory=dict)
    new_since_training: Mapping[str, int] = field(default_factory=dict)
    label_set: tuple[str, ...] = ()
    last_trained_at: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "label_counts", _frozen_map(self.label_counts))
        object.__setattr__(self, "new_since_training", _frozen_map(self.new_since_training))

    @property
    def total(self) -> int:
        return sum(self.label_counts.values())

    @property
    def new_total(self) -> int:
        return sum(self.new_since_training.values())

    @property
    def empty_labels(self) -> tuple[str, ...]:
        """Labels of the label set that have no training image yet."""
        return tuple(label for label in self.label_set if self.label_counts.get(label, 0) <= 0)


@dataclass(frozen=True)
class ModelState:
    """The running model and whether a training is in progress.

    ``active_version`` is ``None`` before the first deployment.
    """

    active_version: str | None = None
    active_f1: float | None = None
    training_in_progress: bool = False
    training_version: str | None = None
    training_started_at: str | None = None


ModelStatus = Literal["none", "stopped", "starting", "running", "stopping", "failed"]
MODEL_STATUSES: tuple[str, ...] = ("none", "stopped", "starting", "running", "stopping", "failed")


@dataclass(frozen=True)
class Serving:
    """What the serving decision is told: the active model's state and the traffic, at ``now``.

    ``status`` is the active version's (``none`` before the first deployment), ``since`` when it
    entered it (ISO time, None when unknown). ``idle_minutes``: minutes since the last detection,
    or since the model runs when nothing was detected since (None when the model does not run);
    ``detections_today``: detections since 00:00 UTC. ``pending``: images waiting for a model,
    ``oldest_pending_minutes`` how long the first of them has waited (None when none waits).
    ``switching``: a lifecycle run is deploying (starting its candidate, switching, stopping the
    previous model); ``training``: a lifecycle run holds the training lock.
    """

    status: ModelStatus
    now: str
    version: str | None = None
    since: str | None = None
    units: int | None = None
    idle_minutes: float | None = None
    detections_today: int = 0
    pending: int = 0
    oldest_pending_minutes: float | None = None
    switching: bool = False
    training: bool = False

    def __post_init__(self) -> None:
        if self.status not in MODEL_STATUSES:
            raise ValueError(f"a model status is one of {', '.join(MODEL_STATUSES)}, got {self.status!r}")

    @property
    def running(self) -> bool:
        return self.status == "running"


@dataclass(frozen=True)
class LabelMetrics:
    """Evaluation of one label on the test images; ``images``: how many of them are of this label
    (None when unknown: an auto-created split)."""

    f1: float
    precision: float
    recall: float
    threshold: float | None = None
    images: int | None = None


@dataclass(frozen=True)
class Evaluation:
    """A model version's evaluation: overall and per label.

    ``gate_set`` names the gate-set version (``images_for_testing/``) the figures were measured on,
    ``None`` for the split Rekognition auto-created for this version alone; two evaluations with the
    same ``gate_set`` were measured on the same images (:meth:`same_images`). ``confusion`` (true label
    -> predicted label -> images) and ``images`` are known when the loop scored the model itself: the
    side-by-side evaluation on the gate set, before the switch. Measured on a gate set, ``per_label``
    covers every label of the label set, with the images of each (0 for a label the gate set lacks).
    """

    version: str
    f1: float
    precision: float | None = None
    recall: float | None = None
    per_label: Mapping[str, LabelMetrics] = field(default_factory=dict)
    gate_set: str | None = None
    images: int | None = None
    confusion: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "per_label", _frozen_map(self.per_label))
        object.__setattr__(self, "confusion", _frozen_map({k: _frozen_map(v) for k, v in dict(self.confusion).items()}))

    def same_images(self, other: "Evaluation | None") -> bool:
        """Whether ``other`` was measured on the same gate-set version as this one."""
        return other is not None and self.gate_set is not None and self.gate_set == other.gate_set

    @property
    def side_by_side(self) -> bool:
        """Whether the loop scored it image by image (the side-by-side before the switch), rather
        than Rekognition's own evaluation after training."""
        return self.images is not None

    def short_labels(self, minimum: int) -> dict[str, int]:
        """Label -> images, for each label with fewer than ``minimum`` images in the gate set it was
        measured on; {} without a gate set or when the counts are unknown."""
        if self.gate_set is None:
            return {}
        return {label: m.images for label, m in sorted(self.per_label.items())
                if m.images is not None and m.images < minimum}


@dataclass(frozen=True)
class WorkerAnswer:
    """One reviewer's answer. ``label`` is ``None`` when the answer named no label."""

    worker_id: str
    label: str | None
    submitted_at: str = ""
    seconds_spent: float | None = None


@dataclass(frozen=True)
class ReviewResult:
    """A review's answers — a finished A2I human loop, or a task of the builtin review app with the
    answers it waits for — and what it was about.

    ``label_set`` is the stack's configured labels; ``model_labels`` what the
    model said when the review was started. ``maximum_answers``: how many
    answers the review may have in all, when more may be asked for (the
    builtin review app); ``None`` when its answers are all there will be (A2I).
    """

    human_loop_name: str
    detection_id: str
    image_uri: str
    purpose: Purpose
    answers: tuple[WorkerAnswer, ...]
    label_set: tuple[str, ...]
    model_labels: tuple[LabelScore, ...] = ()
    maximum_answers: int | None = None

    @property
    def answered_labels(self) -> tuple[str, ...]:
        return tuple(a.label for a in self.answers if a.label)


@dataclass(frozen=True)
class LoopEvent:
    """Something that happened in the loop, for observers (notifications, metrics).

    ``kind`` is one of :data:`EVENT_KINDS`; ``detail`` holds the event's facts.
    """

    kind: str
    summary: str
    detail: Mapping[str, Any] = field(default_factory=dict)
    at: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "detail", _frozen_map(self.detail))


EVENT_KINDS: tuple[str, ...] = (
    "detection",
    "review_started",
    "review_completed",
    "review_rejected",
    "training_decided",
    "training_started",
    "training_finished",
    "model_deployed",
    "model_rejected",
    "deployment_failed",
    "rollback",
    "model_started",
    "model_stopped",
    "serving_failed",
    "parameter_changed",
    "parameter_invalid",
    "error",
)
