"""The wrapper every Lambda entry point uses: structured logs with the request
context, metrics flushed at the end, per-container state reused."""

from __future__ import annotations

from functools import wraps
from typing import Any, Callable

from botocore.exceptions import ClientError

from .context import logger, metrics
from .errors import named


def entry_point(fn: Callable[[dict], Any]) -> Callable[[dict, Any], Any]:
    @wraps(fn)
    @metrics.log_metrics
    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict, context: Any) -> Any:
        try:
            return fn(event)
        except ClientError as exc:  # let Step Functions match the AWS error code
            raise named(exc) from exc

    return handler
