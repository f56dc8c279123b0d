"""The seeded fault run: a stream of uploads, review answers, uploaders' deletions and lifecycle runs
under injected faults, then an audit of what the loop must never do — lose, duplicate, fail or leave
stuck anything, put an image into the training data that no accepted review put there (or leave an
accepted review without its copy), or leave a model running that should not be.

The stack runs every invocation in a cold container of its function (``LocalStack(containers=
"per_invocation")``: each reads the parameters, so parameter reads meet faults too), one execution at
a time (reproducible for a seed), with the scripted Custom Labels and the stack's review backend:
``builtin`` (the default: the review app, reviewers answering through its HTTP API, two answers wanted
per image) or ``a2i`` (the A2I stand-in, whose workforce writes output files). Faults are injected
where a handler sees them (:mod:`sandbox.faults`): the sandbox's clients make one attempt, so a
faulted call is one that failed after whatever retries a client makes; a share of the calls is
applied and its response lost; a share of the invocations dies mid-way.

Only the functions' calls are faulted; the uploads, the reviewers' requests, the deletions and the
audit use the caller's own clients. Every event is delivered 1 to ``max_deliveries`` times, the copies
of a batch shuffled (at-least-once delivery, out of order). A Lambda target is invoked as an
asynchronous invocation is: a function error is retried twice, then the event is dead-lettered. A
reviewer whose request fails (a 5xx, a function that died) makes it again later, as a person clicks
again; a 409 is final. What the schedules do every few minutes (the review app's sweep, the dataset
sweep) runs every few batches; at the end an operator replays what is left — ``labelloop replay
--failed`` (the detections to replay are counted) and ``labelloop replay --copies`` — running each
again while it reports failures, as a person at a terminal would.

:func:`run` returns a :class:`Report`; :meth:`Report.lines` prints a table per failure class with,
for each finding, the faults injected while its events were handled (which call, which fault, which
function), and the SUMMARY line.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator, Sequence
from urllib.parse import quote

from handlers import drain as drain_module
from handlers.runtime import backoff, context, layout
from handlers.runtime.ids import detection_id, human_loop_name
from handlers.runtime.state import Snapshot
from handlers.runtime.workflow import detection_input, lifecycle_input
from plugins import NONE_OF_THE_ABOVE

from .a2i import A2I
from .api_gateway import http_api_event, reviewer_claims
from .clock import SimulatedClock
from .faults import Fault, FaultInjector
from .local_aws import LambdaFailed, LocalStack
from .review_backends import sandbox_backend
from .scripted_trainer import scripted_custom_labels
from .workforce import output_document, output_key

LABELS = ("cat", "dog")
PNG = b"\x89PNG\r\n\x1a\n" + bytes(32)
UNSURE = (("cat", 52.0), ("dog", 41.0))  # asks for a review
FINAL = ("confident", "to_training", "to_audit", "no_label", "skipped", "unreadable")  # an upload's end
CLOSED = ("accepted", "rejected", "audited", "unresolved", "expired", "deleted")  # a review's end
ASYNC_ATTEMPTS = 3  # Lambda's asynchronous invocation: the first attempt and two retries
CLASSES = ("lost", "duplicated", "failed", "stuck", "mislabelled", "stray_models")
BATCH = 20  # uploads between deliveries
BATCH_MINUTES = 1  # what a batch lasts on the run's clock
SWEEP_BATCHES = 5  # batches between the schedules' sweeps (every 5 minutes, as on AWS)
DELETE_SHARE = 0.05  # uploads their uploader deletes, before or after their review is answered
CRASH_SHARE = 0.1  # invocations that die mid-way, as a share of the fault rate
SCHEDULE_RUNS = 3  # a schedule's runs (the training schedule's lifecycle runs, the serving decision's), at most, until one succeeds
OPERATOR_ATTEMPTS = 5  # an operator runs a replay again while it reports what is left, this many times at most
# The review app's reviewers: each image wants two answers, a third settles a disagreement.
REVIEWERS = ("reviewer-1", "reviewer-2", "reviewer-3")
REVIEWERS_PER_IMAGE = 2
ANSWER_CHOICES = (*LABELS, NONE_OF_THE_ABOVE)
ANSWER_WEIGHTS = (0.45, 0.45, 0.1)
CLICKS = 50  # a reviewer makes a failing request again until it is taken or refused (at most this often)
MAX_ROUNDS = 500  # rounds of the reviewers asking for work, at most, per batch
TOKEN_SECONDS = 2**31  # a reviewer's token that does not expire in a run


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
    backend: str = "builtin"
    fault_rate: float = 0.0
    uploads: int = 0
    deliveries: int = 0  # deliveries of upload events
    deleted: int = 0  # uploads their uploader deleted
    injector: FaultInjector | None = None
    lifecycle: list[str] = field(default_factory=list)  # each run's status
    findings: list[Finding] = field(default_factory=list)
    outcomes: Counter = field(default_factory=Counter)  # upload records by outcome
    reviews: Counter = field(default_factory=Counter)  # reviews by status
    requests: Counter = field(default_factory=Counter)  # the reviewers' requests by what they got
    dead_letters: int = 0
    replayed: int = 0  # failed detections the operator replayed at the end (each counted once)
    replay_reasons: Counter = field(default_factory=Counter)  # why they had failed (the error's name)
    copies_replayed: int = 0  # copies the operator's replay made at the end

    def count(self, cls: str) -> int:
        return sum(1 for f in self.findings if f.cls == cls)

    def tally(self) -> Tally:
        return Tally(self.backend, self.fault_rate, self.uploads, self.replayed,
                     tuple((cls, self.count(cls)) for cls in CLASSES))

    def summary(self) -> str:
        return summary_line([self.tally()])

    def lines(self) -> list[str]:
        faults = self.injector.by_kind() if self.injector else Counter()
        out = [f"backend {self.backend}, {self.fault_rate:.0%} of calls faulted: uploads {self.uploads} "
               f"({self.deleted} deleted by their uploader), upload deliveries {self.deliveries}, lifecycle runs "
               f"{', '.join(self.lifecycle)}, dead-lettered events {self.dead_letters}, "
               f"failed detections replayed {self.replayed}, copies made by the replay {self.copies_replayed}",
               "upload outcomes: " + ", ".join(f"{o} {n}" for o, n in sorted(self.outcomes.items())),
               "reviews: " + (", ".join(f"{s} {n}" for s, n in sorted(self.reviews.items())) or "none")]
        if self.replay_reasons:
            out.append("failed detections replayed, by the error they had failed with: "
                       + ", ".join(f"{r} {n}" for r, n in self.replay_reasons.most_common()))
        if self.requests:
            out.append("reviewers' requests: " + ", ".join(f"{k} {n}" for k, n in sorted(self.requests.items())))
        out.append("")
        if self.injector:
            calls = sum(self.injector.calls.values())
            out.append(f"faults by kind (of {calls} calls the functions made, {self.injector.invocations} "
                       f"invocations; a crash is an invocation that died):")
            out += [f"  {kind:<32} {n:>6}" for kind, n in faults.most_common()]
            by_operation = Counter((f.operation, f.kind) for f in self.injector.faults)
            out.append("faults by operation:")
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


@dataclass(frozen=True)
class Tally:
    """A run's counts, as the SUMMARY line sums them (picklable: a benchmark runs rates in processes)."""

    backend: str
    fault_rate: float
    uploads: int
    replayed: int
    counts: tuple[tuple[str, int], ...]  # (class, findings) for each of CLASSES

    def count(self, cls: str) -> int:
        return dict(self.counts)[cls]


def summary_line(tallies: Sequence[Tally]) -> str:
    """``SUMMARY uploads=… backend=… rates=… replayed=… <class>=…``, each count summed over the runs."""
    backends = ",".join(dict.fromkeys(t.backend for t in tallies))
    rates = ",".join(f"{round(t.fault_rate * 100):g}" for t in tallies)
    counts = " ".join(f"{cls}={sum(t.count(cls) for t in tallies)}" for cls in CLASSES)
    return (f"SUMMARY uploads={sum(t.uploads for t in tallies)} backend={backends} rates={rates} "
            f"replayed={sum(t.replayed for t in tallies)} {counts}")


class FaultRun:
    def __init__(self, stack: LocalStack, injector: FaultInjector, rng: random.Random, max_deliveries: int,
                 backend: str, clock: SimulatedClock, uploaders: random.Random):
        self.stack, self.injector, self.rng, self.max_deliveries = stack, injector, rng, max_deliveries
        # Which uploads their uploaders delete: a function of the seed alone, not of the faults met so far.
        self.uploaders = uploaders
        self.clock = clock
        self.report = Report(backend=backend, fault_rate=injector.rate, injector=injector)
        self.uploads: dict[str, str] = {}  # key -> detection id of the uploaded version
        self._keys: dict[str, str] = {}  # detection id, and its review's name -> the upload's key
        self.seeded: set[str] = set()  # labelled images put into the training folders by hand
        self.deleted: set[str] = set()  # uploads their uploader deleted
        self._to_delete: dict[str, list[str]] = defaultdict(list)  # when ("before"/"after" the answers) -> keys
        self.reviewers = SCENARIOS[backend].reviewers(self)
        self._working_on: list[str] = []  # the keys of the invocations under way, innermost last
        injector.during = lambda: self._working_on[-1] if self._working_on else ""
        stack.wrap_handlers(self._tagged)

    def _tagged(self, key: str, handler):
        def run(event, lambda_context):
            self._working_on.append(self.subject(event))
            try:
                with self.injector.invocation(key):
                    return handler(event, lambda_context)
            finally:
                self._working_on.pop()

        return run

    def subject(self, event: Any) -> str:
        """The upload an event is about: an S3 event's or a task's key, or the task a review request names."""
        path = event.get("rawPath", "") if isinstance(event, dict) else ""
        if path.startswith("/api/tasks/"):
            task = path.split("/")[3]
            return self._keys.get(task, task)
        return _key_of(event)

    def faults_for(self, *keys: str) -> tuple[Fault, ...]:
        """The faults injected while a function worked on one of these keys."""
        wanted = set(keys)
        return tuple(f for f in self.injector.faults if f.during in wanted)

    def key_of(self, detection: str) -> str:
        return self._keys.get(detection, detection)

    # -- the stream ------------------------------------------------------------------
    def upload(self, key: str, body: bytes, scores=None) -> None:
        if scores is not None:
            self.stack.models.trainer.by_key[key] = scores
        etag = self.stack.client("s3").put_object(Bucket=self.stack.bucket, Key=key, Body=body)["ETag"].strip('"')
        if key.startswith(layout.DETECTION_PREFIX):
            det = self.uploads[key] = detection_id(self.stack.bucket, key, etag)
            self._keys[det] = self._keys[human_loop_name(det)] = key
            if self.uploaders.random() < DELETE_SHARE:
                self._to_delete[self.uploaders.choice(("before", "after"))].append(key)
        else:
            self.seeded.add(key)

    def batch_done(self) -> None:
        """A batch's events delivered, some of its images deleted by their uploaders before the
        reviewers answer and some after; then the clock moves on."""
        self.deliver()
        self.delete_uploads("before")
        self.reviewers.answer()
        self.delete_uploads("after")
        self.clock.advance(minutes=BATCH_MINUTES)

    def delete_uploads(self, when: str) -> None:
        """The uploaders delete the images they meant to (a delete marker each), before or after the
        reviewers answer."""
        for key in self._to_delete.pop(when, []):
            self.stack.client("s3").delete_object(Bucket=self.stack.bucket, Key=key)
            self.deleted.add(key)
        self.deliver()

    def deliver(self) -> None:
        """Every pending event, each 1 to max_deliveries times, the copies shuffled."""
        copies = [(target, event) for target, event in self.stack.take_events()
                  for _ in range(self.rng.randint(1, self.max_deliveries))]
        self.rng.shuffle(copies)
        for target, event in copies:
            key = _key_of(event)
            if key in self.uploads and _created(event):
                self.report.deliveries += 1
            self.invoke(target, event, key)

    def invoke(self, target: str, event: dict, key: str = "") -> Any:
        """Hand an event to its target as EventBridge does: a state machine's execution, or an
        asynchronous invocation (retried twice on a function error, then dead-lettered)."""
        if target in self.stack.state_machines:
            return self.stack.deliver(target, event)
        for _ in range(ASYNC_ATTEMPTS):
            try:
                return self.stack.deliver(target, event)
            except LambdaFailed as exc:
                error = exc.payload.get("errorType", "?") if isinstance(exc.payload, dict) else str(exc.payload)
        self.report.dead_letters += 1
        self.report.findings.append(Finding("failed", f"dead-lettered event: {target} for {key or event} ({error})",
                                            self.faults_for(key)))
        return None

    def sweeps(self) -> None:
        """What the schedules do every few minutes: the review app's sweep, the dataset sweep and the
        serving decision (whose drain detects the images a refusing model left waiting)."""
        if isinstance(self.reviewers, AppReviewers):
            self.invoke("review_api", {"sweep": True})
        self.invoke("dataset", {"sweep": True})
        self.scheduled("serve", {"trigger": "schedule"})
        self.deliver()

    def scheduled(self, target: str, event: dict) -> None:
        """A scheduled run of a function: one that fails (after Lambda's asynchronous retries) is not a
        loss, the schedule's next run follows (up to SCHEDULE_RUNS); all failing is a finding."""
        for _ in range(SCHEDULE_RUNS * ASYNC_ATTEMPTS):
            try:
                self.stack.deliver(target, event)
                return
            except LambdaFailed as exc:
                error = exc.payload.get("errorType", "?") if isinstance(exc.payload, dict) else str(exc.payload)
        self.report.findings.append(Finding("failed", f"{SCHEDULE_RUNS} scheduled runs of {target} failed ({error})"))

    def lifecycle(self) -> None:
        """A scheduled lifecycle run; one that fails is a finding, and the schedule's next run follows
        (up to SCHEDULE_RUNS), as the training schedule runs again every few minutes."""
        for _ in range(SCHEDULE_RUNS):
            before = len(self.injector.faults)
            arn = self.stack.start_execution("lifecycle", lifecycle_input("schedule"))
            self.stack.wait_for_executions()
            [execution] = [e for e in self.stack.executions if e["executionArn"] == arn]
            self.report.lifecycle.append(execution["status"])
            self.deliver()
            if execution["status"] == "SUCCEEDED":
                return
            history = self.stack.client("stepfunctions").get_execution_history(executionArn=arn)["events"]
            self.report.findings.append(Finding(
                "failed", f"lifecycle run failed: {execution.get('error')}; task errors: {_task_errors(history)}",
                tuple(self.injector.faults[before:])))

    def seed_training_images(self, per_label: int, start: int) -> None:
        for label in LABELS:
            for i in range(start, start + per_label):
                self.upload(f"{layout.TRAINING_PREFIX}{label}/img-{i}.png", PNG + b"t" + i.to_bytes(4, "big"))
        self.deliver()

    # -- what an operator runs at the end --------------------------------------------------
    def replay_failed(self) -> int:
        """``labelloop replay --failed``: one detection execution for each failed detection the table
        lists, as the command starts them, again while some fail again; returns how many detections
        were replayed."""
        replayed: set[str] = set()
        for _ in range(OPERATOR_ATTEMPTS):
            failures = context.table().failed_detections()
            if not failures:
                break
            for failure in failures:
                if failure.detection_id not in replayed:
                    self.report.replay_reasons[_error_name(failure.reason)] += 1
                replayed.add(failure.detection_id)
                self.stack.start_execution("detection", detection_input(
                    failure.bucket, failure.key, failure.etag, failure.version_id,
                    reason="replay of a failed detection", pending_cursor=failure.pending_cursor))
            self.deliver()
            self.reviewers.answer()
        self.report.replayed = len(replayed)
        return len(replayed)

    def replay_copies(self) -> None:
        """``labelloop replay --copies``: the dataset function makes every pending copy, again while it
        fails or leaves some pending."""
        for _ in range(OPERATOR_ATTEMPTS):
            try:
                made = self.stack.deliver("dataset", {"copies": True})
            except LambdaFailed:
                continue
            self.report.copies_replayed += made.get("done", 0)
            if not made.get("pending"):
                break
        self.deliver()

    # -- the audit ----------------------------------------------------------------------
    def audit(self) -> Report:
        report, table = self.report, context.table()
        snapshot = Snapshot.of(table.all_items())
        records = {r.detection_id: r for r in snapshot.detections}
        report.uploads, report.deleted = len(self.uploads), len(self.deleted)
        report.reviews = Counter(t.status for t in snapshot.reviews)
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
        for failure in table.failed_detections():  # listed to replay, its record not failed: a later step failed
            record = records.get(failure.detection_id)
            if record is not None and record.outcome != "failed":
                key = self.key_of(failure.detection_id)
                report.findings.append(Finding("failed", f"still listed among the failed: {key}: {failure.reason}",
                                               self.faults_for(key)))
        self._audit_counters(snapshot, records)
        self._audit_reviews(snapshot, records)
        self.reviewers.audit(snapshot)
        self._audit_copies(snapshot)
        self._audit_models(snapshot)
        return report

    def _listed(self, prefix: str) -> list[str]:
        s3 = self.stack.client("s3")
        return [obj["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.stack.bucket,
                                                                                     Prefix=prefix)
                for obj in page.get("Contents", [])]

    def _audit_counters(self, snapshot: Snapshot, records: dict) -> None:
        listed = Counter(key[len(layout.TRAINING_PREFIX):].split("/", 1)[0] for key in self._listed(layout.TRAINING_PREFIX))
        for label in LABELS:
            counted = snapshot.dataset.images.get(label, 0)
            if counted != listed[label]:
                self.report.findings.append(Finding(
                    "duplicated", f"label counter drift: {label} counted {counted}, {listed[label]} in the folder",
                    tuple(f for f in self.injector.faults if f.during.startswith(f"{layout.TRAINING_PREFIX}{label}/"))))
        days: Counter[str] = Counter()
        for day in snapshot.days:
            days.update(day.counts)
        # What each day counted: every outcome of a detection, and every review closed, by status.
        for prefix, found, names, what in (
                # a waiting image is counted once it is detected, not while it waits
                ("outcome_", Counter(r.outcome for r in records.values() if r.outcome != "pending"), (), "records"),
                ("reviews_", Counter(t.status for t in snapshot.reviews if t.status != "open"), CLOSED, "reviews")):
            counted = Counter({name.removeprefix(prefix): n for name, n in days.items() if name.startswith(prefix)
                               and (not names or name.removeprefix(prefix) in names)})
            for name in sorted(set(found) | {n for n, c in counted.items() if c}):
                if counted[name] != found[name]:
                    self.report.findings.append(Finding(
                        "duplicated", f"day counter drift: {prefix}{name} counted {counted[name]}, "
                                      f"{found[name]} {what}"))

    def _audit_reviews(self, snapshot: Snapshot, records: dict) -> None:
        tasks = defaultdict(list)
        for task in snapshot.reviews:
            tasks[task.detection_id].append(task)
        for det, found in sorted(tasks.items()):
            if len(found) > 1:
                self.report.findings.append(Finding("duplicated", f"more than one review: {self.key_of(det)} "
                                                                  f"({len(found)} records)", self.faults_for(self.key_of(det))))
        for det, record in records.items():
            decided = bool((record.decision or {}).get("review"))
            if decided and not tasks[det] and record.outcome != "failed":
                name = self.key_of(det)
                self.report.findings.append(Finding("stuck", f"review decided, never started: {name}",
                                                    self.faults_for(name)))

    def _audit_copies(self, snapshot: Snapshot) -> None:
        """Every training and gate-set copy is the one copy of a review accepted with that label, and
        every accepted review (whose image was not taken out since) has its copy."""
        reviews = {t.detection_id: t for t in snapshot.reviews}
        copies: dict[str, list[str]] = defaultdict(list)
        for prefix in (layout.TRAINING_PREFIX, layout.TESTING_PREFIX):
            for key in self._listed(prefix):
                det = layout.detection_of_copy(key)
                if det is not None:
                    copies[det].append(key)
                elif key not in self.seeded:
                    self.report.findings.append(Finding("mislabelled", f"training object no review made: {key}"))
        for det, keys in sorted(copies.items()):
            name = self.key_of(det)
            task = reviews.get(det)
            result = (task.result or {}) if task else {}
            licensed = result.get("gate_set_key") or result.get("training_key")
            if len(keys) > 1:
                wrong = f"more than one copy of one image: {name}: {', '.join(keys)}"
            elif task is None or task.status != "accepted":
                wrong = f"copy of a review not accepted: {name} ({task.status if task else 'no review'}) -> {keys[0]}"
            elif keys[0] != licensed:
                wrong = f"copy in another folder than its label: {name}: {keys[0]}, accepted as {result.get('label')!r}"
            elif task.copy != "done":
                wrong = f"copy present, its review says {task.copy!r}: {name} -> {keys[0]}"
            elif name in self.deleted:
                wrong = f"copy of an image its uploader deleted: {name} -> {keys[0]}"
            else:
                continue
            self.report.findings.append(Finding("mislabelled", wrong, self.faults_for(name)))
        for task in snapshot.reviews:
            if task.status == "accepted" and task.copy != "removed" and not copies.get(task.detection_id):
                name = self.key_of(task.detection_id)
                listed = "listed" if context.table().pending_copy(task.name) else "not listed"
                self.report.findings.append(Finding(
                    "mislabelled", f"accepted review without its copy: {name} as {(task.result or {}).get('label')!r} "
                                   f"(copy {task.copy or 'unset'}, {listed} among the pending copies)",
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


class AppReviewers:
    """The builtin review app's reviewers, each asking its HTTP API for the next task and answering it
    (a random label, now and then "None of the Above") as a person at the page does. A request that
    fails — a 5xx, a function that died — is made again in a later round (a person clicks again, at
    most CLICKS times); a 409 is final. Every answer the API took (200) is kept for the audit."""

    def __init__(self, run: FaultRun):
        self.run, self.stack = run, run.stack
        self.taken: dict[tuple[str, str], str] = {}  # (task, reviewer) -> the label the API took
        self.again: list[tuple[str, str, str]] = []  # answers to make again: (reviewer, task, label)
        self.clicks: Counter[tuple[str, str]] = Counter()  # (reviewer, task) -> answer requests made
        self.resume: dict[str, str] = {}  # reviewer -> the cursor "next task" answered with
        self.ids = {name: reviewer_claims(name, "access", 0, TOKEN_SECONDS)["sub"] for name in REVIEWERS}

    def answer(self) -> None:
        """Rounds of every reviewer answering again what failed, then asking for the next task and
        answering it, until no reviewer has anything left to do."""
        for _ in range(MAX_ROUNDS):
            busy = False
            for member in REVIEWERS:
                busy |= self._answer_again(member)
                busy |= self._next(member)
            if not busy:
                break
        else:
            self.run.report.findings.append(Finding("stuck", f"reviewers still busy after {MAX_ROUNDS} rounds"))
        self.run.deliver()

    def _answer_again(self, member: str) -> bool:
        mine = [a for a in self.again if a[0] == member]
        self.again = [a for a in self.again if a[0] != member]
        for _, task, label in mine:
            self._answer(member, task, label)
        return bool(mine)

    def _next(self, member: str) -> bool:
        query = f"resume={quote(self.resume[member])}" if member in self.resume else ""
        status, reply = self._request(member, "GET", "/api/tasks/next", query=query)
        if status != 200:
            return True  # asks again in the next round
        if reply.get("resume"):
            self.resume[member] = reply["resume"]
        task = reply.get("task")
        if task is None:
            return bool(reply.get("retry"))
        label = self.run.rng.choices(ANSWER_CHOICES, ANSWER_WEIGHTS)[0]
        self._answer(member, task["id"], label)
        return True

    def _answer(self, member: str, task: str, label: str) -> None:
        self.clicks[member, task] += 1
        status, reply = self._request(member, "POST", f"/api/tasks/{task}/answer", {"label": label})
        if status == 200:
            self.taken[task, member] = label
        elif status >= 500 and self.clicks[member, task] < CLICKS:
            self.again.append((member, task, label))
        elif status >= 500:
            key = self.run.subject({"rawPath": f"/api/tasks/{task}/answer"})
            self.run.report.findings.append(Finding(
                "lost", f"answer never taken: {member} on {key} ({CLICKS} requests failed)", self.run.faults_for(key)))
        elif status != 409:
            key = self.run.subject({"rawPath": f"/api/tasks/{task}/answer"})
            self.run.report.findings.append(Finding(
                "failed", f"answer refused with {status}: {member} on {key}: {reply}", self.run.faults_for(key)))

    def _request(self, member: str, method: str, path: str, body: Any = None, query: str = "") -> tuple[int, dict]:
        """One request through API Gateway: its status and JSON body; 500 when the function failed."""
        claims = reviewer_claims(member, "access", 0, TOKEN_SECONDS)
        event = http_api_event(method, path, claims=claims, body=None if body is None else json.dumps(body), query=query)
        kind = "next" if path.endswith("/next") else "answer"
        try:
            response = self.stack.deliver("review_api", event)
        except LambdaFailed:
            self.run.report.requests[f"{kind} 500 (function failed)"] += 1
            return 500, {}
        status, reply = int(response.get("statusCode", 500)), json.loads(response.get("body") or "{}")
        why = f" ({reply.get('message', '')})" if status == 409 else ""
        self.run.report.requests[f"{kind} {status}{why}"] += 1
        return status, reply

    def audit(self, snapshot: Snapshot) -> None:
        """Every answer the API took is recorded with its label; each reviewer's count of answers is the
        answers recorded; no task is left open."""
        table = context.table()
        recorded: Counter[str] = Counter()
        for task in snapshot.reviews:
            read = table.review_with_answers(task.name)
            given = {a.reviewer: a.label for a in read.answers}
            recorded.update(given.keys())
            name = self.run.key_of(task.detection_id)
            for member in REVIEWERS:
                taken = self.taken.get((task.name, member))
                if taken is not None and given.get(self.ids[member]) != taken:
                    self.run.report.findings.append(Finding(
                        "lost", f"answer taken, not recorded: {member} answered {taken!r} on {name}, recorded "
                                f"{given.get(self.ids[member])!r}", self.run.faults_for(name)))
            if task.status == "open":
                self.run.report.findings.append(Finding(
                    "stuck", f"review still open after the reviewers ran out of work: {name} "
                             f"({len(given)} of {task.reviewers} answers)", self.run.faults_for(name)))
        for member in REVIEWERS:
            counted = table.reviewer_stats(self.ids[member]).answers
            if counted != recorded[self.ids[member]]:
                self.run.report.findings.append(Finding(
                    "duplicated", f"reviewer answer count drift: {member} counted {counted}, "
                                  f"{recorded[self.ids[member]]} answers recorded"))


class A2IWorkforce:
    """A2I's workforce: every open loop answered with a random label, its output written to the bucket
    (whose event the review output function handles)."""

    def __init__(self, run: FaultRun):
        self.run = run
        self.a2i: A2I = run.stack.standins["sagemaker-a2i-runtime"]
        self.outputs: dict[str, str] = {}  # human loop -> key of its output

    def answer(self) -> None:
        for loop in sorted(self.a2i.open, key=lambda l: l.name):
            label = self.run.rng.choice(LABELS)
            self.outputs[loop.name] = output_key(loop)
            self.run.stack.client("s3").put_object(Bucket=self.run.stack.bucket, Key=self.outputs[loop.name],
                                                   Body=json.dumps(output_document(loop, label)).encode())
            loop.status, loop.answer = "Completed", label
        self.run.deliver()

    def audit(self, snapshot: Snapshot) -> None:
        """One loop per review, a record for every loop, no answered loop left open."""
        tasks = defaultdict(list)
        for task in snapshot.reviews:
            tasks[task.detection_id].append(task)
        loops = defaultdict(list)
        for loop in self.a2i.loops.values():
            loops[loop.input.get("detectionId")].append(loop)
        for det in sorted(set(tasks) | set(loops)):
            name = self.run.key_of(det)
            faults = self.run.faults_for(name)
            if len(loops[det]) > 1:
                self.run.report.findings.append(Finding("duplicated", f"more than one human loop: {name}", faults))
            if loops[det] and not tasks[det]:
                self.run.report.findings.append(Finding("lost", f"human loop started without its record: {name}",
                                                        faults))
            for task in tasks[det]:
                started = self.a2i.loops.get(task.name)
                if task.status == "open" and started is None:
                    self.run.report.findings.append(Finding("stuck", f"open review without a loop: {name}", faults))
                elif task.status == "open" and started.status != "InProgress":
                    self.run.report.findings.append(Finding(
                        "stuck", f"answered review still open: {name}",
                        self.run.faults_for(name, self.outputs.get(task.name, ""))))


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


def _error_name(reason: str | None) -> str:
    """The error a detection failed with, from its failure's reason ("detection failed after retries: <error>: …")."""
    parts = (reason or "").split(": ", 2)
    return parts[1] if len(parts) > 1 else (reason or "?")


def _created(event: Any) -> bool:
    """Not an S3 deletion event."""
    return not (isinstance(event, dict) and event.get("detail-type") == "Object Deleted")


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


@dataclass(frozen=True)
class Scenario:
    """How the run reviews with one backend: its reviewers, and the parameters it starts with."""

    reviewers: Any  # FaultRun -> the reviewers (answer(), audit(…))
    parameters: dict[str, Any] = field(default_factory=dict)


# The backends the fault run covers: the review app with consensus (two answers an image), and A2I.
SCENARIOS = {"builtin": Scenario(AppReviewers, {"Reviewers-Per-Image": REVIEWERS_PER_IMAGE}),
             "a2i": Scenario(A2IWorkforce)}
BACKENDS = tuple(SCENARIOS)


def run(uploads: int = 60, seed: int = 0, fault_rate: float = 0.1, max_deliveries: int = 3,
        unsure_share: float = 0.3, kinds: Iterable[str] | None = None, containers: str = "per_invocation",
        backend: str = "builtin", crash_rate: float | None = None) -> Report:
    """The whole run (see the module docstring): labelled images, a fifth of the uploads before any
    model, a first lifecycle run (deploys v1, replays them), the rest of the uploads in batches, each
    delivered, its reviews answered and some of its images deleted by their uploaders, more labelled
    images and a second lifecycle run (replaces v1); at last the operator's replays of failed
    detections and of pending copies. ``crash_rate``: the share of invocations that die (default a
    tenth of the fault rate)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown review backend {backend!r}; one of {', '.join(BACKENDS)}")
    rng = random.Random(seed)
    injector = FaultInjector(seed=seed, rate=fault_rate, **({"kinds": tuple(kinds)} if kinds is not None else {}),
                             crash_rate=fault_rate * CRASH_SHARE if crash_rate is None else crash_rate)
    models = scripted_custom_labels(labels=LABELS)
    models.trainer.script("v2", f1=0.95)
    standins = {"rekognition": models, **sandbox_backend(backend).standins({})}
    with reproducible(seed) as clock, LocalStack(labels=LABELS, containers=containers, serial=True, standins=standins,
                                                 parameter_overrides=SCENARIOS[backend].parameters,
                                                 review=backend) as stack:
        stack.models = models
        stack.on_function_client(injector.attach)
        fault_run = FaultRun(stack, injector, rng, max_deliveries, backend, clock, random.Random(f"{seed}:uploaders"))
        fault_run.seed_training_images(6, 0)
        early = max(1, uploads // 5)
        for i in range(uploads):
            if i == early:
                fault_run.deliver()
                fault_run.lifecycle()  # deploys v1, replays what waited
            scores = UNSURE if rng.random() < unsure_share else None
            key = f"{layout.DETECTION_PREFIX}u{i:05d}.{'txt' if i % 50 == 49 else 'png'}"
            fault_run.upload(key, PNG + i.to_bytes(4, "big"), scores)
            if i % BATCH == BATCH - 1:
                fault_run.batch_done()
                if (i // BATCH) % SWEEP_BATCHES == SWEEP_BATCHES - 1:
                    fault_run.sweeps()
        fault_run.batch_done()
        fault_run.seed_training_images(5, 100)
        fault_run.lifecycle()  # replaces v1
        fault_run.reviewers.answer()
        fault_run.replay_failed()
        fault_run.replay_copies()
        fault_run.sweeps()  # the schedules' next run after the operator's replays
        stack.wait_for_executions()
        return fault_run.audit()


@contextlib.contextmanager
def reproducible(seed: int) -> Iterator[SimulatedClock]:
    """What else a run depends on, made the same for a seed: the handlers' own random draws (the
    backoff's jitter, the review app's spreading of reviewers) and the clock the records are stamped
    with, which moves a minute per batch and by every in-function wait (a backoff, the drain's pace:
    waited for at once; a real wait would not move the clock the drain paces itself by)."""
    saved, sleeps = random.getstate(), (backoff.sleep, drain_module.sleep)
    random.seed(seed)
    clock = SimulatedClock(datetime.now(timezone.utc).replace(second=0, microsecond=0))
    backoff.sleep = drain_module.sleep = lambda seconds: clock.advance(seconds=seconds)
    try:
        with clock.installed():
            yield clock
    finally:
        backoff.sleep, drain_module.sleep = sleeps
        random.setstate(saved)
