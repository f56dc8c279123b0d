"""The engine facade: one typed method per decision.

Handlers never call hooks directly: they ask the engine, which asks the
policies in order, checks what came back, and returns the decision with the
name of the policy that made it — unless an operator's switch that binds the
decision is off (a catalog entry with ``binds``): then the switch refuses it,
whatever policy said yes, and is recorded as the decider.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any, Sequence

import pluggy

from . import manager
from .decisions import (
    DeploymentDecision,
    InferenceCapacity,
    LabelDecision,
    ReviewDecision,
    ServingDecision,
    TrainingDecision,
    lowest_confidence_first,
)
from .facts import DatasetStats, Detection, Evaluation, LoopEvent, ModelState, ReviewResult, Serving
from .parameters import (GATE_SET_MINIMUM, GATE_SET_PARAMETER, REVIEW_TASK_PARAMETERS, REVIEWERS_PER_IMAGE, SWITCHABLE,
                         Catalog, Settings)

log = logging.getLogger(__name__)
# Settings that do not hold the review task parameters (a policy's own tests) review with one reviewer.
_DEFAULT_REVIEWERS = next(s.default for s in REVIEW_TASK_PARAMETERS if s.name == REVIEWERS_PER_IMAGE)
GATE_SET_RULE = "labelloop (gate set)"  # the name a refusal for a gate set that cannot decide carries


def gate_set_refusal(candidate: Evaluation, settings: Settings) -> str | None:
    """Why the gate set ``candidate`` was measured on cannot decide (None: it can): a label it lacks,
    or has fewer than Minimum-Gate-Set-Images-Per-Label images of, and what to add where."""
    minimum = settings.get(GATE_SET_MINIMUM, GATE_SET_PARAMETER.default)
    short = candidate.short_labels(minimum)
    if not short:
        return None
    what = ", ".join(f"no images of {label!r}" if n == 0 else f"{n} of {minimum} images of {label!r}"
                     for label, n in short.items())
    where = ", ".join(f"{minimum - n} to images_for_testing/{label}/" for label, n in short.items())
    return (f"the gate set cannot decide: {what} ({GATE_SET_MINIMUM} {minimum}); add {where} "
            f"(or lower {GATE_SET_MINIMUM})")


class PolicyError(RuntimeError):
    """A policy returned something that is not a decision, or raised."""


class NoDecision(PolicyError):
    """Every policy deferred (returned ``None``)."""


class Engine:
    """Asks the loaded policies. Build with :meth:`load` or from a plugin manager."""

    def __init__(self, pm: pluggy.PluginManager):
        self.pm = pm
        self.catalog: Catalog = manager.catalog(pm)

    @classmethod
    def load(cls, modules: Sequence[str] | None = None, **options: Any) -> "Engine":
        return cls(manager.load(modules, **options))

    @property
    def policies(self) -> list[str]:
        """Loaded policy names, in the order they are asked (first asked first)."""
        names: list[str] = []
        for hook in manager.DECISION_HOOKS:
            for impl in reversed(getattr(self.pm.hook, hook).get_hookimpls()):
                if impl.plugin_name not in names:
                    names.append(impl.plugin_name)
        return names

    def _decide(self, hook_name: str, *, requested: bool = False, **kwargs: Any) -> Any:
        # Implementations are asked like pluggy's firstresult call (last
        # registered first, tryfirst/trylast respected) so the decider is known.
        expected = manager.DECISION_HOOKS[hook_name]
        for impl in reversed(getattr(self.pm.hook, hook_name).get_hookimpls()):
            args = {name: kwargs[name] for name in impl.argnames}
            try:
                result = impl.function(**args)
            except Exception as exc:
                raise PolicyError(f"policy {impl.plugin_name!r} failed in {hook_name}: {type(exc).__name__}: {exc}") from exc
            if result is None:
                continue
            if not isinstance(result, expected):
                raise PolicyError(
                    f"policy {impl.plugin_name!r} returned {type(result).__name__} from {hook_name}; "
                    f"expected {expected.__name__} or None"
                )
            if not str(result.reason).strip():
                raise PolicyError(f"policy {impl.plugin_name!r} returned a {expected.__name__} without a reason")
            return self._switched(hook_name, replace(result, policy=impl.plugin_name), kwargs["settings"], requested)
        raise NoDecision(f"no policy decided {hook_name}; every loaded policy returned None ({', '.join(self.policies)})")

    def _switched(self, hook_name: str, decision: Any, settings: Settings, requested: bool) -> Any:
        """The decision, or — a yes while a switch that binds it is off — the switch's no, whose reason
        keeps the overruled policy and its reason."""
        if hook_name not in SWITCHABLE:
            return decision
        yes, refusal, asked = SWITCHABLE[hook_name]
        if not getattr(decision, yes):
            return decision
        for spec in self.catalog.switches(hook_name):
            if settings.get(spec.name, True) is False and spec.binds.binds(decision, requested):
                reason = f"{spec.name} is false: {refusal} (policy {decision.policy!r} {asked}: {decision.reason})"
                return type(decision)(False, reason, policy=spec.name)
        return decision

    def review(self, detection: Detection, settings: Settings) -> ReviewDecision:
        """The review decision; a review's priority and reviewers, when the policy left them open, are
        the defaults: lowest confidence first, and the Reviewers-Per-Image parameter."""
        decision = self._decide("review_decision", detection=detection, settings=settings)
        if not decision.review:
            return decision
        reviewers = decision.reviewers or settings.get(REVIEWERS_PER_IMAGE, _DEFAULT_REVIEWERS)
        priority = lowest_confidence_first(detection.top_confidence) if decision.priority is None else decision.priority
        return replace(decision, priority=priority, reviewers=reviewers)

    def training(self, dataset: DatasetStats, model: ModelState, settings: Settings, *,
                 requested: bool = False) -> TrainingDecision:
        """The training decision; ``requested``: an operator asked for this check (``labelloop train``),
        which a switch with ``binds_requests=False`` leaves to the policies."""
        return self._decide("training_decision", dataset=dataset, model=model, settings=settings, requested=requested)

    def deployment(self, candidate: Evaluation, incumbent: Evaluation | None, settings: Settings,
                   replaces: str | None = None) -> DeploymentDecision:
        """The deployment decision; a candidate measured on a gate set that cannot decide (a label
        missing or too thin) is refused before any policy is asked."""
        refused = gate_set_refusal(candidate, settings)
        if refused:
            return DeploymentDecision(False, refused, GATE_SET_RULE)
        return self._decide("deployment_decision", candidate=candidate, incumbent=incumbent, settings=settings,
                            replaces=incumbent.version if replaces is None and incumbent else replaces)

    def capacity(self, candidate: Evaluation, settings: Settings) -> InferenceCapacity:
        return self._decide("inference_capacity", candidate=candidate, settings=settings)

    def label(self, review: ReviewResult, settings: Settings) -> LabelDecision:
        decision = self._decide("label_decision", review=review, settings=settings)
        if decision.accept and decision.label not in review.label_set:
            raise PolicyError(
                f"policy {decision.policy!r} accepted label {decision.label!r}, which is not in the label set "
                f"({', '.join(review.label_set)})"
            )
        return decision

    def serving(self, serving: Serving, settings: Settings) -> ServingDecision:
        return self._decide("serving_decision", serving=serving, settings=settings)

    def emit(self, event: LoopEvent) -> None:
        """Tell every observer; one failing observer is logged, the others still run."""
        for impl in reversed(self.pm.hook.loop_event.get_hookimpls()):
            try:
                impl.function(**({"event": event} if impl.argnames else {}))
            except Exception:
                log.exception("policy %r failed observing %s event", impl.plugin_name, event.kind)
