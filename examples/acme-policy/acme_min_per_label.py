"""ACME's training rule: do not train until every label has enough images.

A constraint, not a replacement: it says "no" when a label is short of images
and returns None otherwise, so the default rules (Minimum-Untrained-Images, …)
still decide when it is satisfied. It reads no operator switch: the engine
applies Enable-Automatic-Training to every policy.
"""

from plugins import DatasetStats, ParameterSpec, Settings, TrainingDecision, hookimpl

MIN_PER_LABEL = "Acme-Minimum-Images-Per-Label"


@hookimpl
def labelloop_parameters():
    return [
        ParameterSpec(
            MIN_PER_LABEL, "int", 5,
            "Fewest training images every label needs before a training may start.", 1, 100_000,
        )
    ]


@hookimpl
def training_decision(dataset: DatasetStats, settings: Settings):
    needed = settings[MIN_PER_LABEL]
    short = sorted(label for label in dataset.label_set if dataset.label_counts.get(label, 0) < needed)
    if short:
        return TrainingDecision(False, f"labels with fewer than {needed} images: {', '.join(short)}")
    return None
