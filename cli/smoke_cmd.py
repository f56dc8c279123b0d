"""``labelloop smoke``: the deployed loop end to end on a few images of the command's own (upload,
detection, review task, an answer through the review API as a temporary reviewer, the training copy
counted), then everything it made removed. ``--train`` first runs a training and deploys the model
it makes, which bills: the cost is stated and asked first. The steps are :mod:`cli.smoke`."""

from __future__ import annotations

import sys

from botocore.exceptions import BotoCoreError, ClientError

from handlers.runtime import workflow
from policies.names import IDLE_STOP_MINUTES, MIN_INFERENCE_UNITS, START_ON_PENDING

from .smoke import Smoke, StepFailed
from .tables import print_json
from .target_options import add_target_arguments, open_target
from .train_cmd import RUN_TIMEOUT, _confirm, follow

TRAINING_HOURS = 2  # what a first training of a few hundred images typically takes, stated with the cost


def register(sub) -> None:
    parser = sub.add_parser(
        "smoke", help="run the deployed loop end to end on a few images, then remove what it made",
        description="Uploads a few images of its own, waits for their detections, opens a review task (or finds "
                    "the one the policy opened), answers it through the review app's API as a temporary reviewer "
                    "(created and removed by the command), waits for the training copy and its count, then removes "
                    "the images, the copy and the reviewer. Each step says what it waits for; a failure names the "
                    "step, what it saw and where to look. The detection and review records stay, as history.")
    add_target_arguments(parser)
    parser.add_argument("--train", action="store_true",
                        help="first run a training check now and deploy the model it trains (bills training hours "
                             "and a running model: the cost is shown and asked first)")
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask before what bills")
    parser.add_argument("--timeout", type=float, default=300.0, metavar="SECONDS",
                        help="the longest each step waits (default 300 s)")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts (progress goes to standard error)")
    parser.set_defaults(run=run)


def billing(target, train: bool) -> str | None:
    """What the smoke starts that bills, in words with its price; None when nothing does."""
    raw = {name: found["value"] for name, found in target.read_parameters().items()}
    settings = target.catalog.read(raw)[0]
    units, prices = int(settings[MIN_INFERENCE_UNITS]), target.prices
    per_hour = units * prices.inference_unit_hour
    if train:
        return (f"--train runs a training now (about ${prices.training_hour:.2f} per training hour; a first one often "
                f"takes {TRAINING_HOURS} h or more) and, when the new version passes the gate, starts it: "
                f"${per_hour:.2f} per hour ({units} inference unit(s)) from when it runs, idle or not, until "
                + (f"{settings[IDLE_STOP_MINUTES]} idle minutes stop it" if settings[IDLE_STOP_MINUTES]
                   else "`labelloop stop`"))
    active = target.table().loop().active_version
    running = {v["version"] for v in target.model_versions() if v["status"] in ("STARTING", "RUNNING")}
    if active and active not in running and 0 < settings[START_ON_PENDING] <= 2:
        return (f"model {active} is stopped and {START_ON_PENDING} is {settings[START_ON_PENDING]}: the smoke's "
                f"images start it, ${per_hour:.2f} per hour until "
                + (f"{settings[IDLE_STOP_MINUTES]} idle minutes stop it" if settings[IDLE_STOP_MINUTES]
                   else "`labelloop stop`"))
    return None


def _call_problem(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{exc.operation_name}: {error.get('Code')}: {error.get('Message')}"
    return str(exc)


def _report(smoke: Smoke, failure: StepFailed, say) -> None:
    smoke.steps.append({"step": failure.step, "status": "fail", "detail": failure.saw, "seconds": None,
                        "look": failure.look})
    say(f"FAIL  {failure.step:<14} {failure.saw}\n      {'':<14} look: {failure.look}")


def run(args) -> int:
    out = sys.stderr if args.json else sys.stdout

    def say(line: str) -> None:
        print(line, file=out, flush=True)

    failure, trained, left = None, None, []
    with open_target(args) as target:
        smoke = Smoke(target, say, timeout=args.timeout)
        say(f"labelloop smoke — {target.description} (run {smoke.run_id})")
        try:
            smoke.check_deployed()
        except StepFailed as exc:
            failure = exc
            _report(smoke, exc, say)
            return _finish(args, smoke, failure, trained, left)
        cost = billing(target, args.train)
        if cost and not args.yes and not _confirm(f"{cost}. Go on? [y/N] ", "smoke"):
            say("Cancelled; nothing was made.")
            return 1
        try:
            if args.train:
                trained = _train(target, smoke, say)
            smoke.run()
        except (ClientError, BotoCoreError) as exc:  # a refused or failed AWS call: the step it stopped
            failure = StepFailed(smoke.current, _call_problem(exc), "your credentials' permissions (`labelloop doctor` "
                                 "checks them) and the stack's resources (`pulumi up`)")
            _report(smoke, failure, say)
        except StepFailed as exc:
            failure = exc
            _report(smoke, failure, say)
        finally:
            left = smoke.clean_up()
        for line in smoke.removed:
            say(f"      cleanup        {line}")
        say(f"      kept           {'; '.join(left)}")
    return _finish(args, smoke, failure, trained, left)


def _train(target, smoke: Smoke, say) -> dict:
    """A training check now, followed to the run's end (a deployed model, or why not)."""
    trained = follow(target, workflow.lifecycle_input("manual"), "train",
                     lambda arn: say(f"      train          waiting for {arn} (training and deployment: an hour or "
                                     "more) …"), lambda r: False, RUN_TIMEOUT)
    outcome = trained.get("outcome") or {}
    if trained["status"] != "SUCCEEDED":
        raise StepFailed("train", f"the lifecycle run ended {trained['status']}: {trained.get('error')}",
                         f"execution {trained['execution_arn']}")
    detail = f"{outcome.get('outcome')} {outcome.get('version') or ''}: {outcome.get('reason')}"
    smoke.steps.append({"step": "train", "status": "ok", "seconds": None, "detail": detail})
    say(f"ok    train          {detail}")
    return trained


def _finish(args, smoke: Smoke, failure: StepFailed | None, trained: dict | None, left: list[str]) -> int:
    if args.json:
        print_json({"target": smoke.target.description, "run_id": smoke.run_id, "passed": failure is None,
                    "steps": smoke.steps, "removed": smoke.removed, "kept": left, "trained": trained})
    else:
        print("Smoke passed: the loop works end to end." if failure is None else
              f"Smoke failed at {failure.step}: {failure.saw}")
    return 0 if failure is None else 1
