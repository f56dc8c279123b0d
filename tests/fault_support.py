"""Exactly the fault a test needs, on the clients the handlers use: a botocore ``before-call`` hook
that fails chosen calls of one operation with an AWS error code (what reaches the handler after the
client's retries), or loses their responses once applied; or a ``before-send`` hook that refuses chosen
requests at the HTTP level, so the client's own retries (botocore's standard mode) run as on AWS."""

from __future__ import annotations

import contextlib
import json
from types import SimpleNamespace
from typing import Callable, Iterator

import botocore.endpoint
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, ReadTimeoutError
from moto.core.botocore_stubber import MockRawResponse

from handlers.runtime import aws
from sandbox.local_aws import SANDBOX_CLIENT_CONFIG
from sandbox.moto_harness import REFUSED

LOST = "fault_support_response_lost"  # the request context's mark of a call whose response is lost


@contextlib.contextmanager
def failing(service: str, operation: str, code: str, fails: Callable[[int, dict], bool]) -> Iterator[list[int]]:
    """Each call of ``operation`` (the n-th, from 1, with its serialised request) fails with ``code``
    when ``fails(n, request)``; yields ``[calls seen]``. First in line, so a stand-in cannot answer first."""
    seen = [0]
    client = aws.client(service)

    def fail(params, **_):
        seen[0] += 1
        if fails(seen[0], params):
            raise ClientError({"Error": {"Code": code, "Message": f"simulated {code}"}}, operation)

    client.meta.events.register_first(f"before-call.{service}.{operation}", fail)
    try:
        yield seen
    finally:
        client.meta.events.unregister(f"before-call.{service}.{operation}", fail)


def first(times: int) -> Callable[[int, dict], bool]:
    """The first ``times`` calls fail."""
    return lambda n, _: n <= times


def every_first_attempt(n: int, _: dict) -> bool:
    """Every other call fails: each call's first attempt, when each is tried once more."""
    return n % 2 == 1


@contextlib.contextmanager
def losing_response(service: str, operation: str, loses: Callable[[int, dict], bool]) -> Iterator[list[int]]:
    """Each call of ``operation`` (the n-th, from 1, with its serialised request) that ``loses`` picks
    reaches the service and is applied, then its caller gets botocore's ``ReadTimeoutError``, as when the
    response never came back; yields ``[calls seen]``."""
    seen = [0]
    client = aws.client(service)

    def mark(params, context, **_):
        seen[0] += 1
        if loses(seen[0], params):
            context[LOST] = True

    def lose(context, **_):
        if context.pop(LOST, False):
            raise ReadTimeoutError(endpoint_url=client.meta.endpoint_url, error="simulated lost response")

    client.meta.events.register_first(f"before-call.{service}.{operation}", mark)
    client.meta.events.register(f"after-call.{service}.{operation}", lose)
    try:
        yield seen
    finally:
        client.meta.events.unregister(f"before-call.{service}.{operation}", mark)
        client.meta.events.unregister(f"after-call.{service}.{operation}", lose)


@contextlib.contextmanager
def production_clients(session) -> Iterator[list[float]]:
    """Within the block the functions' clients are the production ones (``aws.CLIENT_CONFIG``: botocore's
    standard retry mode) on ``session``; yields the client's waits between attempts, recorded, not slept."""
    waits: list[float] = []
    aws.use_session(session, aws.CLIENT_CONFIG)
    real_time = botocore.endpoint.time
    botocore.endpoint.time = SimpleNamespace(sleep=waits.append)  # the client's backoff, recorded
    try:
        yield waits
    finally:
        botocore.endpoint.time = real_time
        aws.use_session(session, SANDBOX_CLIENT_CONFIG)


@contextlib.contextmanager
def refusing(session, service: str, operation: str | None, code: str, fails: Callable[[int, object], bool],
             status: int = 400) -> Iterator[tuple[list[int], list[float]]]:
    """Within the block the functions' clients are the production ones (:func:`production_clients`), and
    each request of ``operation`` (None: of every operation; the n-th, from 1, with the prepared request)
    that ``fails(n, request)`` picks is answered with ``code`` before it reaches moto, which applies
    nothing of it. Yields ``([requests seen], [the client's waits])``."""
    seen = [0]

    def refuse(request, **_):
        seen[0] += 1
        if not fails(seen[0], request):
            return None
        setattr(request, REFUSED, True)
        if protocol in ("json", "rest-json"):
            body = json.dumps({"__type": code, "message": f"simulated {code}"})
        else:
            body = f"<Error><Code>{code}</Code><Message>simulated {code}</Message></Error>"
        return AWSResponse(request.url, status, {}, MockRawResponse(body))

    with production_clients(session) as waits:
        client = aws.client(service)
        protocol = client.meta.service_model.protocol
        event = f"before-send.{client.meta.service_model.service_id.hyphenize()}" + (f".{operation}" if operation else "")
        client.meta.events.register_first(event, refuse)
        try:
            yield seen, waits
        finally:
            client.meta.events.unregister(event, refuse)
