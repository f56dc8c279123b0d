"""A review team on the builtin review app: reviewers answering at the same moment, through the
review function's HTTP API, in a LocalStack (moto), on thousands of open tasks.

Run from the repository root:

    python benchmarks/review_team.py                  # 20 reviewers, 10 000 open tasks (several minutes)
    python benchmarks/review_team.py --tasks 2000     # quicker

Two runs, with 1 and with 3 reviewers per image. In each, the open tasks are recorded through the
state table's own write (as the review start records them), each with its priority and its own
detection; they share one uploaded image version, so an accepted answer makes a real copy. Every
reviewer does what a person at the page does: ask for the next task (passing back the ``resume``
cursor), look at it for a few seconds, then answer it (wrong at ``--wrong``), skip it (a share), leave
it (its lease lapses), or answer it late, after its lease lapsed and another reviewer may hold it. A
quarter of the reviewers are fast (1-4 s a task, the others 3-12 s), so they run far ahead of the
answers their tasks wait for. Time is simulated: each second, the reviewers whose turn it is act at
the same moment, each in a thread of its own, so their requests race as a team's do; leases last a
minute (``Review-Lease-Minutes`` 1) and lapse during the run.

What it counts, from the API's answers and from the bucket and table at the end (after a last
``labelloop replay --copies``):

* served ratio: "next task" requests that served a task, of those made (the queue never runs dry
  here: each run checks that free tasks remain);
* AWS calls per served task (the review function's calls during the "next task" request that
  served it, parameter refreshes apart): p50 and p99;
* tasks closed, training copies, and what must never happen: a detection with two copies, a copy
  without a review accepted with its label, a review accepted without its copy, an answer the API
  acknowledged (200) that is not recorded.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from handlers import dataset  # noqa: E402
from handlers.runtime import aws as runtime_aws  # noqa: E402
from handlers.runtime import clock as runtime_clock  # noqa: E402
from handlers.runtime import context, ids, layout  # noqa: E402
from handlers.runtime.state import ReviewTask  # noqa: E402
from plugins import LEASE_MINUTES, MAX_REVIEWERS, TASK_LIFETIME_HOURS  # noqa: E402
from sandbox.api_gateway import http_api_event, reviewer_claims  # noqa: E402
from sandbox.local_aws import LocalStack  # noqa: E402

LABELS = ("cat", "dog")
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 24
IMAGE_KEY = "images_for_detection/benchmark/shared.png"
SERVICES = ("dynamodb", "s3", "ssm", "sns")
TARGETS = {"served_ratio": 0.99, "calls_per_task_p99": 3}
FAST_SHARE, FAST_FACTOR = 0.25, 10  # a quarter of the reviewers make ten times the requests


class Clock:
    """The handlers' clock: the simulated second the team is at."""

    def __init__(self):
        self.start, self.second = datetime.now(timezone.utc), 0

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.second)


class Calls:
    """The review function's AWS calls, per thread (each reviewer's request runs in its thread)."""

    def __init__(self):
        self.local = threading.local()
        self.refreshes = 0
        for service in SERVICES:
            runtime_aws.client(service).meta.events.register(f"before-call.{service}.*", self._before)

    def _before(self, model, **_) -> None:
        if model.name == "GetParametersByPath":
            self.refreshes += 1
        elif getattr(self.local, "names", None) is not None:
            self.local.names.append(model.name)

    def during(self, request):
        self.local.names = []
        try:
            return request(), list(self.local.names)
        finally:
            self.local.names = None


@dataclass
class Run:
    """What one run saw."""

    per_image: int
    wrong: float = 0.1  # share of answers that are wrong
    requests: int = 0
    served: int = 0
    retries: int = 0
    next_calls: list[int] = field(default_factory=list)
    answer_calls: list[int] = field(default_factory=list)
    acknowledged: list[tuple[str, str, str]] = field(default_factory=list)  # (task, reviewer, label)
    refused: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


def truth(task: str) -> str:
    return LABELS[int(hashlib.sha256(task.encode()).hexdigest(), 16) % len(LABELS)]


def open_tasks(stack: LocalStack, count: int, per_image: int, seed: int) -> None:
    """``count`` open training reviews with random priorities, through the review start's write."""
    s3 = stack.client("s3")
    s3.put_bucket_versioning(Bucket=stack.bucket, VersioningConfiguration={"Status": "Enabled"})  # as deployed
    version = s3.put_object(Bucket=stack.bucket, Key=IMAGE_KEY, Body=PNG)["VersionId"]
    table, settings = context.table(), context.settings()
    rng, started = random.Random(seed), time.perf_counter()
    for i in range(count):
        detection_id = uuid.UUID(int=rng.getrandbits(128)).hex + f"{i:08x}"
        confidence = rng.uniform(20, 70)
        expires = runtime_clock.iso(runtime_clock.utcnow() + timedelta(hours=settings[TASK_LIFETIME_HOURS]))
        table.record_review_started(ReviewTask(
            name=ids.human_loop_name(detection_id), detection_id=detection_id, purpose="training",
            image_uri=f"s3://{stack.bucket}/{IMAGE_KEY}", image_version=version, started_at=runtime_clock.now_iso(),
            reason=f"top label 'cat' at {confidence:.1f} is below Minimum-Label-Detection-Confidence 70",
            model_labels=({"name": "cat", "confidence": confidence},), priority=100 - confidence,
            reviewers=per_image, max_reviewers=max(per_image, settings[MAX_REVIEWERS]), answers=0, expires_at=expires))
        if (i + 1) % 2000 == 0 or i + 1 == count:
            print(f"  opened {i + 1:>6} tasks ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)


def request(stack: LocalStack, name: str, method: str, path: str, body: dict | None = None,
            query: str = "") -> tuple[int, dict]:
    claims = reviewer_claims(name, "access", int(time.time()), 3600)
    response = stack.deliver("review_api", http_api_event(method, path, claims=claims, query=query,
                                                          body=json.dumps(body) if body is not None else None))
    return response["statusCode"], json.loads(response.get("body") or "{}")


@dataclass
class Reviewer:
    """One person at the page: their turns, what they hold back to answer late, their resume cursor."""

    name: str
    budget: int  # next-task requests left
    rng: random.Random
    think: tuple[int, int]  # seconds a task takes them, at least and at most
    due: int = 0  # the simulated second of their next turn
    resume: str | None = None
    current: str | None = None  # the task they look at
    held: list[tuple[str, int]] = field(default_factory=list)  # (task, the second they answer it)


def turn(stack: LocalStack, calls: Calls, run: Run, who: Reviewer, now: int, shares: dict[str, float]) -> None:
    """One turn: the late answers now due; what the reviewer does with the task they looked at since
    their last turn; then the next task, which they look at until their next turn (holding its lease)."""
    for task, due in [h for h in who.held if h[1] <= now]:
        who.held.remove((task, due))
        answer(stack, calls, run, who, task)
    if who.current:
        task, who.current, draw = who.current, None, who.rng.random()
        if draw < shares["skip"]:
            request(stack, who.name, "POST", f"/api/tasks/{task}/skip")
        elif draw < shares["skip"] + shares["abandon"]:
            pass  # the tab closed: the lease lapses
        elif draw < shares["skip"] + shares["abandon"] + shares["late"]:
            who.held.append((task, now + who.rng.randint(70, 150)))  # answered after its lease (a minute) lapsed
        else:
            answer(stack, calls, run, who, task)
    if who.budget <= 0:
        return
    who.budget -= 1
    held = ",".join(t for t, _ in who.held[-10:])  # not served again what they mean to answer late
    query = "&".join(f"{k}={v}" for k, v in (("resume", who.resume), ("exclude", held)) if v)
    (status, reply), names = calls.during(lambda: request(stack, who.name, "GET", "/api/tasks/next", query=query))
    with run.lock:
        run.requests += 1
        if status == 200 and reply.get("task"):
            run.served += 1
            run.next_calls.append(len(names))
        elif reply.get("retry"):
            run.retries += 1
    who.due = now + who.rng.randint(*who.think)
    if status == 200 and reply.get("task"):
        who.current, who.resume = reply["task"]["id"], reply["resume"]


def answer(stack, calls, run: Run, who: Reviewer, task: str) -> None:
    label = truth(task) if who.rng.random() >= run.wrong else next(l for l in LABELS if l != truth(task))
    (status, reply), names = calls.during(lambda: request(stack, who.name, "POST", f"/api/tasks/{task}/answer",
                                                          {"label": label}))
    with run.lock:
        run.answer_calls.append(len(names))
        if status == 200:
            run.acknowledged.append((task, who.name, label))
        else:
            run.refused[reply.get("message", str(status))] += 1


def team(args) -> list[Reviewer]:
    fast = max(1, round(args.reviewers * FAST_SHARE))
    members = [Reviewer(f"reviewer-{i}", args.requests * (FAST_FACTOR if i < fast else 1),
                        random.Random(args.seed * 1000 + i), (1, 4) if i < fast else (3, 12))
               for i in range(args.reviewers)]
    for member in members:  # they sit down within their first task's time, not all at once
        member.due = member.rng.randint(0, member.think[1])
    return members


def play(stack: LocalStack, clock: Clock, calls: Calls, run: Run, members: list[Reviewer], shares: dict) -> int:
    """Second after second, the reviewers whose turn it is act at once (a thread each); returns the
    most who acted in one second."""
    most = 0
    with ThreadPoolExecutor(max_workers=len(members)) as pool:
        while any(m.budget > 0 or m.held or m.current for m in members):
            due = [m for m in members if m.due <= clock.second and (m.budget > 0 or m.held or m.current)]
            most = max(most, len(due))
            for done in [pool.submit(turn, stack, calls, run, m, clock.second, shares) for m in due]:
                done.result()
            clock.second += 1
    return most


def audit(stack: LocalStack, run: Run) -> dict:
    """What the bucket and the table hold at the end, against what the API acknowledged."""
    table = context.table()
    stack.deliver("dataset", dataset.COPIES)  # the copies a failure left pending, made
    items = table.all_items()
    reviews = {i["pk"][3:]: i for i in items if i["sk"] == "HL"}
    answers = {(i["pk"][3:], i["reviewer"]): i["label"] for i in items if i["sk"].startswith("ANSWER#")}
    pages = stack.client("s3").get_paginator("list_objects_v2").paginate(Bucket=stack.bucket,
                                                                         Prefix=layout.TRAINING_PREFIX)
    copies = [o["Key"] for page in pages for o in page.get("Contents", [])]
    by_detection = Counter(layout.detection_of_copy(k) for k in copies)
    accepted = {name: r for name, r in reviews.items() if r.get("status") == "accepted"}
    # Where each accepted review's copy must be: its label's folder, named by its detection.
    expected = {layout.training_key(r["result"]["label"], r["detection_id"], IMAGE_KEY) for r in accepted.values()}
    lost = [a for a in run.acknowledged if answers.get((a[0], _subject(a[1]))) != a[2]]
    open_left = sum(1 for r in reviews.values() if r.get("status") == "open")
    return {"closed": sum(1 for r in reviews.values() if r.get("status") != "open"), "copies": len(copies),
            "accepted": len(accepted), "double": sum(n - 1 for n in by_detection.values() if n > 1),
            "orphan": len(set(copies) - expected), "missing": len(expected - set(copies)),
            "pending": sum(1 for r in accepted.values() if r.get("copy") != "done"),
            "lost": len(lost), "open_left": open_left}


def _subject(name: str) -> str:
    return reviewer_claims(name, "access", 0, 0)["sub"]


def one_run(args, per_image: int) -> tuple[Run, dict]:
    clock = Clock()
    real_now = runtime_clock.source
    runtime_clock.source = clock.now  # the handlers' one clock
    try:
        with LocalStack(labels=LABELS, parameter_overrides={LEASE_MINUTES: 1}, review="builtin") as stack:
            print(f"{per_image} reviewer(s) per image: opening {args.tasks} review tasks…", file=sys.stderr,
                  flush=True)
            open_tasks(stack, args.tasks, per_image, args.seed)
            calls, run, members = Calls(), Run(per_image, args.wrong), team(args)
            print(f"  {args.reviewers} reviewers, {sum(m.budget for m in members)} next-task requests…",
                  file=sys.stderr, flush=True)
            started = time.perf_counter()
            shares = {"skip": args.skip, "abandon": args.abandon, "late": args.late}
            most = play(stack, clock, calls, run, members, shares)
            found = audit(stack, run) | {"seconds": time.perf_counter() - started, "refreshes": calls.refreshes,
                                         "at_once": most, "simulated": clock.second}
    finally:
        runtime_clock.source = real_now
    return run, found


def percentile(values: list[int], share: float) -> int:
    ordered = sorted(values) or [0]
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=10_000, help="open tasks (default 10 000)")
    parser.add_argument("--reviewers", type=int, default=20, help="reviewers answering at once (default 20)")
    parser.add_argument("--requests", type=int, default=20,
                        help="next-task requests of a slow reviewer; a fast one makes ten times as many (default 20)")
    parser.add_argument("--skip", type=float, default=0.1, help="share of served tasks skipped (default 0.1)")
    parser.add_argument("--abandon", type=float, default=0.05, help="share left to their lease lapsing (default 0.05)")
    parser.add_argument("--late", type=float, default=0.05,
                        help="share answered after their lease lapsed (default 0.05)")
    parser.add_argument("--wrong", type=float, default=0.1, help="share of answers that are wrong (default 0.1)")
    parser.add_argument("--per-image", type=int, action="append", choices=range(1, 11), metavar="N",
                        help="reviewers per image of a run (repeat for several; default: 1 and 3)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    results = [one_run(args, per_image) for per_image in (args.per_image or (1, 3))]
    print(f"\nA review team: {args.reviewers} reviewers on {args.tasks} open tasks "
          f"(at most {max(f['at_once'] for _, f in results)} acting in the same second)\n")
    header = (f"{'per image':>9} {'requests':>8} {'served':>7} {'ratio':>7} {'retry':>5} {'calls p50':>9} "
              f"{'p99':>4} {'answer p50/p99':>14} {'closed':>6} {'copies':>6} {'double':>6} {'orphan':>6} "
              f"{'missing':>7} {'lost':>4} {'open left':>9} {'seconds':>7}")
    print(header)
    print("-" * len(header))
    for run, found in results:
        ratio = run.served / run.requests if run.requests else 0.0
        print(f"{run.per_image:>9} {run.requests:>8} {run.served:>7} {ratio:>7.3f} {run.retries:>5} "
              f"{percentile(run.next_calls, 0.5):>9} {percentile(run.next_calls, 0.99):>4} "
              f"{percentile(run.answer_calls, 0.5):>7}/{percentile(run.answer_calls, 0.99):<6} {found['closed']:>6} "
              f"{found['copies']:>6} {found['double']:>6} {found['orphan']:>6} {found['missing']:>7} "
              f"{found['lost']:>4} {found['open_left']:>9} {found['seconds']:>7.0f}")
    print("\n(requests: next-task requests made; calls: the review function's AWS calls for a next task that "
          "served one, and for an answer; seconds: wall time on this machine)")
    for run, found in results:
        refusals = ", ".join(f"{n} × {why}" for why, n in run.refused.most_common(4)) or "none"
        print(f"\n{run.per_image} per image: answers refused (409: the task closed or another holds it): {refusals}")
    print("\nmoto answers one request at a time and serialises its responses slowly, so the seconds are "
          "this machine's, not AWS's; the calls and the counts are what a stack makes and keeps.")

    ratio = min(r.served / r.requests if r.requests else 0.0 for r, _ in results)
    p99 = max(percentile(r.next_calls, 0.99) for r, _ in results)
    wrong = {k: sum(f[k] for _, f in results) for k in ("double", "orphan", "missing", "lost")}
    dry = [r.per_image for r, f in results if not f["open_left"]]
    ok = ratio >= TARGETS["served_ratio"] and p99 <= TARGETS["calls_per_task_p99"] and not any(wrong.values()) \
        and not dry
    print(f"targets: served ratio ≥ {TARGETS['served_ratio']}, calls per served task p99 ≤ "
          f"{TARGETS['calls_per_task_p99']}, no wrong outcome" + (f"; the queue ran dry ({dry} per image): "
                                                                  "fewer requests or more tasks" if dry else "")
          + f": {'ok' if ok else 'MISSED'}")
    print(f"SUMMARY reviewers={args.reviewers} open_tasks={args.tasks} served_ratio={ratio:.3f} "
          f"calls_per_task_p99={p99} double_copies={wrong['double']} orphan_copies={wrong['orphan']} "
          f"missing_copies={wrong['missing']} lost_answers={wrong['lost']}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
