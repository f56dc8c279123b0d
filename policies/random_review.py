"""Random sampling: review a fixed share of the images, chosen at random — the baseline every
other strategy has to beat.

Switch on with ``policies: [policies.random_review]`` (with ``policies.review_budget`` to give it the
same daily budget as the strategy it is compared with). It replaces the defaults' least-confidence
rule (``policies.strategy``): each image is reviewed with probability ``Random-Review-Share``, at a
random priority, so the review app serves a random order too. The draw is fixed by the image's
content, so duplicates, retries and backtests repeat it.
"""

from __future__ import annotations

from plugins import Detection, ParameterSpec, ReviewDecision, Settings, hookimpl

from .strategy import decide, unit_hash

SHARE = "Random-Review-Share"


@hookimpl
def labelloop_parameters() -> list[ParameterSpec]:
    return [ParameterSpec(SHARE, "float", 0.1, "Share (0-1) of the detected images sent to review at random "
                          "(the random-sampling baseline).", 0.0, 1.0)]


@hookimpl
def review_decision(detection: Detection, settings: Settings) -> ReviewDecision:
    share, draw = settings[SHARE], unit_hash(detection.detection_id, "review")
    fires = draw < share
    return decide(detection, settings, fires=fires, priority=100.0 * unit_hash(detection.detection_id, "priority"),
                  reason=f"random draw {draw:.3f} is {'below' if fires else 'not below'} {SHARE} {share:g}")
