"""An event with several records: every record is detected (each in a detection of its own, as its
own upload event would be), none is dropped silently; and what fails before the split records every
one of them."""

from __future__ import annotations

import pytest
from stack_support import (
    CONFIDENT,
    UNSURE,
    detection_result,
    etag_of,
    fresh,
    notification_event,
    record_of,
    upload,
)

from handlers.runtime import context


@pytest.fixture
def st(shared_stack):
    fresh(shared_stack)
    return shared_stack


def two_images(st, prefix: str) -> list[str]:
    keys = [f"images_for_detection/{prefix}/first.png", f"images_for_detection/{prefix}/second image.png"]
    for key, scores in zip(keys, (CONFIDENT, UNSURE)):
        upload(st, key, scores, pump=False)
    st.discard_pending_events()  # delivered below, as one event
    return keys


def test_every_record_of_an_event_is_detected(st):
    keys = two_images(st, "records")
    event = notification_event(st.bucket, *((key, etag_of(st, key), 40) for key in keys))
    arn = st.start_execution("detection", event)
    st.wait_for_executions()
    st.wait_for_executions()  # the detections the first one started
    first = next(e for e in st.executions if e["executionArn"] == arn)
    assert first["status"] == "SUCCEEDED"
    assert detection_result(first) | {"keys": None} == {
        "outcome": "split", "records": 2, "review": False, "keys": None,
        "reason": "an event with 2 records: each is detected on its own"}
    _wait_for_records(st, keys)
    assert [record_of(st, key).outcome for key in keys] == ["confident", "to_training"]
    assert record_of(st, keys[1]).human_loop in st.a2i.loops  # the second record's review started too


def test_a_split_that_fails_records_every_record_as_failed(st):
    keys = two_images(st, "records-failed")
    event = notification_event(st.bucket, *((key, etag_of(st, key), 40) for key in keys))
    sfn = st.client("stepfunctions")

    def refuse_the_split(params, **_):  # the split's starts only (the test's own start goes through)
        if "records of an event" in params["body"].decode():
            raise sfn.exceptions.ExecutionLimitExceeded(
                {"Error": {"Code": "ExecutionLimitExceeded", "Message": "simulated"}}, "StartExecution")

    sfn.meta.events.register("before-call.sfn.StartExecution", refuse_the_split)
    try:
        arn = st.start_execution("detection", event)
        st.wait_for_executions()
    finally:
        sfn.meta.events.unregister("before-call.sfn.StartExecution", refuse_the_split)
    assert next(e for e in st.executions if e["executionArn"] == arn)["status"] == "FAILED"
    assert [record_of(st, key).outcome for key in keys] == ["failed", "failed"]
    assert sorted(f.key for f in context.table().failed_detections() if f.key in keys) == sorted(keys)
    [message] = st.notifications()
    assert "ExecutionLimitExceeded" in message["subject"] and keys[0] in message["message"]


def _wait_for_records(st, keys, timeout: float = 30.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while any(record_of(st, key) is None or record_of(st, key).review_status is None and key.endswith("image.png")
              for key in keys):
        assert time.monotonic() < deadline, "the records' detections did not finish"
        time.sleep(0.01)
