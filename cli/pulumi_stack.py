"""A deployed stack's names from its Pulumi outputs, its region from its config, and which stack is
selected.

``pulumi stack output --json --stack NAME`` (the Pulumi CLI, run in the project
directory) prints the outputs of the Pulumi program (components/loop.py); a
command needs the parameter path, the state table, the lifecycle state machine
and the policies the stack runs. ``pulumi config --json --stack NAME`` holds the
stack's ``aws:region`` (and ``aws:profile``); ``pulumi stack --show-name`` names
the selected stack, the one a command talks to when given none.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

from components.naming import Account, Naming, StackNameError

from .errors import UsageError

# The output that holds each name a command needs.
OUTPUTS = {"parameter_path": "parameterPath", "table": "tableName", "lifecycle_arn": "lifecycleStateMachineArn"}


def stack_outputs(stack: str) -> tuple[dict[str, Any], str | None]:
    """The stack's outputs, or ({}, why) when the Pulumi CLI is not installed. A failing CLI is an error."""
    exe = shutil.which("pulumi")
    if exe is None:
        return {}, "the pulumi CLI is not on PATH to read the stack's outputs"
    command = [exe, "stack", "output", "--json", "--stack", stack]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(f"`pulumi stack output --stack {stack}` could not run ({exc}); "
                         "pass --parameter-path/--table/--lifecycle-arn instead") from None
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise UsageError(f"`pulumi stack output --json --stack {stack}` failed: {detail}; run it in the labelloop "
                         "project directory and check the name (`pulumi stack ls`), or pass "
                         "--parameter-path/--table/--lifecycle-arn")
    try:
        outputs = json.loads(done.stdout or "{}")
    except json.JSONDecodeError:
        raise UsageError(f"`pulumi stack output --json --stack {stack}` printed no JSON; "
                         "pass --parameter-path/--table/--lifecycle-arn instead") from None
    if not isinstance(outputs, dict):
        raise UsageError(f"`pulumi stack output --json --stack {stack}` printed {type(outputs).__name__}, "
                         "not the stack's outputs")
    return outputs, None


def _quiet(*arguments: str) -> str | None:
    """What a Pulumi CLI command prints, or None when there is no Pulumi CLI or the command fails."""
    exe = shutil.which("pulumi")
    if exe is None:
        return None
    try:
        done = subprocess.run([exe, *arguments], capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def selected_stack() -> str | None:
    """The stack `pulumi stack select` chose in this project directory, or None."""
    name = (_quiet("stack", "--show-name") or "").strip()
    return name or None


def stack_config(stack: str) -> dict[str, str]:
    """The stack's plain (not secret) config values by key (``aws:region``); {} when they cannot be read."""
    try:
        config = json.loads(_quiet("config", "--json", "--stack", stack) or "{}")
    except json.JSONDecodeError:
        return {}
    if not isinstance(config, dict):
        return {}
    return {key: entry["value"] for key, entry in config.items()
            if isinstance(entry, dict) and isinstance(entry.get("value"), str) and not entry.get("secret")}


def stack_settings(stack: str) -> dict[str, Any]:
    """The stack's plain config values by key, structured ones (lists, maps) decoded; {} when unreadable."""
    try:
        config = json.loads(_quiet("config", "--json", "--stack", stack) or "{}")
    except json.JSONDecodeError:
        return {}
    found: dict[str, Any] = {}
    for key, entry in (config.items() if isinstance(config, dict) else ()):
        if not isinstance(entry, dict) or entry.get("secret"):
            continue
        value = entry.get("objectValue", entry.get("value"))
        if isinstance(value, str) and value[:1] in "[{":
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        found[key] = value
    return found


def output_policies(outputs: dict[str, Any]) -> tuple[str, ...] | None:
    """The policy modules the stack runs, in registration order; None when the outputs do not say."""
    if not isinstance(outputs.get("policies"), list):
        return None
    # The output lists policies first-asked-first; registering them in reverse keeps that order.
    return tuple(reversed([p for p in outputs["policies"] if isinstance(p, str)]))


def expected(stack: str, name: str) -> str:
    """What a name's value looks like for this stack (names are fixed by components/naming.py)."""
    try:
        naming = Naming(stack)
    except StackNameError:
        return "VALUE"
    # The state machine's ARN with placeholders where it depends on the account it runs in.
    somewhere = Account(partition="aws", region="REGION", account_id="ACCOUNT")
    return {"parameter_path": naming.parameter_path, "table": naming.table,
            "lifecycle_arn": somewhere.state_machine_arn(naming.state_machine("lifecycle"))}[name]
