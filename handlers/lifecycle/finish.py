"""Close a lifecycle run, whatever happened: stop any model this run started but
did not promote, and a previous model StopPrevious could not stop (no model
left running and billing), release the lock, move the training baseline so the
same data does not retrain on every poll, and tell the operator why.

Stopping is retried (``deploy.stop_model``). A model that still cannot be
stopped is not left as if all were well: the ``StopFailed`` metric raises its
alarm, the run fails saying which model still runs, and its lock stays, naming
the model, until the next run's StopStrays has stopped it."""

from __future__ import annotations

from ..runtime import context
from ..runtime.lambda_entry import entry_point
from ..runtime.workflow import Outcome, RunState
from .deploy import STOP_FAILED, stop_model

HEADLINES = {
    Outcome.DEPLOYED: "Model {version} deployed",
    Outcome.ROLLED_BACK: "Rolled back to model {version}",
    Outcome.REJECTED: "Model {version} not deployed",
    Outcome.NOT_TRAINABLE: "Training not started",
    Outcome.FAILED: "Model lifecycle run failed",
}
EVENT_KINDS = {Outcome.DEPLOYED: "model_deployed", Outcome.ROLLED_BACK: "rollback",
               Outcome.REJECTED: "model_rejected", Outcome.NOT_TRAINABLE: "training_decided",
               Outcome.FAILED: "deployment_failed"}
PROMOTED = (Outcome.DEPLOYED, Outcome.ROLLED_BACK)


def reason_of(run: RunState, outcome: str) -> str:
    if outcome == Outcome.NOT_TRAINABLE:
        return run.manifest.get("reason", "")
    if outcome == Outcome.REJECTED:
        comparison = run.comparison  # refused side by side on the gate set, after the evaluation gate
        if comparison and not comparison.get("deploy"):
            return f"on the gate set, next to {comparison.get('incumbent_version') or 'no running model'}: "                    f"{comparison.get('reason', '')}"
        return run.candidate.get("reason", "")
    if outcome == Outcome.FAILED:
        error, poll = run.error, run.poll
        if error:
            return f"{error.get('Error', 'error')}: {str(error.get('Cause', ''))[:500]}"
        if poll:
            return f"model status {poll.get('status')}: {poll.get('message', '')}".strip()
        return "unknown failure"
    candidate = run.candidate
    return "; ".join(r for r in (candidate.get("reason"), candidate.get("capacity_reason")) if r)


def must_stop(table, run: RunState, outcome: str, candidate: dict) -> dict[str, tuple[str, str]]:
    """version -> (ARN, why) of the models this run must not leave running: its candidate when not
    promoted (if this run started it), the running model it started to compare the candidate with (when
    it was not replaced: StopPrevious stopped it then), the previous model when StopPrevious failed after
    the switch."""
    models = {}
    if outcome not in PROMOTED and candidate.get("version_arn") and run.start.get("started_here", True) \
            and table.loop().active_arn != candidate["version_arn"]:
        models[candidate.get("version")] = (candidate["version_arn"], "which this run started")
    incumbent = table.model(candidate.get("incumbent_version")) if candidate.get("incumbent_arn") else None
    if outcome not in PROMOTED and incumbent and incumbent.compared_by == run.owner:
        models[incumbent.version] = (candidate["incumbent_arn"], "the running model, started for the comparison")
    previous = run.switch
    if run.stop_error and previous.get("previous_arn"):
        models[previous.get("previous_version")] = (
            previous["previous_arn"], f"the previous model, which could not be stopped "
                                      f"({run.stop_error.get('Error')}) by StopPrevious")
    return models


def stop_all(models: dict[str, tuple[str, str]]) -> tuple[list[str], dict[str, str]]:
    """Stop each model (retried); notes, and version -> ARN of those still running."""
    notes, still = [], {}
    for version, (arn, why) in models.items():
        try:
            if stop_model(version, arn).get("stopped"):
                notes.append(f"stopped {version}, {why}")
        except Exception as exc:  # each model on its own: report it, stop the others
            still[version] = arn
            notes.append(f"could not stop {version}, {why} ({type(exc).__name__}: {exc}); it is still running and "
                         "billing: the next lifecycle run stops it (or stop it in the Rekognition console)")
    return notes, still


def move_training_baseline(table, run: RunState, outcome: str) -> None:
    """The data this run trained on counts as seen, so the same data does not retrain on every poll.
    A run that broke before a training started (its StartTraining failed through every retry) trained
    nothing: its data stays new, and the next check trains it."""
    manifest = run.manifest
    if outcome == Outcome.DEPLOYED and manifest.get("counts"):
        table.mark_trained(manifest["counts"])
    elif manifest.get("ok") and outcome != Outcome.DEPLOYED and run.training.get("version_arn"):
        table.mark_seen(manifest["counts"])  # a rejected or failed candidate's data counts as seen


def announce(run: RunState, outcome: str, version: str | None, reason: str, candidate: dict,
             notes: list[str]) -> None:
    summary = HEADLINES[outcome].format(version=version or "-")
    facts = {"outcome": outcome, "version": version, "reason": reason, "F1": candidate.get("f1"),
             "replaced": candidate.get("incumbent_version"), "replayed": run.replay.get("replayed")}
    if notes:
        facts["notes"] = "; ".join(notes)
    context.announce(EVENT_KINDS[outcome], f"{summary}: {reason}" if reason else summary, facts,
                     notify=outcome != Outcome.NOT_TRAINABLE or bool(notes))


def finish(state: dict) -> dict:
    run = RunState.from_event(state)
    outcome, owner, table = run.outcome, run.owner, context.table()
    candidate = run.candidate or run.training
    version = candidate.get("version") or run.check.get("version")
    notes, still_running = stop_all(must_stop(table, run, outcome, candidate))
    if run.strays_error:
        notes.append(f"the check for models running that should not failed ({run.strays_error.get('Error')})")
    move_training_baseline(table, run, outcome)
    reason = reason_of(run, outcome)
    if outcome == Outcome.NOT_TRAINABLE:  # the recorded reason not to train (shown by `labelloop status`)
        table.record_training_decision({"train": False, "reason": reason, "policy": "labelloop (Rekognition rules)",
                                        "version": version})
    context.metrics.add_metric(name=STOP_FAILED, unit="Count", value=len(still_running))
    if still_running:
        table.keep_lock_for_strays(owner, still_running)
    else:
        table.release_training_lock(owner)
    announce(run, outcome, version, reason, candidate, notes)
    return {"outcome": outcome, "version": version, "reason": reason, "notes": notes,
            "still_running": sorted(still_running), "all_stopped": not still_running}


@entry_point
def handler(event: dict) -> dict:
    return finish(event)
