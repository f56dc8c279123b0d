"""Serving on demand: whether the active model runs. Asked on the serving schedule (every few
minutes), when an image arrives while the model does not run (``detect``'s event, through a rule
of the stack), and by the operator (``labelloop start``, ``stop``, ``teardown``).

Gather the facts — the active version's status from Rekognition (the truth, whoever started or
stopped it), the loop item, the images waiting and today's detections — ask the serving decision,
act, record. A start or stop is claimed on the loop item first (one at a time: many arrivals at
once start the model once); a stop is refused while a lifecycle run holds the training lock (it
trains or deploys: a stop never interrupts a blue/green switch), a start while the run deploys
(it starts its own candidate). The serving periods (RUNNING until stopped) are the cost ledger;
once the model runs, the images that waited — for a model, or for its capacity — are detected,
oldest first, at the rate the model accepts (``handlers.drain``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from plugins import Evaluation, Serving, ServingDecision

from .drain import drain
from .lifecycle.deploy import stop_model
from .lifecycle.strays import running_versions
from .runtime import aws, clock, config, context, errors
from .runtime.lambda_entry import entry_point
from .runtime.clock import from_iso, iso
from .runtime.events import ARRIVAL
from .runtime.state import LoopState, ModelVersion

SCHEDULE = "rate(5 minutes)"
CLAIM_MINUTES = 60  # a start or stop claimed longer ago than this was cut off with its function: taken over
OPERATOR = "operator"
IDLE_DAYS = 8
# Rekognition's statuses, as the serving decision sees them.
STATUSES = {"TRAINING_COMPLETED": "stopped", "STOPPED": "stopped", "STARTING": "starting", "RUNNING": "running",
            "STOPPING": "stopping", "FAILED": "failed"}
# The metrics the dashboard and alarms read.
UNITS_RUNNING, IDLE_RUNNING_MINUTES, IMAGES_WAITING = "InferenceUnitsRunning", "IdleRunningMinutes", "ImagesWaiting"
START_FAILED, WAKE_UP_DEFERRED = "ServingStartFailed", "ServingWakeUpDeferred"


@dataclass(frozen=True)
class Observed:
    """The active model as Rekognition describes it now."""

    version: str | None
    arn: str | None
    status: str  # a value of STATUSES, or "none"
    units: int | None = None
    max_units: int | None = None


def observe(loop: LoopState) -> Observed:
    if not loop.active_version or not loop.active_arn:
        return Observed(None, None, "none")
    described = aws.client("rekognition").describe_project_versions(
        ProjectArn=config.current().project_arn, VersionNames=[loop.active_version])["ProjectVersionDescriptions"]
    if not described:
        return Observed(loop.active_version, loop.active_arn, "none")
    d = described[0]
    return Observed(loop.active_version, loop.active_arn, STATUSES.get(d["Status"], "stopped"),
                    d.get("MinInferenceUnits"), d.get("MaxInferenceUnits"))


def reconcile(table, loop: LoopState, seen: Observed, record: ModelVersion | None, now: str) -> ModelVersion | None:
    """The table follows what runs: a serving period opens when the model is seen RUNNING and closes
    when it is seen stopped (however it got there); a start claim ends once the start has ended."""
    if seen.version is None:
        return record
    units = seen.units or (record.inference_units if record else None) or 1
    if seen.status == "running" and not (record and record.serving_since):
        table.open_serving_period(seen.version, units, _running_since(loop, seen, now), seen.max_units)
    elif seen.status in ("stopped", "failed", "none") and record and record.serving_since:
        table.close_serving_period(seen.version, now)
    if loop.serving_claim == "start" and seen.status in ("running", "failed"):
        table.release_serving("start")
        if seen.status == "failed":
            _start_failed(seen.version, "the model failed to start (Rekognition status FAILED)")
    return table.model(seen.version)


def _running_since(loop: LoopState, seen: Observed, now: str) -> str:
    """When the model began to run (and bill), as well as the loop can tell: halfway between the last
    look that saw it starting and now, else now."""
    last = loop.last_serving_decision or {}
    if last.get("status") != "starting" or last.get("version") != seen.version or not last.get("at"):
        return now
    before = from_iso(last["at"])
    return iso(before + (from_iso(now) - before) / 2)


def facts(table, loop: LoopState, seen: Observed, record: ModelVersion | None, now: datetime) -> Serving:
    waiting = table.waiting()
    since = _since(loop, seen, record)
    days = table.days_stats(days_back(now, since))  # today last
    idle = None
    if seen.status == "running":
        last = max(t for t in (*(d.last_detected_at for d in days), since, "") if t is not None)
        idle = _minutes(last, now) if last else 0.0
    training = bool(loop.training_owner)
    return Serving(seen.status, iso(now), seen.version, since, seen.units, idle, days[-1].detections, waiting.count,
                   _minutes(waiting.oldest_at, now) if waiting.oldest_at else None,
                   switching=training and _deploying(table, loop), training=training)


def days_back(now: datetime, since: str | None) -> list[str]:
    """The UTC days to look for the last detection in: since the model began to run, a week at most
    (Idle-Stop-Minutes is at most a week), today last."""
    first = max(from_iso(since) if since else now, now - timedelta(days=IDLE_DAYS)).date()
    return [(first + timedelta(days=n)).isoformat() for n in range((now.date() - first).days + 1)]


def _since(loop: LoopState, seen: Observed, record: ModelVersion | None) -> str | None:
    if record is None:
        return None
    if seen.status == "running" and record.serving_since:
        return record.serving_since.split("#", 1)[0]
    if seen.status == "starting":
        return loop.serving_claim_at if loop.serving_claim == "start" else record.start_requested_at
    return record.stopped_at or record.deployed_at


def _deploying(table, loop: LoopState) -> bool:
    """The run holding the lock starts, switches or stops models: a rollback, or a training run whose
    candidate it has started."""
    if (loop.last_training_decision or {}).get("trigger") == "rollback":
        return True
    candidate = table.model(loop.training_version) if loop.training_version else None
    return bool(candidate and candidate.start_requested_by == loop.training_owner)


def _minutes(start: str, now: datetime) -> float:
    return max(0.0, (now - from_iso(start)).total_seconds() / 60)


# -- acting ------------------------------------------------------------------------------------
def refusal(decision: ServingDecision, serving: Serving) -> str | None:
    """Why the loop will not do what the decision asks now (None: it may)."""
    if decision.action == "stop" and (serving.training or serving.switching):
        what = "deploying a model (blue/green)" if serving.switching else "training"
        return f"not stopped: a lifecycle run is {what}; the model is stopped after it, if still idle"
    if decision.action == "start" and serving.switching:
        return "not started: a lifecycle run is deploying a model and starts its own"
    if decision.action == "stop" and serving.status not in ("running", "starting"):
        return f"nothing to stop: the model is {serving.status}"
    if decision.action == "start" and serving.status not in ("stopped", "failed"):
        return f"nothing to start: the model is {serving.status}"
    return None


def act(table, decision: ServingDecision, serving: Serving, seen: Observed, now: datetime) -> str:
    """Do what the decision asks; what happened, in words."""
    refused = refusal(decision, serving) if decision.action != "keep" else None
    if decision.action == "keep" or refused:
        return refused or "kept"
    stale = iso(now - timedelta(minutes=CLAIM_MINUTES))
    if not table.claim_serving(decision.action, seen.version, stale, training_free=decision.action == "stop"):
        return f"not {decision.action}ed: another start or stop is under way (or a lifecycle run began)"
    if decision.action == "stop":
        try:
            stopped = stop_model(seen.version, seen.arn)
        finally:
            table.release_serving("stop")
        table.close_serving_period(seen.version, iso(now))
        context.announce("model_stopped", f"Model {seen.version} stopped: {decision.reason}",
                         {"version": seen.version, "reason": decision.reason, "policy": decision.policy})
        return "stopped" if stopped.get("stopped") else f"not running: {stopped.get('reason', '')}".strip()
    return start(table, seen, decision)


def start(table, seen: Observed, decision: ServingDecision) -> str:
    record = table.model(seen.version)
    f1 = ((record.evaluation or {}).get("f1") if record else None) or 0.0
    capacity = context.engine().capacity(Evaluation(seen.version, float(f1)), context.settings())
    params: dict[str, Any] = {"ProjectVersionArn": seen.arn, "MinInferenceUnits": capacity.min_units}
    if capacity.max_units:
        params["MaxInferenceUnits"] = capacity.max_units
    try:
        aws.client("rekognition").start_project_version(**params)
    except ClientError as exc:
        if aws.error_code(exc) != "ResourceInUseException":  # in use: it is starting or running already
            table.release_serving("start")
            _start_failed(seen.version, f"{aws.error_code(exc)}: {exc}")
            return f"start failed ({aws.error_code(exc)}); the waiting images stay pending"
    except Exception:  # no answer at all (a dropped connection): the next look may try again
        table.release_serving("start")
        raise
    table.update_model(seen.version, status="STARTING", start_requested_at=iso(clock.utcnow()),
                       inference_units=capacity.min_units)
    context.announce("model_started", f"Model {seen.version} starting: {decision.reason}",
                     {"version": seen.version, "reason": decision.reason, "policy": decision.policy,
                      "units": capacity.min_units, "max units": capacity.max_units})
    return "starting"


def _start_failed(version: str | None, why: str) -> None:
    context.metrics.add_metric(name=START_FAILED, unit="Count", value=1)
    context.announce("serving_failed", f"Model {version} could not be started: {why}",
                     {"version": version, "reason": why}, notify=True,
                     footer="Images that arrive wait (pending) until a model runs; the serving schedule tries "
                            "again, or run `labelloop start`.")


# -- the entry point -------------------------------------------------------------------------
def serve(trigger: str = "schedule", action: str | None = None, reason: str = "") -> dict:
    """One look at the active model: the decision (the operator's ``action``, or the policies'),
    what was done, and the images started again."""
    table, now = context.table(), clock.utcnow()
    loop = table.loop()
    seen = observe(loop)
    record = reconcile(table, loop, seen, table.model(seen.version), iso(now))
    serving = facts(table, loop, seen, record, now)
    decision = (ServingDecision(action, reason or f"{OPERATOR} asked to {action}", OPERATOR) if action
                else context.engine().serving(serving, context.settings()))
    outcome = act(table, decision, serving, seen, now)
    # The images waiting while the model runs are detected by one look at a time (the drain's lease).
    drained = (drain(table, f"serving-{iso(now)}", seen.units or 1)
               if serving.running and serving.pending and outcome != "stopped" else None)
    table.record_serving_decision({"action": decision.action, "reason": decision.reason, "policy": decision.policy,
                                   "trigger": trigger, "outcome": outcome, "status": serving.status,
                                   "version": seen.version})
    running = serving.running and outcome != "stopped"
    context.metrics.add_metric(name=UNITS_RUNNING, unit="Count", value=(seen.units or 1) if running else 0)
    context.metrics.add_metric(name=IDLE_RUNNING_MINUTES, unit="Count", value=serving.idle_minutes or 0)
    context.metrics.add_metric(name=IMAGES_WAITING, unit="Count", value=serving.pending)
    return {"trigger": trigger, "status": serving.status, "version": seen.version, "action": decision.action,
            "reason": decision.reason, "policy": decision.policy, "outcome": outcome, "pending": serving.pending,
            "idle_minutes": serving.idle_minutes, "replayed": drained.detected if drained else 0,
            **({"drain": drained.as_dict()} if drained else {})}


def teardown() -> dict:
    """Stop every version of the project that is starting or running, whoever started it; what is
    still live (stopping) is in the answer: ask again until nothing is."""
    table, now = context.table(), iso(clock.utcnow())
    stopped = {}
    for version, arn in sorted(running_versions().items()):
        stopped[version] = stop_model(version, arn).get("stopped") is not None
        table.close_serving_period(version, now)
    live = sorted(running_versions(("STARTING", "RUNNING", "STOPPING")))
    if stopped:
        context.announce("model_stopped", f"Teardown: stopped {', '.join(stopped)}", {"versions": ", ".join(stopped)})
    return {"action": "teardown", "stopped": sorted(stopped), "live": live, "done": not live}


@entry_point
def handler(event: dict) -> dict:
    event = event or {}
    action = event.get("action")
    if action == "teardown":
        return teardown()
    if action not in (None, "start", "stop"):
        raise ValueError(f"unknown serving action {action!r}: start, stop or teardown")
    trigger = event.get("trigger") or (event.get("detail") or {}).get("trigger")  # the schedule's, detect's event
    try:
        return serve(trigger or (OPERATOR if action else "schedule"), action, event.get("reason", ""))
    except Exception as exc:
        if trigger != ARRIVAL or not errors.is_transient(exc):
            raise
        return deferred(exc)


def deferred(exc: Exception) -> dict:
    """A wake-up (an image waits) that met a passing fault ends here, not in a retry and a dead letter: it
    only brings the look forward, and the serving schedule's next look (within minutes) does what it
    would have done; nothing waiting is lost, an image waits a little longer."""
    code = errors.error_code(exc) or type(exc).__name__
    context.logger.warning("the wake-up is left to the serving schedule", extra={"error": code})
    context.metrics.add_metric(name=WAKE_UP_DEFERRED, unit="Count", value=1)
    return {"trigger": ARRIVAL, "outcome": "deferred",
            "reason": f"{code}: left to the serving schedule's next look ({SCHEDULE})"}
