"""Seeded fault injection on the clients the harness hands to handlers.

:class:`FaultInjector` is attached to every client of a function's container
(``LocalStack.on_function_client``); on each call it draws, from its own seeded
generator, whether the call fails and how, among the faults AWS documents for
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
  ``GetParameter``), which Powertools wraps in ``GetParameterError``.

A faulted call never reaches the service: nothing is written, as AWS answers
throttling and cancellations. Each fault is recorded (:attr:`FaultInjector.faults`)
with the function, the operation and the kind, so a run can say which call's
fault led to what. Injection can be paused (:meth:`FaultInjector.paused`) for
what stands outside the fault model (e.g. an operator's repair run).
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
from collections import Counter
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Callable, Iterable, Iterator

CANCELLATION_REASONS = ("ThrottlingError", "TransactionConflict", "ProvisionedThroughputExceeded")
PARAMETER_READS = ("GetParametersByPath", "GetParameter", "GetParameters")

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
KINDS = ("throttling", "server_error", *CANCELLATION_REASONS, "parameter_throttling")


@dataclass(frozen=True)
class Fault:
    """One injected fault."""

    function: str
    operation: str  # "<service>.<Operation>"
    kind: str
    code: str
    during: str = ""  # what the function was working on (see FaultInjector.during)


def kinds_for(service: str, operation: str) -> tuple[str, ...]:
    """The kinds of fault AWS documents for one call."""
    if service == "ssm" and operation in PARAMETER_READS:
        return ("parameter_throttling", "server_error")
    found = ("throttling",) if service in THROTTLING else ()
    found += ("server_error",) if service in SERVER_ERRORS else ()
    if (service, operation) == ("dynamodb", "TransactWriteItems"):
        found += CANCELLATION_REASONS
    return found


class FaultInjector:
    """Fails ``rate`` of the calls (of ``kinds``; every kind by default), drawn from ``seed``."""

    def __init__(self, seed: int = 0, rate: float = 0.1, kinds: Iterable[str] = KINDS):
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {', '.join(KINDS)}")
        self.rate, self.kinds = rate, tuple(kinds)
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._paused = 0
        self.calls: Counter[str] = Counter()  # every call seen, by "<service>.<Operation>"
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

    def attach(self, function: str, client: Any) -> None:
        service = client.meta.service_model.service_name
        service_id = client.meta.service_model.service_id.hyphenize()

        def inject(model, params, **_):
            return self._inject(function, service, model.name, params)

        # First: a faulted call never reaches moto or a stand-in.
        client.meta.events.register_first(f"before-call.{service_id}.*", inject)

    def _inject(self, function: str, service: str, operation: str, params: dict):
        name = f"{service}.{operation}"
        with self._lock:
            self.calls[name] += 1
            kinds = [k for k in kinds_for(service, operation) if k in self.kinds]
            if self._paused or not kinds or self._rng.random() >= self.rate:
                return None
            kind = self._rng.choice(kinds)
            code, status, extra = self._error(service, kind, params)
            self.faults.append(Fault(function, name, kind, code, self.during()))
        parsed = {"Error": {"Code": code, "Message": f"injected fault ({kind})"}, **extra,
                  "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0}}
        return SimpleNamespace(status_code=status, headers={}, content=b"", raw=None), parsed

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
