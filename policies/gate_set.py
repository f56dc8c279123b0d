"""Grow the gate set from the reviews: route a share of the accepted answers into
``images_for_testing/<label>/`` instead of the training folders.

Switch on with ``policies: [policies.gate_set]`` and set ``Gate-Set-Share`` (0, the default, routes
nothing). Which answers go is fixed by the image's content, so a duplicate delivery routes the same
way. The label is the defaults' (the reviewers' majority); a team label policy that decides first
routes its own answers with ``LabelDecision(..., gate_set=True)``. Every training after a routed
image is evaluated on a new gate-set version, which the evaluations record.
"""

from __future__ import annotations

from dataclasses import replace

from plugins import LabelDecision, ParameterSpec, ReviewResult, Settings, hookimpl

from . import defaults
from .strategy import unit_hash

SHARE = "Gate-Set-Share"


@hookimpl
def labelloop_parameters() -> list[ParameterSpec]:
    return [ParameterSpec(SHARE, "float", 0.0, "Share (0-1) of the accepted review answers added to the gate set "
                          "(images_for_testing/) instead of the training data.", 0.0, 1.0)]


@hookimpl
def label_decision(review: ReviewResult, settings: Settings) -> LabelDecision | None:
    share = settings[SHARE]
    draw = unit_hash(review.detection_id, "gate-set")
    if draw >= share:
        return None  # training data, as the other policies decide
    decision = defaults.label_decision(review, settings)
    if not decision.accept:
        return None
    return replace(decision, gate_set=True, reason=f"{decision.reason}; into the gate set (draw {draw:.3f} is "
                                                   f"below {SHARE} {share:g})")
