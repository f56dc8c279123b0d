"""The evaluation gate: read the trained version's evaluation (overall F1 and,
from the evaluation summary, per-label metrics), ask the policies whether it
may replace the running version and with how many inference units."""

from __future__ import annotations

import json

from plugins import Evaluation, LabelMetrics

from ..runtime import aws, config, context
from ..runtime.lambda_entry import entry_point
from ..runtime.state import ModelVersion
from ..runtime.workflow import RunState
from .training import describe


def read_evaluation(version: str, gate_set: dict | None = None, labels: tuple[str, ...] = ()) -> Evaluation:
    """Rekognition's evaluation of a trained version. With the gate set as its TestingData (``gate_set``:
    the manifest's ``{"version", "counts"}``), every label of ``labels`` is covered, with its gate-set
    images: a label the gate set lacks scores 0."""
    result = describe(version).get("EvaluationResult") or {}
    per_label, precision, recall = {}, None, None
    summary = (result.get("Summary") or {}).get("S3Object")
    counts = (gate_set or {}).get("counts") or {}
    if summary:
        body = aws.client("s3").get_object(Bucket=summary["Bucket"], Key=summary["Name"])["Body"].read()
        doc = json.loads(body)
        aggregated = doc.get("AggregatedEvaluationResults") or {}
        precision, recall = aggregated.get("Precision"), aggregated.get("Recall")
        for entry in doc.get("LabelEvaluationResults", []):
            metrics = entry.get("Metrics") or {}
            per_label[entry["Label"]] = LabelMetrics(float(metrics.get("F1Score", 0.0)),
                                                     float(metrics.get("Precision", 0.0)),
                                                     float(metrics.get("Recall", 0.0)), metrics.get("Threshold"),
                                                     counts.get(entry["Label"]) if gate_set else None)
    if gate_set:  # a label without gate-set images scores nothing, whatever the summary says of it
        per_label |= {label: LabelMetrics(0.0, 0.0, 0.0, images=0)
                      for label in labels if not counts.get(label)}
    return Evaluation(version, float(result.get("F1Score", 0.0)), precision, recall, per_label,
                      gate_set=(gate_set or {}).get("version"))


def evaluation_record(evaluation: Evaluation) -> dict:
    scored = {"images": evaluation.images, "confusion": {k: dict(v) for k, v in evaluation.confusion.items()}} \
        if evaluation.images is not None else {}
    return {"f1": evaluation.f1, "precision": evaluation.precision, "recall": evaluation.recall,
            "per_label": {k: {"f1": m.f1, "precision": m.precision, "recall": m.recall, "threshold": m.threshold,
                              **({"images": m.images} if m.images is not None else {})}
                          for k, m in evaluation.per_label.items()}, "gate_set": evaluation.gate_set, **scored}


def from_record(version: str, ev) -> Evaluation | None:
    """An evaluation as :func:`evaluation_record` stored it."""
    if not ev:
        return None
    return Evaluation(version, float(ev["f1"]), ev.get("precision"), ev.get("recall"),
                      {k: LabelMetrics(m["f1"], m["precision"], m["recall"], m.get("threshold"), m.get("images"))
                       for k, m in (ev.get("per_label") or {}).items()}, gate_set=ev.get("gate_set"),
                      images=ev.get("images"), confusion=ev.get("confusion") or {})


def evaluation_from_record(version: str, record: ModelVersion | None) -> Evaluation | None:
    return from_record(version, record.evaluation if record else None)


def candidate(version: str, version_arn: str, evaluation: Evaluation, incumbent_version: str | None,
              incumbent_arn: str | None, settings) -> dict:
    """The deployment candidate: the policies' capacity for it and who it replaces."""
    capacity = context.engine().capacity(evaluation, settings)
    return {"version": version, "version_arn": version_arn, "f1": evaluation.f1,
            "min_units": capacity.min_units, "max_units": capacity.max_units,
            "capacity_reason": capacity.reason, "incumbent_version": incumbent_version,
            "incumbent_arn": incumbent_arn}


def evaluate(version: str, version_arn: str, incumbent_version: str | None, incumbent_arn: str | None,
             gate_set: dict | None = None) -> dict:
    table, settings = context.table(), context.settings()
    evaluation = read_evaluation(version, gate_set, config.current().labels)
    incumbent = evaluation_from_record(incumbent_version, table.model(incumbent_version))
    decision = context.engine().deployment(evaluation, incumbent, settings, incumbent_version)
    table.update_model(version, evaluation=evaluation_record(evaluation),
                       decision={"deploy": decision.deploy, "reason": decision.reason, "policy": decision.policy})
    context.metrics.add_dimension(name="version", value=version)  # cleared with the invocation's metrics
    context.metrics.add_metric(name="ModelF1", unit="None", value=evaluation.f1)
    result = {"deploy": decision.deploy, "reason": decision.reason, "policy": decision.policy}
    if not decision.deploy:
        return result | {"version": version, "version_arn": version_arn, "f1": evaluation.f1,
                         "incumbent_version": incumbent_version, "incumbent_arn": incumbent_arn}
    return result | candidate(version, version_arn, evaluation, incumbent_version, incumbent_arn, settings)


@entry_point
def handler(event: dict) -> dict:
    run = RunState.from_event(event)
    check, training = run.check, run.training
    return evaluate(training["version"], training["version_arn"], check["incumbent_version"], check["incumbent_arn"],
                    run.manifest.get("gate_set"))
