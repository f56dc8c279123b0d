"""A saved sandbox run (``labelloop sandbox --out DIR``) as the target of an operator command.

Reads see a snapshot of the run's table and parameters in moto (about a second). A parameter
change is handled in place, in seconds (:func:`sandbox.saved.change_parameter`); a lifecycle run
or a detection restores the whole run in its place (handlers, state machines, bucket, the local
model service), and the run is saved back when the command ends without an error. A command that
changes the run holds its lock from its first change to its end: a second one waits, then is
refused.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from components.naming import Naming
from handlers.runtime import workflow
from handlers.runtime.config import RuntimeConfig
from handlers.runtime.state import Snapshot
from sandbox.api_gateway import http_api_event, reviewer_claims
from sandbox.identifiers import ACCOUNT
from sandbox.local_aws import REGION, LambdaFailed, LocalStack, sandbox_config
from sandbox.saved import (NotASandbox, RunBusy, change_parameter, load_state, locked, policy_folders, restore, review_of,
                           saved_versions, snapshot)

from .errors import UsageError
from .policy_path import policy_search_path
from .target import FunctionFailed, Target


def _steps_said() -> Callable[[str, Any], Any]:
    """A wrapper of the functions' handlers that says each lifecycle step as it begins (a step run again,
    a poll, once)."""
    steps: dict[str, list[str]] = {}
    for task in workflow.LIFECYCLE_TASKS:
        steps.setdefault(task.function, []).append(task.state)
    last = ""

    def wrap(key: str, handler):
        if key not in steps:
            return handler

        def said(event, context):
            nonlocal last
            step = " or ".join(steps[key])
            if step != last:
                say(f"  {step}…")
                last = step
            return handler(event, context)

        return said

    return wrap


def say(line: str) -> None:
    """What a slow step is doing, on stderr (stdout stays the command's answer, --json included)."""
    print(line, file=sys.stderr, flush=True)


class SandboxTarget(Target):
    """A saved run: a snapshot for reads, restored in full for the first change."""

    def __init__(self, folder: Path, state: dict):
        self.folder, self.state = Path(folder), state
        self.description = f"sandbox {folder}"
        self.after_teardown = ""  # nothing to destroy: a run is its folder
        self.starts_at_once = True  # a saved run's model service moves on when it is next looked at
        self.policies = tuple(state.get("policies") or ())
        self._naming = Naming(state["stack"])
        self._open = contextlib.ExitStack()
        self._clients: Callable[[str], Any] | None = None
        self._stack: LocalStack | None = None
        self._lock_held = contextlib.ExitStack()
        self._locked = False

    @classmethod
    @contextlib.contextmanager
    def open(cls, folder: Path) -> Iterator["SandboxTarget"]:
        try:
            state = load_state(folder)
        except NotASandbox as exc:
            raise UsageError(str(exc)) from None
        target = cls(folder, state)
        with policy_search_path(policy_folders(state)), target._lock_held, target._open:
            target._clients = target._open.enter_context(snapshot(state))
            yield target

    def _lock(self) -> None:
        """Hold the run's lock until the target closes (taken before the first change reads the run)."""
        if not self._locked:
            def waiting() -> None:
                print(f"Waiting for another command changing {self.folder} to finish…", file=sys.stderr, flush=True)

            try:
                self._lock_held.enter_context(locked(self.folder, waiting))
            except RunBusy as exc:
                raise UsageError(str(exc)) from None
            self._locked = True

    def _restored(self) -> LocalStack:
        """The whole run, in place of the snapshot (one moto at a time); saved back when the target closes."""
        if self._stack is None:
            from sandbox import report_data  # scikit-learn, as the restore: only a change needs it

            self._lock()
            self._open.close()
            say(f"Restoring the run in {self.folder} to change it (its table, bucket and models, into moto)…")
            report: list = []  # the report data brought up to date, written once the run is saved
            self._open.push(lambda failed, *_: None if failed else self._write_report(report))
            self._stack, models, _state = self._open.enter_context(restore(self.folder))
            # Last in, first out: before the save, which only a command ending without an error makes.
            self._open.push(lambda failed, *_: None if failed else say(f"Saving the run back into {self.folder}…"))
            self._open.push(lambda failed, *_: None if failed else report.append(
                report_data.bring_up_to_date(self.folder, self._stack, models)))
            self._clients = self._stack.client
        return self._stack

    def _write_report(self, report: list) -> None:
        from sandbox.report import write_report

        if report and report[0] is not None:
            say(f"Bringing the report in {self.folder} up to date (the models scored on the run's "
                f"{len(report[0].holdout_images)} holdout images)…")
            write_report(report[0], self.folder)

    # -- the target protocol ---------------------------------------------------------------
    @property
    def naming(self) -> Naming:
        return self._naming

    @property
    def region(self) -> str:
        return REGION

    def deployed(self) -> RuntimeConfig:
        """The run's stack as the sandbox creates it (sandbox.local_aws), with its review app when the run
        reviewed there."""
        return sandbox_config(self.naming, self.labels, review=review_of(self.state))

    def model_versions(self) -> list[dict]:
        """The saved local model service's versions (no restore needed)."""
        if "model_versions" in self.state:
            return list(self.state["model_versions"])
        return [{"version": v.name, "arn": v.arn, "status": v.status, "units": v.min_units}
                for v in saved_versions(self.folder).values()]

    @property
    def parameter_path(self) -> str:
        return self.naming.parameter_path

    @property
    def table_name(self) -> str:
        return self.naming.table

    def knows(self, name: str) -> bool:
        return True  # a saved run has every name of its stack

    def client(self, service: str):
        return self._clients(service)

    def parameter_modified(self, parameter: dict) -> str | None:
        return None  # a snapshot or a restored run re-creates its parameters: their dates mean nothing

    def read_parameters(self) -> dict[str, dict[str, Any]]:
        """The saved run's parameters, read from its file (no moto) until a command restores the run."""
        if self._stack is not None:
            return super().read_parameters()
        return {name: {"value": value, "modified": None} for name, value in self.state.get("parameters", {}).items()}

    def write_parameter(self, name: str, value: str, spec) -> None:
        if self._stack is not None:  # restored already: the change goes to the running stack
            self._stack.set_parameter(name, value)
            self._stack.pump()  # the change event, handled as on AWS
            return
        self._lock()
        self._open.close()  # one moto at a time
        change_parameter(self.folder, name, value)
        self.state = load_state(self.folder)
        self._clients = self._open.enter_context(snapshot(self.state))

    def start_lifecycle(self, payload: dict, what: str, announce: Callable[[str], None]) -> str:
        # Runs to its end before returning (on the sandbox's simulated clock a training takes seconds),
        # saying each step as it begins.
        stack = self._restored()
        stack.wrap_handlers(_steps_said())
        return stack.run_lifecycle(payload)["executionArn"]

    def detection_machine(self, explicit: str | None = None) -> str:
        # named as the restored stack's (moto's ARN of the name): nothing to restore to know it
        return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{self.naming.state_machine('detection')}"

    def start_detection(self, machine: str, name: str, payload: dict) -> bool:
        stack = self._restored()
        stack.start_execution("detection", payload, name=name)
        stack.wait_for_executions()
        stack.pump()  # what the detection caused (a review's start, its events), as on AWS
        return True

    def invoke_function(self, key: str, payload: dict) -> dict:
        stack = self._restored()
        try:
            answer = stack.deliver(key, payload)
        except LambdaFailed as exc:
            raise FunctionFailed(self.naming.function(key), exc.payload.get("errorType"),
                                 exc.payload.get("errorMessage")) from None
        stack.pump()
        return answer

    @contextlib.contextmanager
    def temporary_reviewer(self, name: str) -> Iterator[dict]:
        """The claims of a sandbox reviewer's token (nothing to create or remove: the sandbox's sign-in
        lets anyone in), for a run that reviews in the review app."""
        if not self._restored().config.reviewer_group:
            raise UsageError(f"{self.description} reviews with {review_of(self.state)}: it has no review app to sign "
                             "in to")
        yield reviewer_claims(name, "access", int(time.time()), 3600)  # an hour, as the stack's tokens

    def review_api(self, reviewer: Any, method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
        stack = self._restored()
        response = stack.deliver("review_api", http_api_event(method, path, claims=reviewer,
                                                              body=None if body is None else json.dumps(body)))
        stack.pump()  # what the request set off (an accepted answer's copy and its event)
        return int(response.get("statusCode", 200)), json.loads(response.get("body") or "null")

    def settle(self) -> None:
        self._restored().pump()

    def wait(self, seconds: float) -> None:
        """Nothing to wait for: the run's model service moves on when it is next looked at."""

    @property
    def truth(self) -> dict[str, str]:
        return dict(self.state.get("truth") or {})

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.state.get("labels") or ())

    def reviewer_accuracy(self) -> dict[str, tuple[int, int]]:
        """From the answers the run's finished reviews record (the sandbox knows every image's true label)."""
        from sandbox.reviewer_accuracy import reviewer_accuracy

        return reviewer_accuracy(self.state.get("items", []), self.truth)

    as_of = ("when the run was saved — its end, or the last command that changed it: "
             "a saved run's clock stops there, and costs and ages are counted to it")

    def now(self) -> datetime:
        """When the run was last saved: what it recorded and what its model service published end there
        (a run saved before that was kept: the end of the last day it recorded)."""
        if self.state.get("saved_at"):
            return datetime.fromisoformat(self.state["saved_at"])
        day = Snapshot.of(self.state.get("items", [])).last_day
        if not day:
            return super().now()
        return datetime.strptime(day, "%Y-%m-%d").replace(hour=23, minute=59, tzinfo=timezone.utc)
