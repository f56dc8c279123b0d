"""Side by side on the gate set, during blue/green: once the candidate runs and before the switch,
the candidate and the running model are scored on the same gate-set images, and the deployment
decision is asked again with both evaluations — overall and per label (every label of the label
set, with its images), with their confusion matrices.

Comparable images, always. Every model scored here keeps its answer for each image (key and ETag)
in S3 (``evaluation/answers/<version>/<gate-set version>.json``, named in its record). The running
model is scored

- when it runs: on every image of the gate set;
- when it is stopped and was scored before: on the images both were scored on (same key, same
  ETag), from its recorded answers — as long as those still hold Minimum-Gate-Set-Images-Per-Label
  images of every label; no start, no cost;
- otherwise: started for the comparison (the step ends with ``IncumbentStarting``, which the state
  machine retries until it runs), then on every image; Finish stops it again unless the candidate
  replaced it (and StopPrevious stopped it).

The record says which (``incumbent_source``) and on how many images (``compared_images``). A running
model that still cannot be scored (it failed to start) is ``None``: the policies decide without it,
and champion/challenger refuses. Both models' answers are one DetectCustomLabels call per image,
within the function's timeout (900 s: thousands of images).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from botocore.exceptions import ClientError

from plugins import GATE_SET_MINIMUM, GATE_SET_PARAMETER
from plugins.scoring import score

from ..detect import UNREADABLE
from ..runtime import aws, config, context, layout
from ..runtime.errors import IncumbentStarting
from ..runtime.lambda_entry import entry_point
from ..runtime.clock import now_iso
from ..runtime.workflow import RunState
from .evaluate import evaluation_record
from .manifest import listing, parse_line
from .training import describe

ANSWERS_PREFIX = f"{layout.EVALUATION_PREFIX}answers/"


class NotRunning(Exception):
    """The model cannot answer: it is not RUNNING."""


@dataclass(frozen=True)
class GateImage:
    bucket: str
    key: str
    etag: str
    label: str

    @property
    def id(self) -> str:
        """The image's content: the same key with another ETag is another image."""
        return f"{self.key} {self.etag}"


def gate_images(bucket: str, testing_manifest_key: str) -> list[GateImage]:
    """Every image of the testing manifest, with its current ETag (one listing of the gate set)."""
    s3 = aws.client("s3")
    body = s3.get_object(Bucket=bucket, Key=testing_manifest_key)["Body"].read().decode()
    etags = {obj["Key"]: obj.get("ETag", "") for page in listing(s3, bucket, layout.TESTING_PREFIX)
             for obj in page.get("Contents", [])}
    return [GateImage(b, key, etags.get(key, ""), label)
            for b, key, label in (parse_line(line) for line in body.splitlines() if line.strip())]


def answer(version_arn: str, bucket: str, key: str) -> str | None:
    """The model's best label for one image; None when it returned none or cannot read the image."""
    rekognition = aws.client("rekognition")
    try:
        labels = rekognition.detect_custom_labels(
            ProjectVersionArn=version_arn, Image={"S3Object": {"Bucket": bucket, "Name": key}},
            MinConfidence=0)["CustomLabels"]
    except ClientError as exc:
        code = aws.error_code(exc)
        if code == "ResourceNotReadyException":
            raise NotRunning(f"{version_arn} is not running ({code})") from exc
        if code in UNREADABLE:  # the same miss for both models
            return None
        raise
    return max(labels, key=lambda label: label["Confidence"])["Name"] if labels else None


def classify(version: str, version_arn: str, images: list[GateImage], gate: str) -> dict[str, str | None]:
    """The model's answer for each image (by image id), kept in S3 and named in its record."""
    answers = {image.id: answer(version_arn, image.bucket, image.key) for image in images}
    key = f"{ANSWERS_PREFIX}{version}/{gate}.json"
    body = {"version": version, "gate_set": gate, "answers": [
        {"key": i.key, "etag": i.etag, "label": i.label, "answer": answers[i.id]} for i in images]}
    aws.client("s3").put_object(Bucket=config.current().bucket, Key=key, Body=json.dumps(body).encode(),
                                ContentType="application/json")
    table = context.table()
    record = table.model(version)
    table.update_model(version, answers={**((record.answers if record else None) or {}), gate: key})
    return answers


def recorded_answers(version: str, images: list[GateImage]) -> tuple[str | None, dict[str, str | None]]:
    """The version's recorded answers that cover the most of ``images``: (its gate-set version, image id ->
    answer, for those images)."""
    record = context.table().model(version)
    wanted, best = {image.id for image in images}, (None, {})
    for gate, key in sorted(((record.answers if record else None) or {}).items()):
        doc = json.loads(aws.client("s3").get_object(Bucket=config.current().bucket, Key=key)["Body"].read())
        found = {f"{a['key']} {a['etag']}": a["answer"] for a in doc["answers"]}
        found = {image_id: found[image_id] for image_id in wanted & found.keys()}
        if len(found) > len(best[1]):
            best = (gate, found)
    return best


def thin(images: list[GateImage], ids, labels: tuple[str, ...], minimum: int) -> bool:
    """Whether the images of ``ids`` hold fewer than ``minimum`` of some label."""
    counts = Counter(image.label for image in images if image.id in ids)
    return any(counts[label] < minimum for label in labels)


def incumbent_answers(owner: str, version: str | None, version_arn: str | None, images: list[GateImage],
                      gate: str) -> tuple[dict[str, str | None] | None, str, str]:
    """The running model's answers for the images it is compared on (None: it cannot be scored), how they
    were obtained, and the gate-set version they were recorded on. Raises IncumbentStarting while a
    model started for the comparison is not running yet."""
    if not version or not version_arn:
        return None, "no model runs", gate
    table = context.table()
    record = table.model(version)
    started_here = bool(record and record.compared_by == owner)
    status = describe(version)["Status"]
    if status == "RUNNING":
        try:
            answers = classify(version, version_arn, images, gate)
        except NotRunning:
            status = "STOPPED"
        else:
            if started_here:  # the ledger: it bills while it runs for the comparison (Finish closes it)
                table.open_serving_period(version, (record.inference_units if record else None) or 1, now_iso())
                return answers, "started for the comparison, classified the gate set", gate
            return answers, "classified the gate set", gate
    earlier, recorded = recorded_answers(version, images)
    minimum = context.settings().get(GATE_SET_MINIMUM, GATE_SET_PARAMETER.default)
    if recorded and not thin(images, recorded.keys(), config.current().labels, minimum):
        return (recorded, f"not running: its recorded answers on gate set {earlier}, on the {len(recorded)} "
                          "images both were scored on", earlier)
    if started_here and status != "STARTING":
        return None, f"not running, and it could not be started for the comparison (it is {status})", gate
    if status not in ("STARTING", "STOPPING"):
        units = (record.inference_units if record else None) or 1
        table.update_model(version, compared_by=owner)
        try:
            aws.client("rekognition").start_project_version(ProjectVersionArn=version_arn, MinInferenceUnits=units)
        except ClientError as exc:
            if aws.error_code(exc) != "ResourceInUseException":
                return None, f"not running, and it could not be started for the comparison ({aws.error_code(exc)})", gate
    raise IncumbentStarting(f"{version} is {status}: the comparison waits for it to run")


def compare(owner: str, candidate: dict, manifest: dict) -> dict:
    cfg, table, settings = config.current(), context.table(), context.settings()
    gate = manifest["gate_set"]["version"]
    images = gate_images(cfg.bucket, manifest["testing_manifest_key"])
    version, incumbent = candidate["version"], candidate.get("incumbent_version")
    theirs, how, earlier = incumbent_answers(owner, incumbent, candidate.get("incumbent_arn"), images, gate)
    ours = classify(version, candidate["version_arn"], images, gate)
    compared = [image for image in images if theirs is None or image.id in theirs]
    on = gate if len(compared) == len(images) else f"{gate}&{earlier}"
    challenger = score(version, [(i.label, ours[i.id]) for i in compared], on, cfg.labels)
    champion = score(incumbent, [(i.label, theirs[i.id]) for i in compared], on, cfg.labels) if theirs else None
    decision = context.engine().deployment(challenger, champion, settings, incumbent)
    verdict = {"deploy": decision.deploy, "reason": decision.reason, "policy": decision.policy}
    whole = score(version, [(i.label, ours[i.id]) for i in images], gate, cfg.labels)
    table.update_model(version, decision=verdict, side_by_side={
        "gate_set": gate, "images": len(images), "compared_on": on, "compared_images": len(compared),
        "candidate": evaluation_record(challenger), "incumbent": evaluation_record(champion) if champion else None,
        "incumbent_version": incumbent, "incumbent_source": how,
        **({"candidate_on_gate_set": evaluation_record(whole)} if on != gate else {})})
    context.metrics.add_dimension(name="version", value=version)
    context.metrics.add_metric(name="GateSetF1", unit="None", value=whole.f1)
    return verdict | {"version": version, "gate_set": gate, "images": len(images), "compared_images": len(compared),
                      "f1": challenger.f1, "gate_set_f1": whole.f1, "incumbent_version": incumbent,
                      "incumbent_f1": champion.f1 if champion else None, "incumbent_source": how,
                      "incumbent_started": how.startswith("started for the comparison")}


@entry_point
def handler(event: dict) -> dict:
    run = RunState.from_event(event)
    return compare(run.owner, run.candidate, run.manifest)
