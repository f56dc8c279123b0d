"""The wrapper every Lambda entry point uses: structured logs with the request
context, metrics flushed at the end, per-container state reused. A body that takes
two arguments is handed the Lambda context too (the review API's resolver keeps it).

A function that EventBridge invokes asynchronously has no state machine to retry it: Lambda's two
retries come minutes apart and then the event is dead-lettered. Its entry point
(``@entry_point(retry_transient=True)``) runs the whole body again on a transient error
(:func:`errors.is_transient`), a few times within the function's timeout; that is safe because these
handlers are idempotent (content-keyed conditional writes). A final error fails at once.
"""

from __future__ import annotations

import inspect
from functools import wraps
from typing import Any, Callable

from botocore.exceptions import ClientError

from . import backoff
from .context import logger, metrics
from .errors import named

# At most about 5 s of waiting in all (0.2 + 0.4 + 0.8 + 1.6 + 2): well inside a 30 s timeout.
BODY_ATTEMPTS, BODY_BASE_DELAY, BODY_MAX_DELAY = 6, 0.2, 2.0


def worst_case_wait() -> float:
    """The longest the retries of an asynchronously invoked body can wait in all."""
    return sum(min(BODY_MAX_DELAY, BODY_BASE_DELAY * 2 ** attempt) for attempt in range(BODY_ATTEMPTS - 1))


def entry_point(fn: Callable[[dict], Any] | None = None, *, retry_transient: bool = False):
    """``@entry_point``, or ``@entry_point(retry_transient=True)`` for an asynchronously invoked function."""
    if fn is None:
        return lambda body: entry_point(body, retry_transient=retry_transient)

    takes_context = len(inspect.signature(fn).parameters) > 1

    def run(event: dict, context: Any) -> Any:
        body = (lambda: fn(event, context)) if takes_context else (lambda: fn(event))
        if not retry_transient:
            return body()
        return backoff.retried(body, attempts=BODY_ATTEMPTS, base=BODY_BASE_DELAY, cap=BODY_MAX_DELAY)

    @wraps(fn)
    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict, context: Any) -> Any:
        try:
            return run(event, context)
        except ClientError as exc:  # let Step Functions match the AWS error code
            raise named(exc) from exc
        finally:
            # Flush what was recorded (a no-op when metrics are disabled), then start empty:
            # a handler that recorded nothing publishes nothing and warns about nothing.
            if metrics.metric_set:
                metrics.flush_metrics()
            metrics.clear_metrics()

    handler.retries_transient = retry_transient
    return handler
