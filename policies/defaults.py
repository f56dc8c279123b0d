"""The default policy: exactly the original sample's behaviour, driven by its parameters.

Registered last (``trylast``), so any team policy is asked first and these
decide only what the team policies leave open.
"""

from __future__ import annotations

from collections import Counter

from plugins import (
    REVIEW_TASK_PARAMETERS,
    DatasetStats,
    DeploymentDecision,
    Detection,
    Evaluation,
    InferenceCapacity,
    LabelDecision,
    ModelState,
    ParameterSpec,
    ReviewDecision,
    ReviewResult,
    Settings,
    TrainingDecision,
    hookimpl,
)

from .names import (
    ENABLE_REVIEW,
    ENABLE_SAMPLING,
    ENABLE_TRAINING,
    MIN_CONFIDENCE,
    MIN_F1,
    MIN_INFERENCE_UNITS,
    MIN_UNTRAINED,
    NONE_OF_THE_ABOVE,
    POLL_FREQUENCY,
    SAMPLING_INTERVAL,
)

PARAMETERS = [
    ParameterSpec(ENABLE_TRAINING, "bool", True, "Scheduled training checks on or off."),
    ParameterSpec(POLL_FREQUENCY, "int", 720, "Minutes between scheduled training checks.", 1, 43200),
    ParameterSpec(MIN_UNTRAINED, "int", 10,
                  "New labelled images since the last successful training needed to train a new version.", 1, 1_000_000),
    ParameterSpec(MIN_F1, "float", 0.8, "F1 score (0-1) a new version needs to be deployed.", 0.0, 1.0),
    ParameterSpec(MIN_INFERENCE_UNITS, "int", 1,
                  "Inference units a model is started with (each bills per hour, idle or not).", 1, 64),
    ParameterSpec(MIN_CONFIDENCE, "float", 70.0,
                  "Confidence (0-100) below which a detected image goes to human review.", 0.0, 100.0),
    ParameterSpec(ENABLE_REVIEW, "bool", True, "Human review (in the review app, or Amazon A2I) of low-confidence images on or off."),
    ParameterSpec(ENABLE_SAMPLING, "bool", False, "Audit sampling of confident detections on or off."),
    ParameterSpec(SAMPLING_INTERVAL, "int", 1000, "Audit one in every N detections when sampling is on.", 1, 1_000_000),
]


@hookimpl(trylast=True)
def labelloop_parameters() -> list[ParameterSpec]:
    """The original parameters, and those of the builtin review app's tasks."""
    return [*PARAMETERS, *REVIEW_TASK_PARAMETERS]


@hookimpl(trylast=True)
def review_decision(detection: Detection, settings: Settings) -> ReviewDecision:
    threshold = settings[MIN_CONFIDENCE]
    confidence = detection.top_confidence
    if settings[ENABLE_REVIEW] and confidence < threshold:
        what = "no label returned" if detection.top is None else f"top label {detection.top.name!r} at {confidence:.1f}"
        return ReviewDecision(True, f"{what} is below {MIN_CONFIDENCE} {threshold:g}", "training")
    audit = audit_sample(detection, settings)
    if audit:
        return audit
    if confidence < threshold:
        return ReviewDecision(False, f"confidence {confidence:.1f} is below {threshold:g} but {ENABLE_REVIEW} is off")
    return ReviewDecision(False, f"confidence {confidence:.1f} meets {MIN_CONFIDENCE} {threshold:g}")


def audit_sample(detection: Detection, settings: Settings) -> ReviewDecision | None:
    """The audit review of one detection in every Human-Sampling-Interval, when sampling is on."""
    interval = settings[SAMPLING_INTERVAL]
    if settings[ENABLE_SAMPLING] and detection.sequence % interval == 0:
        return ReviewDecision(True, f"audit sample: detection {detection.sequence} is one in every {interval}", "audit")
    return None


@hookimpl(trylast=True)
def training_decision(dataset: DatasetStats, model: ModelState, settings: Settings) -> TrainingDecision:
    if not settings[ENABLE_TRAINING]:
        return TrainingDecision(False, f"{ENABLE_TRAINING} is off")
    if model.training_in_progress:
        return TrainingDecision(False, f"training of {model.training_version or 'a version'} is already in progress")
    needed, new = settings[MIN_UNTRAINED], dataset.new_total
    if new < needed:
        return TrainingDecision(False, f"{new} new labelled images since the last training; {MIN_UNTRAINED} is {needed}")
    return TrainingDecision(True, f"{new} new labelled images since the last training (≥ {needed})")


@hookimpl(trylast=True)
def deployment_decision(candidate: Evaluation, incumbent: Evaluation | None, settings: Settings) -> DeploymentDecision:
    minimum = settings[MIN_F1]
    if candidate.f1 >= minimum:
        return DeploymentDecision(True, f"F1 {candidate.f1:.3f} meets {MIN_F1} {minimum:g}")
    return DeploymentDecision(False, f"F1 {candidate.f1:.3f} is below {MIN_F1} {minimum:g}")


@hookimpl(trylast=True)
def inference_capacity(candidate: Evaluation, settings: Settings) -> InferenceCapacity:
    units = settings[MIN_INFERENCE_UNITS]
    return InferenceCapacity(units, f"{MIN_INFERENCE_UNITS} is {units}")


@hookimpl(trylast=True)
def label_decision(review: ReviewResult, settings: Settings) -> LabelDecision:
    if review.purpose != "training":
        return LabelDecision(False, f"a {review.purpose} review never becomes training data")
    if not review.answers:
        return LabelDecision(False, "the human loop has no answer (stopped or expired)")
    votes = Counter(a.label for a in review.answers)
    label, count = votes.most_common(1)[0]
    if count * 2 <= len(review.answers):
        # One more answer may settle it; A2I's answers are all there will be.
        return LabelDecision(False, f"reviewers disagree: {_tally(votes)}",
                             more=0 if review.maximum_answers is None else 1)
    if not label:
        return LabelDecision(False, "the answer names no label")
    if label == NONE_OF_THE_ABOVE:
        return LabelDecision(False, f"the reviewer chose {NONE_OF_THE_ABOVE!r}")
    if label not in review.label_set:
        return LabelDecision(False, f"{label!r} is not one of the labels ({', '.join(review.label_set)})")
    agreed = f" ({count} of {len(review.answers)} reviewers)" if len(review.answers) > 1 else ""
    return LabelDecision(True, f"reviewer labelled it {label!r}{agreed}", label)


def _tally(votes: Counter) -> str:
    return ", ".join(f"{label or 'no label'} ×{n}" for label, n in votes.most_common())
