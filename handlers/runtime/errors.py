"""Errors as Step Functions sees them, the one place that decides which are transient, and who
retries what.

A Lambda error's name is the exception's class name, so a botocore ``ClientError`` would always be
"ClientError". The entry point re-raises it as an exception class named after the AWS error code
(:func:`named`: "ThrottlingException", …), which the state machines' Retry rules match by name
(:data:`RETRY_ERROR_NAMES`). Code that falls back inside a function asks :func:`is_transient`; both
read the same lists, so a state machine and a handler never disagree about what is worth another
attempt. Everything else is final.

Who retries what — one layer for each scope, so that attempts never multiply:

- **Inside one AWS call: botocore's standard retry mode** (``aws.CLIENT_CONFIG``, at most
  :data:`CALL_ATTEMPTS` requests): throttling, server errors, dropped connections and lost responses,
  spaced by exponential backoff with full jitter, and stopped early by the client's retry quota when
  most calls fail — it sends less when the service asks for less. No handler wraps a call in a retry
  loop of its own.
- **The one transient failure botocore leaves**: a DynamoDB transaction cancelled only for throttling
  or a conflicting transaction (:func:`cancelled_transiently`: HTTP 400, its reasons in the body). The
  state package sends it again, within the same budget: a call's requests in all, botocore's and
  its own, stay within :data:`CALL_ATTEMPTS`.
- **Around a function: what invokes it.** A state machine's task by its Retry rules
  (:data:`RETRY_ERROR_NAMES`, with backoff); a function EventBridge invokes asynchronously by Lambda's
  asynchronous invocation (two more attempts, a minute and two apart, then the failure destination);
  the review app's API by the review page, which sends a request that failed again, later; the
  schedules' sweeps by their next run. A handler does not run its body again.

So one always-throttled call costs at most :data:`CALL_ATTEMPTS` requests per invocation of the
function that makes it. What is not an error's retry stays in its handler, bounded: waiting for a
model still starting before it can be stopped (``lifecycle/deploy.py``).
"""

from __future__ import annotations

from functools import cache
from types import MappingProxyType
from typing import Mapping

from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from . import aws
from .aws import CALL_ATTEMPTS  # noqa: F401  (a call's requests in all: botocore's, and the state package's)

# Transient error codes of the calls labelloop makes, per service: throttling and server faults as
# each service's API reference and botocore's service model name them, and the errors common to
# every AWS API. A code is one string for every service (Step Functions matches names only), so
# LimitExceededException — Rekognition's rate limit — is retried wherever it appears; where another
# service means a quota by it, the retry is bounded and the error final after it.
TRANSIENT_CODES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "common": ("ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded",
               "InternalFailure", "ServiceUnavailable", "ServiceUnavailableException", "RequestTimeout",
               "RequestTimeoutException"),
    "s3": ("SlowDown", "InternalError", "OperationAborted"),
    "dynamodb": ("ProvisionedThroughputExceededException", "InternalServerError", "TransactionConflictException",
                 "TransactionInProgressException", "ReplicatedWriteConflictException"),
    "ssm": ("InternalServerError", "TooManyUpdates"),
    "rekognition": ("ProvisionedThroughputExceededException", "InternalServerError", "LimitExceededException"),
    "sns": ("Throttled", "InternalError", "KMSThrottling"),
    "stepfunctions": ("KmsThrottlingException",),
    "events": ("InternalException", "ConcurrentModificationException"),
    "sagemaker-a2i-runtime": ("InternalServerException",),
})
TRANSIENT = frozenset(code for codes in TRANSIENT_CODES.values() for code in codes)

# A cancelled DynamoDB transaction gives one reason per item ("None" for the items that were fine).
# Throttling and a concurrent transaction on an item clear by themselves; a failed condition means
# the guard worked (the write was already done), and any other reason is a bug in the request.
TRANSACTION_CANCELED = "TransactionCanceledException"
TRANSIENT_CANCELLATIONS = ("ThrottlingError", "ProvisionedThroughputExceeded", "TransactionConflict")
GUARD_FAILED = "ConditionalCheckFailed"

# botocore's own transient failures (after the client's retries), raised under their class names.
NETWORK_ERRORS = (ConnectTimeoutError, ReadTimeoutError, EndpointConnectionError, ConnectionClosedError,
                  ResponseStreamingError)

# Everything a labelloop function can raise that is worth another attempt, by the name Step Functions sees.
RETRYABLE = (*sorted(TRANSIENT), *TRANSIENT_CANCELLATIONS, *(cls.__name__ for cls in NETWORK_ERRORS))
# Lambda's own transient invocation errors as Step Functions reports them ("Handle Lambda service
# exceptions"); Lambda.Unknown is also how a concurrency limit or a function timeout arrives. A function
# killed by its timeout or its memory can also fail under the error type Lambda itself reports for it
# (Sandbox.Timedout, Runtime.ExitError): every function is safe to run again, so those are retried too.
LAMBDA_TRANSIENT = ("Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
                    "Lambda.TooManyRequestsException", "Lambda.ClientExecutionTimeoutException", "Lambda.Unknown",
                    "Sandbox.Timedout", "Runtime.ExitError")
# What the state machines' service-error Retry rules match.
RETRY_ERROR_NAMES = (*RETRYABLE, *LAMBDA_TRANSIENT)

# Libraries that wrap an AWS error in their own exception (Powertools' parameters raise
# GetParameterError from the ClientError): classified by the error they were raised from.
WRAPPERS = (GetParameterError,)


class ModelBusy(Exception):
    """The version cannot start now (it is still stopping); the lifecycle's StartModel retries this error."""


class IncumbentStarting(Exception):
    """The running model, started (or stopping) to be compared with the candidate, does not run yet; the
    lifecycle's CompareOnGateSet retries this error."""


class AwsError(Exception):
    """Base of the per-code exception classes."""


@cache
def _error_class(code: str) -> type[AwsError]:
    name = "".join(ch for ch in code if ch.isalnum()) or "AwsError"
    return type(name, (AwsError,), {"__module__": __name__})


def unwrap(exc: BaseException) -> BaseException:
    """The AWS error inside a library's wrapper (what it was raised from), else ``exc`` itself."""
    while isinstance(exc, WRAPPERS) and (exc.__cause__ or exc.__context__) is not None:
        exc = exc.__cause__ or exc.__context__
    return exc


def error_code(exc: BaseException) -> str | None:
    """The AWS error code: a ClientError's, or a named error's class name (through wrappers); else None."""
    exc = unwrap(exc)
    return type(exc).__name__ if isinstance(exc, AwsError) else aws.error_code(exc)


def cancellation_reasons(exc: BaseException) -> tuple[str, ...]:
    """The per-item reason codes of a cancelled transaction ("None" for an item that was fine); () otherwise."""
    exc = unwrap(exc)
    if not isinstance(exc, ClientError) or error_code(exc) != TRANSACTION_CANCELED:
        return ()
    return tuple(str(reason.get("Code") or "None") for reason in exc.response.get("CancellationReasons", []))


def guard_failed(exc: BaseException) -> bool:
    """A transaction cancelled because a condition failed: the write it guards was done before."""
    return GUARD_FAILED in cancellation_reasons(exc)


def cancelled_transiently(exc: BaseException) -> bool:
    """A transaction cancelled only for throttling or a conflicting transaction: worth sending again,
    which botocore does not do (a 400 whose reasons are in the body)."""
    return _transient_cancellation(cancellation_reasons(exc)) is not None


def _transient_cancellation(reasons: tuple[str, ...]) -> str | None:
    """The reason to retry a cancelled transaction under, or None when it is final."""
    failed = [r for r in reasons if r != "None"]
    if failed and all(r in TRANSIENT_CANCELLATIONS for r in failed):
        return failed[0]
    return None


def is_transient(exc: BaseException) -> bool:
    """Whether another attempt of the same call may succeed: throttling, a server fault, a
    transaction cancelled only by throttling or a conflict, a dropped connection. A failed
    condition, a refused or invalid request, a missing resource are final."""
    exc = unwrap(exc)
    if isinstance(exc, NETWORK_ERRORS):
        return True
    code = error_code(exc)
    if code == TRANSACTION_CANCELED:
        return _transient_cancellation(cancellation_reasons(exc)) is not None
    return code in RETRYABLE


def named(exc: ClientError) -> AwsError:
    """The same error as an exception whose class name is the AWS error code; a transaction
    cancelled only for transient reasons is named after its reason ("TransactionConflict", …),
    which the Retry rules match, unlike a final cancellation."""
    code = exc.response.get("Error", {}).get("Code", "AwsError")
    message = exc.response.get("Error", {}).get("Message", str(exc))
    if code == TRANSACTION_CANCELED:
        reasons = cancellation_reasons(exc)
        code = _transient_cancellation(reasons) or code
        message = f"{message} (reasons: {', '.join(reasons) or 'none given'})"
    return _error_class(code)(f"{exc.operation_name}: {message}")
