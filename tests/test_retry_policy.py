"""One retry layer per scope (handlers/runtime/errors.py: who retries what): a DynamoDB call that is
always throttled costs a function invocation at most ``CALL_ATTEMPTS`` requests — botocore's standard
mode's, at the HTTP level, with no retry of the handler's own around them — and then fails under a
name its caller's retries match. Measured on a state machine's task (detect), a function EventBridge
invokes asynchronously (training_data) and the review app's API, each with the production client
configuration and DynamoDB refusing every request as throttled."""

from __future__ import annotations

import pytest
from fault_support import refusing
from review_api_support import claims, http_event
from stack_support import CONFIDENT, eventbridge_event, fresh, review_app_stack, upload

from handlers.runtime import aws, errors
from handlers.runtime.workflow import detection_input
from sandbox.local_aws import LambdaFailed

THROTTLED = "ProvisionedThroughputExceededException"


def always(n: int, request) -> bool:
    return True


@pytest.fixture(scope="module")
def app():
    with review_app_stack() as st:
        yield st


@pytest.fixture
def st(app):
    fresh(app)
    return app


def test_the_bound_is_botocores_attempts_and_nothing_multiplies_them():
    assert aws.CLIENT_CONFIG.retries == {"mode": "standard", "total_max_attempts": errors.CALL_ATTEMPTS}
    assert errors.CALL_ATTEMPTS == 3


def failed_invocation(st, target: str, event: dict) -> tuple[int, str]:
    """Deliver ``event`` to ``target`` while every DynamoDB request is refused as throttled: the
    requests DynamoDB saw, and the error the invocation failed with."""
    with refusing(st.session, "dynamodb", None, THROTTLED, always) as (seen, waits), \
            pytest.raises(LambdaFailed) as failed:
        st.deliver(target, event)
    assert len(waits) == seen[0] - 1  # botocore's backoff between its attempts
    return seen[0], failed.value.payload["errorType"]


def test_a_state_machine_task_makes_one_throttled_call_at_most_call_attempts_times(st):
    key = "images_for_detection/bound/detect.png"
    upload(st, key, CONFIDENT)
    head = st.client("s3").head_object(Bucket=st.bucket, Key=key)
    event = detection_input(st.bucket, key, head["ETag"].strip('"'), head.get("VersionId"), reason="a test")
    requests, error = failed_invocation(st, "detect", event)
    assert requests <= errors.CALL_ATTEMPTS and requests == errors.CALL_ATTEMPTS
    assert error == THROTTLED and error in errors.RETRY_ERROR_NAMES  # the state machine's Retry takes it from here


def test_an_asynchronously_invoked_function_makes_one_throttled_call_at_most_call_attempts_times(st):
    key = "images_labeled_by_folder/cat/bound.png"
    st.client("s3").put_object(Bucket=st.bucket, Key=key, Body=b"\x89PNG bound")
    st.pump()  # counted once, as its own event does; the delivery below meets the throttled table
    requests, error = failed_invocation(st, "training_data", eventbridge_event(st.bucket, key, "e-bound"))
    assert requests <= errors.CALL_ATTEMPTS and requests == errors.CALL_ATTEMPTS  # once: Lambda retries the event
    assert error == THROTTLED


def test_the_review_apis_request_makes_one_throttled_call_at_most_call_attempts_times(st):
    requests, error = failed_invocation(st, "review_api", http_event("GET", "/api/tasks/next",
                                                                    token=claims("reviewer-1")))
    assert requests <= errors.CALL_ATTEMPTS and requests == errors.CALL_ATTEMPTS  # API Gateway answers 500
    assert error == THROTTLED  # and the page sends the request again later
