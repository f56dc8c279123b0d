"""``labelloop replay --failed``: detect again the images whose detection failed; ``labelloop replay
--copies``: make the copies accepted reviews licensed that a failure left unmade.

The failed detections are listed in the state table (one query, no scan).
Each is marked as being replayed — so a second replay right after starts
nothing again — and gets one execution of the detection state machine, as
its upload's event would: a detection done at last replaces the failure
(counted once), one that fails again is failed again (still counted once) and
can be replayed later. Pending images are not replayed here: the lifecycle
replays them after each promotion.

On AWS the detections run asynchronously (Express executions have no history
to read), so the command watches the state table until each one is done or
failed again, or ``--timeout`` passes (``--no-wait`` returns at once). On a
sandbox run they run to their end on this machine and the run is saved.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from handlers.runtime.ids import execution_name
from handlers.runtime.workflow import detection_input

from .tables import format_table, print_json
from .target_options import add_target_arguments, open_target

POLL_SECONDS = 5.0
# A replay started this long ago and still marked as running was lost (an Express run lasts five
# minutes at most): its failure is replayed again.
CLAIM_SECONDS = 600
STARTED_BY = "replay-failed"  # what the executions' names start with


def register(sub) -> None:
    parser = sub.add_parser(
        "replay", help="detect again the images whose detection failed; make the copies a failure left unmade",
        description="--failed: starts one detection per failed image (the failures `labelloop status` counts), each "
                    "once: a detection done at last replaces its failure, one that fails again stays failed. "
                    "--copies: makes the training and gate-set copies that accepted reviews licensed and a crash or "
                    "throttle left unmade (or withdraws them, when their image was deleted since). Shows what "
                    "became of each.")
    add_target_arguments(parser)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--failed", action="store_true", help="replay the failed detections")
    what.add_argument("--copies", action="store_true",
                      help="make the training and gate-set copies accepted reviews licensed and a failure left "
                           "unmade (the stack's dataset sweep makes them within minutes too)")
    parser.add_argument("--detection-arn", metavar="ARN",
                        help="detection state machine ARN (stack output detectionStateMachineArn; default: the "
                             "one named like the lifecycle state machine, labelloop-<stack>-detection)")
    parser.add_argument("--no-wait", action="store_true", help="on AWS, start the detections and return")
    parser.add_argument("--timeout", type=int, default=300, metavar="SECONDS",
                        help="stop watching after this long (default 300 s); the detections go on")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.set_defaults(run=run)


def replay_failed(target, machine: str, *, wait: float) -> dict:
    table, settled = target.table(), True
    stale = (datetime.now(timezone.utc) - timedelta(seconds=CLAIM_SECONDS)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    started, in_flight = [], []
    for failure in table.failed_detections():
        if not table.claim_failed(failure.detection_id, stale):
            in_flight.append(failure)  # a replay started a moment ago and still under way
            continue
        payload = detection_input(failure.bucket, failure.key, failure.etag, failure.version_id,
                                  reason="replay of a failed detection", pending_cursor=failure.pending_cursor)
        try:
            settled &= target.start_detection(machine, execution_name(STARTED_BY, failure.detection_id), payload)
        except Exception:
            table.unclaim_failed(failure.detection_id)
            raise
        started.append(failure)
    rows = watch(table, started, 0.0 if settled else wait) + [_row(f, "already being replayed") for f in in_flight]
    counts = {state: sum(1 for r in rows if r["state"] == state)
              for state in ("detected", "failed again", "running", "already being replayed")}
    return {"target": target.description, "replayed": len(started), "detected": counts["detected"],
            "failed_again": counts["failed again"], "still_running": counts["running"],
            "already_being_replayed": counts["already being replayed"], "detections": rows}


def watch(table, started: list, wait: float) -> list[dict]:
    """What became of each replayed failure, looking until none is running or ``wait`` seconds pass."""
    deadline = time.monotonic() + wait
    while True:
        failed = {f.detection_id: f for f in table.failed_detections()}
        rows = [_result(table, f, failed.get(f.detection_id)) for f in started]
        if all(r["state"] != "running" for r in rows) or time.monotonic() >= deadline:
            return rows
        time.sleep(POLL_SECONDS)


def _result(table, replayed, now) -> dict:
    if now is None:  # no longer failed: done
        record = table.detection(replayed.detection_id)
        outcome = record.outcome if record else None
        review = f", review {record.review_status}" if record and record.review_status else ""
        return _row(replayed, "detected", f"{outcome}{review}", outcome)
    if now.replayed_at is None:  # failed once more (a new failure clears the replay mark)
        return _row(replayed, "failed again", now.reason)
    return _row(replayed, "running")


def _row(failure, state: str, result: str | None = None, outcome: str | None = None) -> dict:
    return {"detection_id": failure.detection_id, "key": failure.key, "failed_at": failure.failed_at,
            "failures": failure.failures, "reason": failure.reason, "state": state, "result": result or state,
            "outcome": outcome}


def run(args) -> int:
    if args.copies:
        return run_copies(args)
    with open_target(args) as target:
        # A usage error first; a saved run is restored only to start a detection (nothing failed: never)
        machine = target.detection_machine(args.detection_arn)
        result = replay_failed(target, machine, wait=0.0 if args.no_wait else float(args.timeout))
    if args.json:
        print_json(result)
    else:
        print("\n".join(render(result)))
    return 1 if result["failed_again"] else 0


def run_copies(args) -> int:
    """The copies accepted reviews licensed that are still pending, made by the stack's dataset function."""
    with open_target(args) as target:
        result = target.invoke_function("dataset", {"copies": True}) | {"target": target.description}
    if args.json:
        print_json(result)
    else:
        print("\n".join(render_copies(result)))
    return 1 if result["pending"] else 0


def render_copies(result: dict) -> list[str]:
    if not result["copies"]:
        return [f"No pending copies on {result['target']}: every accepted review's image is copied."]
    withdrawn = sum(1 for c in result["copies"] if c.get("copy") == "withdrawn")
    lines = [f"Pending copies on {result['target']}: {result['done']} made, {withdrawn} withdrawn (their image was "
             f"deleted), {result['pending']} still pending", ""]
    lines.append(format_table(result["copies"], ["review", "copy", "target", "reason"],
                              ["review", "copy", "to", "why"]))
    if result["pending"]:
        lines += ["", "Run `labelloop replay --copies` again later; the stack's dataset sweep also tries every 5 minutes."]
    return lines


def render(result: dict) -> list[str]:
    if not result["detections"]:
        return [f"No failed detections to replay on {result['target']}."]
    lines = [f"Replay of the failed detections on {result['target']}: {result['replayed']} started, "
             f"{result['detected']} detected, {result['failed_again']} failed again, "
             f"{result['still_running']} still running"
             + (f", {result['already_being_replayed']} already being replayed" if result["already_being_replayed"]
                else ""), ""]
    rows = [r | {"failed_at": (r["failed_at"] or "")[:19].replace("T", " ")} for r in result["detections"]]
    lines.append(format_table(rows, ["key", "failed_at", "failures", "result"],
                              ["image", "failed (UTC)", "failures", "result"], right=["failures"]))
    if result["still_running"]:
        lines += ["", "Detections still running go on; run `labelloop replay --failed` again later to see them done."]
    return lines
