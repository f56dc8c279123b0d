"""The default policy: exactly the original sample's behaviour, driven by its parameters.

Registered last (``trylast``), so any team policy is asked first and these
decide only what the team policies leave open.
"""

from __future__ import annotations

import hashlib
from collections import Counter

from plugins import (
    GATE_SET_PARAMETER,
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
    Serving,
    ServingDecision,
    Settings,
    Switch,
    TrainingDecision,
    hookimpl,
)

from .names import (
    ENABLE_REVIEW,
    ENABLE_SAMPLING,
    ENABLE_TRAINING,
    IDLE_STOP_MINUTES,
    MAX_INFERENCE_UNITS,
    MAX_START_DELAY,
    MIN_CONFIDENCE,
    MIN_F1,
    MIN_INFERENCE_UNITS,
    MIN_UNTRAINED,
    NONE_OF_THE_ABOVE,
    POLL_FREQUENCY,
    SAMPLING_INTERVAL,
    START_ON_PENDING,
)

# The operator's three switches bind every policy (the engine refuses what they turn off), so the rules
# below need not read them — except audit sampling, which is also this policy's own rule to sample.
# Which decisions read each parameter: the detection reads only those of the review decision (one call).
TRAINING, DEPLOYMENT, CAPACITY, SERVING = ("training_decision",), ("deployment_decision",), ("inference_capacity",), \
    ("serving_decision",)
PARAMETERS = [
    ParameterSpec(ENABLE_TRAINING, "bool", True, "Automatic training on or off: off, no scheduled check trains, "
                  "whatever a policy decides (an operator's labelloop train still may).",
                  binds=Switch("training_decision", binds_requests=False), hooks=TRAINING),
    ParameterSpec(POLL_FREQUENCY, "int", 720, "Minutes between scheduled training checks.", 1, 43200, hooks=TRAINING),
    ParameterSpec(MIN_UNTRAINED, "int", 10,
                  "New labelled images since the last successful training needed to train a new version.", 1, 1_000_000, hooks=TRAINING),
    ParameterSpec(MIN_F1, "float", 0.8, "F1 score (0-1) a new version needs to be deployed.", 0.0, 1.0, hooks=DEPLOYMENT),
    GATE_SET_PARAMETER,  # the engine applies it to every policy's deployment decision
    ParameterSpec(MIN_INFERENCE_UNITS, "int", 1,
                  "Inference units a model is started with (each bills per hour, idle or not).", 1, 64, hooks=CAPACITY),
    ParameterSpec(MIN_CONFIDENCE, "float", 70.0,
                  "Confidence (0-100) below which a detected image goes to human review.", 0.0, 100.0),
    ParameterSpec(ENABLE_REVIEW, "bool", True, "Human review (in the review app, or Amazon A2I) on or off: off, no "
                  "review opens, for training or audit, whatever a policy decides; reviews already open can still "
                  "be answered.", binds=Switch("review_decision")),
    ParameterSpec(ENABLE_SAMPLING, "bool", False, "Audit sampling of confident detections on or off: off, no audit "
                  "review opens, whatever a policy decides.", binds=Switch("review_decision", purpose="audit")),
    ParameterSpec(SAMPLING_INTERVAL, "int", 1000, "Audit one in every N detections when sampling is on.", 1, 1_000_000),
]
# Serving on demand. Every default keeps the original behaviour: the model runs until someone stops it.
SERVING_PARAMETERS = [
    ParameterSpec(IDLE_STOP_MINUTES, "int", 0, "Minutes without a detection after which the running model is "
                  "stopped (0: never). Starting it again takes minutes.", 0, 10080, hooks=SERVING),
    ParameterSpec(START_ON_PENDING, "int", 0, "Images waiting for a stopped model that start it (1: the first "
                  "image starts it; 0: never started by waiting images).", 0, 1_000_000, hooks=SERVING),
    ParameterSpec(MAX_START_DELAY, "int", 0, "Minutes the oldest waiting image may wait before the stopped model "
                  "is started, however few wait (0: no limit).", 0, 10080, hooks=SERVING),
    ParameterSpec(MAX_INFERENCE_UNITS, "int", 0, "Inference units a running model may scale up to "
                  "(MaxInferenceUnits; 0: no autoscaling).", 0, 64, hooks=CAPACITY),
]


@hookimpl(trylast=True)
def labelloop_parameters() -> list[ParameterSpec]:
    """The original parameters, and those of the builtin review app's tasks."""
    return [*PARAMETERS, *SERVING_PARAMETERS, *REVIEW_TASK_PARAMETERS]


@hookimpl(trylast=True)
def review_decision(detection: Detection, settings: Settings) -> ReviewDecision:
    threshold = settings[MIN_CONFIDENCE]
    confidence = detection.top_confidence
    if confidence < threshold:
        what = "no label returned" if detection.top is None else f"top label {detection.top.name!r} at {confidence:.1f}"
        return ReviewDecision(True, f"{what} is below {MIN_CONFIDENCE} {threshold:g}", "training")
    return audit_sample(detection, settings) or ReviewDecision(
        False, f"confidence {confidence:.1f} meets {MIN_CONFIDENCE} {threshold:g}")


def unit_hash(text: str, salt: str) -> float:
    """A number in [0, 1) fixed by ``text``: a draw that a duplicate delivery, a retry or a backtest
    repeats exactly."""
    digest = hashlib.sha256(f"{salt}:{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def audit_sample(detection: Detection, settings: Settings) -> ReviewDecision | None:
    """The audit review of one detection in every Human-Sampling-Interval (in expectation: a draw fixed
    by the image's content, below 1/N, so no stack-wide counter is written per image), when sampling is on
    (off, the sampler proposes nothing, so an ordinary detection's reason is not a refused sample)."""
    interval = settings[SAMPLING_INTERVAL]
    draw = unit_hash(detection.detection_id, "audit")
    if settings[ENABLE_SAMPLING] and draw * interval < 1:
        return ReviewDecision(True, f"audit sample: one in every {interval} images, drawn from its content", "audit")
    return None


@hookimpl(trylast=True)
def training_decision(dataset: DatasetStats, model: ModelState, settings: Settings) -> TrainingDecision:
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
    units, ceiling = settings[MIN_INFERENCE_UNITS], settings.get(MAX_INFERENCE_UNITS, 0)
    if not ceiling:
        return InferenceCapacity(units, f"{MIN_INFERENCE_UNITS} is {units}")
    ceiling = max(units, ceiling)
    return InferenceCapacity(units, f"{MIN_INFERENCE_UNITS} is {units}, scaling up to {ceiling} "
                                    f"({MAX_INFERENCE_UNITS})", ceiling)


@hookimpl(trylast=True)
def serving_decision(serving: Serving, settings: Settings) -> ServingDecision:
    if serving.status == "none":
        return ServingDecision("keep", "no model is deployed yet")
    if serving.running:
        return _idle_stop(serving, settings[IDLE_STOP_MINUTES])
    if serving.status not in ("stopped", "failed"):  # a failed start is tried again
        return ServingDecision("keep", f"model {serving.version} is {serving.status}")
    return _start_for_waiting(serving, settings[START_ON_PENDING], settings[MAX_START_DELAY])


def _idle_stop(serving: Serving, minutes: int) -> ServingDecision:
    if not minutes:
        return ServingDecision("keep", f"{IDLE_STOP_MINUTES} is 0: the model runs until it is stopped")
    idle = serving.idle_minutes or 0.0
    if idle < minutes:
        return ServingDecision("keep", f"idle for {idle:.1f} min, under {IDLE_STOP_MINUTES} {minutes}")
    return ServingDecision("stop", f"no detection for {idle:.0f} min (≥ {IDLE_STOP_MINUTES} {minutes})")


def _start_for_waiting(serving: Serving, threshold: int, delay: int) -> ServingDecision:
    waiting, oldest = serving.pending, serving.oldest_pending_minutes
    if threshold and waiting >= threshold:
        return ServingDecision("start", f"{waiting} image(s) waiting (≥ {START_ON_PENDING} {threshold})")
    if delay and waiting and oldest is not None and oldest >= delay:
        return ServingDecision("start", f"the oldest waiting image has waited {oldest:.0f} min "
                                        f"(≥ {MAX_START_DELAY} {delay})")
    if not waiting:
        return ServingDecision("keep", "the model is stopped and no image waits")
    return ServingDecision("keep", f"{waiting} image(s) waiting; {START_ON_PENDING} is {threshold}, "
                                   f"{MAX_START_DELAY} {delay}")


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
