"""A daily review budget: never start more than N human reviews per day (UTC).

Switch on with ``policies: [policies.review_budget]``. A constraint only: it
says "no" once the budget is spent and defers otherwise. The count is the one
read when the image was detected, so images detected at the same moment can
overshoot the budget by the number of detections running concurrently.
"""

from __future__ import annotations

from plugins import Detection, ParameterSpec, ReviewDecision, Settings, hookimpl

BUDGET = "Maximum-Reviews-Per-Day"


@hookimpl
def labelloop_parameters() -> list[ParameterSpec]:
    return [ParameterSpec(BUDGET, "int", 500, "Most human reviews started per day (UTC); 0 stops all reviews.", 0, 1_000_000)]


@hookimpl(tryfirst=True)
def review_decision(detection: Detection, settings: Settings) -> ReviewDecision | None:
    budget = settings[BUDGET]
    if detection.reviews_today >= budget:
        return ReviewDecision(False, f"{detection.reviews_today} reviews started today; {BUDGET} is {budget}")
    return None
