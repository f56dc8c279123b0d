"""At-least-once delivery: every event delivered three times does its work once."""

import json

import pytest
from stack_support import (
    UNSURE,
    activate_model,
    counts,
    detection_result,
    etag_of,
    eventbridge_event,
    invocations_of,
    local_stack,
    notification_event,
    open_review,
    output_document,
    output_of,
    parameters,
    records_for,
    training_keys,
    upload,
    write_output,
)

from handlers.runtime import context
from handlers.runtime.ids import human_loop_name
from handlers.runtime.state import today
from policies.names import ENABLE_REVIEW
from sandbox.a2i import HumanLoop
from sandbox.standins import ServiceFault

KEY = "images_for_detection/dup/same image+1.png"


@pytest.fixture
def st():
    with local_stack() as st:
        activate_model()
        yield st


def test_upload_event_three_times(st):
    first = upload(st, KEY, UNSURE)
    event = json.loads(first["input"])
    for _ in range(2):
        st.start_execution("detection", event)
    st.wait_for_executions()
    outcomes = [detection_result(e)["outcome"] for e in st.executions]
    assert outcomes == ["to_training", "duplicate", "duplicate"]
    assert all(e["status"] == "SUCCEEDED" for e in st.executions)
    [record] = records_for(KEY)
    assert record.outcome == "to_training"
    assert len(st.a2i.loops) == 1
    [name] = st.a2i.loops
    assert st.a2i.attempts[name] == 1  # the duplicates did not even try to start a loop
    assert record.human_loop == name
    stats = context.table().day_stats(today())
    assert stats.counts["outcome_to_training"] == 1 and stats.counts["reviews_started_training"] == 1
    assert context.table().loop().open_reviews == 1
    assert st.notifications() == []


def test_upload_event_in_both_formats(st):
    upload(st, KEY, UNSURE)
    etag = etag_of(st, KEY)
    for event in (notification_event(st.bucket, (KEY, etag, 40)), eventbridge_event(st.bucket, KEY, etag)):
        st.start_execution("detection", event)
    st.wait_for_executions()
    assert len(records_for(KEY)) == 1 and len(st.a2i.loops) == 1


def test_a_new_version_of_the_image_is_a_new_detection(st):
    upload(st, KEY, UNSURE)
    upload(st, KEY, UNSURE, body=b"\x89PNG another image")
    assert len(records_for(KEY)) == 2 and len(st.a2i.loops) == 2


def test_a2i_output_event_three_times(st):
    detection, name = open_review(st, KEY)
    write_output(st, name, output_document(st, name, ["dog"]))
    [first] = invocations_of(st, "review_output")
    for _ in range(2):
        st.deliver("review_output", first.event)
    write_output(st, name, output_document(st, name, ["dog"]))  # A2I writing the file again: a new S3 event
    results = [i.result[0] for i in invocations_of(st, "review_output")]
    assert [r["status"] for r in results] == ["accepted", "accepted", "accepted", "accepted"]
    assert [bool(r.get("duplicate")) for r in results] == [False, True, True, True]
    assert training_keys(st) == [f"images_labeled_by_folder/dog/{detection}.png"]
    assert counts() == {"dog": 1}
    stats = context.table().day_stats(today())
    assert stats.counts["reviews_accepted"] == 1
    assert context.table().loop().open_reviews == 0


def test_training_upload_event_three_times(st):
    key = "images_labeled_by_folder/cat/dup.png"
    st.client("s3").put_object(Bucket=st.bucket, Key=key, Body=b"\x89PNG")
    st.pump()
    event = eventbridge_event(st.bucket, key, etag_of(st, key))
    for _ in range(2):
        st.deliver("training_data", event)
    assert counts() == {"cat": 1}


def test_everything_three_times(st):
    """Upload and output events, each delivered three times: one record, one loop, one training copy."""
    first = upload(st, KEY, UNSURE)
    event = json.loads(first["input"])
    for _ in range(2):
        st.start_execution("detection", event)
    st.wait_for_executions()
    [name] = st.a2i.loops
    write_output(st, name, output_document(st, name, ["cat"]))
    [output_event] = [i.event for i in invocations_of(st, "review_output")]
    for _ in range(2):
        st.deliver("review_output", output_event)
    st.pump()
    assert len(records_for(KEY)) == 1
    assert len(st.a2i.loops) == 1
    assert len(training_keys(st)) == 1 and counts() == {"cat": 1}


class FailingA2I:
    """StartHumanLoop refused with a non-retryable error the first ``failures`` times."""

    def __init__(self, a2i, failures=1):
        self.a2i, self.failures = a2i, failures

    def __call__(self, **params):
        if self.failures:
            self.failures -= 1
            raise ServiceFault("ValidationException", "the flow definition is not active")
        return self.a2i.__class__.StartHumanLoop(self.a2i, **params)


def test_redelivery_starts_a_review_whose_start_failed(st):
    st.a2i.StartHumanLoop = FailingA2I(st.a2i)
    first = upload(st, KEY, UNSURE)
    assert first["status"] == "FAILED"
    [record] = records_for(KEY)
    assert record.outcome == "to_training" and "ValidationException" in record.failure
    assert st.a2i.loops == {}
    [message] = st.notifications()
    assert "ValidationException" in message["subject"]

    st.start_execution("detection", json.loads(first["input"]))  # the event again
    st.wait_for_executions()
    again = st.executions[-1]
    assert again["status"] == "SUCCEEDED" and detection_result(again)["outcome"] == "duplicate"
    assert len(st.a2i.loops) == 1
    [record] = records_for(KEY)
    assert record.human_loop in st.a2i.loops and record.review_status == "open"

    st.start_execution("detection", json.loads(first["input"]))  # and once more: nothing new
    st.wait_for_executions()
    assert len(st.a2i.loops) == 1 and sum(st.a2i.attempts.values()) == 1


def test_a_second_review_start_is_a_no_op(st):
    first = upload(st, KEY, UNSURE)
    detection = detection_result(first)
    again = st.deliver("start_review", detection)
    assert again == {"human_loop": output_of(first)["review"]["value"]["human_loop"], "started": False,
                     "reason": "already started for this image"}
    [name] = st.a2i.loops
    assert st.a2i.attempts[name] == 2  # A2I refused the name: no second loop
    assert context.table().loop().open_reviews == 1


def test_review_start_resumes_a_loop_whose_record_was_not_written(st):
    with parameters(st, {ENABLE_REVIEW: "false"}):
        first = upload(st, KEY, UNSURE)
    detection = detection_result(first) | {"purpose": "training"}
    name = human_loop_name(detection["detection_id"])
    st.a2i.loops[name] = HumanLoop(name, st.flow_definition_arn, {})  # started by an attempt that then failed
    assert st.deliver("start_review", detection) == {"human_loop": name, "started": True, "resumed": True}
    assert context.table().review(name).status == "open"
    assert len(st.a2i.loops) == 1
