"""A sandbox run's review rounds in process, without the AWS stand-ins: the learning-curve
benchmark's fast path.

A sandbox run with a review budget in which every trained version is deployed comes down to this,
and here each step is the sandbox's own: the same images (``RunData``), the same classifier reading
the same PNGs (``digits_trainer.fit`` and ``scores``), the same engine and parameters deciding the
review of every upload and its priority, the label and the training, the reviewers taking the open
tasks highest priority first (oldest first among equals, ``task_cursor``) with the same mistakes
and random draws, and the active model scored on the same holdout images after every round.

Left out: S3, DynamoDB, the state machines, the review API and the gate set's evaluation (every
version is deployed: ``Minimum-F1-Score`` 0, one reviewer per image). Two things differ from a
sandbox run, whose draws depend on S3 version ids moto makes up: the random strategy's draw comes
from the image instead, and the training images are in another order (which moves the classifier
by rounding only). tests/test_benchmark_learning_curve.py checks the figures against sandbox runs.
"""

from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np
from sklearn.metrics import f1_score

from handlers.runtime.state import task_cursor
from plugins import DatasetStats, Detection, Engine, ModelState, ReviewResult, WorkerAnswer
from policies.names import GATE_SET_MINIMUM, MIN_F1

from .dataset import LABELS, Sample, decode_features, side_of
from .digits_trainer import fit, scores
from .mistakes import Mistakes, hardness
from .runner import RoundRow, RunData, SandboxOptions


class FastPathUnsupported(ValueError):
    """The options ask for something only a sandbox run does."""


def run(options: SandboxOptions) -> list[RoundRow]:
    """The rounds of a sandbox run with these options: answers, accepted, version trained and the
    active model's holdout macro-F1 after each."""
    engine = Engine.load(list(options.policies), entry_points=False)
    settings = engine.catalog.defaults(options.parameters)
    if settings[MIN_F1] > 0 or settings.get("Reviewers-Per-Image", 1) != 1 or options.review_budget is None:
        raise FastPathUnsupported("the fast path deploys every version (Minimum-F1-Score 0) with one reviewer per "
                                  "image and a review budget per round; run the sandbox for anything else")
    data, side = RunData.load(options), side_of(options.dataset)
    gate = Counter(sample.label for sample in data.gate_set)
    if data.gate_set and min(gate[label] for label in LABELS) < settings[GATE_SET_MINIMUM]:
        raise FastPathUnsupported(f"the gate set has too few images of a label ({dict(gate)}) to decide a "
                                  "deployment: a sandbox run would deploy nothing; give it more uploads")
    features: dict[int, np.ndarray] = {}

    def pixels(sample: Sample) -> np.ndarray:
        if sample.index not in features:
            features[sample.index] = decode_features(sample.png(), side).ravel()
        return features[sample.index]

    team = _Team(options)
    trained = {label: 0 for label in LABELS}
    training: list[tuple[str, str, Sample]] = [(s.label, s.name, s) for s in data.seeds]  # (label folder, key, …)
    model, version, rows, opened, sequence = None, 0, [], [], 0  # sequence: the upload order (review queue ties)
    for number in range(len(data.batches) + 1):
        row = RoundRow(number)
        if number:
            team.turn = 0  # each round the reviewers start again from the first
            batch = data.batches[number - 1]
            row.uploaded = row.detected = len(batch)
            confidences = [scores(model, pixels(s)) for s in batch]
            for sample, labels in zip(batch, confidences):
                sequence += 1
                detection = Detection(_detection_id(options.seed, sample), f"upload/{sample.name}", f"v{version}",
                                      labels, training_counts=trained)
                decision = engine.review(detection, settings)
                if decision.review:
                    row.to_review += 1
                    opened.append((task_cursor(decision.priority, f"{sequence:012d}", detection.detection_id),
                                   detection, sample))
            opened.sort(key=lambda task: task[0])
            answered, opened = opened[:options.review_budget], opened[options.review_budget:]
            row.answers = len(answered)
            for _, detection, sample in answered:
                label = team.answer(sample)
                decided = engine.label(ReviewResult(f"task-{detection.detection_id}", detection.detection_id,
                                                    detection.image_uri, "training", (WorkerAnswer("reviewer", label),),
                                                    LABELS, detection.labels), settings)
                if decided.accept:
                    row.accepted += 1
                    training.append((decided.label, f"{detection.detection_id}.png", sample))
        counts = Counter(label for label, _, _ in training)
        new = {label: counts[label] - trained[label] for label in LABELS}
        stats = DatasetStats(dict(counts), new, LABELS)
        if engine.training(stats, ModelState(f"v{version}" if version else None), settings).train:
            ordered = sorted(training, key=lambda t: (t[0], t[1]))  # the manifest's order: by key
            model = fit(np.array([pixels(s) for _, _, s in ordered]), np.array([label for label, _, _ in ordered]))
            version += 1
            trained = dict(counts)
            row.version = row.training = f"v{version}"
            row.deployed = "yes"
        row.active = f"v{version}"
        row.active_holdout_f1 = float(f1_score(data.holdout_y, model.predict(data.holdout_x / 16.0), average="macro"))
        rows.append(row)
    return rows


class _Team:
    """The sandbox's reviewers (``ReviewTeam``): each in turn answers the next task, erring at its rate."""

    def __init__(self, options: SandboxOptions):
        self.rng = np.random.default_rng(options.seed + 7919)
        self.rates = options.error_rates
        self.mistakes = Mistakes(LABELS, hardness(options.dataset) if options.mistakes == "hard" else None)
        self.turn = 0

    def answer(self, sample: Sample) -> str:
        rate = self.rates[self.turn % len(self.rates)]
        self.turn += 1
        return self.mistakes.answer(self.rng, rate, sample.label, sample.index)[0]


def _detection_id(seed: int, sample: Sample) -> str:
    """An upload's detection id, drawn from the run's seed and the image (a sandbox run's come from the
    S3 version moto gives the upload)."""
    return hashlib.sha256(f"{seed}\0{sample.index}".encode()).hexdigest()[:40]
