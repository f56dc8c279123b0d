"""Start training a new version, and poll a version's status (training or starting)."""

from __future__ import annotations

from datetime import datetime, timezone

from botocore.exceptions import ClientError

from ..runtime import aws, config, context, layout
from ..runtime.lambda_entry import entry_point
from ..runtime.clock import now_iso
from ..runtime.workflow import PollRequest, RunState

IN_PROGRESS = {"training": "TRAINING_IN_PROGRESS", "starting": "STARTING"}
TIMED_OUT = "TIMED_OUT"


def start_training(owner: str, version: str, manifest_key: str, counts: dict, testing_manifest_key: str | None = None,
                   gate_set: str | None = None) -> dict:
    """Train ``version`` on the manifest; tested on the gate set's manifest when there is one."""
    version_arn = create_version(version, manifest_key, testing_manifest_key)
    started = now_iso()
    table = context.table()
    table.set_training_version(owner, version)
    table.update_model(version, arn=version_arn, status="TRAINING_IN_PROGRESS",
                       manifest=manifest_key, counts=counts, training_started_at=started, run=owner, gate_set=gate_set)
    table.open_training_period(version, started)  # training bills per hour: the cost ledger
    context.announce("training_started", f"training {version} started",
                     {"version": version, "images": sum(counts.values())})
    return {"version": version, "version_arn": version_arn, "started_at": started}


def manifest_assets(bucket: str, key: str) -> dict:
    return {"Assets": [{"GroundTruthManifest": {"S3Object": {"Bucket": bucket, "Name": key}}}]}


def create_version(version: str, manifest_key: str, testing_manifest_key: str | None = None) -> str:
    """Create the version; its ARN. Its TestingData is the gate set's manifest when there is one (every
    version evaluated on the same images), else a split Rekognition draws for it alone. A retried step
    whose first attempt created it (then a later call failed) finds it existing: its number was
    assigned under this run's training lock, so it is this run's version, and training goes on with it."""
    cfg = config.current()
    testing = manifest_assets(cfg.bucket, testing_manifest_key) if testing_manifest_key else {"AutoCreate": True}
    try:
        return aws.client("rekognition").create_project_version(
            ProjectArn=cfg.project_arn, VersionName=version,
            OutputConfig={"S3Bucket": cfg.bucket, "S3KeyPrefix": f"{layout.EVALUATION_PREFIX}{version}/"},
            TrainingData=manifest_assets(cfg.bucket, manifest_key),
            TestingData=testing,
            Tags={"labelloop:stack": cfg.stack},
        )["ProjectVersionArn"]
    except ClientError as exc:
        if aws.error_code(exc) != "ResourceInUseException":
            raise
        return describe(version)["ProjectVersionArn"]


def describe(version: str) -> dict:
    cfg = config.current()
    versions = aws.client("rekognition").describe_project_versions(
        ProjectArn=cfg.project_arn, VersionNames=[version])["ProjectVersionDescriptions"]
    if not versions:
        raise LookupError(f"model version {version} does not exist in {cfg.project_arn}")
    return versions[0]


def poll(version: str, phase: str, since: str, max_wait_seconds: int) -> dict:
    """The version's status; TIMED_OUT once it has been in progress longer than the maximum wait."""
    description = describe(version)
    status, message = description["Status"], description.get("StatusMessage", "")
    waited = (datetime.now(timezone.utc) - datetime.fromisoformat(since.replace("Z", "+00:00"))).total_seconds()
    if status == IN_PROGRESS[phase] and waited > max_wait_seconds:
        status, message = TIMED_OUT, f"still {status} after {int(waited)} s (maximum {max_wait_seconds} s)"
    table, at = context.table(), now_iso()
    record = table.update_model(version, status=status, status_message=message)
    if phase == "training" and status != IN_PROGRESS[phase]:  # timed out: the ledger counts it until here
        table.close_training_period(version, since, at)  # the training hours of the cost ledger
    if phase == "starting" and status == "RUNNING":  # it bills from here: the cost ledger's running period
        table.open_serving_period(version, int(description.get("MinInferenceUnits") or record.inference_units or 1),
                                  at, description.get("MaxInferenceUnits"))
    return {"status": status, "message": message, "waited_seconds": int(waited)}


@entry_point
def start_handler(event: dict) -> dict:
    run = RunState.from_event(event)
    manifest = run.manifest
    return start_training(run.owner, run.check["version"], manifest["manifest_key"], manifest["counts"],
                          manifest.get("testing_manifest_key"), (manifest.get("gate_set") or {}).get("version"))


@entry_point
def status_handler(event: dict) -> dict:
    request = PollRequest.from_event(event)
    return poll(request.version, request.phase, request.since, request.max_wait_seconds)
