"""``labelloop versions``: every model version of a stack, from the state table's version records.

A row per version: F1 overall and per label, the deployment decision, the model's status, whether
it runs (a running model bills per inference unit hour), which one serves, when it was trained,
deployed and stopped. A row that carries a ``cost`` (the cost so far) adds a cost column.
"""

from __future__ import annotations

from .tables import format_table, print_json
from .target_options import add_target_arguments, open_target

RUNNING = ("STARTING", "RUNNING")  # Rekognition statuses of a model that bills


def register(sub) -> None:
    parser = sub.add_parser("versions", help="every model version: F1 overall and per label, status, running, deployed",
                            description="Every model version of the stack, oldest first: its F1 overall and per "
                                        "label, the deployment decision and its reason, its status, whether it "
                                        "runs and which one serves, when it was trained, deployed and stopped.")
    add_target_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.set_defaults(run=run)


def version_row(model, active: str | None) -> dict:
    evaluation = model.evaluation or {}
    decision = model.decision or {}
    return {
        "version": model.version,
        "f1": evaluation.get("f1"),
        "per_label_f1": {label: metrics.get("f1") for label, metrics in sorted((evaluation.get("per_label") or {}).items())},
        "status": model.status,
        "running": model.status in RUNNING and not model.stopped_at,
        "serving": model.version == active,
        "deployed": decision.get("deploy"),
        "reason": decision.get("reason"),
        "trained_at": model.training_started_at,
        "deployed_at": model.deployed_at,
        "stopped_at": model.stopped_at,
        "compared": compared(model.side_by_side),
    }


def compared(side: dict | None) -> dict | None:
    """The side-by-side before the switch: whom it was compared with, on how many gate-set images, and how
    the running model was scored (it ran, its recorded answers, or started for the comparison)."""
    if not side:
        return None
    return {"with": side.get("incumbent_version"), "images": side.get("compared_images", side.get("images")),
            "of": side.get("images"), "incumbent_f1": (side.get("incumbent") or {}).get("f1"),
            "f1": (side.get("candidate") or {}).get("f1"), "how": side.get("incumbent_source")}


def gather(target) -> dict:
    table = target.table()
    loop = table.loop()
    return {"target": target.description, "active_version": loop.active_version,
            "versions": [version_row(m, loop.active_version) for m in table.models()]}


def f1_of(versions: list[dict], version: str | None) -> str:
    """'v3 (F1 0.912)', for a prompt or a line."""
    row = next((r for r in versions if r["version"] == version), None)
    return f"{version} (F1 {row['f1']:.3f})" if row and row["f1"] is not None else f"{version} (F1 unknown)"


def run(args) -> int:
    with open_target(args) as target:
        result = gather(target)
    if args.json:
        print_json(result)
    else:
        print("\n".join(render(result)))
    return 0


def _time(iso: str | None) -> str:
    return iso[:16].replace("T", " ") if iso else "-"


def render(result: dict) -> list[str]:
    versions = result["versions"]
    lines = [f"Model versions of {result['target']} (UTC times)", ""]
    if not versions:
        return lines + ["No version trained yet: `labelloop train` runs a training check now."]
    rows = [{"version": r["version"] + (" *" if r["serving"] else ""), "f1": r["f1"], "status": r["status"] or "-",
             "running": r["running"], "decision": ("deploy" if r["deployed"] else "keep out") if r["deployed"] is not None
             else "-", "trained": _time(r["trained_at"]), "deployed": _time(r["deployed_at"]),
             "stopped": _time(r["stopped_at"]), "cost": r.get("cost"), "reason": r["reason"]} for r in versions]
    columns = ["version", "f1", "status", "running", "decision", "trained", "deployed", "stopped"]
    if any("cost" in r for r in versions):
        columns.append("cost")
    lines.append(format_table(rows, columns + ["reason"], ["version", "F1", *columns[2:], "reason"],
                              right=["f1", "cost"]))
    lines.append("* serves detections now. `labelloop rollback --to VERSION` switches to another version.")
    labels = sorted({label for r in versions for label in r["per_label_f1"]})
    if labels:
        lines += ["", "F1 per label"]
        per_label = [{"label": label, **{r["version"]: r["per_label_f1"].get(label) for r in versions}}
                     for label in labels]
        names = [r["version"] for r in versions]
        lines.append(format_table(per_label, ["label", *names], ["label", *names], right=names))
    sides = [(r["version"], r["compared"]) for r in versions if r.get("compared") and r["compared"].get("with")]
    if sides:
        lines += ["", "Side by side before the switch (the same gate-set images)"]
        lines += [f"  {version} vs {c['with']}: F1 {_f1(c['f1'])} vs {_f1(c['incumbent_f1'])} on {c['images']} of "
                  f"{c['of']} images; {c['with']} {c['how']}" for version, c in sides]
    return lines


def _f1(value) -> str:
    return "-" if value is None else f"{value:.3f}"
