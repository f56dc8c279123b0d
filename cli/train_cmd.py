"""``labelloop train`` and ``labelloop rollback``: start the model lifecycle now.

Both start the stack's lifecycle state machine — ``{"trigger": "manual"}`` for
a training check, ``{"action": "rollback"}`` to go back to the previous
version — and read what it decided from the execution's history: the
training check's decision and reason, and the Finish step's outcome. On a
sandbox run the state machine runs to its end on this machine.
"""

from __future__ import annotations

import json
import sys
import time

from handlers.runtime import workflow

from .errors import UsageError
from .tables import print_json
from .target_options import add_target_arguments, open_target

POLL_SECONDS = 5.0  # between two looks at a running execution on AWS
CHECK_TIMEOUT = 600
RUN_TIMEOUT = 8 * 3600


def register(sub) -> None:
    train = sub.add_parser("train", help="run a training check now and show its decision",
                           description="Starts the lifecycle state machine with {\"trigger\": \"manual\"}: the "
                                       "policies decide whether to train now (the same check the schedule runs; "
                                       "a request, which Enable-Automatic-Training does not refuse). "
                                       "Shows the decision and its reason; with --wait, also how the run ended.")
    add_target_arguments(train)
    train.add_argument("--wait", action="store_true",
                       help="on AWS, wait for the whole run (training, evaluation, deployment), not only the check")
    train.add_argument("--timeout", type=int, default=None, metavar="SECONDS",
                       help=f"stop waiting after this long (default {CHECK_TIMEOUT} s for the check, "
                            f"{RUN_TIMEOUT} s with --wait); the run itself goes on")
    train.add_argument("--json", action="store_true", help="print JSON for scripts")
    train.set_defaults(run=run_train)

    rollback = sub.add_parser("rollback", help="switch back to the previous model version, or --to another (asks first)",
                              description="Starts the lifecycle state machine with {\"action\": \"rollback\"}: "
                                          "starts the previous version (or the --to version), switches detections to "
                                          "it and stops the current one. Asks for confirmation, showing both "
                                          "versions' F1, unless --yes.")
    add_target_arguments(rollback)
    rollback.add_argument("--to", metavar="VERSION", default=None,
                          help="the version to switch to, e.g. v3 (default: the previous one; see `labelloop versions`)")
    rollback.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    rollback.add_argument("--no-wait", action="store_true", help="on AWS, start the rollback and return")
    rollback.add_argument("--timeout", type=int, default=3600, metavar="SECONDS",
                          help="stop waiting after this long (default 3600 s); the rollback itself goes on")
    rollback.add_argument("--json", action="store_true", help="print JSON for scripts")
    rollback.set_defaults(run=run_rollback)


# -- reading an execution ----------------------------------------------------------------
# The report's keys, from the results of the tasks that decide what a run does.
REPORTED = {task.state: (key, task) for key, task in (
    ("check", workflow.CHECK_TRAINING), ("rollback", workflow.PREPARE_ROLLBACK), ("outcome", workflow.FINISH_RUN))}


def _history(sfn, arn: str) -> list[dict]:
    events, kwargs = [], {"executionArn": arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events += page.get("events", [])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def report(sfn, arn: str) -> dict:
    """What an execution has done so far: status, the training check, the run's outcome, an error."""
    description = sfn.describe_execution(executionArn=arn)
    result = {"execution_arn": arn, "status": description["status"], "check": None, "rollback": None, "outcome": None,
              "error": description.get("error"), "cause": description.get("cause")}
    for event in _history(sfn, arn):
        exited = event.get("stateExitedEventDetails")
        if not exited or exited.get("name") not in REPORTED:
            continue
        try:
            output = json.loads(exited.get("output") or "{}")
        except json.JSONDecodeError:
            continue
        key, task = REPORTED[exited["name"]]
        result[key] = task.result.value(output)
    return result


def watch(sfn, arn: str, done, timeout: float) -> dict:
    """Poll until ``done(report)`` or the execution ends or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        current = report(sfn, arn)
        if current["status"] != "RUNNING" or done(current):
            return current
        if time.monotonic() >= deadline:
            return current | {"timed_out": True}
        time.sleep(POLL_SECONDS)


def follow(target, payload: dict, what: str, announce, until, timeout: float) -> dict:
    """Start the lifecycle and watch it (a sandbox run has ended by the time it is started)."""
    arn = target.start_lifecycle(payload, what, announce)
    return watch(target.stepfunctions, arn, until, timeout) | {"target": target.description}


# -- train -------------------------------------------------------------------------------
def run_train(args) -> int:
    with open_target(args) as target:
        timeout = args.timeout or (RUN_TIMEOUT if args.wait else CHECK_TIMEOUT)
        # A check that does not train ends the run a moment later: wait for that end, not only the decision.
        until = (lambda r: False) if args.wait else (lambda r: bool(r["check"] and r["check"].get("train")))
        result = follow(target, workflow.lifecycle_input(workflow.MANUAL), "train",
                        lambda arn: _note(args, f"Training check started: {arn}"), until, timeout)
    if args.json:
        print_json(result)
    else:
        print("\n".join(render_train(result)))
    return 1 if _failed(result) else 0


def render_train(result: dict) -> list[str]:
    lines = [f"Training check on {result['target']}"]
    check = result["check"]
    if check is None:
        lines.append("  decision   none yet" if result["status"] == "RUNNING" else "  decision   the check did not finish")
    else:
        verdict = f"train {check.get('version') or 'a new version'}" if check.get("train") else "no training"
        lines.append(f"  decision   {verdict}: {check.get('reason')}")
        lines.append(f"  decided by {check.get('policy')} ({check.get('images', '?')} labelled images, "
                     f"{check.get('new_images', '?')} new since the last training)")
    lines += _outcome_lines(result)
    if check and check.get("train") and result["status"] == "RUNNING":
        lines.append("  The run goes on: training, evaluation and deployment take a while; follow it with "
                     "`labelloop status` (or run `labelloop train --wait`).")
    return lines


# -- rollback ------------------------------------------------------------------------------
def run_rollback(args) -> int:
    from .versions_cmd import f1_of, gather

    with open_target(args) as target:
        loop = target.table().loop()
        to = args.to or loop.previous_version
        versions = gather(target)["versions"]
        known = [r["version"] for r in versions]
        if not to:
            raise UsageError(f"nothing to roll back to on {target.description}: there is no previous version "
                             f"(active: {loop.active_version or 'none'}); a rollback needs a version that served before")
        if to == loop.active_version:
            raise UsageError(f"{to} is the active version of {target.description} already; "
                             f"`labelloop versions` lists the others")
        if args.to and args.to not in known:
            raise UsageError(f"no version {args.to} on {target.description}; its versions: {', '.join(known) or 'none'}")
        if loop.training_owner:
            raise UsageError(f"a lifecycle run holds the training lock on {target.description} "
                             f"({loop.training_version or 'starting'}, since {loop.training_started_at}); "
                             "roll back after it finishes (see `labelloop status`)")
        if not args.yes and not _confirm(
                f"Roll back {target.description} from {f1_of(versions, loop.active_version)} to {f1_of(versions, to)}? "
                f"This starts {to} (billed per inference unit hour), switches detections to it and stops "
                f"{loop.active_version}. [y/N] "):
            print("Rollback cancelled; nothing was started.", file=sys.stderr)
            return 1
        chosen = {"from_version": loop.active_version, "to_version": to}
        until = (lambda r: True) if args.no_wait else (lambda r: False)
        result = follow(target, workflow.rollback_input(args.to), "rollback",
                        lambda arn: _note(args, f"Rollback started: {arn}"), until, args.timeout)
    result |= chosen
    if args.json:
        print_json(result)
    else:
        lines = [f"Rollback of {result['target']} from {chosen['from_version']} to {chosen['to_version']}"]
        lines += _outcome_lines(result)
        if result["status"] == "RUNNING":
            lines.append("  The rollback goes on; follow it with `labelloop status`.")
        print("\n".join(lines))
    return 1 if _failed(result) else 0


def _confirm(prompt: str, what: str = "rollback") -> bool:
    sys.stderr.write(prompt)
    sys.stderr.flush()
    answer = sys.stdin.readline()
    if not answer:
        sys.stderr.write("\n")
        raise UsageError(f"{what} needs a confirmation and there is no one to answer: pass --yes")
    return answer.strip().lower() in ("y", "yes")


# -- shared ----------------------------------------------------------------------------------
def _outcome_lines(result: dict) -> list[str]:
    outcome = result.get("outcome")
    lines = []
    if outcome:
        lines.append(f"  outcome    {outcome.get('outcome')} {outcome.get('version') or ''}: {outcome.get('reason') or '-'}")
        lines += [f"  note       {note}" for note in outcome.get("notes") or []]
    if result["status"] == "RUNNING":
        lines.append(f"  execution  {result['execution_arn']} (still running"
                     + (", stopped waiting)" if result.get("timed_out") else ")"))
    else:
        lines.append(f"  execution  {result['execution_arn']} ({result['status']})")
    if result.get("error") and not outcome:
        lines.append(f"  error      {result['error']}: {result.get('cause') or ''}"[:400])
    return lines


def _failed(result: dict) -> bool:
    outcome = (result.get("outcome") or {}).get("outcome")
    return result["status"] in ("FAILED", "TIMED_OUT", "ABORTED") or outcome == "failed"


def _note(args, text: str) -> None:
    if not args.json:
        print(text, file=sys.stderr)
