"""A loop that cannot make progress on its own, named with the parameter or action that unsticks it.

Read from what ``labelloop status``, the sandbox and the daily summary already hold (the loop item,
the label counters, the version records and the parameter values), so all three say the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from plugins.engine import GATE_SET_RULE
from policies.names import ENABLE_REVIEW, ENABLE_TRAINING, GATE_SET_MINIMUM, MIN_F1, MIN_UNTRAINED

from .state import Dataset, LoopState, ModelVersion

BUDGET = "Maximum-Reviews-Per-Day"  # policies.review_budget's parameter, when that policy is loaded


@dataclass(frozen=True)
class Stuck:
    """What cannot move (``why``) and what moves it (``fix``: a parameter to set or an action to take)."""

    why: str
    fix: str

    def line(self) -> str:
        return f"{self.why}. Fix: {self.fix}"


def diagnose(loop: LoopState, dataset: Dataset, settings: Mapping[str, Any],
             models: Sequence[ModelVersion]) -> list[Stuck]:
    """Every reason the loop waits for someone, most blocking first; [] when it can go on by itself."""
    found: list[Stuck] = []
    evaluated = [m for m in models if (m.evaluation or {}).get("f1") is not None and m.decision]
    gate = settings.get(MIN_F1)
    if not loop.active_version and evaluated and not evaluated[-1].decision.get("deploy") and gate is not None:
        best = max(evaluated, key=lambda m: m.evaluation["f1"])
        f1 = float(best.evaluation["f1"])
        found.append(Stuck(
            f"no version was ever deployed: {len(evaluated)} trained, the best {best.version} at F1 {f1:.3f} below "
            f"{MIN_F1} {gate}, and without a model uploads wait unreviewed, so no new training data arrives",
            f"labelloop params set {MIN_F1} {_below(f1)} (then labelloop train), or add labelled images "
            "under images_labeled_by_folder/<label>/"))
    training_off = settings.get(ENABLE_TRAINING) is False
    if not loop.active_version and training_off:
        found.append(Stuck(f"no model is deployed and {ENABLE_TRAINING} is false: no scheduled check trains",
                           f"labelloop params set {ENABLE_TRAINING} true, or labelloop train"))
    needed, new = settings.get(MIN_UNTRAINED), sum(dataset.new_since_training(label) for label in dataset.images)
    if loop.active_version and training_off and needed is not None and new >= needed:
        found.append(Stuck(f"{ENABLE_TRAINING} is false: {new} new labelled images wait for a training "
                           f"({MIN_UNTRAINED} {needed}), and no scheduled check trains",
                           f"labelloop params set {ENABLE_TRAINING} true, or labelloop train"))
    # Reviews opened before review went off are still answered, and their accepted answers are training
    # data: stuck only when even all of them would not reach a training.
    still_open = loop.open_reviews
    if settings.get(ENABLE_REVIEW) is False and needed is not None and new + still_open < needed:
        can_add = f"; the {still_open} review(s) still open can add at most {still_open} more" if still_open else ""
        found.append(Stuck(f"{ENABLE_REVIEW} is false, so no new review opens, and a training needs {needed} new "
                           f"labelled images ({new} so far{can_add})",
                           f"labelloop params set {ENABLE_REVIEW} true, or add labelled images under "
                           "images_labeled_by_folder/<label>/"))
    thin = _thin_gate_set(models, settings.get(GATE_SET_MINIMUM))
    if thin:
        found.append(thin)
    budget = settings.get(BUDGET)
    if budget is not None and loop.reviews_today >= budget:
        found.append(Stuck(f"the day's review budget is spent ({loop.reviews_today} of {BUDGET} {budget}): no "
                           "review starts until 00:00 UTC" + (", ever" if not budget else ""),
                           f"labelloop params set {BUDGET} {max(2 * budget, 10)}"))
    return found


def _thin_gate_set(models: Sequence[ModelVersion], minimum: int | None) -> Stuck | None:
    """The last candidate was refused because the gate set lacks a label (or has too few of one): every
    candidate will be, until images are added."""
    last = models[-1] if models else None
    decision = (last.decision or {}) if last else {}
    if minimum is None or decision.get("deploy") is not False or decision.get("policy") != GATE_SET_RULE:
        return None
    measured = (last.side_by_side or {}).get("candidate") or last.evaluation or {}
    short = {label: m["images"] for label, m in sorted((measured.get("per_label") or {}).items())
             if m.get("images") is not None and m["images"] < minimum}
    if not short:
        return None
    what = ", ".join(f"{n} image(s) of {label!r}" for label, n in short.items())
    where = ", ".join(f"{minimum - n} to images_for_testing/{label}/" for label, n in short.items())
    lower = min(short.values())  # lowering the minimum helps only when no label is missing
    return Stuck(f"the gate set cannot decide a deployment: it has {what}, fewer than {GATE_SET_MINIMUM} "
                 f"{minimum}, so every candidate is refused ({last.version} was)",
                 f"add labelled images ({where}): the next training is judged on them"
                 + (f"; or labelloop params set {GATE_SET_MINIMUM} {lower}" if lower else ""))


def _below(f1: float) -> str:
    """A gate the best version passes: its F1 rounded down to two decimals."""
    return f"{int(f1 * 100) / 100:.2f}"
