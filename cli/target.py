"""What every target of an operator command offers, whichever stack it is.

Commands see a :class:`Target` and never ask which kind it is: each difference
between a deployed stack (:class:`cli.aws_target.AwsTarget`) and a saved
sandbox run (:class:`cli.sandbox_target.SandboxTarget`) is one of its methods. So
the same command code runs against AWS, moto in the tests, and a saved run.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from datetime import datetime, timezone
from functools import cached_property
from typing import Any, Callable, ContextManager

from handlers.runtime.state import StateTable

# The names a command may need, by the option that gives each.
OPTIONS = {"parameter_path": "--parameter-path", "table": "--table", "lifecycle_arn": "--lifecycle-arn"}
NO_TARGET = ("no stack to talk to: pass --stack NAME (names read with `pulumi stack output`) or select one "
             "(`pulumi stack select NAME`), pass --parameter-path/--table/--lifecycle-arn, or --sandbox DIR "
             "(a run saved by `labelloop sandbox --out DIR`)")


class FunctionFailed(RuntimeError):
    """A function of the stack answered with an error."""

    def __init__(self, function: str, error_type: str | None, message: str | None):
        super().__init__(f"the {function} function failed: {error_type}: {message}")
        self.function, self.error_type, self.message = function, error_type, message


class Target(ABC):
    """One stack, as the commands see it: its clients, names, parameters, state table and lifecycle."""

    description: str
    policies: tuple[str, ...]
    # Added to the error for a parameter the catalog does not know: how to make it known.
    policy_fix: str = ""
    # What to do once `labelloop teardown` left nothing running ("" for nothing).
    after_teardown: str = "Next: `pulumi destroy`."
    # Whether a model it starts runs at once (a sandbox's), so the serving function may look again now.
    starts_at_once: bool = False

    # -- what each kind of target answers in its own way ------------------------------------
    @property
    @abstractmethod
    def parameter_path(self) -> str:
        """The SSM path of the operator parameters, ending in ``/``."""

    @property
    @abstractmethod
    def table_name(self) -> str:
        """The state table."""

    @abstractmethod
    def knows(self, name: str) -> bool:
        """Whether the target has the name (a key of ``OPTIONS``) without being told more."""

    @abstractmethod
    def client(self, service: str):
        """A boto3 client for ``service`` on this target."""

    @abstractmethod
    def write_parameter(self, name: str, value: str, spec) -> None:
        """Write one (already validated) value, ``spec`` its catalog entry; the loop sees the change
        as it sees any change of Parameter Store."""

    @abstractmethod
    def start_lifecycle(self, payload: dict, what: str, announce: Callable[[str], None]) -> str:
        """Start the lifecycle state machine with ``payload`` (``what``: ``train``, ``rollback``) and
        return the execution's ARN; ``announce(arn)`` when the run goes on after this returns."""

    @abstractmethod
    def detection_machine(self, explicit: str | None = None) -> str:
        """The detection state machine's ARN (``explicit``: given by the operator)."""

    @abstractmethod
    def start_detection(self, machine: str, name: str, payload: dict) -> bool:
        """Start one detection execution; True when it has run to its end by the time this returns
        (nothing to watch), False when it goes on asynchronously."""

    @property
    @abstractmethod
    def naming(self):
        """The stack's resource names (:class:`components.naming.Naming`)."""

    @property
    @abstractmethod
    def region(self) -> str | None:
        """The region the stack lives in (None: none configured anywhere)."""

    @abstractmethod
    def deployed(self):
        """The stack as its functions were deployed (a :class:`handlers.runtime.config.RuntimeConfig`
        read from their environment), or None before `pulumi up`."""

    @abstractmethod
    def model_versions(self) -> list[dict]:
        """Every model version of the stack's project: ``version``, ``arn``, ``status`` (Rekognition's),
        ``units`` (inference units it was started with, or None)."""

    def stack_settings(self) -> dict[str, Any]:
        """The stack's config values by key (``labelloop:review``, ``labelloop:reviewerEmails``), structured
        ones decoded; {} when not known."""
        return {}

    @abstractmethod
    def invoke_function(self, key: str, payload: dict) -> dict:
        """Invoke one of the stack's functions (a ``components.functions.FUNCTIONS`` key) and return its
        answer, once what it set off has happened where the target can wait for it; a failure raises
        :class:`FunctionFailed`."""

    @abstractmethod
    def temporary_reviewer(self, name: str) -> ContextManager[Any]:
        """A reviewer of the stack's review app for the block, removed afterwards: what
        :meth:`review_api` takes to call the API as them."""

    @abstractmethod
    def review_api(self, reviewer: Any, method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
        """One request to the review app's API (``GET /api/tasks/next`` …) as ``reviewer`` (None: no
        token); the HTTP status and the JSON answer."""

    def settle(self) -> None:
        """Let the stack act on what changed so far (a deployed stack does so by itself)."""

    def wait(self, seconds: float) -> None:
        """Let ``seconds`` pass before looking at the stack again."""
        time.sleep(seconds)

    @property
    def account_checks(self) -> bool:
        """Whether the account behind the target can be checked (credentials, quotas): `labelloop doctor`."""
        return False

    @property
    def prices(self):
        """The stack's prices (its ``prices`` config; the defaults when not known)."""
        from handlers.runtime.ledger import Prices

        return Prices()

    def parameter_modified(self, parameter: dict) -> str | None:
        """When a parameter (as ``GetParametersByPath`` returns it) last changed, as ISO time."""
        modified = parameter.get("LastModifiedDate")
        return None if modified is None else modified.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def truth(self) -> dict[str, str]:
        """True labels by image URI, when known."""
        return {}

    def reviewer_accuracy(self) -> dict[str, tuple[int, int]]:
        """Each reviewer's (by the name they signed in with, else their id) answers that named an image's
        true label, and their answers to images whose true label is known: {} where no true label is (a
        deployed stack)."""
        return {}

    @property
    def labels(self) -> tuple[str, ...]:
        """The stack's label set, when known without reading the table."""
        return ()

    def now(self) -> datetime:
        """The reference time for 'today'."""
        return datetime.now(timezone.utc)

    #: What :meth:`now` is, when it is not the present (a saved run's views stop with its clock).
    as_of: str = ""

    # -- the same for every target -----------------------------------------------------------
    @property
    def ssm(self):
        return self.client("ssm")

    @property
    def stepfunctions(self):
        return self.client("stepfunctions")

    def table(self) -> StateTable:
        return StateTable(self.table_name, self.client("dynamodb"))

    @cached_property
    def engine(self):
        from plugins import Engine

        return Engine.load(list(self.policies), entry_points=False)

    @property
    def catalog(self):
        return self.engine.catalog

    def read_parameters(self) -> dict[str, dict[str, Any]]:
        """Every parameter under the path: name -> {"value", "modified" (ISO time or None)}."""
        path, found = self.parameter_path, {}
        for page in self.ssm.get_paginator("get_parameters_by_path").paginate(Path=path, Recursive=False):
            for parameter in page["Parameters"]:
                found[parameter["Name"][len(path):]] = {"value": parameter["Value"],
                                                        "modified": self.parameter_modified(parameter)}
        return found
