"""Decisions: what a policy answers. Each carries a human-readable ``reason``;
the engine fills ``policy`` with the name of the plugin that decided."""

from __future__ import annotations

from dataclasses import dataclass

from typing import Literal

from .facts import PURPOSES, Purpose

ServingAction = Literal["start", "stop", "keep"]
SERVING_ACTIONS: tuple[str, ...] = ("start", "stop", "keep")


def lowest_confidence_first(top_confidence: float) -> float:
    """The default review priority: the less sure the model, the sooner a person sees the image."""
    return round(100.0 - min(100.0, max(0.0, top_confidence)), 3)


@dataclass(frozen=True)
class ReviewDecision:
    """Send the image to a person (``review``), for ``purpose`` training or audit. In the builtin
    review app, ``priority`` (0-100) orders the waiting tasks, highest first (None: lowest confidence
    first), and ``reviewers`` is how many distinct reviewers' answers the label decision waits for
    (None: the Reviewers-Per-Image parameter; never more than Maximum-Reviewers-Per-Image)."""

    review: bool
    reason: str
    purpose: Purpose | None = None
    policy: str = ""
    priority: float | None = None
    reviewers: int | None = None

    def __post_init__(self) -> None:
        if self.review and self.purpose not in PURPOSES:
            raise ValueError(f"a review needs a purpose ({' or '.join(PURPOSES)}), got {self.purpose!r}")
        if self.priority is not None and not 0 <= self.priority <= 100:
            raise ValueError(f"a review priority is from 0 to 100, got {self.priority!r}")
        if self.reviewers is not None and self.reviewers < 1:
            raise ValueError(f"a review needs at least one reviewer, got {self.reviewers!r}")


@dataclass(frozen=True)
class TrainingDecision:
    """Start a new training now (``train``)."""

    train: bool
    reason: str
    policy: str = ""


@dataclass(frozen=True)
class DeploymentDecision:
    """Let the candidate version replace the running one (``deploy``)."""

    deploy: bool
    reason: str
    policy: str = ""


@dataclass(frozen=True)
class InferenceCapacity:
    """Inference units to start a model with; ``max_units`` ``None`` means no autoscaling."""

    min_units: int
    reason: str
    max_units: int | None = None
    policy: str = ""

    def __post_init__(self) -> None:
        if self.min_units < 1:
            raise ValueError(f"min_units must be at least 1, got {self.min_units}")
        if self.max_units is not None and self.max_units < self.min_units:
            raise ValueError(f"max_units ({self.max_units}) is below min_units ({self.min_units})")


@dataclass(frozen=True)
class LabelDecision:
    """Add the reviewed image to the training data (``accept``) under ``label`` — or, with
    ``gate_set``, to the gate set (``images_for_testing/<label>/``) instead; or, not accepted, ask
    for ``more`` answers first (the builtin review app, up to its maximum of reviewers; a review
    that cannot have them is closed as unresolved)."""

    accept: bool
    reason: str
    label: str | None = None
    policy: str = ""
    more: int = 0
    gate_set: bool = False

    def __post_init__(self) -> None:
        if self.accept and not self.label:
            raise ValueError("an accepted answer needs a label")
        if self.more < 0 or (self.accept and self.more):
            raise ValueError(f"more answers are asked for instead of accepting, at least one, got {self.more!r}")
        if self.gate_set and not self.accept:
            raise ValueError("only an accepted answer goes to the gate set")


@dataclass(frozen=True)
class ServingDecision:
    """Start the stopped active model, stop the running one, or keep it as it is (``action``)."""

    action: ServingAction
    reason: str
    policy: str = ""

    def __post_init__(self) -> None:
        if self.action not in SERVING_ACTIONS:
            raise ValueError(f"a serving action is one of {', '.join(SERVING_ACTIONS)}, got {self.action!r}")
