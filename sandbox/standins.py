"""Answer boto3 calls of services moto does not have from local Python objects,
behind the very same client calls: one stand-in per service, shared by the
tests, the benchmarks and the sandbox (:mod:`sandbox.custom_labels` for
Rekognition Custom Labels, :mod:`sandbox.a2i` for A2I).

A stand-in is any object with methods named like the API operations
(``DetectCustomLabels(**params)``); it returns the response dict or raises
``ServiceFault`` for an AWS error. ``attach`` hooks it into a boto3 session; a
fault the client's retry mode would retry (botocore's standard mode, as the
functions' clients are configured) is answered again within the call.
"""

from __future__ import annotations

import contextlib
import copy
from types import SimpleNamespace
from typing import Any, ContextManager

import boto3
from botocore import endpoint
from botocore.retries.standard import ExponentialBackoff, RetryContext, StandardRetryConditions

_PARAMS = "labelloop_api_params"
_BACKOFF = ExponentialBackoff()  # botocore's standard mode's: full jitter, at most 20 s


class ServiceFault(Exception):
    """An AWS error response: the client raises it as ``client.exceptions.<code>``."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status


def attach(session: boto3.Session, service: str, standin: object,
           lock: ContextManager | None = None, *, passthrough: bool = False) -> None:
    """Route every call of ``service`` (boto3 name, e.g. "rekognition") made by clients of ``session``;
    each call holds ``lock`` (moto's request lock: one request at a time, stand-ins included). With
    ``passthrough`` the stand-in answers only the operations it has, and moto the others."""
    lock = lock or contextlib.nullcontext()
    events = session._session.get_component("event_emitter")  # clients copy the session's handlers

    def keep_params(params, context, **_):
        context[_PARAMS] = copy.deepcopy(params)

    def answer(model, context, **_):
        operation = getattr(standin, model.name, None)
        if operation is None and passthrough:
            return None
        if operation is None:
            return _response(400, {"Error": {"Code": "UnsupportedOperation",
                                             "Message": f"{type(standin).__name__} does not implement {model.name}"}})
        retries = (context["client_config"].retries or {}).get("total_max_attempts", 1)
        conditions, attempt = StandardRetryConditions(max_attempts=retries), 0
        while True:  # the client's attempts, as botocore's standard mode makes them (answered here, not sent)
            attempt += 1
            try:
                with lock:
                    return _response(200, operation(**context.get(_PARAMS, {})) or {})
            except ServiceFault as fault:
                response = _response(fault.status, {"Error": {"Code": fault.code, "Message": fault.message}},
                                     attempt - 1)
            retry = RetryContext(attempt, model, response[1], response[0])
            if not conditions.is_retryable(retry):
                return response
            endpoint.time.sleep(_BACKOFF.delay_amount(retry))  # where botocore's endpoint waits

    service_id = session._session.get_service_model(service).service_id.hyphenize()
    events.register(f"before-parameter-build.{service_id}", keep_params)
    events.register(f"before-call.{service_id}", answer)


def _response(status: int, parsed: dict[str, Any], retried: int = 0):
    parsed.setdefault("ResponseMetadata", {"HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": retried})
    return SimpleNamespace(status_code=status, headers={}, content=b"", raw=None), parsed
