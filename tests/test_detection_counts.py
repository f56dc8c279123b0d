"""Each classified image is counted once on its day — not its duplicate deliveries, not the state
machine's retries of its detection — and audit sampling draws from the image's content, so it samples
the same images however often they are delivered. Without an AWS call more on the hot path
(benchmarks/api_calls.py keeps 3 and 5)."""

from __future__ import annotations

import json

import pytest
from stack_support import CONFIDENT, fresh, local_stack, activate_model, record_of, upload

from handlers.runtime import context
from handlers.runtime.state import today
from policies.defaults import unit_hash
from policies.names import ENABLE_SAMPLING, SAMPLING_INTERVAL


@pytest.fixture
def st():
    with local_stack(parameter_overrides={ENABLE_SAMPLING: True, SAMPLING_INTERVAL: 3}) as stack:
        activate_model()
        fresh(stack)
        yield stack


def test_duplicates_and_retries_count_once_and_sample_by_content(st):
    keys = [f"images_for_detection/seq/{i}.png" for i in range(9)]
    for i, key in enumerate(keys):
        if i == 1:
            st.models.fail_next("DetectCustomLabels", "ThrottlingException")  # Detect is retried
        execution = upload(st, key, CONFIDENT)
        for _ in range(2):  # every event delivered three times
            st.start_execution("detection", json.loads(execution["input"]))
        st.wait_for_executions()
    assert len(st.retry_sleeps) == 1
    counts = context.table().day_stats(today()).counts
    audited = [key for key in keys if record_of(st, key).outcome == "to_audit"]
    assert counts.get("outcome_to_audit", 0) + counts.get("outcome_confident", 0) == len(keys)
    assert counts.get("outcome_to_audit", 0) == len(audited) > 0
    assert audited == [key for key in keys if unit_hash(record_of(st, key).detection_id, "audit") * 3 < 1]
