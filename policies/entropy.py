"""Entropy sampling: review the images whose label scores are spread over many labels.

Switch on with ``policies: [policies.entropy]``. It replaces the defaults' least-confidence rule
(``policies.strategy``). The entropy of the label scores (normalised to sum to 1) is divided by its
largest possible value, the log of the number of labels, so it runs from 0 (one label certain) to 1
(every label equally likely); an image is reviewed when it is at least ``Review-Entropy``, most
spread first (priority 100 × entropy). Unlike the margin, it looks at every label, not the best two.
"""

from __future__ import annotations

import math

from plugins import Detection, ParameterSpec, ReviewDecision, Settings, hookimpl

from .strategy import decide

ENTROPY = "Review-Entropy"


def normalised_entropy(detection: Detection) -> float:
    """The label scores' entropy over its maximum: 0 (certain) to 1 (uniform); 1 without scores."""
    scores = [max(0.0, s.confidence) for s in detection.labels]
    total = sum(scores)
    if len(scores) < 2 or total <= 0:
        return 0.0 if len(scores) == 1 and total > 0 else 1.0
    entropy = -sum(p * math.log(p) for p in (s / total for s in scores) if p > 0)
    return min(1.0, entropy / math.log(len(scores)))


@hookimpl
def labelloop_parameters() -> list[ParameterSpec]:
    return [ParameterSpec(ENTROPY, "float", 0.45, "Review an image when the entropy of its label scores, from 0 "
                          "(one label certain) to 1 (all labels equal), is at least this (entropy sampling).",
                          0.0, 1.0)]


@hookimpl
def review_decision(detection: Detection, settings: Settings) -> ReviewDecision:
    limit, entropy = settings[ENTROPY], normalised_entropy(detection)
    fires = entropy >= limit
    return decide(detection, settings, fires=fires, priority=100.0 * entropy,
                  reason=f"label entropy {entropy:.3f} is {'at least' if fires else 'below'} {ENTROPY} {limit:g}")
