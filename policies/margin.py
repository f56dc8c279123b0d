"""Margin sampling: review the images where the model hesitates between its two best labels.

Switch on with ``policies: [policies.margin]``. It replaces the defaults' least-confidence rule
(``policies.strategy``): an image is reviewed when its two best labels' confidences are closer than
``Review-Margin``, most hesitant first (priority 100 - margin). The scores of a classification model
sum to 100, so margins run from 0 (a tie) to 100 (one label certain); 0 reviews nothing, 100
everything but certainties. A margin below M means a top confidence below 50 + M/2: at its default
40 it reviews a part of what least confidence at 70 reviews — those where the runner-up is close —
and serves them most hesitant first.
"""

from __future__ import annotations

from plugins import Detection, ParameterSpec, ReviewDecision, Settings, hookimpl

from .strategy import decide

MARGIN = "Review-Margin"


@hookimpl
def labelloop_parameters() -> list[ParameterSpec]:
    return [ParameterSpec(MARGIN, "float", 40.0, "Review an image when the confidences (0-100) of its two best "
                          "labels are closer than this (margin sampling).", 0.0, 100.0)]


@hookimpl
def review_decision(detection: Detection, settings: Settings) -> ReviewDecision:
    limit = settings[MARGIN]
    if detection.top is None:
        return decide(detection, settings, fires=True, reason="no label returned", priority=100.0)
    margin = detection.margin
    runner_up = f"{detection.labels[1].name!r} ({detection.labels[1].confidence:.1f})" if len(detection.labels) > 1 \
        else "no other label"
    relation = "within" if margin < limit else "not within"
    return decide(detection, settings, fires=margin < limit, priority=100.0 - margin,
                  reason=f"{detection.top.name!r} ({detection.top_confidence:.1f}) and {runner_up}: margin "
                         f"{margin:.1f} is {relation} {MARGIN} {limit:g}")
