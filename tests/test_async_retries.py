"""A function EventBridge invokes asynchronously has no state machine to retry it: its client tries
each call again on a transient error (botocore's standard mode), its body runs once, and what still
fails is retried by Lambda's asynchronous invocation (``ASYNC_RETRIES`` more attempts, then the
failure destination); a final error fails at once. Injected at the HTTP level, on the functions'
production clients: a throttled copy into the training data, a server error on a delete event's
check; each ends as if nothing had failed, in one invocation."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError
from fault_support import first, refusing
from stack_support import (
    eventbridge_event,
    fresh,
    invocations_of,
    open_review,
    output_document,
    training_keys,
    write_output,
)

from components.functions import FUNCTIONS
from components.lambdas import ASYNC_RETRIES
from components.observability import SUMMARY
from components.review_app import SWEEP
from components.triggers import bucket_triggers, parameter_trigger
from handlers.runtime import context, errors
from handlers.runtime.lambda_entry import entry_point
from sandbox.local_aws import LambdaFailed

# EventBridge → Lambda targets (the state machines' tasks are retried by their state machines).
LAMBDA_CONTEXT = SimpleNamespace(function_name="labelloop-test-async", function_version="$LATEST",
                                 invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:x",
                                 memory_limit_in_mb=256, aws_request_id="r-1")
ASYNC_TARGETS = {t.target for t in [*bucket_triggers("bucket"), parameter_trigger("/labelloop/"), SUMMARY, SWEEP]
                 if t.target in FUNCTIONS}


@pytest.fixture
def st(shared_stack):
    fresh(shared_stack)
    return shared_stack


def test_every_asynchronously_invoked_function_runs_its_body_once_and_lambda_retries_the_event():
    assert ASYNC_TARGETS == {"training_data", "review_output", "parameter_change", "summary", "review_api", "dataset"}
    assert ASYNC_RETRIES == 2  # Lambda's asynchronous retries, minutes apart, then the failure destination
    bodies = []

    @entry_point
    def body(event):
        bodies.append(event)
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "simulated"}}, "PutItem")

    with pytest.raises(errors.AwsError) as raised:
        body({"n": 1}, LAMBDA_CONTEXT)
    assert bodies == [{"n": 1}]  # once: no retry of the handler's own around its calls' retries
    assert type(raised.value).__name__ == "ThrottlingException" and "ThrottlingException" in errors.RETRY_ERROR_NAMES


def test_a_throttled_copy_into_the_training_data_is_retried_in_the_invocation(st):
    _, loop = open_review(st, "images_for_detection/async/copy.png")
    before = len(invocations_of(st, "review_output"))
    with refusing(st.session, "s3", "CopyObject", "SlowDown", first(errors.CALL_ATTEMPTS - 1), 503) as (seen, waits):
        write_output(st, loop, output_document(st, loop, ["dog"]))
    assert seen == [errors.CALL_ATTEMPTS] and len(waits) == errors.CALL_ATTEMPTS - 1
    assert len(invocations_of(st, "review_output")) == before + 1  # no invocation failed
    assert context.table().review(loop).status == "accepted"
    assert any(key.startswith("images_labeled_by_folder/dog/") for key in training_keys(st))


def test_a_server_error_on_a_delete_event_is_retried_in_the_invocation(st):
    key = "images_labeled_by_folder/cat/async-deleted.png"
    st.deliver("training_data", eventbridge_event(st.bucket, key, "e1"))
    with refusing(st.session, "s3", "HeadObject", "InternalError", first(2), 500) as (seen, waits):
        result = st.deliver("training_data", eventbridge_event(st.bucket, key, "e1", created=False))
    assert seen == [3] and len(waits) == 2
    assert result == [{"key": key, "label": "cat", "counted": True, "reason": ""}]


def test_a_final_error_fails_the_invocation_at_once(st):
    _, loop = open_review(st, "images_for_detection/async/denied.png")
    with refusing(st.session, "s3", "CopyObject", "AccessDenied", first(1), 403) as (seen, waits), \
            pytest.raises(LambdaFailed):
        write_output(st, loop, output_document(st, loop, ["dog"]))
    assert seen == [1] and waits == []
