"""The wrapper every Lambda entry point uses: structured logs with the request
context, metrics flushed at the end, per-container state reused, an AWS error raised
under its code's name. A body that takes two arguments is handed the Lambda context too
(the review API's resolver keeps it).

The body runs once: what failed after its call's retries fails the invocation, and what
invoked the function tries it again (see :mod:`handlers.runtime.errors`: who retries what).
"""

from __future__ import annotations

import inspect
from functools import wraps
from typing import Any, Callable

from botocore.exceptions import ClientError

from .context import logger, metrics
from .errors import named


def entry_point(fn: Callable[..., Any]):
    """``@entry_point`` on a handler's body: ``body(event)``, or ``body(event, context)``."""
    takes_context = len(inspect.signature(fn).parameters) > 1

    @wraps(fn)
    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict, context: Any) -> Any:
        try:
            return fn(event, context) if takes_context else fn(event)
        except ClientError as exc:  # let Step Functions match the AWS error code
            raise named(exc) from exc
        finally:
            # Flush what was recorded (a no-op when metrics are disabled), then start empty:
            # a handler that recorded nothing publishes nothing and warns about nothing.
            if metrics.metric_set:
                metrics.flush_metrics()
            metrics.clear_metrics()

    return handler
