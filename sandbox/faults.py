"""Seeded fault injection on the clients the harness hands to handlers, and functions that die.

:class:`FaultInjector` is attached to every client of a function's container
(``LocalStack.on_function_client``); on each request it draws, from its own seeded
generator, whether the request fails and how, among the faults AWS documents for
that call:

- ``throttling``: the service's throttling error (S3 ``SlowDown``, DynamoDB
  ``ProvisionedThroughputExceededException``, SNS ``Throttling``, Rekognition
  ``ThrottlingException`` / ``ProvisionedThroughputExceededException``, …);
- ``server_error``: the service's 5xx (``InternalServerError``, ``InternalError``,
  ``ServiceUnavailable``, …);
- ``ThrottlingError``, ``TransactionConflict``, ``ProvisionedThroughputExceeded``:
  a ``TransactWriteItems`` cancelled (``TransactionCanceledException``) with one
  ``CancellationReasons`` entry per item, the reason on one item and ``None`` on the others;
- ``parameter_throttling``: a throttled parameter read (``GetParametersByPath``,
  ``GetParameter``), which Powertools wraps in ``GetParameterError``;
- ``response_lost``: the request reaches the service and is applied, then the caller
  gets botocore's ``ReadTimeoutError`` or ``ConnectionClosedError``, as when the
  response never came back (raised from an ``after-call`` handler, so the write is
  in moto or the stand-in).

A throttling, server or cancellation fault never reaches the service: nothing is
written, as AWS answers throttling and cancellations.

**The client's attempts.** The functions' clients retry as botocore's standard mode
does (``handlers.runtime.aws.CLIENT_CONFIG``), which a fault answered before the call
reaches botocore's endpoint would skip; so the injector plays them: a faulted request
that botocore's own standard retry conditions would retry (asked of
``botocore.retries.standard``) is sent again, up to ``client_attempts`` requests,
each drawn afresh. A lost response is retried as botocore retries it: the request was
applied, and the same request is sent again (a conditional write then meets its own
first write). The handler sees a fault only when the client's last attempt drew one, or
when botocore does not retry it (a cancelled transaction).

**A function that dies mid-way** (``crash_rate``: the share of invocations): a
Lambda killed by its timeout or by running out of memory stops where it is —
nothing it tries afterwards reaches a service, and its answer is lost.
:meth:`FaultInjector.invocation` draws at its start whether the invocation dies
and where: at its n-th call (n drawn up to as many calls as the function's
previous invocation made), before the call reaches the service or just after it
was applied; an invocation that makes fewer calls dies after its work, before it
answers. The handler meets :class:`FunctionDied`, and every later call of the
invocation dies too; the invocation then fails under the name AWS reports
for such a death (:data:`CRASH_ERRORS`), drawn for each death: ``Lambda.Unknown``
(Step Functions' name for an unhandled Lambda error, "out-of-memory errors and
function timeouts": *Handle transient Lambda service exceptions*),
``Sandbox.Timedout`` (the error type Lambda reports for a function timeout) and
``Runtime.ExitError`` (the runtime exited: a process killed for its memory). A
state machine's Retry rules see that name; an asynchronous invocation is retried
as for any function error; API Gateway answers the request with a 500.

Each fault is recorded (:attr:`FaultInjector.faults`) with the function, the
operation and the kind, so a run can say which call's fault led to what.
Injection can be paused (:meth:`FaultInjector.paused`) for what stands outside
the fault model.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
from collections import Counter
from dataclasses import dataclass
from functools import cache
from types import SimpleNamespace
from typing import Any, Callable, Iterable, Iterator

from botocore import xform_name
from botocore.exceptions import ConnectionClosedError, ReadTimeoutError
from botocore.retries.standard import RetryContext, StandardRetryConditions

from handlers.runtime.aws import CALL_ATTEMPTS

CANCELLATION_REASONS = ("ThrottlingError", "TransactionConflict", "ProvisionedThroughputExceeded")
PARAMETER_READS = ("GetParametersByPath", "GetParameter", "GetParameters")
RESPONSE_LOST = "response_lost"
LOST_RESPONSES = (ReadTimeoutError, ConnectionClosedError)
CRASH = "crash"  # not a kind of call fault: an invocation that dies (FaultInjector.invocation)
# The names AWS reports a function's death under (see the module docstring).
CRASH_ERRORS = ("Lambda.Unknown", "Sandbox.Timedout", "Runtime.ExitError")
AT_THE_END = "(after its last call)"  # the operation of a death after the invocation's work

# Per service (boto3 name): (code, HTTP status) of its throttling errors and of its server errors.
THROTTLING = {
    "s3": (("SlowDown", 503),),
    "dynamodb": (("ProvisionedThroughputExceededException", 400), ("ThrottlingException", 400)),
    "ssm": (("ThrottlingException", 400),),
    "sns": (("Throttling", 400),),
    "rekognition": (("ThrottlingException", 400), ("ProvisionedThroughputExceededException", 400)),
    "stepfunctions": (("ThrottlingException", 400),),
    "events": (("ThrottlingException", 400),),
    "sagemaker-a2i-runtime": (("ThrottlingException", 429),),
}
SERVER_ERRORS = {
    "s3": (("InternalError", 500), ("ServiceUnavailable", 503)),
    "dynamodb": (("InternalServerError", 500),),
    "ssm": (("InternalServerError", 500),),
    "sns": (("InternalError", 500),),
    "rekognition": (("InternalServerError", 500),),
    "stepfunctions": (("ServiceUnavailable", 503),),
    "events": (("InternalException", 500),),
    "sagemaker-a2i-runtime": (("InternalServerException", 500),),
}
KINDS = ("throttling", "server_error", *CANCELLATION_REASONS, "parameter_throttling", RESPONSE_LOST)
_LOST = "labelloop_response_lost"  # the request context's mark of a call whose response is lost
_PARAMS = "labelloop_fault_params"  # the request context's copy of the call's parameters (to send it again)
_RESENT = "labelloop_fault_resent"  # the request context's mark of a lost response's first application


@dataclass(frozen=True)
class Fault:
    """One injected fault (``kind`` CRASH: a function's death, ``code`` the name it failed under)."""

    function: str
    operation: str  # "<service>.<Operation>"
    kind: str
    code: str
    during: str = ""  # what the function was working on (see FaultInjector.during)


class FunctionDied(Exception):
    """The function's process is gone (timeout, out of memory). A handler's ``except`` may meet it, but
    whatever it tries next dies too, and the invocation fails as AWS reports a death whatever the handler
    returns (:meth:`FaultInjector.invocation`): only the calls applied before the death count."""

    def __init__(self, invocation: "Invocation"):
        super().__init__(f"{invocation.function} died: {invocation.death.error}")
        self.invocation = invocation


class FunctionCrashed(Exception):
    """Base of the exceptions an invocation that died fails with, each named as AWS reports it."""


@cache
def crashed(name: str) -> type[FunctionCrashed]:
    """The exception class named ``name`` (e.g. ``Sandbox.Timedout``): the errorType the harness reports."""
    return type(name, (FunctionCrashed,), {"__module__": __name__})


@dataclass(frozen=True)
class Death:
    at: int  # the call it dies at (1-based); past the last call: after its work
    after: bool  # just after that call was applied (else before it reaches the service)
    error: str  # one of CRASH_ERRORS


@dataclass
class Invocation:
    """One invocation under way: its function, the calls it made, and its death if one was drawn."""

    function: str
    death: Death | None = None
    calls: int = 0
    dead: bool = False


def kinds_for(service: str, operation: str) -> tuple[str, ...]:
    """The kinds of fault AWS documents for one call."""
    if service == "ssm" and operation in PARAMETER_READS:
        return ("parameter_throttling", "server_error", RESPONSE_LOST)
    found = ("throttling",) if service in THROTTLING else ()
    found += ("server_error",) if service in SERVER_ERRORS else ()
    if (service, operation) == ("dynamodb", "TransactWriteItems"):
        found += CANCELLATION_REASONS
    return found + (RESPONSE_LOST,)


class FaultInjector:
    """Fails ``rate`` of the requests (of ``kinds``; every kind by default) and kills ``crash_rate`` of
    the invocations run through :meth:`invocation`, drawn from ``seed``; plays the client's retries, up
    to ``client_attempts`` requests a call."""

    def __init__(self, seed: int = 0, rate: float = 0.1, kinds: Iterable[str] = KINDS, crash_rate: float = 0.0,
                 client_attempts: int = CALL_ATTEMPTS):
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {', '.join(KINDS)}")
        self.rate, self.kinds, self.crash_rate = rate, tuple(kinds), crash_rate
        self._retries = StandardRetryConditions(max_attempts=client_attempts)
        self.client_attempts = client_attempts
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._paused = 0
        self._resending = threading.local()  # .client: the client whose next call applies a lost response's request
        self._running: list[Invocation] = []  # innermost last (a serial run nests executions in calls)
        self._calls_before: dict[str, int] = {}  # function -> calls its previous invocation made
        self.calls: Counter[str] = Counter()  # every request seen, by "<service>.<Operation>"
        self.invocations = 0
        self.faults: list[Fault] = []
        # What the function is working on when a fault is injected (a run sets it: the image's key).
        self.during: Callable[[], str] = lambda: ""

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """No fault is injected in the block."""
        with self._lock:
            self._paused += 1
        try:
            yield
        finally:
            with self._lock:
                self._paused -= 1

    # -- invocations that die -----------------------------------------------------------
    @contextlib.contextmanager
    def invocation(self, function: str) -> Iterator[Invocation]:
        """Run an invocation of ``function`` in the block; one that dies leaves it as the exception
        AWS reports (:func:`crashed`), whatever the handler did with :class:`FunctionDied`."""
        with self._lock:
            self.invocations += 1
            death = None
            if not self._paused and self.crash_rate and self._rng.random() < self.crash_rate:
                window = max(1, self._calls_before.get(function, 1))
                death = Death(self._rng.randint(1, window), self._rng.random() < 0.5, self._rng.choice(CRASH_ERRORS))
            running = Invocation(function, death)
            self._running.append(running)
        try:
            yield running
            if running.death and not running.dead:  # fewer calls than drawn: it dies after its work
                self._die(running, AT_THE_END)
        except Exception:
            if not running.dead:
                raise
        finally:
            with self._lock:
                self._running.remove(running)
                self._calls_before[function] = running.calls
        if running.dead:
            raise crashed(running.death.error)(f"{function} died mid-way ({running.death.error})")

    def _current(self, function: str) -> Invocation | None:
        return next((i for i in reversed(self._running) if i.function == function), None)

    def _die(self, invocation: Invocation, operation: str):
        if not invocation.dead:
            invocation.dead = True
            self.faults.append(Fault(invocation.function, operation, CRASH, invocation.death.error, self.during()))
        raise FunctionDied(invocation)

    # -- faulted calls --------------------------------------------------------------------
    def attach(self, function: str, client: Any) -> None:
        service = client.meta.service_model.service_name
        service_id = client.meta.service_model.service_id.hyphenize()
        endpoint = client.meta.endpoint_url

        def keep(params, context, **_):
            context[_PARAMS] = dict(params)

        def before(model, params, context, **_):
            return self._before(function, client, model, params, context)

        def after(model, context, **_):
            self._after(function, f"{service}.{model.name}", endpoint, context)

        client.meta.events.register(f"before-parameter-build.{service_id}.*", keep)
        # First: a faulted call never reaches moto or a stand-in.
        client.meta.events.register_first(f"before-call.{service_id}.*", before)
        client.meta.events.register(f"after-call.{service_id}.*", after)

    def _before(self, function: str, client: Any, model: Any, params: dict, context: dict):
        if getattr(self._resending, "client", None) is client:
            self._resending.client = None
            context[_RESENT] = True
            return None  # a lost response's request, applied before the client sends it again
        service = client.meta.service_model.service_name
        name = f"{service}.{model.name}"
        with self._lock:
            invocation = self._current(function)
            if invocation is not None:
                if invocation.dead:
                    raise FunctionDied(invocation)  # a dead function calls nothing more
                invocation.calls += 1
                death = invocation.death
                if death and death.at == invocation.calls and not death.after:
                    self._die(invocation, name)
        attempt = 0
        while True:  # the client's attempts: each request drawn afresh
            attempt += 1
            with self._lock:
                self.calls[name] += 1
                kinds = [k for k in kinds_for(service, model.name) if k in self.kinds]
                if self._paused or not kinds or self._rng.random() >= self.rate:
                    return None
                kind = self._rng.choice(kinds)
                if kind == RESPONSE_LOST:
                    lost = self._rng.choice(LOST_RESPONSES)
                    self.faults.append(Fault(function, name, kind, lost.__name__, self.during()))
                else:
                    code, status, extra = self._error(service, kind, params)
                    self.faults.append(Fault(function, name, kind, code, self.during()))
            if kind == RESPONSE_LOST:
                error = lost(endpoint_url=client.meta.endpoint_url, error="injected fault (response_lost)")
                if not self._retried(attempt, model, caught=error):
                    context[_LOST] = lost  # the call goes on; after-call loses its response
                    return None
                self._resend(client, model, context)  # applied; its response lost, the client sends it again
                continue
            parsed = {"Error": {"Code": code, "Message": f"injected fault ({kind})"}, **extra,
                      "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": attempt - 1}}
            response = SimpleNamespace(status_code=status, headers={}, content=b"", raw=None)
            if not self._retried(attempt, model, parsed=parsed, http=response):
                return response, parsed

    def _retried(self, attempt: int, model: Any, *, parsed: dict | None = None, http: Any = None,
                 caught: Exception | None = None) -> bool:
        """Whether botocore's standard mode sends the request again after this attempt's fault."""
        return self._retries.is_retryable(RetryContext(attempt, model, parsed, http, caught))

    def _resend(self, client: Any, model: Any, context: dict) -> None:
        """Apply the call's request once, as a request whose response was lost (what the service then
        holds is what the client's next attempt meets). A body the request read is rewound for the
        next attempt, as botocore rewinds it."""
        params = context.get(_PARAMS, {})
        bodies = {name: value.tell() for name, value in params.items() if hasattr(value, "seek")}
        self._resending.client = client
        try:
            getattr(client, xform_name(model.name))(**params)
        except Exception:  # the service refused it: the next attempt meets what it left
            pass
        finally:
            self._resending.client = None
            for name, position in bodies.items():
                params[name].seek(position)

    def _after(self, function: str, name: str, endpoint: str, context: dict) -> None:
        if context.pop(_RESENT, False):
            return
        with self._lock:
            invocation = self._current(function)
            if invocation is not None and invocation.death and invocation.death.after \
                    and invocation.death.at == invocation.calls and not invocation.dead:
                self._die(invocation, name)  # applied, and the function is gone before it reads the answer
        lost = context.pop(_LOST, None)
        if lost is not None:
            raise lost(endpoint_url=endpoint, error="injected fault (response_lost)")

    def _error(self, service: str, kind: str, params: dict) -> tuple[str, int, dict]:
        if kind in CANCELLATION_REASONS:
            # ``params`` here is the serialised request: its body holds the items.
            items = _transact_items(params)
            reasons = [{"Code": "None"} for _ in range(items)]
            reasons[self._rng.randrange(items)] = {"Code": kind, "Message": f"injected {kind}"}
            return "TransactionCanceledException", 400, {"CancellationReasons": reasons}
        if kind == "parameter_throttling":
            return "ThrottlingException", 400, {}
        code, status = self._rng.choice((THROTTLING if kind == "throttling" else SERVER_ERRORS)[service])
        return code, status, {}

    # -- what happened ---------------------------------------------------------------
    def by_kind(self) -> Counter[str]:
        return Counter(f.kind for f in self.faults)

    def by_call(self) -> Counter[tuple[str, str, str]]:
        """(function, operation, kind) -> faults injected."""
        return Counter((f.function, f.operation, f.kind) for f in self.faults)


def _transact_items(request: dict) -> int:
    body = request.get("body") or b"{}"
    return max(1, len(json.loads(body.decode() if isinstance(body, bytes) else body).get("TransactItems", [])))
