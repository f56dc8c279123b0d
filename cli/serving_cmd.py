"""``labelloop stop``, ``labelloop start`` and ``labelloop teardown``: the active model on demand.

A running model bills per inference unit per hour, idle or not. ``stop`` and ``start`` show what
they save or add per hour and ask first; both go through the stack's serving function, which
refuses a stop while a lifecycle run trains or deploys and records what it did (the cost ledger).
``teardown`` stops every running version of the stack and waits until each is STOPPED — the step
before ``pulumi destroy``.
"""

from __future__ import annotations

import sys
import time

from handlers.runtime.ledger import units_running
from policies.names import MIN_INFERENCE_UNITS

from .errors import UsageError
from .tables import print_json
from .target_options import add_target_arguments, open_target
from .train_cmd import _confirm

TEARDOWN_TIMEOUT = 1800


def register(sub) -> None:
    for name, help_text, description in (
        ("stop", "stop the active model (it stops billing); asks first",
         "Stops the active model through the stack's serving function: its inference units stop billing. "
         "Images that arrive meanwhile wait (pending) and are detected once it runs again (`labelloop start`, "
         "or the Start-On-Pending-Images parameter). Refused while a lifecycle run trains or deploys."),
        ("start", "start the active model (it bills per inference-unit hour); asks first",
         "Starts the active model through the stack's serving function, with the inference units of the "
         "capacity decision (Minimum-Inference-Units). Starting takes minutes; the images that waited are "
         "detected once it runs."),
    ):
        parser = sub.add_parser(name, help=help_text, description=description)
        add_target_arguments(parser)
        parser.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
        parser.add_argument("--json", action="store_true", help="print JSON for scripts")
        parser.set_defaults(run=run, serving_action=name)
    teardown = sub.add_parser("teardown", help="stop every running model version of the stack and wait until "
                                               "they are STOPPED (before `pulumi destroy`)",
                              description="Stops every version of the stack's Rekognition project that is starting "
                                          "or running, whoever started it, and waits until each is STOPPED: "
                                          "nothing is left billing when the stack is destroyed.")
    add_target_arguments(teardown)
    teardown.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    teardown.add_argument("--timeout", type=int, default=TEARDOWN_TIMEOUT, metavar="SECONDS",
                          help=f"stop waiting after this long (default {TEARDOWN_TIMEOUT} s)")
    teardown.add_argument("--poll", type=float, default=15.0, metavar="SECONDS",
                          help="seconds between two looks at the stopping models (default 15)")
    teardown.add_argument("--json", action="store_true", help="print JSON for scripts")
    teardown.set_defaults(run=run_teardown)


def hourly(target, action: str) -> tuple[int, float, str]:
    """The inference units the action stops or starts, what they cost per hour, and the active version."""
    table = target.table()
    loop = table.loop()
    if not loop.active_version:
        raise UsageError(f"no model is deployed on {target.description} yet: nothing to {action}")
    if action == "stop":
        units = units_running(p for p in table.serving_periods() if p.version == loop.active_version)
    else:
        raw = {name: found["value"] for name, found in target.read_parameters().items()}
        units = int(target.catalog.read(raw)[0][MIN_INFERENCE_UNITS])
    return units, units * target.prices.inference_unit_hour, loop.active_version


def run(args) -> int:
    action = args.serving_action
    with open_target(args) as target:
        units, per_hour, version = hourly(target, action)
        if action == "stop" and not units:
            prompt = f"Stop model {version} of {target.description}? It is not recorded as running (nothing billed). [y/N] "
        elif action == "stop":
            prompt = (f"Stop model {version} of {target.description}? This saves ${per_hour:.2f} per hour "
                      f"({units} inference unit(s)); images that arrive wait until it runs again. [y/N] ")
        else:
            prompt = (f"Start model {version} of {target.description}? This adds ${per_hour:.2f} per hour "
                      f"({units} inference unit(s)) from when it runs, idle or not; starting takes minutes. [y/N] ")
        if not args.yes and not _confirm(prompt, action):
            print(f"Cancelled; model {version} was not {'stopped' if action == 'stop' else 'started'}.",
                  file=sys.stderr)
            return 1
        answer = target.invoke_function("serve", {"action": action})
        if answer["outcome"] == "starting" and target.starts_at_once:
            answer["status_after"] = _looked_until_started(target)
    answer |= {"target": target.description, "units": units, "cost_per_hour": round(per_hour, 4)}
    if args.json:
        print_json(answer)
        return _exit_status(answer)
    print(f"{action.capitalize()} model {answer['version']}: {answer['outcome']} ({answer['reason']})")
    if answer.get("status_after") == "running":
        print(f"Model {answer['version']} runs now (a sandbox's model starts at once): {units} inference unit(s) "
              "billed from now on; `labelloop status` shows it.")
    elif answer["outcome"] == "starting":
        print("Starting takes minutes; the serving schedule records it as running once it runs "
              "(`labelloop status` shows the units running).")
    return _exit_status(answer)


def _looked_until_started(target, looks: int = 5) -> str:
    """The serving schedule's looks (a deployed stack's come every few minutes), until the model is no
    longer starting: the look that sees it run opens its serving period (it bills from then)."""
    for _ in range(looks):
        status = target.invoke_function("serve", {"trigger": "schedule"})["status"]
        if status != "starting":
            break
    return status


def _exit_status(answer: dict) -> int:
    """Done, or nothing to do: 0; refused (a lifecycle run, another action under way) or failed: 1."""
    return 0 if answer["outcome"] in ("stopped", "starting") or answer["outcome"].startswith("nothing to") else 1


def run_teardown(args) -> int:
    with open_target(args) as target:
        if not args.yes and not _confirm(f"Stop every model version of {target.description} that is starting or "
                                         "running, and wait until each is STOPPED? Detections wait (pending) until "
                                         "a model runs again. [y/N] ", "teardown"):
            print(f"Cancelled; nothing of {target.description} was stopped.", file=sys.stderr)
            return 1
        deadline, stopped = time.monotonic() + args.timeout, set()
        while True:
            answer = target.invoke_function("serve", {"action": "teardown"})
            stopped |= set(answer["stopped"])
            if answer["done"] or time.monotonic() > deadline:
                break
            if not args.json:
                print(f"waiting for {', '.join(answer['live'])} to stop …", file=sys.stderr)
            target.wait(args.poll)
    result = {"target": target.description, "stopped": sorted(stopped), "still_live": answer["live"],
              "done": answer["done"]}
    if args.json:
        print_json(result)
    elif answer["done"]:
        print(f"Teardown of {target.description}: " + (f"stopped {', '.join(sorted(stopped))}; " if stopped else "")
              + "no model version is running." + (f" {target.after_teardown}" if target.after_teardown else ""))
    else:
        print(f"Teardown of {target.description}: still stopping after {args.timeout} s: "
              f"{', '.join(answer['live'])}; run `labelloop teardown` again.")
    return 0 if answer["done"] else 1
