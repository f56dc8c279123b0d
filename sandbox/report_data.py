"""What a saved run's report is built from (``report.json`` in the run's folder: the rounds, the versions'
figures, the run's holdout images by their index in the data set), and the report brought up to date
when a command changes the run's models later (``labelloop train``, ``labelloop rollback``…): each
new version scored on the run's holdout images, the active model's scores measured again, the change
listed under "After the run" (:func:`sandbox.report.write_report` writes the report from it)."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

from handlers.runtime.state import StateTable
from plugins import Evaluation, LabelMetrics
from plugins.scoring import score

from .custom_labels import CustomLabels
from .dataset import load_samples
from .local_aws import LocalStack
from .reviewer_accuracy import accuracy_line, reviewer_accuracy
from .runner import RoundRow, SandboxOptions, SandboxResult

FILE = "report.json"


def save(result: SandboxResult, folder: Path) -> None:
    data = {f.name: getattr(result, f.name) for f in fields(result)}
    data |= {"options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(result.options).items()},
             "rows": [asdict(r) for r in result.rows],
             "confidences": [(n, round(c, 1)) for n, c in result.confidences],  # a box plot's worth
             "final_scores": _evaluation_json(result.final_scores)}
    (Path(folder) / FILE).write_text(json.dumps(data, separators=(",", ":")))


def load(folder: Path) -> SandboxResult | None:
    """The saved run's report data (None: the run kept none, e.g. saved by an earlier labelloop)."""
    path = Path(folder) / FILE
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    options = {k: tuple(v) if isinstance(v, list) else v for k, v in data["options"].items()}
    data |= {"options": SandboxOptions(**options | {"out": options["out"] and Path(options["out"])}),
             "rows": [RoundRow(**r) for r in data["rows"]], "confidences": [tuple(c) for c in data["confidences"]],
             "final_scores": _evaluation(data["final_scores"]), "holdout_images": tuple(data["holdout_images"])}
    return SandboxResult(**data)


def bring_up_to_date(folder: Path, stack: LocalStack, service: CustomLabels) -> SandboxResult | None:
    """The report data with what changed since it was written: the versions trained since, each scored on
    the run's holdout images, and the active model now. None when nothing the report shows changed."""
    result = load(folder)
    if result is None:
        return None
    table = StateTable(stack.table)
    active, models = table.loop().active_version, {m.version: m for m in table.models()}
    new = [v for v, trained in service.versions.items() if v not in result.versions and trained.model is not None]
    if not new and active == result.final_active:
        return None
    samples = load_samples(result.options.dataset)
    holdout = [samples[i] for i in result.holdout_images]
    x, y = np.array([s.features() for s in holdout]), [s.label for s in holdout]
    answers = {v: service.trainer.predict(service.versions[v], x).tolist() for v in {*new, active} - {None}
               if service.versions.get(v) is not None and service.versions[v].model is not None}
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    for version in new:
        model = models.get(version)
        deployed = model is not None and model.deployed_at is not None
        reason = ((model.decision if model else None) or {}).get("reason")
        holdout_f1 = float(f1_score(y, answers[version], average="macro"))
        result.versions[version] = {"f1": service.versions[version].f1, "holdout_f1": holdout_f1,
                                    "deployed": deployed, "reason": reason, "round": None}
        result.after_run.append(f"{when}: {version} trained, F1 {service.versions[version].f1:.3f}, holdout F1 "
                                f"{holdout_f1:.3f}; " + ("deployed" if deployed else f"not deployed: {reason or '-'}"))
    if active != result.final_active:
        result.after_run.append(f"{when}: active model {result.final_active or 'none'} → {active or 'none'}")
        result.final_active = active
        result.first_deployed = result.first_deployed or active
    result.final_scores = score(active, zip(y, answers[active])) if active in answers else None
    return result


def with_reviews(folder: Path, state: dict) -> tuple[SandboxResult | None, list[str]]:
    """The report data with each reviewer's answers against the true labels, from the saved ``state``
    (after ``labelloop review``), and a line per reviewer who answered since it was written, for the
    terminal. (None, []) when no reviewer answered since (or the run kept no report data)."""
    result = load(folder)
    if result is None:
        return None, []
    now = reviewer_accuracy(state.get("items", []), state.get("truth") or {})
    grew = {name: counts for name, counts in now.items() if list(counts) != result.reviewers.get(name)}
    if not grew:
        return None, []
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = []
    for name, (right, answered) in grew.items():
        before = (result.reviewers.get(name) or [0, 0])[1]
        lines.append(f"{accuracy_line(name, right, answered)}; {answered - before} answered since the report")
        result.after_run.append(f"{when}: {lines[-1]}")
    result.reviewers = {name: list(counts) for name, counts in now.items()}
    return result, lines


def _evaluation_json(scores: Evaluation | None) -> dict | None:
    if scores is None:
        return None
    return {"version": scores.version, "f1": scores.f1, "precision": scores.precision, "recall": scores.recall,
            "images": scores.images, "gate_set": scores.gate_set,
            "per_label": {k: asdict(m) for k, m in scores.per_label.items()},
            "confusion": {k: dict(v) for k, v in scores.confusion.items()}}


def _evaluation(data: dict | None) -> Evaluation | None:
    if data is None:
        return None
    return Evaluation(**data | {"per_label": {k: LabelMetrics(**m) for k, m in data["per_label"].items()}})

