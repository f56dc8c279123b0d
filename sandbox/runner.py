"""Run the whole loop on this machine, round after round, and report it."""

from __future__ import annotations

import json
import resource
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import boto3
import numpy as np
from sklearn.metrics import f1_score

from handlers.runtime import layout
from plugins import Evaluation
from plugins.scoring import score
from handlers.runtime.state import DetectionRecord, ReviewTask, Snapshot, StateTable
from handlers.runtime.stuck import diagnose
from handlers.runtime.workflow import FINISH, RunState, lifecycle_input

from .dataset import LABELS, Sample, imbalanced, load_samples, side_of, split, take_per_label
from . import saved
from .custom_labels import CustomLabels
from .digits_trainer import DigitsTrainer
from .local_aws import REGION, LocalStack
from .mistakes import Mistakes, hardness
from .review_backends import Reviewers, sandbox_backend
from .reviewer_accuracy import reviewer_accuracy


@dataclass(frozen=True)
class SandboxOptions:
    images: int | None = None  # all 1 797 digits
    seed: int = 7
    error_rate: float = 0.0
    policies: tuple[str, ...] = ()
    policy_path: tuple[str, ...] = ()  # folders the policy modules are imported from (absolute; the run keeps them)
    rounds: int = 8
    seed_per_label: int = 20  # the labelled images per label the loop starts from (3: a cold start)
    holdout: int = 300  # images never uploaded: every version is also scored on them
    gate_set_per_label: int = 0  # labelled images per label in the gate set (images_for_testing/); 0: none
    review_budget: int | None = None  # builtin: the answers the reviewers give per round (None: every open task)
    parameters: dict[str, str] = field(default_factory=dict)
    out: Path | None = Path("sandbox-report")
    review: str = "builtin"  # the review backend (handlers.review_backends.REGISTRY): the review app, "a2i", …
    reviewer_error_rates: tuple[float, ...] = ()  # builtin: one simulated reviewer per rate (default: error_rate)
    leave_reviews_open: bool = False  # builtin: the last round's reviews wait for a person (labelloop review)
    dataset: str = "digits"  # or "mnist" (sandbox.dataset)
    imbalance: float = 1.0  # the stream's commonest label over its rarest (1: as the data set has them)
    mistakes: str = "uniform"  # builtin: how reviewers err at their rates, "uniform" or on the "hard" images

    @property
    def error_rates(self) -> tuple[float, ...]:
        return self.reviewer_error_rates or (self.error_rate,)


@dataclass
class RoundRow:
    round: int
    uploaded: int = 0
    detected: int = 0
    failed: int = 0  # detections that failed after their retries (a broken policy, a fault)
    pending: int = 0
    to_review: int = 0
    review_reasons: str = "-"
    accepted: int = 0
    rejected: int = 0
    training: str = "-"
    version: str = "-"
    f1: float | None = None
    holdout_f1: float | None = None
    deployed: str = "-"
    active: str = "-"
    active_holdout_f1: float | None = None  # the active model's, after the round
    answers: int = 0  # reviewer answers given in the round
    reviews_by: dict[str, int] = field(default_factory=dict)  # reviews started, by the policy that started them


@dataclass
class SandboxResult:
    options: SandboxOptions
    rows: list[RoundRow]
    versions: dict[str, dict]  # version -> {"f1", "holdout_f1", "deployed", "reason", "round"}
    first_deployed: str | None
    final_active: str | None
    detections: int
    reviews_started: int
    reviews_accepted: int
    wrong_answers: int
    detection_seconds: float
    wall_seconds: float
    peak_memory_mb: float
    confidences: list[tuple[int, float]]  # (round, top confidence) of every detection
    accepted_labels: list[dict[str, int]]  # per round
    parameters: dict[str, str] = field(default_factory=dict)  # operator parameter values at the end
    failures: dict[str, int] = field(default_factory=dict)  # why detections failed after retries -> how many
    stuck: list[str] = field(default_factory=list)  # what keeps the loop from going on by itself, with the fix
    final_scores: Evaluation | None = None  # the final model on the holdout images: per label, confusion matrix
    holdout_images: tuple[int, ...] = ()  # the holdout images, by their index in the data set
    after_run: list[str] = field(default_factory=list)  # what commands changed on the saved run later
    reviewers: dict[str, list[int]] = field(default_factory=dict)  # reviewer -> [answers right, answers]

    @property
    def images_per_second(self) -> float:
        return self.detections / self.detection_seconds if self.detection_seconds else 0.0


Progress = Callable[[str, int, int], None]  # (phase, done, total)


def run(options: SandboxOptions, progress: Progress | None = None,
        on_round: Callable[[RoundRow], None] | None = None) -> SandboxResult:
    """Run the loop: seed images, then rounds of uploads, reviews and training checks."""
    return _run(options, progress or (lambda *_: None), on_round or (lambda _: None), time.perf_counter())


@dataclass
class RunData:
    """The images of a run: the seed, the held-out images, the gate set and the stream in one batch
    per round."""

    seeds: list[Sample]
    holdout_x: np.ndarray
    holdout_y: np.ndarray
    batches: list[list[Sample]]
    gate_set: list[Sample] = field(default_factory=list)
    holdout_images: tuple[int, ...] = ()  # by their index in the data set

    @classmethod
    def load(cls, options: SandboxOptions) -> "RunData":
        seeds, holdout, stream = split(load_samples(options.dataset), seed=options.seed,
                                       seed_per_label=options.seed_per_label, holdout=options.holdout,
                                       limit=options.images)
        gate_set, stream = take_per_label(stream, options.gate_set_per_label)
        stream = imbalanced(stream, options.imbalance, options.seed)
        batches = [list(b) for b in np.array_split(np.array(stream, dtype=object), options.rounds)] if stream else []
        return cls(seeds, np.array([s.features() for s in holdout]), np.array([s.label for s in holdout]),
                   batches, gate_set, tuple(s.index for s in holdout))

    @property
    def streamed(self) -> int:
        return sum(len(b) for b in self.batches)


@dataclass
class Seen:
    """What earlier rounds already counted."""

    known: set[str] = field(default_factory=set)  # detection records seen at all
    detected: set[str] = field(default_factory=set)  # detection records counted as detected
    finished: set[str] = field(default_factory=set)  # human loops counted as finished


@dataclass
class _Log:
    """What the rounds add up to."""

    truth: dict[str, str] = field(default_factory=dict)  # image URI -> its true label
    rows: list[RoundRow] = field(default_factory=list)
    versions: dict[str, dict] = field(default_factory=dict)
    confidences: list[tuple[int, float]] = field(default_factory=list)
    accepted_labels: list[dict[str, int]] = field(default_factory=list)
    uploaded: int = 0
    detection_seconds: float = 0.0
    seen: Seen = field(default_factory=Seen)
    last: Snapshot | None = None  # the table after the last round
    failures: dict[str, int] = field(default_factory=dict)
    stuck: list[str] = field(default_factory=list)
    holdout_predictions: dict[str, np.ndarray] = field(default_factory=dict)  # version -> its holdout answers


def _run(options: SandboxOptions, progress: Progress, on_round: Callable[[RoundRow], None],
         started: float) -> SandboxResult:
    data, log = RunData.load(options), _Log()
    model_service = CustomLabels(DigitsTrainer(options.seed, side_of(options.dataset)),
                                 cloudwatch=lambda: boto3.client("cloudwatch", region_name=REGION))
    review = sandbox_backend(options.review)
    with LocalStack(labels=LABELS, policies=options.policies, parameter_overrides=options.parameters,
                    standins={"rekognition": model_service, **review.standins({})}, serial=True,
                    review=options.review) as stack:
        workforce = review.reviewers(stack, log.truth, LABELS, options.error_rates, options.seed,
                                     _mistakes(options, stack.bucket, data))
        _upload_seeds(stack, data.seeds)
        _upload_seeds(stack, data.gate_set, layout.TESTING_PREFIX)
        for number in range(len(data.batches) + 1):
            row = RoundRow(number)
            if number:
                _detect_batch(stack, row, data.batches[number - 1], log, lambda done: progress(
                    f"round {number}: detecting", done, data.streamed))
                if not (options.leave_reviews_open and number == len(data.batches)):
                    row.answers = workforce.answer(options.review_budget)
                stack.pump()
            progress(f"round {number}: training check", log.uploaded, data.streamed)
            _check_training(stack, row, data, log, model_service)
            _tally(stack, row, log)
            row.active_holdout_f1 = _holdout_f1(log, model_service, data, log.last.loop.active_version)
            log.rows.append(row)
            on_round(row)
        final_scores = _final_scores(log, model_service, data)
        parameters = saved.parameters(stack)
        log.failures, log.stuck = _problems(stack, parameters)
        reviewers = reviewer_accuracy(StateTable(stack.table).all_items(), log.truth)
        if options.out is not None:
            saved.save(stack, options.out, truth=log.truth, options=_options_json(options),
                       model_service=model_service)
    result = _result(options, log, workforce, parameters, time.perf_counter() - started, final_scores)
    result.holdout_images = data.holdout_images
    result.reviewers = {name: list(counts) for name, counts in reviewers.items()}
    return result


def _mistakes(options: SandboxOptions, bucket: str, data: RunData) -> Mistakes:
    """How the reviewers err: uniformly, or on the hard images (keyed by the URI each upload gets)."""
    if options.mistakes == "uniform":
        return Mistakes(LABELS)
    hard = hardness(options.dataset)
    return Mistakes(LABELS, {f"s3://{bucket}/{upload_key(number, sample)}": hard[sample.index]
                             for number, batch in enumerate(data.batches, 1) for sample in batch})


def upload_key(number: int, sample: Sample) -> str:
    """Where round ``number`` uploads a sample."""
    return f"{layout.DETECTION_PREFIX}round-{number:02d}/{sample.name}"


def _problems(stack: LocalStack, parameters: dict[str, str]) -> tuple[dict[str, int], list[str]]:
    """Why detections failed (by reason), and what keeps the loop from going on: as `labelloop status` says."""
    table = StateTable(stack.table)
    failures = Counter(f.reason or "unknown" for f in table.failed_detections())
    loop, dataset = table.loop_and_dataset()
    settings, _ = stack.engine.catalog.read(parameters)
    return dict(failures.most_common()), [s.line() for s in diagnose(loop, dataset, settings, table.models())]


def _upload_seeds(stack: LocalStack, seeds: list[Sample], prefix: str = layout.TRAINING_PREFIX) -> None:
    """Labelled images into their label folders: the training data, or the gate set's."""
    s3 = stack.client("s3")
    for sample in seeds:
        s3.put_object(Bucket=stack.bucket, Key=f"{prefix}{sample.label}/{sample.name}", Body=sample.png())
    stack.pump()


def _holdout_answers(log: _Log, service: CustomLabels, data: RunData,
                     version: str | None) -> np.ndarray | None:
    """A trained version's answers for the holdout images (each version's computed once)."""
    trained = service.versions.get(version or "")
    if trained is None or trained.model is None:
        return None
    if version not in log.holdout_predictions:
        log.holdout_predictions[version] = service.trainer.predict(trained, data.holdout_x)
    return log.holdout_predictions[version]


def _holdout_f1(log: _Log, service: CustomLabels, data: RunData, version: str | None) -> float | None:
    predicted = _holdout_answers(log, service, data, version)
    return None if predicted is None else float(f1_score(data.holdout_y, predicted, average="macro"))


def _final_scores(log: _Log, service: CustomLabels, data: RunData) -> Evaluation | None:
    """The final active model on the holdout images, per label and as a confusion matrix."""
    version = log.last.loop.active_version if log.last else None
    predicted = _holdout_answers(log, service, data, version)
    if predicted is None:
        return None
    return score(version, zip(data.holdout_y.tolist(), predicted.tolist()))


def _detect_batch(stack: LocalStack, row: RoundRow, batch: list[Sample], log: _Log,
                  progress: Callable[[int], None]) -> None:
    """Upload one round's images, 25 at a time, and let the loop detect them."""
    s3, started = stack.client("s3"), time.perf_counter()
    row.uploaded = len(batch)
    for chunk in range(0, len(batch), 25):
        for sample in batch[chunk:chunk + 25]:
            key = upload_key(row.round, sample)
            log.truth[f"s3://{stack.bucket}/{key}"] = sample.label
            s3.put_object(Bucket=stack.bucket, Key=key, Body=sample.png())
        stack.pump()
        log.uploaded += len(batch[chunk:chunk + 25])
        progress(log.uploaded)
    log.detection_seconds += time.perf_counter() - started


def _check_training(stack: LocalStack, row: RoundRow, data: RunData, log: _Log,
                    model_service: CustomLabels) -> None:
    """Run the training check and whatever training and deployment follows it."""
    execution = stack.run_lifecycle(lifecycle_input("schedule"))
    _fill_training(row, execution, log, model_service, data)


def _tally(stack: LocalStack, row: RoundRow, log: _Log) -> None:
    """The round's detections and finished reviews, from the table."""
    log.last = StateTable(stack.table).outline()
    _fill_detections(row, log.last.detections, log.seen, log.confidences, row.round)
    log.accepted_labels.append(_fill_reviews(row, log.last.reviews, log.seen))
    row.active = log.last.loop.active_version or "-"


def _result(options: SandboxOptions, log: _Log, workforce: Reviewers, parameters: dict[str, str],
            wall_seconds: float, final_scores: Evaluation | None) -> SandboxResult:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # peak RSS of this process (KiB on Linux)
    deployed = [v for v, info in log.versions.items() if info["deployed"]]
    rows = log.rows
    return SandboxResult(
        options, rows, log.versions, deployed[0] if deployed else None, log.last.loop.active_version,
        detections=sum(r.detected for r in rows), reviews_started=sum(r.to_review for r in rows),
        reviews_accepted=sum(r.accepted for r in rows), wrong_answers=workforce.wrong,
        detection_seconds=log.detection_seconds, wall_seconds=wall_seconds, peak_memory_mb=peak / 2**20,
        confidences=log.confidences, accepted_labels=log.accepted_labels, parameters=parameters,
        failures=log.failures, stuck=log.stuck, final_scores=final_scores)


def _fill_training(row: RoundRow, execution: dict, log: _Log, service: CustomLabels, data: RunData) -> None:
    versions, number = log.versions, row.round
    run = RunState(json.loads(execution.get("output") or "{}"))
    check, finish, candidate = run.check, run.result(FINISH), run.candidate
    if not check.get("train"):
        row.training = f"no: {check.get('reason', execution.get('error', 'failed'))}"
        return
    version = check.get("version")
    row.version = version or "-"
    if finish.get("outcome") == "not_trainable":
        row.training = f"no: {finish.get('reason')}"
        return
    row.training = f"{version}"
    trained = service.versions.get(version)
    if trained is not None and trained.model is not None:
        row.f1 = trained.f1
        row.holdout_f1 = _holdout_f1(log, service, data, version)
    outcome = finish.get("outcome", "failed")
    row.deployed = "yes" if outcome == "deployed" else f"no: {candidate.get('reason') or finish.get('reason', outcome)}"
    versions[version] = {"f1": row.f1, "holdout_f1": row.holdout_f1, "deployed": outcome == "deployed",
                         "reason": candidate.get("reason") or finish.get("reason"), "round": number}


def _fill_detections(row: RoundRow, detections: Iterable[DetectionRecord], seen: Seen, confidences: list,
                     number: int) -> None:
    reasons: Counter = Counter()
    for record in detections:
        known = record.detection_id
        if record.outcome == "pending":
            row.pending += known not in seen.known
        elif record.outcome == "failed":
            row.failed += known not in seen.known
        elif known not in seen.detected:  # new, or pending before and replayed now
            seen.detected.add(known)
            row.detected += 1
            confidences.append((number, float(record.labels[0]["confidence"]) if record.labels else 0.0))
            decision = record.decision or {}
            if decision.get("review"):
                row.to_review += 1
                policy = decision.get("policy", "").replace("policies.", "")
                reasons[decision.get("purpose") if policy == "defaults" else policy] += 1
        seen.known.add(known)
    row.reviews_by = dict(reasons.most_common())
    row.review_reasons = ", ".join(f"{k} {n}" for k, n in reasons.most_common()) or "-"


def _fill_reviews(row: RoundRow, reviews: Iterable[ReviewTask], seen: Seen) -> dict[str, int]:
    labels: Counter = Counter()
    for task in (t for t in reviews if t.status != "open" and t.name not in seen.finished):
        seen.finished.add(task.name)
        if task.status == "accepted":
            row.accepted += 1
            labels[(task.result or {}).get("label", "?")] += 1
        elif task.status in ("rejected", "unresolved"):
            row.rejected += 1
    return dict(labels)


def _options_json(options: SandboxOptions) -> dict:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(options).items()}
