"""Which stack a command talks to: a deployed stack on AWS, or a saved sandbox run.

Every operator command takes the same options:

* ``--stack NAME`` — a deployed stack. Its parameter path, state table,
  lifecycle state machine and policies are read from
  ``pulumi stack output --json --stack NAME`` (the Pulumi CLI, run in the
  project directory). AWS credentials and region come from the usual places
  (``AWS_PROFILE``, ``AWS_REGION``, ``~/.aws``).
* ``--parameter-path``, ``--table``, ``--lifecycle-arn`` (and
  ``--stack-policies``) — the same names given explicitly; they win over the
  stack outputs and work without the Pulumi CLI.
* ``--sandbox DIR`` — a run saved by ``labelloop sandbox --out DIR``. Commands
  that only read get the saved table and parameters in moto; commands that
  change something (``params set``, ``train``, ``rollback`` …) restore the
  whole stack (:func:`sandbox.saved.restore`) and save it back.

Commands see a :class:`Target`: AWS clients, the resource names and the
parameter catalog, whichever kind it is — so the same command code runs
against AWS, moto in the tests, and a saved sandbox run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterator

from handlers.runtime.state import Snapshot, StateTable

from .errors import UsageError

# Stack outputs of the Pulumi program (components/loop.py) a command needs.
OUTPUTS = {"parameter_path": "parameterPath", "table": "tableName", "lifecycle_arn": "lifecycleStateMachineArn"}
OPTIONS = {"parameter_path": "--parameter-path", "table": "--table", "lifecycle_arn": "--lifecycle-arn"}
WHAT = {"parameter_path": "parameter path", "table": "state table", "lifecycle_arn": "lifecycle state machine"}
NO_TARGET = ("no stack to talk to: pass --stack NAME (names read with `pulumi stack output`), "
             "--parameter-path/--table/--lifecycle-arn, or --sandbox DIR (a run saved by `labelloop sandbox --out DIR`)")
SANDBOX_REGION = "us-east-1"


def add_target_arguments(parser) -> None:
    """The target options, shared by every operator command (each uses the names it needs, so one set of
    options, e.g. in a shell alias, serves every command)."""
    group = parser.add_argument_group("target (one of --stack, the explicit names, or --sandbox)")
    group.add_argument("--stack", metavar="NAME",
                       help="a deployed stack; its names come from `pulumi stack output --json --stack NAME`")
    group.add_argument("--parameter-path", metavar="PATH", help="SSM path of the operator parameters, "
                       "e.g. /labelloop/prod/ (stack output parameterPath)")
    group.add_argument("--table", metavar="NAME", help="DynamoDB state table (stack output tableName)")
    group.add_argument("--lifecycle-arn", metavar="ARN",
                       help="lifecycle state machine ARN (stack output lifecycleStateMachineArn)")
    group.add_argument("--stack-policies", metavar="MODULES", default=None,
                       help="comma-separated policy modules the stack runs, for their parameters "
                            "(default: stack output policies, else $LABELLOOP_POLICIES)")
    group.add_argument("--sandbox", metavar="DIR", type=Path, default=None,
                       help="a saved sandbox run (`labelloop sandbox --out DIR`)")


@dataclass
class Target:
    """One stack, as the commands see it."""

    description: str
    names: dict[str, str | None]
    policies: tuple[str, ...]
    clients: Callable[[str], Any]
    kind: str = "aws"  # "aws" | "sandbox"
    stack: Any = None  # a running sandbox.local_aws.LocalStack when the sandbox is restored for a change
    saved: dict | None = None  # the saved sandbox state (sandbox targets)
    missing: dict[str, str] = field(default_factory=dict)  # name -> why it is not known and how to fix it

    # -- names -------------------------------------------------------------
    def require(self, *names: str) -> None:
        for name in names:
            if not self.names.get(name):
                raise UsageError(self.missing.get(name) or
                                 f"no {WHAT[name]} given: pass {OPTIONS[name]} or --stack NAME")

    @property
    def parameter_path(self) -> str:
        self.require("parameter_path")
        return self.names["parameter_path"].rstrip("/") + "/"

    @property
    def table_name(self) -> str:
        self.require("table")
        return self.names["table"]

    @property
    def lifecycle_arn(self) -> str:
        self.require("lifecycle_arn")
        return self.names["lifecycle_arn"]

    # -- clients and helpers -------------------------------------------------
    def client(self, service: str):
        from botocore.exceptions import NoRegionError

        try:
            return self.clients(service)
        except NoRegionError:
            raise UsageError("no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION), or a region in "
                             "your AWS profile (`aws configure`)") from None

    @property
    def ssm(self):
        return self.client("ssm")

    @property
    def dynamodb(self):
        return self.client("dynamodb")

    @property
    def stepfunctions(self):
        return self.client("stepfunctions")

    def table(self) -> StateTable:
        return StateTable(self.table_name, self.dynamodb)

    @cached_property
    def engine(self):
        from plugins import Engine

        return Engine.load(list(self.policies), entry_points=False)

    @property
    def catalog(self):
        return self.engine.catalog

    @property
    def truth(self) -> dict[str, str]:
        """True labels by image URI, when known (a sandbox run knows them)."""
        return dict((self.saved or {}).get("truth") or {})

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple((self.saved or {}).get("labels") or ())

    def now(self) -> datetime:
        """The reference time for 'today': now, or for a sandbox run the last day it recorded."""
        if self.kind == "sandbox" and self.saved is not None:
            day = Snapshot.of(self.saved.get("items", [])).last_day
            if day:
                return datetime.strptime(day, "%Y-%m-%d").replace(hour=23, minute=59, tzinfo=timezone.utc)
        return datetime.now(timezone.utc)

    # -- parameters ------------------------------------------------------------
    def read_parameters(self) -> dict[str, dict]:
        """Every parameter under the path: name -> {"value", "modified" (ISO time or None)}."""
        path, found = self.parameter_path, {}
        for page in self.ssm.get_paginator("get_parameters_by_path").paginate(Path=path, Recursive=False):
            for parameter in page["Parameters"]:
                modified = parameter.get("LastModifiedDate")
                found[parameter["Name"][len(path):]] = {
                    "value": parameter["Value"],
                    # A restored sandbox run re-creates its parameters, so their dates mean nothing.
                    "modified": modified.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                    if modified is not None and self.kind == "aws" else None,
                }
        return found

    def write_parameter(self, name: str, value: str, spec=None) -> None:
        """Write one (already validated) value; on a sandbox the change event is delivered too.

        With the catalog entry, the description and allowed pattern are written as the Pulumi
        program created them, so Parameter Store keeps checking later writes (console, AWS CLI)."""
        if self.stack is not None:
            self.stack.set_parameter(name, value)
            self.stack.pump()
            return
        if self.kind == "sandbox":
            raise RuntimeError("a sandbox target opened read-only cannot be written")
        extra = {} if spec is None else {"Description": spec.description[:1024], "AllowedPattern": spec.allowed_pattern}
        self.ssm.put_parameter(Name=self.parameter_path + name, Value=value, Type="String", Overwrite=True, **extra)


# -- opening a target ------------------------------------------------------------
@contextlib.contextmanager
def open_target(args, *, write: bool = False) -> Iterator[Target]:
    """The target the options name. ``write``: the command changes the stack (a sandbox is restored in full)."""
    sandbox = getattr(args, "sandbox", None)
    explicit = {name: getattr(args, name, None) for name in OPTIONS}
    if sandbox is not None:
        given = [OPTIONS[n] for n, v in explicit.items() if v] + (["--stack"] if args.stack else [])
        if given:
            raise UsageError(f"--sandbox and {', '.join(given)} name two different targets; use one of them")
        with (_restored_sandbox(sandbox) if write else _sandbox_snapshot(sandbox)) as target:
            yield target
        return
    yield aws_target(args.stack, explicit, _policy_option(args))


def _policy_option(args) -> tuple[str, ...] | None:
    raw = getattr(args, "stack_policies", None)
    return None if raw is None else tuple(p.strip() for p in raw.split(",") if p.strip())


def aws_target(stack: str | None, explicit: dict[str, str | None], policies: tuple[str, ...] | None,
               session=None) -> Target:
    """A deployed stack: explicit names first, then the stack's Pulumi outputs."""
    names = {name: value for name, value in explicit.items() if value}
    if not stack and not names:
        raise UsageError(NO_TARGET)
    missing: dict[str, str] = {}
    outputs: dict[str, Any] = {}
    complete = len(names) == len(OPTIONS)
    if stack and (not complete or policies is None):
        try:
            outputs, why = pulumi_outputs(stack)
        except UsageError:
            if not complete:
                raise
            outputs, why = {}, None  # every name is given: only the policies were asked for ($LABELLOOP_POLICIES then)
        for name, key in OUTPUTS.items():
            if not names.get(name) and outputs.get(key):
                names[name] = outputs[key]
            elif not names.get(name):
                problem = why or f"the outputs of stack {stack!r} have no {key}"
                missing[name] = (f"no {WHAT[name]} for stack {stack!r}: {problem}; "
                                 f"pass {OPTIONS[name]} {_expected(stack, name)}"
                                 + (" or install the Pulumi CLI (https://www.pulumi.com/docs/install/) and run "
                                    "in the project directory" if why else ""))
    if policies is None:
        if isinstance(outputs.get("policies"), list):
            # The output lists policies first-asked-first; registering them in reverse keeps that order.
            policies = tuple(reversed([p for p in outputs["policies"] if isinstance(p, str)]))
        else:
            from plugins.manager import modules_from_env

            policies = tuple(modules_from_env())
    for name in OPTIONS:
        if name not in names and name not in missing and not stack:
            missing[name] = f"no {WHAT[name]} given: pass {OPTIONS[name]} (or --stack NAME to read it from Pulumi)"
    description = f"stack {stack}" if stack else "stack at " + (names.get("parameter_path") or names.get("table")
                                                                 or names.get("lifecycle_arn") or "?")
    return Target(description, {n: names.get(n) for n in OPTIONS}, tuple(policies), _session_clients(session),
                  missing=missing)


def _expected(stack: str, name: str) -> str:
    """What the option's value looks like for this stack (names are fixed by components/naming.py)."""
    from components.naming import Naming, StackNameError

    try:
        naming = Naming(stack)
    except StackNameError:
        return "VALUE"
    return {"parameter_path": naming.parameter_path, "table": naming("state"),
            "lifecycle_arn": f"arn:aws:states:REGION:ACCOUNT:stateMachine:{naming.state_machine('lifecycle')}"}[name]


def pulumi_outputs(stack: str) -> tuple[dict[str, Any], str | None]:
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


def _session_clients(session=None) -> Callable[[str], Any]:
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 5}, user_agent_extra="labelloop-cli")
    cache: dict[str, Any] = {}
    holder: list = [session]

    def client(service: str):
        if service not in cache:
            if holder[0] is None:
                holder[0] = boto3.Session()
            cache[service] = holder[0].client(service, config=config)
        return cache[service]

    return client


# -- sandbox targets -----------------------------------------------------------------
def _load_saved(folder: Path) -> dict:
    from sandbox.saved import NotASandbox, load_state

    try:
        return load_state(folder)
    except NotASandbox as exc:
        raise UsageError(str(exc)) from None


@contextlib.contextmanager
def _restored_sandbox(folder: Path) -> Iterator[Target]:
    """The whole saved run restored (handlers, state machines, bucket, local model service), saved back after."""
    from handlers.runtime import aws as runtime_aws
    from sandbox.saved import restore

    _load_saved(folder)  # a clear error before anything starts
    with restore(Path(folder)) as (stack, _models, state):
        yield Target(f"sandbox {folder}", {"parameter_path": stack.parameter_path, "table": stack.table,
                                           "lifecycle_arn": stack.state_machines["lifecycle"]},
                     tuple(state["policies"]), runtime_aws.client, kind="sandbox", stack=stack, saved=state)


@contextlib.contextmanager
def _sandbox_snapshot(folder: Path) -> Iterator[Target]:
    """The saved table and parameters in moto, read-only: what a read needs, in a fraction of a full restore."""
    import boto3
    from moto import mock_aws

    from handlers.runtime.state import put_items, table_definition

    state = _load_saved(folder)
    saved_env = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                                                "AWS_DEFAULT_REGION")}
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": SANDBOX_REGION})
    try:
        with mock_aws():
            session = boto3.Session(region_name=SANDBOX_REGION)
            table, path = f"labelloop-{state['stack']}-state", f"/labelloop/{state['stack']}/"
            ddb, ssm = session.client("dynamodb"), session.client("ssm")
            ddb.create_table(**table_definition(table))
            put_items(ddb, table, state.get("items", []))
            for name, value in state.get("parameters", {}).items():
                ssm.put_parameter(Name=path + name, Value=value, Type="String")
            yield Target(f"sandbox {folder}", {"parameter_path": path, "table": table, "lifecycle_arn": None},
                         tuple(state.get("policies") or ()), _session_clients(session), kind="sandbox", saved=state,
                         missing={"lifecycle_arn": "this command only reads a sandbox run"})
    finally:
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
