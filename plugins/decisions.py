"""Decisions: what a policy answers. Each carries a human-readable ``reason``;
the engine fills ``policy`` with the name of the plugin that decided."""

from __future__ import annotations

from dataclasses import dataclass

from .facts import PURPOSES, Purpose


@dataclass(frozen=True)
class ReviewDecision:
    """Send the image to a person (``review``), for ``purpose`` training or audit."""

    review: bool
    reason: str
    purpose: Purpose | None = None
    policy: str = ""

    def __post_init__(self) -> None:
        if self.review and self.purpose not in PURPOSES:
            raise ValueError(f"a review needs a purpose ({' or '.join(PURPOSES)}), got {self.purpose!r}")


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
    """Add the reviewed image to the training data (``accept``) under ``label``."""

    accept: bool
    reason: str
    label: str | None = None
    policy: str = ""

    def __post_init__(self) -> None:
        if self.accept and not self.label:
            raise ValueError("an accepted answer needs a label")
