"""Champion/challenger deployment: a new version replaces the running one only
if it is clearly better overall and no label got clearly worse.

Switch on with ``policies: [policies.champion_challenger]`` in the stack config.
The defaults still apply first-deployment rules (``Minimum-F1-Score``) because
this policy defers when nothing is running.

With a gate set the two versions are compared only on the same images: it
defers on evaluations measured on different gate-set versions (or one on the
gate set, one on an auto-created split) and decides on the side-by-side
evaluation before the switch, where both models classified the same gate-set
images (the running model started for it when it was stopped and never scored
on them). Without a gate set both evaluations are auto-created splits,
compared as they are. A candidate that would replace a running version it
could not be compared with is refused: never deployed for lack of a comparison.
"""

from __future__ import annotations

from plugins import DeploymentDecision, Evaluation, ParameterSpec, Settings, hookimpl

MARGIN = "Champion-F1-Margin"
MAX_LABEL_DROP = "Champion-Max-Label-F1-Drop"


@hookimpl
def labelloop_parameters() -> list[ParameterSpec]:
    return [
        ParameterSpec(MARGIN, "float", 0.01,
                      "How much higher (0-1) a new version's F1 must be than the running version's.", 0.0, 1.0,
                      hooks=("deployment_decision",)),
        ParameterSpec(MAX_LABEL_DROP, "float", 0.05,
                      "Largest drop (0-1) of any single label's F1 a new version may have.", 0.0, 1.0,
                      hooks=("deployment_decision",)),
    ]


@hookimpl
def deployment_decision(candidate: Evaluation, incumbent: Evaluation | None, settings: Settings,
                        replaces: str | None) -> DeploymentDecision | None:
    if replaces is None:
        return None  # nothing to beat: the other policies decide the first deployment
    comparable = incumbent is not None and (candidate.same_images(incumbent)
                                            or not (candidate.gate_set or incumbent.gate_set))
    if not comparable:
        if candidate.gate_set and not candidate.side_by_side:
            return None  # the side-by-side on the gate set, before the switch, decides
        return DeploymentDecision(
            False, f"no comparison with the running {replaces} on the same images: it could not be scored on "
                   f"them (see the side-by-side's incumbent source); never deployed without one")
    margin = settings[MARGIN]
    if candidate.f1 < incumbent.f1 + margin:
        return DeploymentDecision(
            False,
            f"F1 {candidate.f1:.3f} does not beat the running {incumbent.version} ({incumbent.f1:.3f}) "
            f"by {MARGIN} {margin:g}",
        )
    tolerance = settings[MAX_LABEL_DROP]
    drops = {
        label: incumbent.per_label[label].f1 - metrics.f1
        for label, metrics in candidate.per_label.items()
        if label in incumbent.per_label
    }
    worst = max(drops, key=drops.get, default=None)
    if worst is not None and drops[worst] > tolerance:
        return DeploymentDecision(
            False, f"label {worst!r} F1 drops by {drops[worst]:.3f}, more than {MAX_LABEL_DROP} {tolerance:g}"
        )
    return None  # better and no regression: the remaining rules (e.g. Minimum-F1-Score) still apply
