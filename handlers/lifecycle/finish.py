"""Close a lifecycle run, whatever happened: stop any model this run started but
did not promote (no model left running and billing), release the lock, move
the training baseline so the same data does not retrain on every poll, and
tell the operator why."""

from __future__ import annotations

from botocore.exceptions import ClientError

from ..runtime import aws, context
from ..runtime.lambda_entry import entry_point
from .deploy import stop_model

HEADLINES = {
    "deployed": "Model {version} deployed",
    "rolled_back": "Rolled back to model {version}",
    "rejected": "Model {version} not deployed",
    "not_trainable": "Training not started",
    "failed": "Model lifecycle run failed",
}


def _value(state: dict, name: str) -> dict:
    return (state.get(name) or {}).get("value") or {}


def reason_of(state: dict, outcome: str) -> str:
    if outcome == "not_trainable":
        return _value(state, "manifest").get("reason", "")
    if outcome == "rejected":
        return _value(state, "candidate").get("reason", "")
    if outcome == "failed":
        error = state.get("error") or {}
        poll = _value(state, "poll")
        if error:
            return f"{error.get('Error', 'error')}: {str(error.get('Cause', ''))[:500]}"
        if poll:
            return f"model status {poll.get('status')}: {poll.get('message', '')}".strip()
        return "unknown failure"
    candidate = _value(state, "candidate")
    return "; ".join(r for r in (candidate.get("reason"), candidate.get("capacity_reason")) if r)


def finish(state: dict) -> dict:
    outcome = (state.get("outcome") or {}).get("value", "failed")
    owner = state["run"]["owner"]
    table = context.table()
    candidate = _value(state, "candidate") or _value(state, "training")
    version = candidate.get("version") or _value(state, "check").get("version")
    notes = []
    if outcome not in ("deployed", "rolled_back") and candidate.get("version_arn"):
        # This run's candidate is not the active model: make sure it does not keep running.
        if table.loop().active_arn != candidate["version_arn"] and _value(state, "start").get("started_here", True):
            try:
                stopped = stop_model(candidate.get("version"), candidate["version_arn"])
                if stopped.get("stopped"):
                    notes.append(f"stopped {candidate['version']}, which this run started")
            except ClientError as exc:
                notes.append(f"could not stop {candidate.get('version')}: {aws.error_code(exc)} — stop it by hand")
    stop_error = state.get("stop_error")
    if stop_error:
        notes.append(f"the previous model could not be stopped ({stop_error.get('Error')}); it is still billing — "
                     "stop it with `labelloop status` / the console")
    manifest = _value(state, "manifest")
    if manifest.get("ok") and outcome != "deployed":
        table.mark_seen(manifest["counts"])  # a rejected or failed candidate's data counts as seen
    elif outcome == "deployed" and manifest.get("counts"):
        table.mark_trained(manifest["counts"])
    reason = reason_of(state, outcome)
    if outcome == "not_trainable":  # the recorded reason not to train (shown by `labelloop status`)
        table.record_training_decision({"train": False, "reason": reason, "policy": "labelloop (Rekognition rules)",
                                        "version": version})
    table.release_training_lock(owner)
    summary = HEADLINES[outcome].format(version=version or "-")
    facts = {"outcome": outcome, "version": version, "reason": reason, "F1": candidate.get("f1"),
             "replaced": candidate.get("incumbent_version"), "replayed": _value(state, "replay").get("replayed")}
    if notes:
        facts["notes"] = "; ".join(notes)
    kind = {"deployed": "model_deployed", "rolled_back": "rollback", "rejected": "model_rejected",
            "not_trainable": "training_decided"}.get(outcome, "deployment_failed")
    context.announce(kind, f"{summary}: {reason}" if reason else summary, facts,
                     notify=outcome != "not_trainable" or bool(notes))
    return {"outcome": outcome, "version": version, "reason": reason, "notes": notes}


@entry_point
def handler(event: dict) -> dict:
    return finish(event)
