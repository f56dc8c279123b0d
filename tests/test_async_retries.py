"""A function EventBridge invokes asynchronously has no state machine to retry it: its entry point
runs the whole (idempotent) body again on a transient error, within the function's timeout, and
fails at once on a final one. Injected: a throttled copy into the training data, a server error on
a delete event's check; each ends as if nothing had failed, in one invocation."""

from __future__ import annotations

import pytest
from fault_support import failing, first
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
from components.observability import SUMMARY
from components.review_app import SWEEP
from components.triggers import bucket_triggers, parameter_trigger
from handlers import review_api
from handlers.runtime import context, lambda_entry
from sandbox.local_aws import LambdaFailed

# EventBridge → Lambda targets (the state machines' tasks are retried by their state machines).
ASYNC_TARGETS = {t.target for t in [*bucket_triggers("bucket"), parameter_trigger("/labelloop/"), SUMMARY, SWEEP]
                 if t.target in FUNCTIONS}


@pytest.fixture
def st(shared_stack):
    fresh(shared_stack)
    return shared_stack


def handler_of(key: str):
    module, name = FUNCTIONS[key].handler.rsplit(".", 1)
    return getattr(__import__(module, fromlist=[name]), name)


def async_handler_of(key: str):
    """What the asynchronous events reach: the review function sends its schedule's to its sweep."""
    return review_api.sweep_handler if key == "review_api" else handler_of(key)


def test_every_asynchronously_invoked_function_retries_transient_errors_within_its_timeout():
    assert ASYNC_TARGETS == {"training_data", "review_output", "parameter_change", "summary", "review_api", "dataset"}
    for key in ASYNC_TARGETS:
        assert async_handler_of(key).retries_transient, key
        assert lambda_entry.worst_case_wait() < FUNCTIONS[key].timeout / 3, key
    # A state machine's task is retried by its state machine: not twice over.
    assert not handler_of("detect").retries_transient and not handler_of("switch_model").retries_transient
    assert not review_api.api_handler.retries_transient  # a reviewer's request answers at once


def test_a_throttled_copy_into_the_training_data_is_retried_in_the_invocation(st, waits):
    _, loop = open_review(st, "images_for_detection/async/copy.png")
    before = len(invocations_of(st, "review_output"))
    with failing("s3", "CopyObject", "SlowDown", first(3)) as seen:
        write_output(st, loop, output_document(st, loop, ["dog"]))
    assert seen == [4] and len(waits) == 3
    assert len(invocations_of(st, "review_output")) == before + 1  # no invocation failed
    assert context.table().review(loop).status == "accepted"
    assert any(key.startswith("images_labeled_by_folder/dog/") for key in training_keys(st))


def test_a_server_error_on_a_delete_event_is_retried_in_the_invocation(st, waits):
    key = "images_labeled_by_folder/cat/async-deleted.png"
    st.deliver("training_data", eventbridge_event(st.bucket, key, "e1"))
    with failing("s3", "HeadObject", "InternalError", first(2)) as seen:
        result = st.deliver("training_data", eventbridge_event(st.bucket, key, "e1", created=False))
    assert seen == [3] and len(waits) == 2
    assert result == [{"key": key, "label": "cat", "counted": True, "reason": ""}]


def test_a_final_error_fails_the_invocation_at_once(st, waits):
    _, loop = open_review(st, "images_for_detection/async/denied.png")
    with failing("s3", "CopyObject", "AccessDenied", first(1)) as seen, pytest.raises(LambdaFailed):
        write_output(st, loop, output_document(st, loop, ["dog"]))
    assert seen == [1] and waits == []
