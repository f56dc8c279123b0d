"""Exactly the fault a test needs, on the clients the handlers use: a botocore ``before-call`` hook
that fails chosen calls of one operation with an AWS error code."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

from botocore.exceptions import ClientError

from handlers.runtime import aws


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
