"""One classification of AWS errors, the same for the state machines' Retry rules, the handlers,
the parameter reader and the CLI: every transient error AWS documents for the calls the functions
make is retried, everything else is final."""

from __future__ import annotations

import glob
import gzip
import json
import os

import boto3
import botocore
import pytest
from aws_lambda_powertools.utilities.parameters import SSMProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from botocore.stub import Stubber
from stack_support import CONFIDENT, record_of, upload

from cli.main import aws_problem
from components.functions import FUNCTIONS
from components.state_machines import detection_definition, lifecycle_definition
from handlers.runtime import aws, errors

MODELS = os.path.join(os.path.dirname(botocore.__file__), "data")
# IAM prefix → botocore service; IAM actions that are not operation names → the operation.
SERVICES = {"dynamodb": "dynamodb", "events": "events", "rekognition": "rekognition", "s3": "s3",
            "sagemaker": "sagemaker-a2i-runtime", "sns": "sns", "ssm": "ssm", "states": "stepfunctions",
            "secretsmanager": "secretsmanager"}
OPERATIONS = {"s3:ListBucket": "ListObjectsV2", "s3:GetObjectVersion": "GetObject", "s3:ListBucketVersions": "ListObjectVersions",
              "s3:DeleteObjectVersion": "DeleteObject"}
# Calls IAM authorizes under other actions: a transaction as the item writes, a copy as get + put.
ALSO_CALLED = {"dynamodb:TransactWriteItems", "s3:CopyObject", "s3:HeadObject", "s3:DeleteObjects"}
# Granted for what a service does on the function's behalf, never called by it: decrypting a token
# read from SSM or Secrets Manager with a customer managed key.
NOT_CALLED = {"kms:Decrypt"}

# Documented for these calls, and final: retrying the same request cannot help (a refused or
# invalid request, a missing or busy resource, a failed condition, a quota rather than a rate).
FINAL = {
    "AccessDeniedException", "AuthorizationError", "ConditionalCheckFailedException", "ConflictException",
    "EncryptionTypeMismatch", "EndpointDisabled", "ExecutionAlreadyExists", "ExecutionLimitExceeded",
    "IdempotentParameterMismatchException", "ImageTooLargeException", "InvalidArn", "InvalidEventPatternException",
    "InvalidExecutionInput", "InvalidFilterKey", "InvalidFilterOption", "InvalidFilterValue",
    "InvalidImageFormatException", "InvalidKeyId", "InvalidName", "InvalidNextToken", "InvalidObjectState",
    "InvalidPaginationTokenException", "InvalidParameter", "InvalidParameterException", "InvalidRequest",
    "InvalidS3ObjectException", "InvalidSecurity", "InvalidWriteOffset", "ItemCollectionSizeLimitExceededException",
    "KMSAccessDenied", "KMSDisabled", "KMSInvalidState", "KMSNotFound", "KMSOptInRequired",
    "KmsAccessDeniedException", "KmsInvalidStateException", "ManagedRuleException", "NoSuchBucket", "NoSuchKey",
    "NotFound", "ObjectNotInActiveTierError", "ParameterNotFound", "ParameterValueInvalid",
    "ParameterVersionNotFound", "PlatformApplicationDisabled", "ResourceInUseException",
    "ResourceNotFoundException", "ResourceNotReadyException", "ServiceQuotaExceededException",
    "StateMachineDeleting", "StateMachineDoesNotExist", "TooManyParts", "ValidationException",
    "TransactionCanceledException",  # by its reasons: see the cancellation tests
    "DecryptionFailure", "InvalidRequestException",  # Secrets Manager: a key the role cannot use, a deleted secret
}

# What each service's documentation names transient for these calls (API references, the errors
# common to all AWS APIs, S3's error best practices, DynamoDB's transaction cancellation reasons).
DOCUMENTED_TRANSIENT = {
    "s3": ["InternalError", "SlowDown", "ServiceUnavailable", "RequestTimeout"],
    "dynamodb": ["ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
                 "InternalServerError", "TransactionConflictException"],
    "ssm": ["ThrottlingException", "InternalServerError"],
    "rekognition": ["ThrottlingException", "ProvisionedThroughputExceededException", "InternalServerError",
                    "LimitExceededException"],
    "sns": ["Throttled", "Throttling", "InternalError", "KMSThrottling"],
    "stepfunctions": ["ThrottlingException", "KmsThrottlingException"],
    "events": ["ThrottlingException", "InternalException"],
    "sagemaker-a2i-runtime": ["ThrottlingException", "InternalServerException", "InternalFailure",
                              "ServiceUnavailable"],
    "secretsmanager": ["ThrottlingException", "InternalServiceError"],
}
LAMBDA = ["Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
          "Lambda.TooManyRequestsException", "Lambda.Unknown", "Lambda.ClientExecutionTimeoutException"]


def client_error(code: str, operation: str = "Call", **response) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"simulated {code}"}, **response}, operation)


def cancelled(*reasons: str) -> ClientError:
    return client_error("TransactionCanceledException", "TransactWriteItems",
                        CancellationReasons=[{"Code": r} for r in reasons])


def model(service: str) -> dict:
    [path] = sorted(glob.glob(os.path.join(MODELS, service, "*", "service-2.json.gz")))[-1:]
    with gzip.open(path) as f:
        return json.load(f)


def called_operations() -> dict[str, set[str]]:
    """botocore service → the operations some function's role allows (and the two IAM names differently)."""
    actions = {a for spec in FUNCTIONS.values() for grant in spec.grants for a in grant.actions} - NOT_CALLED | ALSO_CALLED
    calls: dict[str, set[str]] = {}
    for action in actions:
        prefix, name = action.split(":")
        calls.setdefault(SERVICES[prefix], set()).add(OPERATIONS.get(action, name))
    return calls


def documented_errors() -> dict[str, dict]:
    """Error code → its shape, for every error the service models list for the called operations."""
    found = {}
    for service, operations in called_operations().items():
        m = model(service)
        for operation in operations:
            for ref in m["operations"][operation].get("errors", []):
                shape = m["shapes"][ref["shape"]]
                found[shape.get("error", {}).get("code", ref["shape"])] = shape
    return found


def test_every_documented_error_of_every_call_is_classified():
    documented = documented_errors()
    transient = {code for code in documented if errors.is_transient(client_error(code))}
    unclassified = set(documented) - transient - FINAL
    assert not unclassified, f"classify these (errors.TRANSIENT_CODES, or final here): {sorted(unclassified)}"
    assert not transient & FINAL


def test_server_faults_throttling_and_retryable_shapes_are_transient():
    for code, shape in documented_errors().items():
        if shape.get("fault") or shape.get("retryable") or "throttl" in code.lower():
            assert errors.is_transient(client_error(code)), code


@pytest.mark.parametrize("service", sorted(DOCUMENTED_TRANSIENT))
def test_documented_transient_errors_are_retried(service):
    for code in DOCUMENTED_TRANSIENT[service]:
        exc = client_error(code)
        assert errors.is_transient(exc), (service, code)
        named = errors.named(exc)
        assert type(named).__name__ == code and errors.is_transient(named)
        assert code in errors.RETRY_ERROR_NAMES  # the name Step Functions matches


def test_final_errors_are_not_retried():
    for code in ("AccessDeniedException", "ValidationException", "ConditionalCheckFailedException",
                 "ResourceNotFoundException", "InvalidImageFormatException", "ServiceQuotaExceededException"):
        assert not errors.is_transient(client_error(code)), code
        assert not errors.is_transient(errors.named(client_error(code)))
        assert code not in errors.RETRY_ERROR_NAMES
    assert not errors.is_transient(ValueError("not an AWS error"))
    assert not errors.is_transient(KeyError("key"))


@pytest.mark.parametrize("reasons, transient", [
    (("ThrottlingError", "None"), True),
    (("None", "TransactionConflict"), True),
    (("ProvisionedThroughputExceeded",), True),
    (("TransactionConflict", "ThrottlingError"), True),
    (("ConditionalCheckFailed", "None"), False),  # the guard worked: the write was done before
    (("ConditionalCheckFailed", "TransactionConflict"), False),
    (("ValidationError", "None"), False),
    (("ItemCollectionSizeLimitExceeded",), False),
    ((), False),
])
def test_transaction_cancellations_by_reason(reasons, transient):
    exc = cancelled(*reasons)
    assert errors.cancellation_reasons(exc) == reasons
    assert errors.is_transient(exc) is transient
    named = errors.named(exc)
    assert (type(named).__name__ in errors.RETRY_ERROR_NAMES) is transient
    assert errors.is_transient(named) is transient
    assert errors.guard_failed(exc) is ("ConditionalCheckFailed" in reasons)
    if transient:
        assert type(named).__name__ in errors.TRANSIENT_CANCELLATIONS
    else:
        assert type(named).__name__ == "TransactionCanceledException"
    assert all(r in str(named) for r in reasons)


def test_network_errors_after_the_client_retries_are_transient():
    for exc in (EndpointConnectionError(endpoint_url="https://ssm.example"),
                ReadTimeoutError(endpoint_url="https://ssm.example")):
        assert errors.is_transient(exc)
        assert type(exc).__name__ in errors.RETRY_ERROR_NAMES


def _stubbed_provider(code: str) -> SSMProvider:
    ssm = boto3.client("ssm", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(ssm)
    stubber.add_client_error("get_parameters_by_path", service_error_code=code, http_status_code=400)
    stubber.activate()
    return SSMProvider(boto3_client=ssm)


@pytest.mark.parametrize("code, transient", [("ThrottlingException", True), ("InternalServerError", True),
                                             ("AccessDeniedException", False)])
def test_powertools_parameter_errors_are_classified_by_the_aws_error_inside(code, transient):
    with pytest.raises(GetParameterError) as raised:
        _stubbed_provider(code).get_multiple("/labelloop/t/", max_age=0)
    assert not isinstance(raised.value, ClientError)  # what no Retry rule matched by name
    assert errors.error_code(raised.value) == code
    assert errors.is_transient(raised.value) is transient
    assert isinstance(errors.unwrap(raised.value), ClientError)


@pytest.mark.parametrize("definition", [
    detection_definition("detect", "start_review", "detection_failed"),
    lifecycle_definition({spec.key: spec.key for spec in FUNCTIONS.values()}),
], ids=["detection", "lifecycle"])
def test_every_task_retries_every_transient_error_and_lambdas_own(definition):
    tasks = {name: state for name, state in definition["States"].items() if state["Type"] == "Task"}
    assert tasks
    for name, state in tasks.items():
        matched = {error for rule in state.get("Retry", []) for error in rule["ErrorEquals"]}
        missing = [e for e in (*LAMBDA, *errors.RETRYABLE) if e not in matched]
        assert not missing, (name, missing)
        assert "States.ALL" not in matched and "States.TaskFailed" not in matched  # fatal errors stay fatal


def test_cli_tells_a_transient_failure_from_a_refused_one():
    throttled = aws_problem(client_error("ThrottlingException", "GetParametersByPath"))
    assert "try again" in throttled and "credentials" not in throttled
    denied = aws_problem(client_error("AccessDeniedException", "GetParametersByPath"))
    assert "credentials" in denied and "try again" not in denied
    assert "try again" in aws_problem(EndpointConnectionError(endpoint_url="https://ssm.example"))


def test_a_transaction_cancelled_by_a_conflict_is_retried_by_the_state_machine(shared_stack):
    """Detect's transaction meets a concurrent one; the next attempt records the detection."""
    ddb = aws.client("dynamodb")
    faults = [cancelled("None", "TransactionConflict")]

    def conflict_once(**_):
        if faults:
            exc = faults.pop()
            raise ddb.exceptions.TransactionCanceledException(exc.response, "TransactWriteItems")

    ddb.meta.events.register("before-call.dynamodb.TransactWriteItems", conflict_once)
    try:
        key = "images_for_detection/retry/conflict.png"
        execution = upload(shared_stack, key, CONFIDENT)
    finally:
        ddb.meta.events.unregister("before-call.dynamodb.TransactWriteItems", conflict_once)
    assert not faults
    assert execution["status"] == "SUCCEEDED", execution
    assert record_of(shared_stack, key).outcome == "confident"
