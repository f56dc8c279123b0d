"""A Custom Labels trainer whose results are written in advance: tests and
benchmarks decide each version's F1, per-label metrics, status sequences and
failure message, and what a model answers for each image key.

    models = scripted_custom_labels(f1=0.9)
    models.trainer.script("v2", f1=0.5, starting=START_FAILS, message="Not enough capacity.")
    models.trainer.by_key["images_for_detection/a.png"] = (("cat", 40.0), ("dog", 35.0))
    models.trainer.script("v3", answers={"images_for_testing/dog/1.png": (("cat", 60.0), ("dog", 40.0))})
"""

from __future__ import annotations

from typing import Any, Callable

from .custom_labels import (
    STARTS,
    STOPS,
    TRAINED,
    CustomLabels,
    Evaluation,
    LabelResult,
    ModelVersion,
    Training,
    TrainingJob,
)

SCRIPT_FIELDS = ("f1", "training", "starting", "stopping", "per_label", "message", "answers")
TESTING_IMAGES_PER_LABEL, TRAINING_IMAGES, TESTING_IMAGES = 10, 80, 20


class ScriptedTrainer:
    """Versions get the constructor's defaults unless scripted with :meth:`script` before they are created."""

    def __init__(self, *, f1: float = 0.9, training=TRAINED, starting=STARTS, stopping=STOPS,
                 per_label: dict[str, dict] | None = None, labels=("cat", "dog"),
                 default_labels=(("cat", 95.0), ("dog", 5.0))):
        self.defaults = {"f1": f1, "training": tuple(training), "starting": tuple(starting),
                         "stopping": tuple(stopping), "per_label": per_label, "message": ""}
        self.scripts: dict[str, dict] = {}
        self.labels = tuple(labels)
        self.default_labels = tuple(default_labels)
        self.by_key: dict[str, tuple] = {}  # image key -> ((label, confidence), ...) every model answers

    def script(self, version: str, **overrides) -> None:
        """Override f1, training, starting, stopping, per_label (label -> F1Score, Precision, Recall,
        Threshold), message (of a failed phase) or answers (image key -> labels, what this version
        answers for those images instead of ``by_key``) for one version."""
        unknown = set(overrides) - set(SCRIPT_FIELDS)
        if unknown:
            raise TypeError(f"unknown script fields: {sorted(unknown)}")
        self.scripts[version] = overrides

    def train(self, job: TrainingJob) -> Training:
        script = self.defaults | self.scripts.get(job.version, {})
        f1 = script["f1"]
        per_label = script["per_label"] or {label: {"F1Score": f1, "Precision": f1, "Recall": f1, "Threshold": 0.5}
                                            for label in self.labels}
        evaluation = Evaluation(f1, f1, f1, tuple(
            LabelResult(label, m["F1Score"], m["Precision"], m["Recall"], m["Threshold"], TESTING_IMAGES_PER_LABEL)
            for label, m in per_label.items()), TRAINING_IMAGES, TESTING_IMAGES)
        return Training(evaluation, message=script["message"], training=tuple(script["training"]),
                        starting=tuple(script["starting"]), stopping=tuple(script["stopping"]))

    def detect(self, version: ModelVersion, image: dict, s3) -> list[tuple[str, float]]:
        own = self.scripts.get(version.name, {}).get("answers", {})
        return list(own.get(image["Name"]) or self.by_key.get(image["Name"], self.default_labels))


def scripted_custom_labels(s3: Callable[[], Any] | None = None, *, cloudwatch: Callable[[], Any] | None = None,
                           throughput: float | None = None, **options) -> CustomLabels:
    """A Custom Labels stand-in with a :class:`ScriptedTrainer` (``options`` are its constructor's); with
    ``cloudwatch``, publishing InServiceInferenceUnits; with ``throughput``, refusing calls beyond it."""
    return CustomLabels(ScriptedTrainer(**options), s3=s3, cloudwatch=cloudwatch, throughput=throughput)
