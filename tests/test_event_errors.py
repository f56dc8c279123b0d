"""Every handler's event parsing errors are clear and specific (what is missing, where), and the
failure-recording task records and tells whatever it receives — it never crashes on the event it
is reporting."""

from __future__ import annotations

import pytest
import state_support
from stack_support import UNSURE, fresh, invocations_of, record_of, upload

from handlers.detection_failed import record_failure
from handlers.runtime import context
from handlers.runtime.events import UnrecognisedEvent, object_events
from handlers.runtime.workflow import PollRequest, RunState
from sandbox.local_aws import LambdaFailed

KEY = "images_for_detection/errors/x.png"


def record(**s3) -> dict:
    return {"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": {"key": KEY}} | s3}


@pytest.mark.parametrize("event, message", [
    ({"Records": []}, "the event has no records"),
    ({"Records": [{"eventName": "ObjectCreated:Put"}]}, "the record has no s3 (it is not an S3 notification record)"),
    ({"Records": [record(object={"size": 4})]}, "the record has no s3.object.key"),
    ({"Records": [record(), record(bucket={})]}, "record 2 has no s3.bucket.name"),
    ({"Records": [record(object="x")]}, "the record has no s3.object.key ('key' is not inside an object)"),
    ({"Records": "x"}, "the event's Records is a str, not a list"),
    ({"source": "aws.s3", "detail-type": "Object Created", "detail": {"bucket": {"name": "b"}}},
     "the Object Created event has no detail.object.key"),
    ({"source": "aws.s3", "detail-type": "Object Created", "detail": None},
     "the Object Created event has no detail.bucket.name"),
    ({"bucket": "b"}, "the direct invocation has no key"),
    (["not", "an", "event"], "the event is a list, not an object"),
    ({"hello": "world"}, "not an S3 object event (keys: hello)"),
])
def test_object_events_say_what_is_missing(event, message):
    with pytest.raises(UnrecognisedEvent) as raised:
        list(object_events(event))
    assert str(raised.value) == message


def test_workflow_payloads_say_what_is_missing():
    with pytest.raises(UnrecognisedEvent, match="the poll request has no since"):
        PollRequest.from_event({"version": "v1", "phase": "training", "max_wait_seconds": 5})
    with pytest.raises(UnrecognisedEvent, match="the lifecycle state has no run"):
        RunState.from_event({}).owner


@pytest.fixture
def st(shared_stack):  # noqa: F811  (the imported fixture)
    fresh(shared_stack)
    return shared_stack


@pytest.mark.parametrize("function, event, message", [
    ("detect", {"Records": []}, "the event has no records"),
    ("detect", {"Records": [record(object={})]}, "the record has no s3.object.key"),
    ("training_data", {"Records": [record(object={})]}, "the record has no s3.object.key"),
    ("review_output", {"Records": []}, "the event has no records"),
    ("start_review", {"detection_id": "d", "bucket": "b", "purpose": "training"}, "the detection to review has no key"),
    ("parameter_change", {"source": "aws.ssm", "detail": {"operation": "Update"}},
     "the Parameter Store Change event's detail has no name"),
    ("summary", {"day": "yesterday"}, "the summary's day 'yesterday' is not a date (YYYY-MM-DD)"),
    ("model_status", {"version": "v1"}, "the poll request has no phase"),
])
def test_each_handler_names_what_its_event_lacks(st, function, event, message):
    with pytest.raises(LambdaFailed) as failed:
        st.deliver(function, event)
    assert failed.value.payload == {"errorType": "UnrecognisedEvent", "errorMessage": message}


@pytest.mark.parametrize("execution_input, error", [
    ({"Records": []}, {"Error": "UnrecognisedEvent", "Cause": "the event has no records"}),
    ({"Records": [record(object={})]}, {"Error": "UnrecognisedEvent", "Cause": "the record has no s3.object.key"}),
    (["a", "list"], {"Error": "UnrecognisedEvent", "Cause": "the event is a list, not an object"}),
    ("a string", "not even an error object"),
    (None, None),
])
def test_the_failure_task_records_and_tells_whatever_it_receives(st, execution_input, error):
    context.table()  # the failure task's table, as in its container
    result = record_failure({"input": execution_input, "error": error})
    assert result["outcome"] == "failed" and result["images"] == [] and result["unreadable"]
    [message] = st.notifications() or [None]
    if message is not None:  # told once per kind of error per day
        assert "Detections are failing" in message["subject"] and "not an image event" in message["message"]


def test_a_failure_task_that_receives_no_payload_object_still_tells(st):
    result = record_failure("garbage")
    assert result["outcome"] == "failed" and "the event is a str, not an object" in result["unreadable"]


def test_the_failure_of_a_detection_that_cannot_be_read_reaches_the_operator(st):
    state_support.delete_partition("ALERT#detection-failure")  # no alert sent yet today
    arn = st.start_execution("detection", {"Records": []})
    st.wait_for_executions()
    assert next(e for e in st.executions if e["executionArn"] == arn)["status"] == "FAILED"
    [recorded] = [i for i in invocations_of(st, "detection_failed") if i.event["input"] == {"Records": []}]
    assert recorded.error is None and "the event has no records" in recorded.result["unreadable"]
    [message] = st.notifications()
    assert "Detections are failing: UnrecognisedEvent" in message["subject"]
    assert "the event has no records" in message["message"]


def test_a_readable_failed_event_is_recorded(st):
    st.models.fail_next("DetectCustomLabels", "AccessDeniedException")
    assert upload(st, KEY, UNSURE)["status"] == "FAILED"
    assert record_of(st, KEY).outcome == "failed"
