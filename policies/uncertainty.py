"""Uncertainty sampling: also review images where the model hesitates between
its two best labels, and hold chosen labels to their own confidence thresholds.

Switch on with ``policies: [policies.uncertainty]``. It only adds reviews: when
neither rule fires it defers, and the defaults decide as usual.
"""

from __future__ import annotations

from plugins import Detection, ParameterSpec, ReviewDecision, Settings, hookimpl

MARGIN = "Uncertainty-Margin"
THRESHOLDS = "Label-Confidence-Thresholds"


@hookimpl
def labelloop_parameters() -> list[ParameterSpec]:
    return [
        ParameterSpec(MARGIN, "float", 10.0,
                      "Review when the two best labels' confidences (0-100) are closer than this.", 0.0, 100.0),
        ParameterSpec(THRESHOLDS, "thresholds", {},
                      "Per-label confidence thresholds, e.g. 'cat=80, dog=65'; 'none' for no extra thresholds.",
                      0.0, 100.0),
    ]


@hookimpl
def review_decision(detection: Detection, settings: Settings) -> ReviewDecision | None:
    if detection.top is None:
        return None
    top = detection.top
    own = settings[THRESHOLDS].get(top.name)
    if own is not None and top.confidence < own:
        return ReviewDecision(True, f"{top.name!r} at {top.confidence:.1f} is below its own threshold {own:g}", "training")
    margin = settings[MARGIN]
    if len(detection.labels) > 1 and detection.margin < margin:
        runner_up = detection.labels[1]
        return ReviewDecision(
            True,
            f"{top.name!r} ({top.confidence:.1f}) and {runner_up.name!r} ({runner_up.confidence:.1f}) "
            f"are within {MARGIN} {margin:g}",
            "training",
        )
    return None
