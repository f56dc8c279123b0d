"""A burst of uploads replayed on the simulated clock: thousands of images at once against a model of
a few inference units, through the real detection and serving code.

What is real: the ``detect`` function's body for each upload (as the Express workflow's Detect task
runs it, with that task's Retry rules read from the deployed definition, and its failure recorded as
RecordFailure records it), the serving function (woken by detect's event and by its schedule) and its
drain, the state module on moto's DynamoDB, SSM for the parameters, EventBridge for the events. What
is modelled: the Custom Labels stand-in answers at most its units × ``throughput`` calls a second
(``sandbox.custom_labels``); the uploads' events arrive ``arrival_rate`` a second (S3 → EventBridge →
an Express start each); DynamoDB cancels a transaction that touches an item another transaction touched
less than :data:`CONFLICT_SECONDS` before (a ``TransactionConflict``, retried as AWS's is, and
counted); each call takes :data:`LATENCY` seconds of an execution's time (for the executions in
flight at once). Time is simulated: the drain's waits and the calls' back-offs move the clock, and
the arrivals due meanwhile are handled then.
"""

from __future__ import annotations

import contextlib
import heapq
import io
import itertools
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from botocore.exceptions import ClientError

from components.state_machines import detection_definition
from handlers import admission as admission_module
from handlers import detect as detect_module
from handlers import drain as drain_module
from handlers import serving
from handlers.detection_failed import record_failure
from handlers.runtime import backoff, context, errors, layout
from handlers.runtime.events import object_events
from handlers.runtime.state import StateTable, iso
from handlers.runtime.workflow import DETECT, RECORD_FAILURE
from handlers.start_review import start_review

from .a2i import A2I
from .clock import SimulatedClock
from .custom_labels import DEFAULT_THROUGHPUT
from .local_aws import ACCOUNT, REGION, LocalStack
from .scripted_trainer import scripted_custom_labels

LABELS = ("cat", "dog")
START = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
MODEL_ARN = f"arn:aws:rekognition:{REGION}:{ACCOUNT}:project/labelloop-sandbox-model/version/v1/1700000000000"
CONFLICT_SECONDS = 0.025  # how long a transaction holds its items (a TransactWriteItems takes tens of ms)
LATENCY = {"dynamodb": 0.01, "rekognition": 0.2, "events": 0.02}  # seconds a call takes (others: 0.02)
DETECTED = ("confident", "to_training", "to_audit", "no_label", "unreadable")
SCHEDULE_SECONDS = 300  # the serving schedule's rate (handlers.serving.SCHEDULE)


@dataclass
class BurstResult:
    uploads: int
    units: int
    throughput: float
    admission: bool = True
    detected: int = 0
    failed: int = 0
    pending_peak: int = 0
    drain_seconds: float = 0.0  # from the first upload to the last detection
    calls: Counter = field(default_factory=Counter)  # "service.Operation" -> calls by the loop's functions
    conflicts: int = 0
    peak_executions: int = 0  # detection executions (and serving invocations) running at once
    refused: int = 0  # DetectCustomLabels calls the model refused for throughput

    @property
    def floor_seconds(self) -> float:
        """The fastest any loop can detect them: images ÷ the model's capacity."""
        return self.uploads / (self.units * self.throughput)

    @property
    def drain_over_floor(self) -> float:
        return self.drain_seconds / self.floor_seconds

    @property
    def calls_per_image(self) -> float:
        return sum(self.calls.values()) / self.uploads


class _Sim:
    """The event queue on the simulated clock, and the call counter and conflict model on the clients."""

    def __init__(self, stack: LocalStack, clock: SimulatedClock, result: BurstResult, seed: int):
        self.stack, self.clock, self.result = stack, clock, result
        self.random = random.Random(seed)  # the retries' jitter
        self.retries = {state: spec.get("Retry", []) for state, spec in
                        detection_definition("detect", "start_review", "failed")["States"].items()}
        self.queue: list[tuple[float, int, Callable[[], None]]] = []
        self.order = itertools.count()
        self.touched: dict[str, float] = {}  # item key -> when a transaction last held it
        self.spans: list[tuple[float, float]] = []  # executions: (start, end) seconds
        self.span_calls = 0.0  # seconds of calls made by the execution under way
        self.pending = 0
        self.events_sent = 0  # PutEvents calls already delivered
        self.counting = False  # only the calls the loop's functions make
        stack.watch_calls(self._count)
        stack.session._session.get_component("event_emitter").register(
            "before-parameter-build.dynamodb.*", self._conflict)

    def now(self) -> float:
        return (self.clock.now() - START).total_seconds()

    def at(self, seconds: float, action: Callable[[], None]) -> None:
        heapq.heappush(self.queue, (seconds, next(self.order), action))

    def run_until(self, seconds: float) -> None:
        """Handle everything due up to ``seconds`` (in time order), then stand there."""
        while self.queue and self.queue[0][0] <= seconds:
            due, _, action = heapq.heappop(self.queue)
            self.clock.advance(seconds=max(0.0, due - self.now()))
            action()
        self.clock.advance(seconds=max(0.0, seconds - self.now()))

    def sleep(self, seconds: float) -> None:
        """The drain's wait: what falls due meanwhile is handled."""
        self.run_until(self.now() + seconds)

    def back_off(self, seconds: float) -> None:
        """A function's own short back-off before a retried call: the clock moves on, nothing else runs
        in between (what falls due is handled after, a few milliseconds late)."""
        self.clock.advance(seconds=seconds)

    # -- what the clients see ---------------------------------------------------------------
    def _count(self, model, **_):
        service = model.service_model.service_name
        if not self.counting or service in ("sqs", "sns"):  # the sandbox's own event delivery, notifications
            return None
        self.result.calls[f"{service}.{model.name}"] += 1
        self.span_calls += LATENCY.get(service, 0.02)
        return None

    def _conflict(self, params, model, **_):
        """A transaction is cancelled when another held one of its items within CONFLICT_SECONDS (raised before
        the request is sent: what the state package sends again itself, as botocore does not retry it)."""
        if model.name != "TransactWriteItems":
            return
        items = [next(iter(op.values())) for op in params["TransactItems"]]
        keys = [f"{i.get('Key', i.get('Item', {})).get('pk')}|{i.get('Key', i.get('Item', {})).get('sk')}" for i in items]
        now = self.now()
        if any(now - self.touched.get(k, -1.0) < CONFLICT_SECONDS for k in keys):
            self.result.conflicts += 1
            raise _transaction_conflict(len(items))
        self.touched.update({k: now for k in keys})

    # -- the loop's functions --------------------------------------------------------------
    def execution(self, event: dict, attempt: int = 0, began: float | None = None) -> None:
        """One upload's detection workflow: Detect — retried as its Retry rules say, each attempt after its
        back-off on the clock — then its review, or RecordFailure (retried likewise)."""
        began = self.now() if began is None else began
        outer, counting = self.span_calls, self.counting  # it may run within a drain's wait
        self.span_calls, self.counting = 0.0, True
        try:
            answer = detect_module.detect(next(object_events(event)))
        except Exception as exc:
            if not self.retried(exc, DETECT, attempt, lambda: self.execution(event, attempt + 1, began)):
                self.failure(event, {"Error": _step_error(exc), "Cause": str(exc)}, began)
            self.span_calls, self.counting = outer, counting
            return
        if answer.get("saturated") or answer.get("outcome") == "pending" and not answer.get("duplicate"):
            self.pending += 1
            self.result.pending_peak = max(self.result.pending_peak, self.pending)
        if answer.get("review"):
            start_review(answer)
        self.spans.append((began, self.now() + self.span_calls))
        self.span_calls, self.counting = outer, counting
        self.ended()

    def failure(self, event: dict, error: dict, began: float, attempt: int = 0) -> None:
        """The workflow's RecordFailure: the image is failed (recorded, unless that too fails for good)."""
        outer, counting = self.span_calls, self.counting
        self.counting = True
        try:
            record_failure({"input": event, "error": error})
        except Exception as exc:
            if self.retried(exc, RECORD_FAILURE, attempt, lambda: self.failure(event, error, began, attempt + 1)):
                self.span_calls, self.counting = outer, counting
                return
        self.result.failed += 1
        self.spans.append((began, self.now() + self.span_calls))
        self.span_calls, self.counting = outer, counting
        self.ended()

    def retried(self, exc: Exception, task, attempt: int, again: Callable[[], None]) -> bool:
        """Whether the task's Retry rules (in the deployed definition) try it again; if so ``again`` runs
        after the back-off (full jitter) on the clock."""
        name = _step_error(exc)
        rule = next((r for r in self.retries[task.state] if name in r["ErrorEquals"]), None)
        if rule is None or attempt + 1 >= rule["MaxAttempts"]:
            return False
        ceiling = min(rule["IntervalSeconds"] * rule.get("BackoffRate", 2.0) ** attempt,
                      rule.get("MaxDelaySeconds", float("inf")))
        self.at(self.now() + self.span_calls + self.random.uniform(0, ceiling), again)
        return True

    def serve(self, trigger: str) -> None:
        start, outer, counting = self.now(), self.span_calls, self.counting
        self.span_calls, self.counting = 0.0, True
        outcome = serving.serve(trigger)
        self.pending -= (outcome.get("drain") or {}).get("detected", 0)
        self.spans.append((start, max(self.now(), start + self.span_calls)))
        self.span_calls, self.counting = outer, counting
        self.ended()

    def ended(self) -> None:
        """An invocation ends: its events delivered, its metrics dropped (a Lambda invocation flushes them)."""
        context.metrics.clear_metrics()
        self.deliver_events()

    def deliver_events(self) -> None:
        """The waiting events detect and the drain sent: each wakes the serving function (after EventBridge's
        delivery, about half a second). The sandbox's queues are read only when one was sent."""
        if self.result.calls["events.PutEvents"] == self.events_sent:
            return
        self.events_sent = self.result.calls["events.PutEvents"]
        for target, _ in self.stack.take_events():
            if target == "serve":
                self.at(self.now() + 0.5, lambda: self.serve("arrival"))

    def tick(self, every: float, until: Callable[[], bool]) -> None:
        """The serving schedule, every ``every`` seconds, while ``until()`` is false."""
        self.serve("schedule")
        if not until():
            self.at(self.now() + every, lambda: self.tick(every, until))


def _step_error(exc: Exception) -> str:
    """The error's name as the workflow's Retry rules see it (a function's entry point raises an AWS error
    under ``errors.named``: a transaction cancelled for a conflict as ``TransactionConflict``)."""
    return errors.error_code(errors.named(exc) if isinstance(exc, ClientError) else exc) or type(exc).__name__


def _transaction_conflict(items: int) -> ClientError:
    reasons = [{"Code": "TransactionConflict"}] + [{"Code": "None"}] * (items - 1)
    return ClientError({"Error": {"Code": "TransactionCanceledException",
                                  "Message": "Transaction cancelled, please refer cancellation reasons for specific "
                                             "reasons [TransactionConflict]"},
                        "CancellationReasons": reasons}, "TransactWriteItems")


def replay(uploads: int = 10_000, *, units: int = 1, throughput: float = DEFAULT_THROUGHPUT,
           arrival_rate: float = 1000.0, seed: int = 0, admission: bool = True) -> BurstResult:
    """``uploads`` images uploaded at once (their events ``arrival_rate`` a second) to a model running on
    ``units`` inference units; the figures of :class:`BurstResult`. ``seed`` names the images (their
    content ids, hence their shards and their order within a shard) and draws the retries' jitter.
    ``admission=False`` replays the loop as it was before admission at capacity: a refusal for
    throughput is an error like any other, retried by the workflow and then recorded as failed."""
    result = BurstResult(uploads, units, throughput, admission=admission)
    clock = SimulatedClock(START)
    models = scripted_custom_labels(throughput=throughput)
    models.clock = clock.now
    # The functions' metrics: Powertools prints a set once it holds 100 values, whether metrics are disabled
    # or not, and a drain is one long invocation — not this run's output.
    with clock.installed(), contextlib.redirect_stdout(io.StringIO()), \
            LocalStack(labels=LABELS, serial=True,
                       standins={"rekognition": models, "sagemaker-a2i-runtime": A2I()}) as stack:
        _running_model(stack, models, units)
        sim = _Sim(stack, clock, result, seed)
        saved = drain_module.sleep, backoff.sleep, admission_module.SATURATED, random.getstate()
        drain_module.sleep, backoff.sleep = sim.sleep, sim.back_off
        random.seed(seed)  # the handlers' own draws (the back-offs' jitter): the same run for a seed
        admission_module.SATURATED = admission_module.SATURATED if admission else frozenset()
        try:
            for i in range(uploads):
                event = _upload_event(stack.bucket, i, seed)
                sim.at(i / arrival_rate, lambda event=event: sim.execution(event))
            arrived = lambda: sim.now() >= uploads / arrival_rate and not sim.queue  # noqa: E731
            sim.at(SCHEDULE_SECONDS, lambda: sim.tick(SCHEDULE_SECONDS, lambda: _done(stack, arrived)))
            horizon = uploads / arrival_rate + 4 * result.floor_seconds + 3600
            while sim.queue and sim.now() < horizon:
                sim.run_until(sim.queue[0][0])
        finally:
            drain_module.sleep, backoff.sleep, admission_module.SATURATED, random_state = saved
            random.setstate(random_state)
        _measure(stack, sim, result)
    return result


def _running_model(stack: LocalStack, models, units: int) -> None:
    models.add_running(MODEL_ARN, units)
    table = StateTable(stack.table)
    table.switch_active("v1", MODEL_ARN, 0.95, None)
    table.update_model("v1", arn=MODEL_ARN, status="RUNNING", inference_units=units)
    table.open_serving_period("v1", units, iso(models.now()))


def _upload_event(bucket: str, index: int, seed: int) -> dict:
    """The S3 → EventBridge event of one upload (as the upload rule hands it to the detection workflow)."""
    key = f"{layout.DETECTION_PREFIX}burst/{seed}-{index:06d}.png"
    return {"source": "aws.s3", "detail-type": "Object Created",
            "detail": {"bucket": {"name": bucket}, "reason": "PutObject",
                       "object": {"key": key, "size": 2048, "etag": f"{seed:08x}{index:024x}",
                                  "version-id": f"v{seed}-{index}"}}}


def _done(stack: LocalStack, arrived: Callable[[], bool]) -> bool:
    return arrived() and StateTable(stack.table).waiting().count == 0


def _measure(stack: LocalStack, sim: _Sim, result: BurstResult) -> None:
    records = [r for r in StateTable(stack.table).detections()]
    detected = [r for r in records if r.outcome in DETECTED]
    result.detected = len(detected)
    result.failed = max(result.failed, sum(1 for r in records if r.outcome == "failed"))
    last = max((r.detected_at for r in detected), default=iso(START))
    result.drain_seconds = (datetime.fromisoformat(last.replace("Z", "+00:00")) - START).total_seconds()
    events = sorted([(s, 1) for s, _ in sim.spans] + [(e, -1) for _, e in sim.spans])
    running = 0
    for _, change in events:
        running += change
        result.peak_executions = max(result.peak_executions, running)
    result.refused = result.calls["rekognition.DetectCustomLabels"] - result.detected
