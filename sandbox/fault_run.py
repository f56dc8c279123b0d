"""The seeded fault run: a stream of uploads, review answers and lifecycle runs under injected faults,
then an audit of what the loop must never do — lose, duplicate, fail or leave stuck anything, or
leave a model running that should not be.

The stack runs every invocation in a cold container of its function (``LocalStack(containers=
"per_invocation")``: each reads the parameters, so parameter reads meet faults too), one execution at
a time (reproducible for a seed), with the scripted Custom Labels and the A2I stand-in. Faults are
injected where a handler sees them: the sandbox's clients make one attempt, so a faulted call is one
that failed after whatever retries a client makes.
Only the functions' calls are faulted (:mod:`sandbox.faults`); the uploads, the reviewers' answers and
the audit use the caller's own clients. Every event is delivered 1 to ``max_deliveries`` times, the
copies of a batch shuffled (at-least-once delivery, out of order). A Lambda target is invoked as an
asynchronous invocation is: a function error is retried twice, then the event is dead-lettered.

:func:`run` returns a :class:`Report`; :meth:`Report.lines` prints a table per failure class with,
for each finding, the faults injected while its events were delivered (which call, which fault,
which handler), and the SUMMARY line.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable

from handlers.runtime import context, layout
from handlers.runtime.ids import detection_id
from handlers.runtime.state import Snapshot
from handlers.runtime.workflow import lifecycle_input

from .a2i import A2I
from .faults import Fault, FaultInjector
from .local_aws import LambdaFailed, LocalStack
from .scripted_trainer import scripted_custom_labels
from .workforce import output_document, output_key

LABELS = ("cat", "dog")
PNG = b"\x89PNG\r\n\x1a\n" + bytes(32)
UNSURE = (("cat", 52.0), ("dog", 41.0))  # asks for a review
FINAL = ("confident", "to_training", "to_audit", "no_label", "skipped", "unreadable")  # an upload's end
ASYNC_ATTEMPTS = 3  # Lambda's asynchronous invocation: the first attempt and two retries
CLASSES = ("lost", "duplicated", "failed", "stuck", "stray_models")


@dataclass
class Finding:
    """One thing the loop must not do, with the faults injected while its events were delivered."""

    cls: str  # one of CLASSES
    what: str
    faults: tuple[Fault, ...] = ()

    def line(self) -> str:
        causes = Counter(f"{f.function}: {f.operation} {f.kind} ({f.code})" for f in self.faults)
        why = "; ".join(f"{n}x {c}" for c, n in causes.most_common(4)) or "no fault injected during its deliveries"
        return f"  {self.what}  <-  {why}"


@dataclass
class Report:
    uploads: int = 0
    deliveries: int = 0  # deliveries of upload events
    injector: FaultInjector | None = None
    lifecycle: list[str] = field(default_factory=list)  # each run's status
    findings: list[Finding] = field(default_factory=list)
    outcomes: Counter = field(default_factory=Counter)  # upload records by outcome
    reviews: int = 0
    dead_letters: int = 0
    reprocessed: int = 0  # failed detections delivered once more at the end (the operator's replay)

    def count(self, cls: str) -> int:
        return sum(1 for f in self.findings if f.cls == cls)

    def summary(self) -> str:
        counts = " ".join(f"{cls}={self.count(cls)}" for cls in CLASSES)
        faulted = len(self.injector.faults) if self.injector else 0
        return f"SUMMARY uploads={self.uploads} deliveries={self.deliveries} faulted_calls={faulted} {counts}"

    def lines(self) -> list[str]:
        out = [f"uploads {self.uploads}, upload deliveries {self.deliveries}, reviews {self.reviews}, "
               f"lifecycle runs {', '.join(self.lifecycle)}, dead-lettered events {self.dead_letters}, "
               f"failed detections reprocessed {self.reprocessed}",
               "upload outcomes: " + ", ".join(f"{o} {n}" for o, n in sorted(self.outcomes.items())), ""]
        if self.injector:
            calls = sum(self.injector.calls.values())
            out.append(f"calls faulted by kind (of {calls} calls the functions made):")
            out += [f"  {kind:<32} {n:>6}" for kind, n in self.injector.by_kind().most_common()]
            by_operation = Counter((f.operation, f.kind) for f in self.injector.faults)
            out.append("calls faulted by operation:")
            out += [f"  {op:<44} {kind:<30} {n:>5}" for (op, kind), n in sorted(by_operation.items())]
            out.append("")
        for cls in CLASSES:
            found = [f for f in self.findings if f.cls == cls]
            out.append(f"{cls}: {len(found)}")
            groups: dict[str, list[Finding]] = defaultdict(list)
            for finding in found:
                groups[finding.what.split(":", 1)[0]].append(finding)
            for name, members in groups.items():
                out.append(f" {name}: {len(members)}")
                out += [m.line() for m in members[:3]]
                if len(members) > 3:
                    out.append(f"  … and {len(members) - 3} more")
        out.append(self.summary())
        return out


class FaultRun:
    def __init__(self, stack: LocalStack, injector: FaultInjector, rng: random.Random, max_deliveries: int):
        self.stack, self.injector, self.rng, self.max_deliveries = stack, injector, rng, max_deliveries
        self.report = Report(injector=injector)
        self.uploads: dict[str, str] = {}  # key -> detection id of the uploaded version
        self.outputs: dict[str, str] = {}  # human loop -> key of its output
        self.a2i: A2I = stack.standins["sagemaker-a2i-runtime"]
        self._working_on: list[str] = []  # the keys of the invocations under way, innermost last
        injector.during = lambda: self._working_on[-1] if self._working_on else ""
        stack.wrap_handlers(self._tagged)

    def _tagged(self, key: str, handler):
        def run(event, lambda_context):
            self._working_on.append(_key_of(event))
            try:
                return handler(event, lambda_context)
            finally:
                self._working_on.pop()

        return run

    def faults_for(self, *keys: str) -> tuple[Fault, ...]:
        """The faults injected while a function worked on one of these keys."""
        wanted = set(keys)
        return tuple(f for f in self.injector.faults if f.during in wanted)

    # -- the stream ------------------------------------------------------------------
    def upload(self, key: str, body: bytes, scores=None) -> None:
        if scores is not None:
            self.stack.models.trainer.by_key[key] = scores
        etag = self.stack.client("s3").put_object(Bucket=self.stack.bucket, Key=key, Body=body)["ETag"].strip('"')
        if key.startswith(layout.DETECTION_PREFIX):
            self.uploads[key] = detection_id(self.stack.bucket, key, etag)

    def deliver(self) -> None:
        """Every pending event, each 1 to max_deliveries times, the copies shuffled."""
        copies = [(target, event) for target, event in self.stack.take_events()
                  for _ in range(self.rng.randint(1, self.max_deliveries))]
        self.rng.shuffle(copies)
        for target, event in copies:
            key = _key_of(event)
            if key in self.uploads:
                self.report.deliveries += 1
            self._deliver(target, event, key)

    def _deliver(self, target: str, event: dict, key: str) -> None:
        if target in self.stack.state_machines:
            self.stack.deliver(target, event)
            return
        for _ in range(ASYNC_ATTEMPTS):
            try:
                self.stack.deliver(target, event)
                return
            except LambdaFailed as exc:
                error = exc.payload.get("errorType", "?") if isinstance(exc.payload, dict) else str(exc.payload)
        self.report.dead_letters += 1
        self.report.findings.append(Finding("failed", f"dead-lettered event: {target} for {key} ({error})",
                                            self.faults_for(key)))

    def answer_reviews(self) -> None:
        """Every open loop answered by a reviewer: A2I writes its output, whose event is delivered."""
        for loop in sorted(self.a2i.open, key=lambda l: l.name):
            label = self.rng.choice(LABELS)
            self.outputs[loop.name] = output_key(loop)
            self.stack.client("s3").put_object(Bucket=self.stack.bucket, Key=self.outputs[loop.name],
                                               Body=json.dumps(output_document(loop, label)).encode())
            loop.status, loop.answer = "Completed", label
        self.deliver()

    def lifecycle(self) -> None:
        before = len(self.injector.faults)
        arn = self.stack.start_execution("lifecycle", lifecycle_input("schedule"))
        self.stack.wait_for_executions()
        [execution] = [e for e in self.stack.executions if e["executionArn"] == arn]
        self.report.lifecycle.append(execution["status"])
        if execution["status"] != "SUCCEEDED":
            history = self.stack.client("stepfunctions").get_execution_history(executionArn=arn)["events"]
            self.report.findings.append(Finding(
                "failed", f"lifecycle run failed: {execution.get('error')}; task errors: {_task_errors(history)}",
                tuple(self.injector.faults[before:])))
        self.deliver()

    def seed_training_images(self, per_label: int, start: int) -> None:
        for label in LABELS:
            for i in range(start, start + per_label):
                self.upload(f"{layout.TRAINING_PREFIX}{label}/img-{i}.png", PNG + b"t" + i.to_bytes(4, "big"))
        self.deliver()

    def reprocess_failed(self) -> int:
        """What an operator does about failed detections (``labelloop replay --failed``): each upload
        whose record says failed is delivered once more. Returns how many."""
        failed = [key for key, det in sorted(self.uploads.items())
                  if (record := context.table().detection(det)) is not None and record.outcome == "failed"]
        for key in failed:
            head = self.stack.client("s3").head_object(Bucket=self.stack.bucket, Key=key)
            self.stack.deliver("detection", {"bucket": self.stack.bucket, "key": key, "etag": head["ETag"].strip('"'),
                                             "version_id": head.get("VersionId"), "size": head["ContentLength"],
                                             "reason": "replay of a failed detection"})
        self.report.reprocessed = len(failed)
        self.answer_reviews()
        return len(failed)

    # -- the audit ----------------------------------------------------------------------
    def audit(self) -> Report:
        report, table = self.report, context.table()
        snapshot = Snapshot.of(table.all_items())
        records = {r.detection_id: r for r in snapshot.detections}
        report.uploads = len(self.uploads)
        for key, det in sorted(self.uploads.items()):
            record = records.get(det)
            faults = self.faults_for(key)
            outcome = record.outcome if record else "missing"
            report.outcomes[outcome] += 1
            if record is None:
                report.findings.append(Finding("lost", f"upload without a record: {key}", faults))
            elif outcome == "failed":
                report.findings.append(Finding("failed", f"detection failed: {key}: {record.reason}", faults))
            elif outcome == "pending":
                where = (f"pending while {snapshot.loop.active_version} runs" if snapshot.loop.active_version
                         else "pending, no model was ever deployed")
                report.findings.append(Finding("stuck", f"{where}: {key}", faults))
            elif outcome not in FINAL:
                report.findings.append(Finding("failed", f"upload ended {outcome!r}: {key}", faults))
        self._audit_counters(snapshot, records)
        self._audit_reviews(snapshot, records)
        self._audit_models(snapshot)
        return report

    def _audit_counters(self, snapshot: Snapshot, records: dict) -> None:
        listed = Counter()
        s3 = self.stack.client("s3")
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.stack.bucket, Prefix=layout.TRAINING_PREFIX):
            for obj in page.get("Contents", []):
                listed[obj["Key"][len(layout.TRAINING_PREFIX):].split("/", 1)[0]] += 1
        for label in LABELS:
            counted = snapshot.dataset.images.get(label, 0)
            if counted != listed[label]:
                self.report.findings.append(Finding(
                    "duplicated", f"label counter drift: {label} counted {counted}, {listed[label]} in the folder",
                    tuple(f for f in self.injector.faults if f.during.startswith(f"{layout.TRAINING_PREFIX}{label}/"))))
        by_outcome = Counter(r.outcome for r in records.values())
        counted = Counter()
        for day in snapshot.days:
            for name, n in day.counts.items():
                if name.startswith("outcome_"):
                    counted[name.removeprefix("outcome_")] += n
        for outcome in sorted(set(by_outcome) | {o for o, n in counted.items() if n}):
            if counted[outcome] != by_outcome[outcome]:
                self.report.findings.append(Finding(
                    "duplicated", f"day counter drift: outcome {outcome} counted {counted[outcome]}, "
                                  f"{by_outcome[outcome]} records"))

    def _audit_reviews(self, snapshot: Snapshot, records: dict) -> None:
        tasks = defaultdict(list)
        for task in snapshot.reviews:
            tasks[task.detection_id].append(task)
        loops = defaultdict(list)
        for loop in self.a2i.loops.values():
            loops[loop.input.get("detectionId")].append(loop)
        self.report.reviews = len(snapshot.reviews)
        key_of = {det: key for key, det in self.uploads.items()}
        for det in sorted(set(tasks) | set(loops)):
            name = key_of.get(det, det)
            faults = self.faults_for(name)
            if len(tasks[det]) > 1 or len(loops[det]) > 1:
                self.report.findings.append(Finding(
                    "duplicated", f"more than one review: {name} ({len(tasks[det])} records, {len(loops[det])} loops)",
                    faults))
            if loops[det] and not tasks[det]:
                self.report.findings.append(Finding("lost", f"human loop started without its record: {name}", faults))
            for task in tasks[det]:
                started = self.a2i.loops.get(task.name)
                if task.status == "open" and started is None:
                    self.report.findings.append(Finding("stuck", f"open review without a loop: {name}", faults))
                elif task.status == "open" and started.status != "InProgress":
                    self.report.findings.append(Finding("stuck", f"answered review still open: {name}",
                                                        self.faults_for(name, self.outputs.get(task.name, ""))))
        for det, record in records.items():
            decided = bool((record.decision or {}).get("review"))
            if decided and not tasks[det] and record.outcome != "failed":
                name = key_of.get(det, det)
                self.report.findings.append(Finding("stuck", f"review decided, never started: {name}",
                                                    self.faults_for(name)))

    def _audit_models(self, snapshot: Snapshot) -> None:
        loop = snapshot.loop
        if loop.training_owner:
            self.report.findings.append(Finding("stuck", f"training lock held: by {loop.training_owner}"))
        if context.table().pending() and loop.active_version:
            pending = len(context.table().pending())
            self.report.findings.append(Finding("stuck", f"pending items while {loop.active_version} runs: {pending}"))
        stray = sorted(self.stack.models.running - {loop.active_version})
        for version in stray:
            self.report.findings.append(Finding(
                "stray_models", f"model running beside the active one: {version} "
                                f"({self.stack.models.status(version)}; active {loop.active_version})",
                tuple(f for f in self.injector.faults if "ProjectVersion" in f.operation)))


def _task_errors(history: list[dict]) -> str:
    """Each failed task attempt of an execution, in order: ``State: Error (message)``."""
    state, failures = "?", []
    for event in history:
        if event["type"].endswith("StateEntered"):
            state = event["stateEnteredEventDetails"]["name"]
        elif event["type"] == "TaskFailed":
            details = event["taskFailedEventDetails"]
            try:
                message = json.loads(details.get("cause") or "{}").get("errorMessage", "")
            except json.JSONDecodeError:
                message = details.get("cause", "")
            failures.append(f"{state}: {details.get('error')} ({message[:90]})")
    return " -> ".join(failures) or "none"


def _key_of(event: Any) -> str:
    """The object (or parameter) an event is about, wherever the event shape keeps it: an S3 event's
    key, a replay's or a task's ``key``, in the state machine's input or a task's result."""
    frontier = [event]
    while frontier:
        value = frontier.pop(0)
        if isinstance(value, dict):
            detail = value.get("detail")
            if isinstance(detail, dict) and isinstance(detail.get("object"), dict):
                return str(detail["object"].get("key", ""))
            if isinstance(value.get("key"), str) and value["key"]:
                return value["key"]
            frontier.extend(value.values())
        elif isinstance(value, list):
            frontier.extend(value)
    return ""


def run(uploads: int = 60, seed: int = 0, fault_rate: float = 0.1, max_deliveries: int = 3,
        unsure_share: float = 0.3, kinds: Iterable[str] | None = None, containers: str = "per_invocation") -> Report:
    """The whole run (see the module docstring): labelled images, a fifth of the uploads before any
    model, a first lifecycle run (deploys v1, replays them), the rest of the uploads with their
    reviews answered, more labelled images and a second lifecycle run (replaces v1); at last the
    failed detections are delivered once more, as an operator's ``replay --failed`` does."""
    rng = random.Random(seed)
    injector = FaultInjector(seed=seed, rate=fault_rate, **({"kinds": tuple(kinds)} if kinds is not None else {}))
    models = scripted_custom_labels(labels=LABELS)
    models.trainer.script("v2", f1=0.95)
    with LocalStack(labels=LABELS, containers=containers, serial=True,
                    standins={"rekognition": models, "sagemaker-a2i-runtime": A2I()}) as stack:
        stack.models = models
        stack.on_function_client(injector.attach)
        fault_run = FaultRun(stack, injector, rng, max_deliveries)
        fault_run.seed_training_images(6, 0)
        early = max(1, uploads // 5)
        for i in range(uploads):
            if i == early:
                fault_run.deliver()
                fault_run.lifecycle()  # deploys v1, replays what waited
            scores = UNSURE if rng.random() < unsure_share else None
            key = f"{layout.DETECTION_PREFIX}u{i:05d}.{'txt' if i % 50 == 49 else 'png'}"
            fault_run.upload(key, PNG + i.to_bytes(4, "big"), scores)
            if i % 20 == 19:
                fault_run.deliver()
                fault_run.answer_reviews()
        fault_run.deliver()
        fault_run.answer_reviews()
        fault_run.seed_training_images(5, 100)
        fault_run.lifecycle()  # replaces v1
        fault_run.answer_reviews()
        fault_run.reprocess_failed()
        stack.wait_for_executions()
        return fault_run.audit()
