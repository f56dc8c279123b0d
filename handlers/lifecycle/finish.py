"""Close a lifecycle run, whatever happened: stop any model this run started but
did not promote (no model left running and billing), release the lock, move
the training baseline so the same data does not retrain on every poll, and
tell the operator why."""

from __future__ import annotations

from botocore.exceptions import ClientError

from ..runtime import aws, context
from ..runtime.lambda_entry import entry_point
from ..runtime.workflow import Outcome, RunState
from .deploy import stop_model

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


def stop_unpromoted(table, run: RunState, outcome: str, candidate: dict) -> list[str]:
    """This run's candidate is not the active model: make sure it does not keep running."""
    if outcome in PROMOTED or not candidate.get("version_arn"):
        return []
    if table.loop().active_arn == candidate["version_arn"] or not run.start.get("started_here", True):
        return []
    try:
        stopped = stop_model(candidate.get("version"), candidate["version_arn"])
    except ClientError as exc:
        return [f"could not stop {candidate.get('version')}: {aws.error_code(exc)} — stop it by hand"]
    return [f"stopped {candidate['version']}, which this run started"] if stopped.get("stopped") else []


def previous_still_running(run: RunState) -> list[str]:
    """StopPrevious failed after the switch: the new model serves, the old one still bills."""
    stop_error = run.stop_error
    if not stop_error:
        return []
    return [f"the previous model could not be stopped ({stop_error.get('Error')}); it is still billing — "
            "stop it with `labelloop status` / the console"]


def move_training_baseline(table, run: RunState, outcome: str) -> None:
    """The data this run trained on counts as seen, so the same data does not retrain on every poll."""
    manifest = run.manifest
    if manifest.get("ok") and outcome != Outcome.DEPLOYED:
        table.mark_seen(manifest["counts"])  # a rejected or failed candidate's data counts as seen
    elif outcome == Outcome.DEPLOYED and manifest.get("counts"):
        table.mark_trained(manifest["counts"])


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
    notes = stop_unpromoted(table, run, outcome, candidate) + previous_still_running(run)
    move_training_baseline(table, run, outcome)
    reason = reason_of(run, outcome)
    if outcome == Outcome.NOT_TRAINABLE:  # the recorded reason not to train (shown by `labelloop status`)
        table.record_training_decision({"train": False, "reason": reason, "policy": "labelloop (Rekognition rules)",
                                        "version": version})
    table.release_training_lock(owner)
    announce(run, outcome, version, reason, candidate, notes)
    return {"outcome": outcome, "version": version, "reason": reason, "notes": notes}


@entry_point
def handler(event: dict) -> dict:
    return finish(event)
