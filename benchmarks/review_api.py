"""The builtin review app's API with many open tasks: the AWS calls and the local latency of
"next task" and "answer", in a LocalStack (moto).

Run from the repository root:

    python benchmarks/review_api.py                 # 10 000 open tasks (a few minutes)
    python benchmarks/review_api.py --tasks 1000    # quicker

The open tasks are recorded through the state table's own write (as the review start records
them), each with its priority; they share one uploaded image version, so an accepted answer makes
its real copy. Then one reviewer asks for the next task and answers it, ``--answers`` times, and
the review function's AWS calls on each request are counted (a ``before-call`` handler on its
clients; its parameters are cached, as in a warm container, and their refreshes counted apart).
A last row asks for the next task
while the ``--leased`` most urgent tasks are leased to other reviewers, so "next task" must read
past them. The latency is the function's time in this process, moto included: a comparison of
runs on one machine, not AWS's latency; the time outside the AWS calls is shown beside it.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from handlers.runtime import aws as runtime_aws  # noqa: E402
from handlers.runtime import context, ids, state  # noqa: E402
from handlers.runtime.state import ReviewTask  # noqa: E402
from plugins import MAX_REVIEWERS, TASK_LIFETIME_HOURS  # noqa: E402
from sandbox.api_gateway import http_api_event, reviewer_claims  # noqa: E402
from sandbox.local_aws import LocalStack  # noqa: E402

LABELS = ("cat", "dog")
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 24
IMAGE_KEY = "images_for_detection/benchmark/shared.png"
MAX_CALLS = 3
SERVICES = ("dynamodb", "s3", "ssm", "sns")


class Calls:
    """The review function's AWS calls while a request runs, and the time spent inside them.

    The parameters are read through a cache (``parameter_ttl_seconds``) that every function
    shares: a refresh (``GetParametersByPath``) lands on whichever request comes after it lapsed,
    so it is counted apart from the requests, as the steady state the other benchmarks measure."""

    def __init__(self):
        self.names: list[str] = []
        self.refreshes = 0
        self.inside = 0.0
        self._started: float | None = None
        for service in SERVICES:
            events = runtime_aws.client(service).meta.events
            events.register(f"before-call.{service}.*", self._before)
            events.register(f"after-call.{service}.*", self._after)

    def _before(self, model, **_) -> None:
        if model.name == "GetParametersByPath":
            self.refreshes += 1
        else:
            self.names.append(model.name)
        self._started = time.perf_counter()

    def _after(self, **_) -> None:
        if self._started is not None:
            self.inside += time.perf_counter() - self._started
            self._started = None

    def during(self, request):
        """(reply, ms in all, ms outside the AWS calls, the calls)."""
        self.names.clear()
        self.inside = 0.0
        started = time.perf_counter()
        reply = request()
        total = (time.perf_counter() - started) * 1000
        return reply, total, total - self.inside * 1000, list(self.names)


def open_tasks(stack: LocalStack, count: int, seed: int) -> None:
    """``count`` open training reviews with random priorities, through the review start's write."""
    s3 = stack.client("s3")
    s3.put_bucket_versioning(Bucket=stack.bucket, VersioningConfiguration={"Status": "Enabled"})  # as deployed
    version = s3.put_object(Bucket=stack.bucket, Key=IMAGE_KEY, Body=PNG)["VersionId"]
    table, settings = context.table(), context.settings()
    rng, started = random.Random(seed), time.perf_counter()
    for i in range(count):
        detection_id = uuid.UUID(int=rng.getrandbits(128)).hex + f"{i:08x}"
        confidence = rng.uniform(20, 70)
        at = state.now_iso()
        expires = state.iso(state.utcnow() + timedelta(hours=settings[TASK_LIFETIME_HOURS]))
        table.record_review_started(ReviewTask(
            name=ids.human_loop_name(detection_id), detection_id=detection_id, purpose="training",
            image_uri=f"s3://{stack.bucket}/{IMAGE_KEY}", image_version=version, started_at=at,
            reason=f"top label 'cat' at {confidence:.1f} is below Minimum-Label-Detection-Confidence 70",
            model_labels=({"name": "cat", "confidence": confidence},), priority=100 - confidence,
            reviewers=1, max_reviewers=settings[MAX_REVIEWERS], answers=0, expires_at=expires))
        if (i + 1) % 1000 == 0 or i + 1 == count:
            print(f"  opened {i + 1:>6} tasks ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)


def request(stack: LocalStack, name: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    claims = reviewer_claims(name, "access", int(time.time()), 3600)
    response = stack.deliver("review_api", http_api_event(method, path, claims=claims,
                                                          body=json.dumps(body) if body is not None else None))
    return response["statusCode"], json.loads(response.get("body") or "{}")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=10_000, help="open tasks (default 10 000)")
    parser.add_argument("--answers", type=int, default=10, help="next-task/answer rounds measured (default 10)")
    parser.add_argument("--leased", type=int, default=100, help="urgent tasks leased to others for the last row")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.tasks < args.answers + args.leased + 1:
        parser.error("--tasks must exceed --answers plus --leased")

    with LocalStack(labels=LABELS) as stack:
        stack.use_review_app()
        print(f"Opening {args.tasks} review tasks…", file=sys.stderr, flush=True)
        open_tasks(stack, args.tasks, args.seed)
        assert request(stack, "ana", "GET", "/api/me")[0] == 200  # parameters cached: a warm container
        calls = Calls()
        rows = {"next task": ([], [], []), "answer": ([], [], [])}
        served_priorities = []
        started = time.perf_counter()
        for _ in range(args.answers):
            (status, reply), ms, own, names = calls.during(lambda: request(stack, "ana", "GET", "/api/tasks/next"))
            assert status == 200 and reply["task"], reply
            for column, value in zip(rows["next task"], (ms, own, names)):
                column.append(value)
            task = reply["task"]
            served_priorities.append(context.table().review(task["id"]).priority)
            (status, reply), ms, own, names = calls.during(
                lambda: request(stack, "ana", "POST", f"/api/tasks/{task['id']}/answer", {"label": "cat"}))
            assert status == 200, reply
            for column, value in zip(rows["answer"], (ms, own, names)):
                column.append(value)
        in_order = served_priorities == sorted(served_priorities, reverse=True)

        for i in range(args.leased):  # other reviewers hold the most urgent tasks
            assert request(stack, f"other-{i}", "GET", "/api/tasks/next")[1]["task"]
        (status, reply), crowded_ms, crowded_own, crowded = calls.during(
            lambda: request(stack, "ana", "GET", "/api/tasks/next"))
        assert status == 200
        crowded_outcome = "a task" if reply["task"] else "ask again" if reply.get("retry") else "none"
        elapsed, refreshes, ttl = time.perf_counter() - started, calls.refreshes, stack.config.parameter_ttl_seconds
        open_left = context.table().loop().open_reviews

    print(f"\nReview API with {args.tasks} open tasks ({args.answers} rounds of next task + answer)\n")
    print(f"{'request':<34} {'AWS calls (max)':>15} {'p50 ms':>8} {'p95 ms':>8} {'p50 ms outside AWS':>19}   calls")
    summary = {}
    for name, (times, own, names) in rows.items():
        most = max(len(n) for n in names)
        print(f"{name:<34} {most:>15} {statistics.median(times):>8.1f} {percentile(times, 0.95):>8.1f} "
              f"{statistics.median(own):>19.1f}   {' + '.join(max(names, key=len))}")
        summary[name] = (most, statistics.median(times))
    print(f"{f'next task, {args.leased} leased to others':<34} {len(crowded):>15} {crowded_ms:>8.1f} {'':>8} "
          f"{crowded_own:>19.1f}   {' + '.join(crowded)} → {crowded_outcome}")
    print(f"\nparameter refreshes (GetParametersByPath, cached {ttl} s for every request alike): {refreshes} "
          f"in {elapsed:.0f} s")
    print(f"served in priority order: {'yes' if in_order else 'NO'}; open tasks left: {open_left}")
    print("moto's Query reads the whole partition on every call (DynamoDB reads only the page asked for), so "
          "the total grows with the open tasks here; the time outside the AWS calls is the function's own")
    worst = max(summary["next task"][0], summary["answer"][0], len(crowded))
    print(f"target: at most {MAX_CALLS} AWS calls each, whatever the number of open tasks: "
          f"{'ok' if worst <= MAX_CALLS else 'MISSED'}")
    print(f"SUMMARY open_tasks={args.tasks} next_task_calls={max(summary['next task'][0], len(crowded))} "
          f"answer_calls={summary['answer'][0]} next_task_p50_ms={summary['next task'][1]:.1f} "
          f"answer_p50_ms={summary['answer'][1]:.1f}")
    return 0 if worst <= MAX_CALLS and in_order else 1


if __name__ == "__main__":
    sys.exit(main())
