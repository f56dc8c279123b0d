"""Blue/green deployment steps: start the candidate, switch the active model
pointer (compare-and-swap), stop the previous version."""

from __future__ import annotations

from botocore.exceptions import ClientError

from ..runtime import aws, context
from ..runtime.lambda_entry import entry_point
from ..runtime.state import Duplicate, now_iso


class SwitchLost(Exception):
    """The active model changed since this run started; this run's candidate is not promoted."""


def start_model(owner: str, candidate: dict) -> dict:
    params = {"ProjectVersionArn": candidate["version_arn"], "MinInferenceUnits": int(candidate["min_units"])}
    if candidate.get("max_units"):
        params["MaxInferenceUnits"] = int(candidate["max_units"])
    started = now_iso()
    try:
        aws.client("rekognition").start_project_version(**params)
        started_here = True
    except ClientError as exc:
        if aws.error_code(exc) != "ResourceInUseException":
            raise
        started_here = False  # already starting or running (a retried step): poll it as it is
    context.table().put_model(candidate["version"], {"status": "STARTING", "start_requested_at": started,
                                                     "started_by": owner if started_here else None,
                                                     "inference_units": params["MinInferenceUnits"]})
    return {"started_at": started, "started_here": started_here}


def switch(candidate: dict) -> dict:
    try:
        previous = context.table().switch_active(candidate["version"], candidate["version_arn"],
                                                 candidate.get("f1"), candidate.get("incumbent_version"))
    except Duplicate as exc:
        raise SwitchLost(f"not promoting {candidate['version']}: {exc}") from exc
    context.table().put_model(candidate["version"], {"status": "RUNNING", "deployed_at": now_iso()})
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
        context.table().put_model(version, {"status": "STOPPING", "stopped_at": now_iso()})
    return {"stopped": version}


@entry_point
def start_handler(event: dict) -> dict:
    return start_model(event["run"]["owner"], event["candidate"]["value"])


@entry_point
def switch_handler(event: dict) -> dict:
    return switch(event["candidate"]["value"])


@entry_point
def stop_handler(event: dict) -> dict:
    previous = event["switch"]["value"]
    return stop_model(previous.get("previous_version"), previous.get("previous_arn"))
