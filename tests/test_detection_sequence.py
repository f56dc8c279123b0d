"""The detection sequence (what audit sampling counts) counts each classified image once: not its
duplicate deliveries, not the state machine's retries of its detection; and no two detections take
the same number. Without an AWS call more on the hot path (benchmarks/api_calls.py keeps 3 and 5)."""

from __future__ import annotations

import json

import pytest
from stack_support import CONFIDENT, fresh, local_stack, activate_model, record_of, upload

from handlers import detect as detect_module
from handlers.runtime import context
from handlers.runtime.events import object_events
from policies.names import ENABLE_SAMPLING, SAMPLING_INTERVAL


@pytest.fixture
def st():
    with local_stack(parameter_overrides={ENABLE_SAMPLING: True, SAMPLING_INTERVAL: 3}) as stack:
        activate_model()
        fresh(stack)
        yield stack


def test_duplicates_and_retries_take_no_number(st):
    keys = [f"images_for_detection/seq/{i}.png" for i in range(6)]
    for i, key in enumerate(keys):
        if i == 1:
            st.models.fail_next("DetectCustomLabels", "ThrottlingException")  # Detect is retried
        execution = upload(st, key, CONFIDENT)
        for _ in range(2):  # every event delivered three times
            st.start_execution("detection", json.loads(execution["input"]))
        st.wait_for_executions()
    assert len(st.retry_sleeps) == 1
    assert context.table().loop().sequence == len(keys)
    assert [record_of(st, key).sequence for key in keys] == [1, 2, 3, 4, 5, 6]
    audited = [key for key in keys if record_of(st, key).outcome == "to_audit"]
    assert audited == [keys[2], keys[5]]  # one in every three images, whatever was delivered how often


def test_two_detections_decided_with_the_same_number_get_two(st, monkeypatch):
    """Both read the count before either writes: the second's write finds its number taken, and it
    decides again with the next one."""
    first, second = "images_for_detection/seq/first.png", "images_for_detection/seq/second.png"
    for key in (first, second):
        upload(st, key, CONFIDENT, pump=False)
    st.discard_pending_events()
    events = {key: {"bucket": st.bucket, "key": key, "etag": st.client("s3").head_object(
        Bucket=st.bucket, Key=key)["ETag"].strip('"')} for key in (first, second)}
    finish, other = detect_module._finish, [events[first]]

    def the_other_writes_first(table, record, *args, **options):
        if other:
            detect_module.detect(next(object_events(other.pop())))
        return finish(table, record, *args, **options)

    monkeypatch.setattr(detect_module, "_finish", the_other_writes_first)
    result = detect_module.detect(next(object_events(events[second])))
    assert result["outcome"] == "confident"
    assert (record_of(st, first).sequence, record_of(st, second).sequence) == (1, 2)
    assert context.table().loop().sequence == 2
