"""What the review strategies share (``policies.margin``, ``policies.entropy``, ``policies.class_balance``,
``policies.random_review``; least confidence is the defaults' rule).

A strategy replaces the defaults' least-confidence rule: it decides every detection — a review when
its rule fires, with its own score as the task's priority (the builtin review app serves the highest
first), otherwise the defaults' audit sample or no review. It reads no switch: with review off the
engine refuses its reviews, as every policy's. Pure, like every policy.
"""

from __future__ import annotations

from plugins import Detection, ReviewDecision, Settings

from .defaults import audit_sample, unit_hash  # noqa: F401  (the strategies' reproducible draw)


def decide(detection: Detection, settings: Settings, *, fires: bool, reason: str,
           priority: float) -> ReviewDecision:
    """A strategy's decision: review when it ``fires`` (at ``priority``, clamped to 0-100)."""
    if fires:
        return ReviewDecision(True, reason, "training", priority=round(min(100.0, max(0.0, priority)), 3))
    return audit_sample(detection, settings) or ReviewDecision(False, reason)


