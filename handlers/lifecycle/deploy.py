"""Blue/green deployment steps: start the candidate, switch the active model
pointer (compare-and-swap), stop the previous version.

Stopping waits until the model can be stopped: a model still starting is asked
again (a bounded number of times within the function's timeout), until it is
STOPPING or STOPPED; a model left running bills by the hour. A throttled stop is
retried by the client, then by the step's Retry rules."""

from __future__ import annotations

from botocore.exceptions import ClientError

from ..runtime import aws, backoff, context
from ..runtime.errors import ModelBusy
from ..runtime.lambda_entry import entry_point
from ..runtime.clock import now_iso
from ..runtime.state import ActiveModelMoved
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
    """Compare-and-swap the active model to the candidate; the model it replaced. A retried step whose
    first attempt applied the swap (then a later call failed) finds the candidate active, same version
    and ARN — numbered under this run's lock, so switched by this run — and returns the previous model
    recorded at the switch."""
    table = context.table()
    try:
        previous = table.switch_active(candidate["version"], candidate["version_arn"], candidate.get("f1"),
                                       candidate.get("incumbent_version"))
    except ActiveModelMoved as exc:
        loop = table.loop()
        if (loop.active_version, loop.active_arn) != (candidate["version"], candidate["version_arn"]):
            raise SwitchLost(f"not promoting {candidate['version']}: {exc}") from exc
        previous = {"previous_version": loop.previous_version or None, "previous_arn": loop.previous_arn or None}
    table.update_model(candidate["version"], status="RUNNING", deployed_at=now_iso())
    return previous


# Up to about 25 s of waiting in all: within the timeouts of StopPrevious (30 s) and Finish (60 s, two models).
STOP_ATTEMPTS, STOP_BASE_DELAY, STOP_MAX_DELAY = 6, 1.0, 8.0
LIVE = ("STARTING", "RUNNING")
STOP_FAILED = "StopFailed"  # the metric of models the loop had to stop and could not (an alarm watches it)


class StillRunning(Exception):
    """StopProjectVersion refused a model that is still starting or running; it can be stopped later."""


class NotRunning(Exception):
    """The version is not running (already stopping or stopped, failed, gone): nothing to stop."""


def stop_model(version: str | None, version_arn: str | None) -> dict:
    """Stop a version and wait for nothing but the call: done once it is STOPPING (or was not running)."""
    if not version_arn:
        return {"stopped": None}
    try:
        backoff.retried(lambda: _stop(version, version_arn), attempts=STOP_ATTEMPTS, base=STOP_BASE_DELAY,
                        cap=STOP_MAX_DELAY, again=lambda exc: isinstance(exc, StillRunning))
    except NotRunning as exc:
        return {"stopped": None, "reason": str(exc)}
    if version:
        stopped_at = now_iso()
        context.table().update_model(version, status="STOPPING", stopped_at=stopped_at)
        context.table().close_serving_period(version, stopped_at)  # the cost ledger's running period ends
    return {"stopped": version}


def _stop(version: str | None, version_arn: str) -> None:
    try:
        aws.client("rekognition").stop_project_version(ProjectVersionArn=version_arn)
    except ClientError as exc:
        code = aws.error_code(exc)
        if code == "ResourceNotFoundException":
            raise NotRunning(f"{version} was not running ({code})") from exc
        if code != "ResourceInUseException":
            raise
        status = describe(version_name(version_arn))["Status"]
        if status in LIVE:  # refused while it starts: it stops once it runs
            raise StillRunning(f"{version} is {status} and cannot be stopped yet ({code})") from exc
        if status == "STOPPING":  # stopped already: a retried step whose first attempt's stop applied
            return
        raise NotRunning(f"{version} was not running ({status})") from exc


def version_name(version_arn: str) -> str:
    """The version of ``…:project/<project>/version/<version>/<created>``."""
    return version_arn.split("/version/", 1)[1].split("/", 1)[0]


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
