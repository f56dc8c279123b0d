"""Class balance: more reviews for the labels the training data lacks.

Switch on with ``policies: [policies.class_balance]``. It replaces the defaults' least-confidence
rule (``policies.strategy``) with one whose threshold depends on the label the model answered: the
fewer training images that label had at the last training, next to the best-provided label, the
higher its threshold — ``Minimum-Label-Detection-Confidence`` plus up to ``Class-Balance-Boost``
points (the whole boost for a label with no image, none for the best-provided one) — and the higher
its priority (100 - confidence, plus the same boost). With a boost of 0, or before the first
training, it decides exactly as least confidence does.
"""

from __future__ import annotations

from plugins import Detection, ParameterSpec, ReviewDecision, Settings, hookimpl

from .names import MIN_CONFIDENCE
from .strategy import decide

BOOST = "Class-Balance-Boost"


def lack(detection: Detection, label: str) -> float:
    """How much ``label`` lacks training images next to the best-provided label: 0 (none) to 1 (no image)."""
    counts = detection.training_counts
    most = max(counts.values(), default=0)
    return 1.0 - min(most, counts.get(label, 0)) / most if most > 0 else 0.0


@hookimpl
def labelloop_parameters() -> list[ParameterSpec]:
    return [ParameterSpec(BOOST, "float", 20.0, "Confidence points (0-100) added to the review threshold of the "
                          "label with the fewest training images (in proportion for the others).", 0.0, 100.0)]


@hookimpl
def review_decision(detection: Detection, settings: Settings) -> ReviewDecision:
    top, confidence = detection.top, detection.top_confidence
    short = lack(detection, top.name) if top else 1.0
    threshold = min(100.0, settings[MIN_CONFIDENCE] + settings[BOOST] * short)
    fires = confidence < threshold
    what = f"{top.name!r} at {confidence:.1f}" if top else "no label returned"
    return decide(detection, settings, fires=fires, priority=100.0 - confidence + settings[BOOST] * short,
                  reason=f"{what} is {'below' if fires else 'at or above'} its threshold {threshold:.1f} "
                         f"({MIN_CONFIDENCE} + {BOOST} × {short:.2f}, how much the label lacks training images)")
