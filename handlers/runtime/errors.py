"""Errors as Step Functions sees them.

A Lambda error's name is the exception's class name, so a botocore
``ClientError`` would always be "ClientError". The entry point re-raises it as
an exception class named after the AWS error code ("ThrottlingException", …),
which the state machines' Retry rules match by name.
"""

from __future__ import annotations

from functools import cache

from botocore.exceptions import ClientError

# AWS error codes worth retrying with backoff (throttling and transient service errors).
RETRYABLE = (
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "ProvisionedThroughputExceeded",
    "LimitExceededException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalServerError",
    "InternalServerException",
    "RequestLimitExceeded",
    "TransactionConflictException",
)
# Lambda's own transient invocation errors.
LAMBDA_TRANSIENT = ("Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
                    "Lambda.TooManyRequestsException")


class ModelBusy(Exception):
    """The version cannot start now (it is still stopping); the lifecycle's StartModel retries this error."""


class AwsError(Exception):
    """Base of the per-code exception classes."""


@cache
def _error_class(code: str) -> type[AwsError]:
    name = "".join(ch for ch in code if ch.isalnum()) or "AwsError"
    return type(name, (AwsError,), {"__module__": __name__})


def named(exc: ClientError) -> AwsError:
    """The same error as an exception whose class name is the AWS error code."""
    code = exc.response.get("Error", {}).get("Code", "AwsError")
    message = exc.response.get("Error", {}).get("Message", str(exc))
    return _error_class(code)(f"{exc.operation_name}: {message}")
