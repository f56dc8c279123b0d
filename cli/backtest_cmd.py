"""``labelloop export`` and ``labelloop backtest``: measure a policy on recorded detections
before switching it on.

``export`` writes every recorded detection as one JSON line. ``backtest``
replays such records (from a file, a saved sandbox run, or a stack's table)
through the review and label decisions of one or more sets of policies and
prints, beside what the loop recorded, the reviews each would start and —
when the true labels are known — the model errors each would catch.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Iterable

from handlers.runtime.state import DetectionRecord, Snapshot
from plugins import Engine, InvalidParameterValue

from . import backtest as bt
from .errors import UsageError
from .sandbox_cmd import parse_params
from .tables import format_table, print_json
from .target_options import add_target_arguments, open_target


def register(sub) -> None:
    export = sub.add_parser("export", help="write the recorded detections as JSON Lines",
                            description="Writes every recorded detection — all label scores, model version, time, "
                                        "the recorded review decision, the human label, and the true label when "
                                        "known (a sandbox run) — one JSON object per line, oldest first.")
    add_target_arguments(export)
    export.add_argument("--out", type=Path, default=None, metavar="FILE", help="write here (default: standard output)")
    export.add_argument("--json", action="store_true", help="with --out, print a JSON summary of what was written")
    export.set_defaults(run=run_export)

    backtest = sub.add_parser(
        "backtest", help="replay recorded detections through policies, beside the recorded decisions",
        description="Replays recorded detections in time order through the review decisions of the given policies "
                    "(and, when true labels are known, through their label decision for the reviewer's answer), "
                    "and compares the reviews each would start with what the loop recorded.")
    backtest.add_argument("--policies", action="append", required=True, metavar="MODULE[,MODULE…]",
                          help="policy modules to measure, comma-separated ('' for the defaults alone); "
                               "repeat to compare several sets side by side")
    backtest.add_argument("--events", type=Path, metavar="FILE",
                          help="a JSON Lines file (`labelloop export`); without it, the target's detections "
                               "(those of a saved sandbox run with --sandbox DIR)")
    backtest.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                          help="replay with this parameter value (repeatable); otherwise the target's current "
                               "values, the saved run's, or the defaults")
    add_target_arguments(backtest)
    backtest.add_argument("--json", action="store_true", help="print JSON for scripts")
    backtest.set_defaults(run=run_backtest)


# -- export ----------------------------------------------------------------------------
def export_record(record: DetectionRecord, truth: dict[str, str]) -> dict[str, Any]:
    """One recorded detection as an export line."""
    return {
        "detection_id": record.detection_id,
        "image_uri": record.image_uri,
        "detected_at": record.detected_at,
        "model_version": record.model_version,
        "labels": [{"name": s["name"], "confidence": float(s["confidence"])} for s in record.labels],
        "outcome": record.outcome,
        "reason": record.reason,
        "decision": record.decision,
        "human_loop": record.human_loop,
        "review_status": record.review_status,
        "human_label": record.human_label,
        "true_label": truth.get(record.image_uri),
    }


def _sorted(records: Iterable[dict]) -> list[dict]:
    return sorted(records, key=lambda r: (r.get("detected_at") or "", r.get("detection_id") or ""))


def target_records(target) -> list[dict]:
    truth = target.truth
    return _sorted(export_record(record, truth) for record in target.table().detections())


def run_export(args) -> int:
    with open_target(args) as target:
        records = target_records(target)
        description = target.description
    lines = "".join(json.dumps(r, default=str) + "\n" for r in records)
    if args.out is None:
        sys.stdout.write(lines)
        return 0
    try:
        args.out.write_text(lines)
    except OSError as exc:
        raise UsageError(f"cannot write {args.out}: {exc.strerror}; pick another --out FILE") from None
    with_truth = sum(1 for r in records if r["true_label"])
    if args.json:
        print_json({"target": description, "out": str(args.out), "detections": len(records),
                    "with_true_label": with_truth})
    else:
        print(f"Wrote {len(records)} detections of {description} to {args.out}"
              + (f" ({with_truth} with their true label)" if with_truth else ""))
    return 0


# -- backtest ----------------------------------------------------------------------------
def read_events(path: Path) -> list[bt.Event]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(f"--events {path}: {exc.strerror}; write one with `labelloop export --out FILE`") from None
    events = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            events.append(bt.event_from_record(json.loads(line), where))
        except json.JSONDecodeError as exc:
            raise UsageError(f"{where}: not JSON ({exc.msg}); --events needs one JSON object per line") from None
        except bt.BadEvent as exc:
            raise UsageError(str(exc)) from None
    return events


def _events(records: Iterable[dict], source: str) -> list[bt.Event]:
    try:
        return [bt.event_from_record(r, f"{source} detection {r.get('detection_id')}") for r in records]
    except bt.BadEvent as exc:
        raise UsageError(str(exc)) from None


def _target_given(args) -> bool:
    return bool(args.stack or args.parameter_path or args.table or args.sandbox)


def load_source(args) -> tuple[dict, list[bt.Event], dict[str, str], tuple[str, ...]]:
    """(source description, events, base parameter values, label set)."""
    if args.sandbox is not None and args.events is None:
        if args.stack or args.parameter_path or args.table:
            raise UsageError("--sandbox names the run to replay and where its parameters come from; "
                             "drop --stack/--parameter-path/--table")
        from sandbox.saved import NotASandbox, load_state

        try:  # the saved items as they are: no snapshot in moto needed to read them
            state = load_state(args.sandbox)
        except NotASandbox as exc:
            raise UsageError(f"--sandbox: {exc}") from None
        truth = state.get("truth") or {}
        records = _sorted(export_record(r, truth) for r in Snapshot.of(state.get("items", [])).detections)
        return ({"kind": "sandbox", "name": f"sandbox {args.sandbox}"}, _events(records, "sandbox"),
                dict(state.get("parameters") or {}), tuple(state.get("labels") or ()))
    if args.events is not None:
        events = read_events(args.events)
        params: dict[str, str] = {}
        labels: tuple[str, ...] = ()
        if _target_given(args):
            with open_target(args) as target:
                params = {n: v["value"] for n, v in target.read_parameters().items()}
                labels = target.labels
        return {"kind": "events", "name": str(args.events)}, events, params, labels
    if not _target_given(args):
        raise UsageError("no detections to replay: pass --events FILE (from `labelloop export`), --sandbox DIR "
                         "(a saved sandbox run), or a stack whose table to read (--stack NAME or --table NAME)")
    with open_target(args) as target:
        records = target_records(target)
        params = {n: v["value"] for n, v in target.read_parameters().items()} if target.knows("parameter_path") \
            else {}
        return ({"kind": "target", "name": target.description}, _events(records, target.description), params,
                target.labels)


def _modules(value: str) -> list[str]:
    return [m.strip() for m in value.split(",") if m.strip()]


def column_settings(engine, base: dict[str, str], overrides: dict[str, str]) -> tuple[Any, dict[str, str], list[str]]:
    """Settings for one engine: the base values its catalog knows (bad ones fall back to the default, as the
    functions do), then the overrides (already validated). Returns (settings, non-default values, warnings)."""
    catalog = engine.catalog
    raw = {n: v for n, v in base.items() if n in catalog}
    raw.update({n: v for n, v in overrides.items() if n in catalog})
    settings, problems = catalog.read(raw)
    changed = {spec.name: spec.format(settings[spec.name]) for spec in catalog if settings[spec.name] != spec.default}
    return settings, changed, [f"{p}; the default is used" for p in problems]


def run_backtest(args) -> int:
    columns = [(_modules(value), value) for value in args.policies]
    engines = [(modules, Engine.load(modules, entry_points=False)) for modules, _ in columns]
    overrides = parse_params(args.param)
    for name, value in overrides.items():
        specs = [engine.catalog[name] for _, engine in engines if name in engine.catalog]
        if not specs:
            known = sorted({n for _, engine in engines for n in engine.catalog.specs})
            raise UsageError(f"--param {name}: none of the policies being measured reads it; known: {', '.join(known)}")
        try:
            specs[0].parse(value)
        except InvalidParameterValue as exc:
            raise UsageError(f"--param {exc}") from None
    source, events, base, known_labels = load_source(args)
    replayable, skipped = bt.ordered(events)
    if not replayable:
        raise UsageError(f"{source['name']} holds no detection to replay (only: "
                         f"{', '.join(f'{n} {o}' for o, n in skipped.items()) or 'nothing'})")
    label_set = bt.label_set_of(replayable, known_labels)
    tallies, warnings = [], []
    recorded = bt.recorded(replayable, frozenset().union(*(bt.switch_names(engine) for _, engine in engines)))
    if recorded is not None:
        tallies.append(recorded)
    for modules, engine in engines:
        settings, changed, problems = column_settings(engine, base, overrides)
        warnings += problems
        tally = bt.replay(replayable, engine, settings, label_set, "+".join(modules) or "policies.defaults")
        tally.policies, tally.settings = list(engine.policies), changed
        tallies.append(tally)
    result = {
        "source": source, "detections": len(events), "replayed": len(replayable), "skipped": dict(skipped),
        "from": replayable[0].detected_at, "to": replayable[-1].detected_at,
        "true_labels": sum(1 for e in replayable if e.true_label is not None),
        "model_errors": sum(1 for e in replayable if e.is_error),
        "label_set": list(label_set), "parameters": {"base": base, "overrides": overrides},
        "warnings": sorted(set(warnings)),
        "columns": [t.summary() for t in tallies],
    }
    if args.json:
        print_json(result)
        return 0
    for warning in result["warnings"]:
        print(f"labelloop: warning: {warning}", file=sys.stderr)
    print("\n".join(render(result)))
    return 0


# -- rendering -----------------------------------------------------------------------------
def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def _num(value) -> str:
    return "-" if value is None else (f"{value:.1f}" if isinstance(value, float) else str(value))


def _short(name: str) -> str:
    """A shipped policy's module without its package, to keep the columns narrow: policies.uncertainty → uncertainty."""
    return "+".join(part.strip().removeprefix("policies.") for part in name.split("+"))


def render(result: dict) -> list[str]:
    columns = result["columns"]
    names = [_short(c["name"]) for c in columns]
    keys = [f"c{i}" for i in range(len(columns))]
    return [*_source_lines(result), *_parameter_lines(columns), "", _summary_table(result, keys, names),
            *_group_tables(columns, keys, names)]


def _source_lines(result: dict) -> list[str]:
    """What was replayed: the detections, their time span, what was skipped, whether the truth is known."""
    lines = [f"Backtest: {result['replayed']} detections from {result['source']['name']}, "
             f"{result['from'][:16].replace('T', ' ')} → {result['to'][:16].replace('T', ' ')} UTC"]
    if result["skipped"]:
        lines.append("  not replayed (no model answer): "
                     + ", ".join(f"{n} {o}" for o, n in sorted(result["skipped"].items())))
    truth = result["true_labels"]
    lines.append(f"  true labels known for {truth} of them" if truth else
                 "  true labels unknown: model errors cannot be counted (a sandbox run knows them)")
    return lines


def _parameter_lines(columns: list[dict]) -> list[str]:
    """The parameters every replay shares, then each replay's policies and its own parameters."""
    replays = [c for c in columns if c["policies"] is not None]
    common = {k: v for k, v in replays[0]["settings"].items()
              if all(c["settings"].get(k) == v for c in replays)} if replays else {}
    lines = ["  parameters not at their default: " + (", ".join(f"{k}={v}" for k, v in common.items()) or "none")]
    for column in replays:
        extra = {k: v for k, v in column["settings"].items() if k not in common}
        lines.append(f"  {_short(column['name'])}: asks {', then '.join(column['policies'])}"
                     + (f"; also {', '.join(f'{k}={v}' for k, v in extra.items())}" if extra else ""))
    return lines


def _row(keys: list[str], label: str, values: list) -> dict:
    return {"what": label, **dict(zip(keys, values))}


def _summary_table(result: dict, keys: list[str], names: list[str]) -> str:
    """Reviews per column and, with true labels, the model errors each would catch."""
    columns = result["columns"]
    rows = [
        _row(keys, "reviews started", [c["reviews"] for c in columns]),
        _row(keys, "  per 100 detections", [_num(c["reviews_per_100_detections"]) for c in columns]),
        _row(keys, "  for training", [c["by_purpose"].get("training", 0) for c in columns]),
        _row(keys, "  for audit", [c["by_purpose"].get("audit", 0) for c in columns]),
        _row(keys, "audit share", [_pct(c["audit_share"]) for c in columns]),
    ]
    refused = [sum(c["refused_by_switch"].values()) for c in columns]
    if any(refused):
        rows.append(_row(keys, "reviews a switch refused", refused))
    if result["true_labels"]:
        rows += [
            _row(keys, "model errors (top ≠ true label)", [_num(c["model_errors"]) for c in columns]),
            _row(keys, "  caught by a review", [_num(c["errors_caught"]) for c in columns]),
            _row(keys, "  slipped through unreviewed", [_num(c["errors_slipped"]) for c in columns]),
            _row(keys, "errors caught per 100 reviews", [_num(c["errors_caught_per_100_reviews"]) for c in columns]),
            _row(keys, "answers added to training", [_num(c["added_to_training"]) for c in columns]),
        ]
    return format_table(rows, ["what"] + keys, [""] + names, right=keys)


def _group_tables(columns: list[dict], keys: list[str], names: list[str]) -> list[str]:
    """The reviews broken down by policy and purpose, by reason and by top label, and those refused by
    switch (biggest groups first)."""
    lines: list[str] = []
    for title, key in (("Reviews by policy and purpose", "by_policy"), ("Reviews by reason", "by_reason"),
                       ("Reviews by top label", "by_label"), ("Reviews refused by an operator switch that is off",
                                                              "refused_by_switch")):
        groups = sorted({g for c in columns for g in c[key]}, key=lambda g: (-sum(c[key].get(g, 0) for c in columns), g)
                        if key != "by_label" else (0, g))
        if not groups:
            continue
        lines += ["", title]
        lines.append(format_table([_row(keys, _short(g), [c[key].get(g, 0) for c in columns]) for g in groups],
                                  ["what"] + keys, [""] + names, right=keys))
    return lines
