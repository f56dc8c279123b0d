"""``labelloop status``: the state of a stack on one screen.

Everything is read from the state table in a handful of calls (the loop
partition, two day-statistics items, the pending partition, the active model's
record, the reviewers' partition, the ledger partition, the month's day counters
in one batch) and from the parameter path — no scan, whatever the table's size —
and the ledger's inference-unit hours are reconciled with what AWS recorded,
CloudWatch's ``InServiceInferenceUnits`` (:mod:`handlers.runtime.usage`; one call).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError

from handlers.runtime.stuck import diagnose
from handlers.runtime.ledger import PRICES_READ, days_between, iu_hours, ledger, month_start, units_running
from handlers.runtime.usage import reconcile
from handlers.summary import OUTCOMES, REVIEWS

from .params_cmd import parameter_rows
from .tables import format_table, print_json
from .target_options import add_target_arguments, open_target


def register(sub) -> None:
    parser = sub.add_parser("status", help="active model, training, reviews, detections of the last day, dataset",
                            description="The state of a stack: what keeps the loop from going on by itself (with "
                                        "the fix), active model and its F1, training in progress, the "
                                        "last training decision, open human loops, detections and reviews of the "
                                        "last day by outcome, images per label, invalid parameter values.")
    add_target_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.set_defaults(run=run)


def gather(target) -> dict:
    table = target.table()
    loop, dataset = table.loop_and_dataset()
    model = table.model(loop.active_version)
    evaluation = (model.evaluation if model else None) or {}
    f1 = loop.active_f1 if loop.active_f1 is not None else evaluation.get("f1")
    now = target.now()
    accuracy = target.reviewer_accuracy()
    two_days = table.days_stats(((now - timedelta(days=1)).strftime("%Y-%m-%d"), now.strftime("%Y-%m-%d")))
    days = [{"day": stats.day, "detections": stats.detections, "counts": dict(stats.counts)} for stats in two_days]
    label_rows = [{"label": label, "images": dataset.images.get(label, 0), "trained": dataset.trained.get(label, 0),
                   "new_since_training": dataset.new_since_training(label)}
                  for label in sorted(set(dataset.labels) | set(target.labels))]
    problems = [{"name": r["name"], "value": r["value"], "state": r["state"], "problem": r["problem"]}
                for r in parameter_rows(target) if r["state"] in ("invalid", "missing")]
    settings, _ = target.catalog.read({n: v["value"] for n, v in target.read_parameters().items()})
    stuck = [{"why": s.why, "fix": s.fix} for s in diagnose(loop, dataset, settings, table.models())]
    return {
        "target": target.description,
        "as_of": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "model": {"active_version": loop.active_version, "active_f1": f1, "switched_at": loop.switched_at,
                  "previous_version": loop.previous_version or None},
        "training": {"in_progress": bool(loop.training_owner), "version": loop.training_version,
                     "started_at": loop.training_started_at, "owner": loop.training_owner},
        "last_training_decision": dict(loop.last_training_decision) or None,
        "last_trained_at": dataset.last_trained_at,
        "open_reviews": loop.open_reviews,
        "pending_detections": len(table.pending()),
        "pending_copies": len(table.pending_copies(PENDING_COPIES_SHOWN)),
        "reviewers": [{"reviewer": r.reviewer, "name": r.name, "answers": r.answers, "skips": r.skips,
                       "agreed": r.agreed, "disagreed": r.disagreed, "agreement": r.agreement,
                       "accuracy": _share(*accuracy.get(r.name or r.reviewer, (0, 0)))}
                      for r in table.reviewers()],
        "days": days,
        "labels": label_rows,
        "parameters": {"checked": len(target.catalog), "problems": problems},
        "stuck": stuck,
        "serving": {"decision": dict(loop.last_serving_decision) or None, "claim": loop.serving_claim,
                    "last_detected_at": max((d.last_detected_at for d in two_days if d.last_detected_at),
                                            default=None),
                    "backlog_since": loop.backlog_since},
        "cost": cost(table, target.prices, now, lambda: target.client("cloudwatch")),
    }


PENDING_COPIES_SHOWN = 100  # counted with one Query: past it, "100+"


def cost(table, prices, now: datetime, cloudwatch=None) -> dict:
    """The cost ledger: per hour right now, the last day and the month so far (IU-hours per version,
    training hours, reviews), and the month's cost per 1 000 images detected; with ``cloudwatch`` (a
    function returning a client), the last day's IU-hours reconciled with InServiceInferenceUnits."""
    serving, trainings = table.ledger_periods()
    month = month_start(now)
    days = {d.day: d for d in table.days_stats(days_between(min(month, now - timedelta(days=1)), now))}

    def window(start: datetime) -> dict:
        covered = [days[d] for d in days_between(start, now) if d in days]
        figures = ledger(serving, trainings, covered, start, now)
        per_1000 = figures.cost_per_1000_images(prices)
        return {"from": figures.start, "iu_hours": {v: round(h, 3) for v, h in figures.iu_hours.items()},
                "training_hours": round(figures.training_hours, 3), "reviews": figures.reviews,
                "detections": figures.detections, "cost": round(figures.cost(prices), 2),
                "cost_per_1000_images": None if per_1000 is None else round(per_1000, 2)}

    running = units_running(serving)
    return {"units_running": running, "per_hour_now": round(running * prices.inference_unit_hour, 2),
            "last_day": window(now - timedelta(days=1)), "month": window(month),
            "prices": prices.as_config(), "prices_read": PRICES_READ,
            **({"reconciled": reconciled(table, serving, cloudwatch, now - timedelta(days=1), now)} if cloudwatch
               else {})}


def reconciled(table, serving, cloudwatch, start: datetime, end: datetime) -> dict:
    """The ledger next to CloudWatch over the last day; what went wrong reading it, instead, when it could
    not be read (status still shows the rest)."""
    ran = {p.version for p in serving if iu_hours([p], start, end)}  # one read per version that ran
    arns = {version: model.arn for version, model in ((v, table.model(v)) for v in sorted(ran)) if model and model.arn}
    try:
        return reconcile(cloudwatch(), serving, arns, start, end)
    except (ClientError, BotoCoreError) as exc:
        return {"error": f"CloudWatch InServiceInferenceUnits could not be read ({type(exc).__name__}: {exc}); "
                         "the caller needs cloudwatch:GetMetricData"}


def run(args) -> int:
    with open_target(args) as target:
        status = gather(target)
    if args.json:
        print_json(status)
        return 0
    lines = render(status)
    if target.as_of:
        lines[1:1] = [f"As of {_time(status['as_of'])}, {target.as_of}."]
    print("\n".join(lines))
    return 0


def _time(iso: str | None) -> str:
    return iso[:19].replace("T", " ") if iso else "-"


def _age(iso: str | None, now: str) -> str:
    try:
        start = datetime.fromisoformat(iso.replace("Z", "+00:00"))
        end = datetime.fromisoformat(now.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return ""
    minutes = max(0, int((end - start).total_seconds() // 60))
    return f" ({minutes // 60} h {minutes % 60} min)" if minutes >= 60 else f" ({minutes} min)"


def _share(right: int, answered: int) -> float | None:
    return right / answered if answered else None


def _percent(share: float | None) -> str:
    return f"{share:.0%}" if share is not None else "-"


def _reviewer_lines(reviewers: list[dict]) -> list[str]:
    """Annotator quality: each reviewer's answers, how often they matched the final label and, where the
    true labels are known (a sandbox run), how often they were right."""
    if not reviewers:
        return []
    truth = any(r.get("accuracy") is not None for r in reviewers)
    rows = [{"who": r["name"] or r["reviewer"], "answers": r["answers"], "skips": r["skips"],
             "decided": r["agreed"] + r["disagreed"], "agreement": _percent(r["agreement"]),
             "accuracy": _percent(r.get("accuracy"))} for r in reviewers]
    columns = ["who", "answers", "skips", "decided", "agreement"] + (["accuracy"] if truth else [])
    titles = ["reviewer", "answers", "skips", "on accepted tasks", "agreement"] + (["right (true label)"] if truth else [])
    why = ("agreement: answers that matched the label a task was accepted with — with one answer per image it is "
           "100 % by construction" + ("; right: answers that named the image's true label" if truth else ""))
    return [f"Reviewers ({why})", format_table(rows, columns, titles, right=columns[1:]), ""]


def render(status: dict) -> list[str]:
    model, training, decision = status["model"], status["training"], status["last_training_decision"]
    lines = [f"labelloop status — {status['target']} (UTC times)", ""]
    for stuck in status["stuck"]:
        lines += [f"! Stuck: {stuck['why']}.", f"  Fix: {stuck['fix']}"]
    lines += [""] if status["stuck"] else []
    lines.append("Model")
    if model["active_version"]:
        f1 = f"F1 {model['active_f1']:.3f}" if model["active_f1"] is not None else "F1 unknown"
        lines.append(f"  active         {model['active_version']} ({f1}), serving since {_time(model['switched_at'])}")
    else:
        lines.append("  active         none yet: uploads wait until a first model is deployed")
    if model["previous_version"]:
        lines.append(f"  previous       {model['previous_version']} (`labelloop rollback` switches back to it)")
    if training["in_progress"]:
        lines.append(f"  training       {training['version'] or 'a new version'} in progress since "
                     f"{_time(training['started_at'])}{_age(training['started_at'], status['as_of'])}")
    else:
        lines.append("  training       none in progress")
    if decision:
        verdict = "train" if decision.get("train") else "no training"
        via = ", ".join(str(x) for x in (decision.get("policy"), decision.get("trigger")) if x)
        lines.append(f"  last check     {verdict}: {decision.get('reason', '-')}")
        lines.append(f"                 ({via}; {_time(decision.get('at'))})")
    else:
        lines.append("  last check     no training check yet")
    lines += ["", "Reviews",
              f"  open reviews            {status['open_reviews']}",
              f"  waiting for a model     {status['pending_detections']} detection(s)"]
    if status["pending_copies"]:
        many = "+" if status["pending_copies"] >= PENDING_COPIES_SHOWN else ""
        lines.append(f"  copies pending          {status['pending_copies']}{many} accepted review(s) whose image is not "
                     "copied yet (the dataset sweep makes them; now: `labelloop replay --copies`)")
    lines.append("")
    lines += _reviewer_lines(status["reviewers"])
    days = status["days"]
    rows = [{"what": "images detected", **{d["day"]: d["detections"] for d in days}}]
    for key, label in [(f"outcome_{k}", v) for k, v in OUTCOMES.items()] + list(REVIEWS.items()):
        if any(d["counts"].get(key) for d in days):
            rows.append({"what": "  " + label, **{d["day"]: d["counts"].get(key, 0) for d in days}})
    lines.append("Last day, by outcome")
    lines.append(format_table(rows, ["what"] + [d["day"] for d in days], [""] + [d["day"] for d in days],
                              right=[d["day"] for d in days]))
    lines.append("")
    labels = status["labels"]
    if labels:
        total = {"label": "total", "images": sum(r["images"] for r in labels),
                 "new_since_training": sum(r["new_since_training"] for r in labels)}
        lines.append(f"Training data (images per label; last training finished {_time(status['last_trained_at'])})")
        lines.append(format_table(labels + [total], ["label", "images", "new_since_training"],
                                  ["label", "images", "new since training"], right=["images", "new_since_training"]))
    else:
        lines.append("Training data: no labelled images yet")
    lines.append("")
    lines += render_cost(status["cost"], status.get("serving") or {})
    problems = status["parameters"]["problems"]
    if problems:
        lines.append("Parameter problems (the functions use the last good value or the default):")
        lines += [f"  ! {p['name']} = {p['value'] if p['value'] is not None else '(not set)'}: {p['problem']}"
                  for p in problems]
        lines.append("  Fix: labelloop params set NAME VALUE (or params reset NAME)")
    else:
        lines.append(f"Parameters: all {status['parameters']['checked']} set and valid")
    return lines


def render_cost(cost: dict, serving: dict) -> list[str]:
    prices = cost["prices"]
    lines = [f"Cost (USD; an inference-unit hour ${prices['inferenceUnitHour']:g}, a training hour "
             f"${prices['trainingHour']:g}, prices of {cost['prices_read']}: check them, or set the stack's prices)",
             f"  now            ${cost['per_hour_now']:.2f} per hour ({cost['units_running']} inference unit(s) running)"]
    for key, label in (("last_day", "last day"), ("month", "month so far")):
        w = cost[key]
        per_1000 = "-" if w["cost_per_1000_images"] is None else f"${w['cost_per_1000_images']:.2f}"
        units = ", ".join(f"{v} {h:.1f}" for v, h in sorted(w["iu_hours"].items())) or "none"
        lines.append(f"  {label:<14} ${w['cost']:.2f}: IU-hours {units}; training {w['training_hours']:.1f} h; "
                     f"{w['reviews']} review(s); {w['detections']} image(s), {per_1000} per 1 000")
    check = cost.get("reconciled")
    if check and "error" in check:
        lines.append(f"  CloudWatch     not reconciled: {check['error']}")
    elif check:
        gap = "-" if check["difference_pct"] is None else f"{check['difference_pct']:+.1f} %"
        lines.append(f"  CloudWatch     last day, {_time(check['from'])} to {_time(check['until'])}: the ledger has "
                     f"{check['ledger_iu_hours']:.2f} IU-hours, InServiceInferenceUnits {check['cloudwatch_iu_hours']:.2f} "
                     f"(ledger {gap})")
    decision = serving.get("decision")
    if decision:
        lines.append(f"  serving        {decision.get('action')} ({decision.get('outcome')}): {decision.get('reason')} "
                     f"({decision.get('policy')}; {_time(decision.get('at'))})")
    lines.append("")
    return lines
