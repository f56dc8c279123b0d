"""Blue/green deployment steps: start the candidate, switch the active model
pointer (compare-and-swap), stop the previous version."""

from __future__ import annotations

from botocore.exceptions import ClientError

from ..runtime import aws, context
from ..runtime.errors import ModelBusy
from ..runtime.lambda_entry import entry_point
from ..runtime.state import ActiveModelMoved, now_iso
from ..runtime.workflow import RunState
from .training import describe


class SwitchLost(Exception):
    """The active model changed since this run started; this run's candidate is not promoted."""


def start_model(owner: str, candidate: dict) -> dict:
    """Start the candidate. Whether this run started it decides whether the cleanup may stop it,
    so the intent is recorded before the call: a retried step (the first attempt started the
    model, then failed) still knows the model is its own."""
    params = {"ProjectVersionArn": candidate["version_arn"], "MinInferenceUnits": int(candidate["min_units"])}
    if candidate.get("max_units"):
        params["MaxInferenceUnits"] = int(candidate["max_units"])
    version, table = candidate["version"], context.table()
    started = now_iso()
    record = table.model(version)
    earlier = record.start_requested_by if record else None
    table.update_model(version, start_requested_by=owner, start_requested_at=started,
                       inference_units=params["MinInferenceUnits"])
    try:
        aws.client("rekognition").start_project_version(**params)
        started_here = True
    except ClientError as exc:
        if aws.error_code(exc) != "ResourceInUseException":
            raise
        status = describe(version)["Status"]
        if status not in ("STARTING", "RUNNING"):
            raise ModelBusy(f"model {version} cannot start while it is {status}") from exc
        # Already starting or running: this run's own start (a retried step) or a model nobody stopped.
        started_here = earlier == owner
    table.update_model(version, status="STARTING", started_by=owner if started_here else None)
    return {"started_at": started, "started_here": started_here}


def switch(candidate: dict) -> dict:
    try:
        previous = context.table().switch_active(candidate["version"], candidate["version_arn"],
                                                 candidate.get("f1"), candidate.get("incumbent_version"))
    except ActiveModelMoved as exc:
        raise SwitchLost(f"not promoting {candidate['version']}: {exc}") from exc
    context.table().update_model(candidate["version"], status="RUNNING", deployed_at=now_iso())
    return previous


def stop_model(version: str | None, version_arn: str | None) -> dict:
    if not version_arn:
        return {"stopped": None}
    try:
        aws.client("rekognition").stop_project_version(ProjectVersionArn=version_arn)
    except ClientError as exc:
        if aws.error_code(exc) not in ("ResourceInUseException", "ResourceNotFoundException"):
            raise
        return {"stopped": None, "reason": f"{version} was not running ({aws.error_code(exc)})"}
    if version:
        context.table().update_model(version, status="STOPPING", stopped_at=now_iso())
    return {"stopped": version}


@entry_point
def start_handler(event: dict) -> dict:
    run = RunState.from_event(event)
    return start_model(run.owner, run.candidate)


@entry_point
def switch_handler(event: dict) -> dict:
    return switch(RunState.from_event(event).candidate)


@entry_point
def stop_handler(event: dict) -> dict:
    previous = RunState.from_event(event).switch
    return stop_model(previous.get("previous_version"), previous.get("previous_arn"))
