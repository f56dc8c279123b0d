"""Exactly the fault a test needs, on the clients the handlers use: a botocore ``before-call`` hook
that fails chosen calls of one operation with an AWS error code, or loses their responses once applied."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

from botocore.exceptions import ClientError, ReadTimeoutError

from handlers.runtime import aws

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
