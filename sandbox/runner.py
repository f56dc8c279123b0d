"""Run the whole loop on this machine, round after round, and report it."""

from __future__ import annotations

import json
import resource
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from sklearn.metrics import f1_score

from handlers.runtime import layout
from handlers.runtime.state import StateTable

from .dataset import LABELS, Sample, load_digits_samples, split
from . import saved
from .a2i import A2I
from .custom_labels import CustomLabels
from .digits_trainer import DigitsTrainer
from .local_aws import LocalStack
from .workforce import Workforce


@dataclass(frozen=True)
class SandboxOptions:
    images: int | None = None  # all 1 797 digits
    seed: int = 7
    error_rate: float = 0.0
    policies: tuple[str, ...] = ()
    rounds: int = 8
    seed_per_label: int = 20
    holdout: int = 300  # images never uploaded: every version is also scored on them
    parameters: dict[str, str] = field(default_factory=dict)
    out: Path | None = Path("sandbox-report")


@dataclass
class RoundRow:
    round: int
    uploaded: int = 0
    detected: int = 0
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

    @property
    def images_per_second(self) -> float:
        return self.detections / self.detection_seconds if self.detection_seconds else 0.0


Progress = Callable[[str, int, int], None]  # (phase, done, total)


def run(options: SandboxOptions, progress: Progress | None = None,
        on_round: Callable[[RoundRow], None] | None = None) -> SandboxResult:
    """Run the loop: seed images, then rounds of uploads, reviews and training checks."""
    return _run(options, progress or (lambda *_: None), on_round or (lambda _: None), time.perf_counter())


def _run(options: SandboxOptions, progress: Progress, on_round: Callable[[RoundRow], None],
         started: float) -> SandboxResult:
    seeds, holdout, stream = split(load_digits_samples(), seed=options.seed, seed_per_label=options.seed_per_label,
                                   holdout=options.holdout, limit=options.images)
    holdout_x = np.array([s.pixels.ravel() for s in holdout])
    holdout_y = np.array([s.label for s in holdout])
    model_service = CustomLabels(DigitsTrainer(options.seed))
    a2i = A2I()
    truth: dict[str, str] = {}
    rows: list[RoundRow] = []
    versions: dict[str, dict] = {}
    confidences: list[tuple[int, float]] = []
    accepted_labels: list[dict[str, int]] = []
    detection_seconds = 0.0
    with LocalStack(labels=LABELS, policies=options.policies, parameter_overrides=options.parameters,
                    standins={"rekognition": model_service, "sagemaker-a2i-runtime": a2i}, serial=True) as stack:
        workforce = Workforce(a2i, truth, LABELS, options.error_rate, options.seed)
        s3 = stack.client("s3")
        for sample in seeds:
            s3.put_object(Bucket=stack.bucket, Key=f"{layout.TRAINING_PREFIX}{sample.label}/{sample.name}",
                          Body=sample.png())
        stack.pump()
        batches = [list(b) for b in np.array_split(np.array(stream, dtype=object), options.rounds)] if stream else []
        total = len(stream)
        done = 0
        seen = Seen()
        for number in range(len(batches) + 1):
            row = RoundRow(number)
            if number:
                batch: list[Sample] = batches[number - 1]
                row.uploaded = len(batch)
                t0 = time.perf_counter()
                for chunk in range(0, len(batch), 25):
                    for sample in batch[chunk:chunk + 25]:
                        key = f"{layout.DETECTION_PREFIX}round-{number:02d}/{sample.name}"
                        truth[f"s3://{stack.bucket}/{key}"] = sample.label
                        s3.put_object(Bucket=stack.bucket, Key=key, Body=sample.png())
                    stack.pump()
                    done += len(batch[chunk:chunk + 25])
                    progress(f"round {number}: detecting", done, total)
                detection_seconds += time.perf_counter() - t0
                workforce.answer_open_loops(s3, stack.bucket)
                stack.pump()
            progress(f"round {number}: training check", done, total)
            execution = stack.run_lifecycle({"trigger": "schedule"})
            _fill_training(row, execution, versions, number, model_service, holdout_x, holdout_y)
            items = _table_items(stack)
            _fill_detections(row, items, seen, confidences, number)
            accepted_labels.append(_fill_reviews(row, items, seen))
            row.active = stack_active(items) or "-"
            rows.append(row)
            on_round(row)
        parameters = saved.parameters(stack)
        if options.out is not None:
            saved.save(stack, options.out, truth=truth, options=_options_json(options),
                       model_service=model_service, a2i=a2i)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # peak RSS of this process (KiB on Linux)
    deployed = [v for v, info in versions.items() if info["deployed"]]
    detections = sum(r.detected for r in rows)
    return SandboxResult(
        options, rows, versions, deployed[0] if deployed else None, stack_active(items),
        detections=detections, reviews_started=sum(r.to_review for r in rows),
        reviews_accepted=sum(r.accepted for r in rows), wrong_answers=workforce.wrong,
        detection_seconds=detection_seconds, wall_seconds=time.perf_counter() - started,
        peak_memory_mb=peak / 2**20, confidences=confidences, accepted_labels=accepted_labels, parameters=parameters)


def _value(output: dict, name: str) -> dict:
    return (output.get(name) or {}).get("value") or {}


def _fill_training(row: RoundRow, execution: dict, versions: dict, number: int, service: CustomLabels,
                   holdout_x: np.ndarray, holdout_y: np.ndarray) -> None:
    output = json.loads(execution.get("output") or "{}")
    check, finish, candidate = _value(output, "check"), _value(output, "finish"), _value(output, "candidate")
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
        predicted = service.trainer.predict(trained, holdout_x)
        row.holdout_f1 = float(f1_score(holdout_y, predicted, average="macro"))
    outcome = finish.get("outcome", "failed")
    row.deployed = "yes" if outcome == "deployed" else f"no: {candidate.get('reason') or finish.get('reason', outcome)}"
    versions[version] = {"f1": row.f1, "holdout_f1": row.holdout_f1, "deployed": outcome == "deployed",
                         "reason": candidate.get("reason") or finish.get("reason"), "round": number}


def _table_items(stack: LocalStack) -> list[dict]:
    """What the round table needs of every item (a projection keeps moto's scan cheap)."""
    return list(StateTable(stack.table).scan(
        ProjectionExpression="pk, sk, outcome, decision, labels[0], #s, #r, active_version",
        ExpressionAttributeNames={"#s": "status", "#r": "result"}))


def stack_active(items: list[dict]) -> str | None:
    return next((i.get("active_version") for i in items if i["pk"] == "LOOP" and i["sk"] == "STATE"), None)


@dataclass
class Seen:
    """What earlier rounds already counted."""

    known: set[str] = field(default_factory=set)  # detection records seen at all
    detected: set[str] = field(default_factory=set)  # detection records counted as detected
    finished: set[str] = field(default_factory=set)  # human loops counted as finished


def _fill_detections(row: RoundRow, items: list[dict], seen: Seen, confidences: list, number: int) -> None:
    reasons: Counter = Counter()
    for item in (i for i in items if i["sk"] == "DET"):
        pk = item["pk"]
        if item.get("outcome") == "pending":
            row.pending += pk not in seen.known
        elif pk not in seen.detected:  # new, or pending before and replayed now
            seen.detected.add(pk)
            row.detected += 1
            labels = item.get("labels") or []
            confidences.append((number, float(labels[0]["confidence"]) if labels else 0.0))
            decision = item.get("decision") or {}
            if decision.get("review"):
                row.to_review += 1
                policy = decision.get("policy", "").replace("policies.", "")
                reasons[decision.get("purpose") if policy == "defaults" else policy] += 1
        seen.known.add(pk)
    row.review_reasons = ", ".join(f"{k} {n}" for k, n in reasons.most_common()) or "-"


def _fill_reviews(row: RoundRow, items: list[dict], seen: Seen) -> dict[str, int]:
    labels: Counter = Counter()
    for item in (i for i in items if i["sk"] == "HL" and i.get("status") != "open" and i["pk"] not in seen.finished):
        seen.finished.add(item["pk"])
        if item["status"] == "accepted":
            row.accepted += 1
            labels[(item.get("result") or {}).get("label", "?")] += 1
        elif item["status"] == "rejected":
            row.rejected += 1
    return dict(labels)


def _options_json(options: SandboxOptions) -> dict:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(options).items()}
