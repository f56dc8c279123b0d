"""The contract between the state machines and the handlers: state names, where
each result lands in an execution's state, and what each task receives.

A Lambda task selects ``{"value": <the function's return value>}`` and writes
it at ``$.<result>``; the tasks after it receive the whole state (read through
:class:`RunState`) or a payload built and read here. The definition builders
(``components/state_machines.py``) write these paths, the handlers read them,
and the CLI reads the same results from an execution's history. A payload
without a field the contract names is refused with an error naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Mapping

from .events import UnrecognisedEvent, require

VALUE = "value"
EXECUTION_ID = "$$.Execution.Id"
EXECUTION_INPUT = "$$.Execution.Input"


@dataclass(frozen=True)
class Slot:
    """A top-level key of an execution's state that a state writes."""

    name: str

    @property
    def path(self) -> str:
        return f"$.{self.name}"


@dataclass(frozen=True)
class Result(Slot):
    """A slot holding ``{"value": …}``: a task's return value, or the run's outcome."""

    def field(self, *names: str) -> str:
        """The JSONPath of the value, or of a field inside it."""
        return ".".join(("$", self.name, VALUE, *names))

    def value(self, state: Mapping[str, Any]) -> Any:
        """The value in ``state``; None while nothing was written there."""
        return (state.get(self.name) or {}).get(VALUE)


@dataclass(frozen=True)
class Task:
    """A Lambda task state: its name, the function it invokes, where its result lands."""

    state: str
    function: str  # a key of components.functions.FUNCTIONS
    result: Result


# -- the detection workflow (Express): input is the S3 → EventBridge event, or a replay --------------
DETECTION = Result("detection")
REVIEW = Result("review")
FAILURE = Result("failure")
ERROR = Slot("error")  # a caught error, {"Error", "Cause"}: every task's Catch, in both workflows

DETECT = Task("Detect", "detect", DETECTION)
START_REVIEW = Task("StartReview", "start_review", REVIEW)  # receives the Detect result
RECORD_FAILURE = Task("RecordFailure", "detection_failed", FAILURE)  # receives a FailedDetection
DETECTION_TASKS = (DETECT, START_REVIEW, RECORD_FAILURE)
# The steps' Retry (Step Functions' MaxAttempts: retries after the first attempt, 1 s apart at first,
# doubling), which the serving function's drain plays too when it runs the same steps itself.
DETECTION_RETRIES, RECORD_FAILURE_RETRIES, RETRY_INTERVAL_SECONDS = 3, 2, 1


@dataclass(frozen=True)
class FailedDetection:
    """What RecordFailure receives: the execution's input (whatever it was: the event that could
    not be detected) and the error that ended it."""

    input: Any
    error: Mapping[str, Any]

    @staticmethod
    def payload() -> dict[str, str]:
        return {"input.$": EXECUTION_INPUT, "error.$": ERROR.path}

    @classmethod
    def from_event(cls, event: Any) -> "FailedDetection":
        """Never refuses: a failure is recorded whatever reached the task."""
        event = event if isinstance(event, Mapping) else {"input": event}
        error = event.get("error")
        return cls(event.get("input"), error if isinstance(error, Mapping) else {"Cause": str(error or "")})

    @property
    def error_name(self) -> str:
        return str(self.error.get("Error") or "Unknown")

    @property
    def cause(self) -> str:
        return str(self.error.get("Cause") or "")[:1000]


def detection_input(bucket: str, key: str, etag: str | None, version_id: str | None, *, reason: str,
                    size: int | None = None, pending_cursor: str | None = None) -> dict[str, Any]:
    """The detection workflow's input for one image started by labelloop itself (a replay, one record of
    an event with several): the direct form ``events.object_events`` reads."""
    values = {"bucket": bucket, "key": key, "etag": etag, "version_id": version_id, "size": size,
              "reason": reason, "pending_cursor": pending_cursor}
    return {name: value for name, value in values.items() if value is not None}


# -- the lifecycle workflow (Standard): input is lifecycle_input(trigger) or rollback_input() -------
TRIGGER = "trigger"
MANUAL = "manual"  # the trigger of a check an operator asked for (`labelloop train`), not the schedule
ACTION = "action"
ROLLBACK = "rollback"


def lifecycle_input(trigger: str) -> dict[str, str]:
    """A training check, started by the schedule or by hand."""
    return {TRIGGER: trigger}


ROLLBACK_TO = "version"


def rollback_input(version: str | None = None) -> dict[str, str]:
    """An operator's rollback to ``version`` (None: the previous version)."""
    return {ACTION: ROLLBACK} | ({ROLLBACK_TO: version} if version else {})


RUN = Slot("run")  # the Init state: {"owner": the execution's id, "lock_seconds": …}
STRAYS = Result("strays")  # models found running that should not (stopped), before anything else
STRAYS_ERROR = Slot("strays_error")  # StopStrays failed: the run goes on, the function's alarm tells
CHECK = Result("check")
MANIFEST = Result("manifest")
TRAINING = Result("training")
POLL = Result("poll")  # both polls: the training's, then the start's
CANDIDATE = Result("candidate")  # the evaluated version, or the rollback's target
START = Result("start")
COMPARISON = Result("comparison")  # candidate and running model side by side on the gate set, before the switch
SWITCH = Result("switch")
STOP = Result("stop")
STOP_ERROR = Slot("stop_error")  # StopPrevious failed: the new model serves, the old one still bills
REPLAY = Result("replay")
OUTCOME = Result("outcome")  # a Pass state per ending writes one of Outcome
FINISH = Result("finish")
FINISH_ERROR = Slot("finish_error")

STOP_STRAYS = Task("StopStrays", "stop_strays", STRAYS)
CHECK_TRAINING = Task("CheckTraining", "training_check", CHECK)
BUILD_MANIFEST = Task("BuildManifest", "build_manifest", MANIFEST)
START_TRAINING = Task("StartTraining", "start_training", TRAINING)
POLL_TRAINING = Task("PollTraining", "model_status", POLL)  # receives a PollRequest
EVALUATE = Task("Evaluate", "evaluate", CANDIDATE)
PREPARE_ROLLBACK = Task("PrepareRollback", "prepare_rollback", CANDIDATE)
START_MODEL = Task("StartModel", "start_model", START)
POLL_START = Task("PollStart", "model_status", POLL)  # receives a PollRequest
COMPARE = Task("CompareOnGateSet", "compare_models", COMPARISON)
SWITCH_MODEL = Task("Switch", "switch_model", SWITCH)
STOP_PREVIOUS = Task("StopPrevious", "stop_model", STOP)
REPLAY_PENDING = Task("ReplayPending", "replay_pending", REPLAY)
FINISH_RUN = Task("Finish", "finish_run", FINISH)
LIFECYCLE_TASKS = (STOP_STRAYS, CHECK_TRAINING, BUILD_MANIFEST, START_TRAINING, POLL_TRAINING, EVALUATE, PREPARE_ROLLBACK,
                   START_MODEL, POLL_START, COMPARE, SWITCH_MODEL, STOP_PREVIOUS, REPLAY_PENDING, FINISH_RUN)

SLOTS = (DETECTION, REVIEW, FAILURE, ERROR, RUN, STRAYS, STRAYS_ERROR, CHECK, MANIFEST, TRAINING, POLL, CANDIDATE, START,
         COMPARISON, SWITCH, STOP, STOP_ERROR, REPLAY, OUTCOME, FINISH, FINISH_ERROR)


class Outcome(StrEnum):
    """How a lifecycle run ended, as its Pass states record it for Finish."""

    DEPLOYED = "deployed"
    ROLLED_BACK = "rolled_back"
    REJECTED = "rejected"
    NOT_TRAINABLE = "not_trainable"
    FAILED = "failed"


def run_parameters(lock_seconds: int) -> dict[str, Any]:
    """The Init state's parameters, written at RUN."""
    return {"owner.$": EXECUTION_ID, "lock_seconds": lock_seconds}


@dataclass(frozen=True)
class PollRequest:
    """What a poll task receives: which version, in which phase, since when, for how long at most."""

    version: str
    phase: str
    since: str
    max_wait_seconds: int

    @staticmethod
    def payload(*, version_path: str, phase: str, since_path: str, max_wait_seconds: int) -> dict[str, Any]:
        return {"version.$": version_path, "phase": phase, "since.$": since_path, "max_wait_seconds": max_wait_seconds}

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> "PollRequest":
        fields = (require(event, name, "the poll request") for name in ("version", "phase", "since", "max_wait_seconds"))
        version, phase, since, max_wait = fields
        return cls(version, phase, since, int(max_wait))


def _result(result: Result) -> property:
    return property(lambda run: run.result(result), doc=f"The {result.name} result, ``{{}}`` before it is written.")


@dataclass(frozen=True)
class RunState:
    """A lifecycle execution's state: the input and the results so far, as every task but the
    polls receives it (and as the execution's output holds it at the end). A result that was
    not written (yet) reads as ``{}``."""

    state: Mapping[str, Any]

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> "RunState":
        return cls(event)

    def result(self, result: Result) -> dict[str, Any]:
        return result.value(self.state) or {}

    @property
    def owner(self) -> str:
        run = self.state.get(RUN.name)
        if not isinstance(run, Mapping):
            raise UnrecognisedEvent(f"the lifecycle state has no {RUN.name} (its Init state writes it)")
        return run.get("owner")

    @property
    def rollback_to(self) -> str | None:
        """The version a rollback asked for (None: the previous one)."""
        return self.state.get(ROLLBACK_TO) or None

    @property
    def lock_seconds(self) -> int | None:
        return (self.state.get(RUN.name) or {}).get("lock_seconds")

    @property
    def trigger(self) -> str:
        return self.state.get(TRIGGER, "schedule")

    strays = _result(STRAYS)
    check = _result(CHECK)
    manifest = _result(MANIFEST)
    training = _result(TRAINING)
    poll = _result(POLL)
    candidate = _result(CANDIDATE)
    start = _result(START)
    comparison = _result(COMPARISON)
    switch = _result(SWITCH)
    replay = _result(REPLAY)

    @property
    def outcome(self) -> str:
        return (self.state.get(OUTCOME.name) or {}).get(VALUE, Outcome.FAILED.value)

    @property
    def error(self) -> dict[str, Any]:
        return self.state.get(ERROR.name) or {}

    @property
    def stop_error(self) -> dict[str, Any]:
        return self.state.get(STOP_ERROR.name) or {}

    @property
    def strays_error(self) -> dict[str, Any]:
        return self.state.get(STRAYS_ERROR.name) or {}
