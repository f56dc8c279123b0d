"""Side by side on the gate set, during blue/green: once the candidate runs and before the switch,
the candidate and the running model both classify every image of the gate set (the testing manifest
its training was evaluated on), and the deployment decision is asked again with both evaluations —
measured on identical images, overall and per label, with their confusion matrices.

A refused candidate is not switched to: the run ends rejected, and Finish stops it. A running model
that is not running after all (stopped since) is judged by its recorded evaluation when that was
measured on the same gate-set version, else not at all (``incumbent`` ``None``). Both models'
answers are one DetectCustomLabels call per image, within the function's timeout (900 s: thousands
of images).
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from plugins import Evaluation
from plugins.scoring import score

from ..detect import UNREADABLE
from ..runtime import aws, backoff, config, context
from ..runtime.lambda_entry import entry_point
from ..runtime.workflow import RunState
from .evaluate import evaluation_record, from_record
from .manifest import parse_line


class NotRunning(Exception):
    """The model cannot answer: it is not RUNNING."""


def gate_images(bucket: str, testing_manifest_key: str) -> list[tuple[str, str, str]]:
    """(bucket, key, label) of every image of the testing manifest."""
    body = aws.client("s3").get_object(Bucket=bucket, Key=testing_manifest_key)["Body"].read().decode()
    return [parse_line(line) for line in body.splitlines() if line.strip()]


def answer(version_arn: str, bucket: str, key: str) -> str | None:
    """The model's best label for one image; None when it returned none or cannot read the image."""
    rekognition = aws.client("rekognition")
    try:
        labels = backoff.call(lambda: rekognition.detect_custom_labels(
            ProjectVersionArn=version_arn, Image={"S3Object": {"Bucket": bucket, "Name": key}},
            MinConfidence=0))["CustomLabels"]
    except ClientError as exc:
        code = aws.error_code(exc)
        if code == "ResourceNotReadyException":
            raise NotRunning(f"{version_arn} is not running ({code})") from exc
        if code in UNREADABLE:  # the same miss for both models
            return None
        raise
    return max(labels, key=lambda label: label["Confidence"])["Name"] if labels else None


def scored(version: str, version_arn: str, images: list[tuple[str, str, str]], gate_set: str) -> Evaluation:
    return score(version, [(label, answer(version_arn, bucket, key)) for bucket, key, label in images], gate_set)


def incumbent_evaluation(version: str | None, version_arn: str | None, images: list[tuple[str, str, str]],
                         gate_set: str) -> tuple[Evaluation | None, str]:
    """The running model on the gate set, and how it was obtained."""
    if not version or not version_arn:
        return None, "no model runs"
    try:
        return scored(version, version_arn, images, gate_set), "classified the gate set"
    except NotRunning:
        record = context.table().model(version)
        for stored in (record.side_by_side or {}, record.evaluation or {}) if record else ():
            evaluation = from_record(version, stored.get("candidate", stored))
            if evaluation and evaluation.gate_set == gate_set:
                return evaluation, "not running: its recorded evaluation on this gate set"
        return None, "not running, and never evaluated on this gate set"


def compare(candidate: dict, manifest: dict) -> dict:
    cfg, table, settings = config.current(), context.table(), context.settings()
    gate = manifest["gate_set"]["version"]
    images = gate_images(cfg.bucket, manifest["testing_manifest_key"])
    version = candidate["version"]
    challenger = scored(version, candidate["version_arn"], images, gate)
    champion, how = incumbent_evaluation(candidate.get("incumbent_version"), candidate.get("incumbent_arn"), images,
                                         gate)
    decision = context.engine().deployment(challenger, champion, settings)
    verdict = {"deploy": decision.deploy, "reason": decision.reason, "policy": decision.policy}
    table.update_model(version, decision=verdict, side_by_side={
        "gate_set": gate, "images": len(images), "candidate": evaluation_record(challenger),
        "incumbent": evaluation_record(champion) if champion else None,
        "incumbent_version": candidate.get("incumbent_version"), "incumbent_source": how})
    context.metrics.add_dimension(name="version", value=version)
    context.metrics.add_metric(name="GateSetF1", unit="None", value=challenger.f1)
    return verdict | {"version": version, "gate_set": gate, "images": len(images), "f1": challenger.f1,
                      "incumbent_version": candidate.get("incumbent_version"),
                      "incumbent_f1": champion.f1 if champion else None, "incumbent_source": how}


@entry_point
def handler(event: dict) -> dict:
    run = RunState.from_event(event)
    return compare(run.candidate, run.manifest)
