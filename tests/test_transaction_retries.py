"""A DynamoDB call that is throttled is tried again by the client (botocore's standard mode); a
transaction cancelled for throttling or a conflicting transaction, which botocore does not retry, is
tried again inside the state module (a few times, jittered); a failed condition is
the guard working and is never tried again; what still fails after the retries reaches the state
machine under a name its Retry rules match. Injected per cancellation reason: nothing is lost — an
image always ends with its record, a human loop started always has its record, so its answer is
accepted, never "not started by this stack"."""

from __future__ import annotations

import contextlib
import json

import pytest
from botocore.exceptions import ClientError
from fault_support import refusing
from stack_support import (
    CONFIDENT,
    UNSURE,
    fresh,
    invocations_of,
    output_document,
    record_of,
    upload,
    write_output,
)

from handlers.runtime import aws, context, errors, state
from handlers.runtime.state import AlreadyDone, DetectionRecord

REASONS = ("ThrottlingError", "ProvisionedThroughputExceeded", "TransactionConflict")


@pytest.fixture
def st(shared_stack):
    fresh(shared_stack)
    return shared_stack


def cancellation(reason: str, items: int) -> ClientError:
    ddb = aws.client("dynamodb")
    reasons = [{"Code": "None"}] * (items - 1) + [{"Code": reason, "Message": f"simulated {reason}"}]
    return ddb.exceptions.TransactionCanceledException(
        {"Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
         "CancellationReasons": reasons}, "TransactWriteItems")


@contextlib.contextmanager
def cancelled(reason: str, *, times: int = 1, in_all: int | None = None, where=lambda items: True):
    """Each transaction that ``where`` picks is cancelled for ``reason`` its first ``times`` attempts
    (or the first ``in_all`` attempts of all of them); yields the attempts seen per transaction."""
    seen: dict[str, int] = {}
    ddb = aws.client("dynamodb")

    def cancel(params, **_):  # before-call: the serialised request, DynamoDB's JSON body
        items = json.loads(params["body"])["TransactItems"]
        if not where(items):
            return
        request = json.dumps(items, sort_keys=True)
        seen[request] = seen.get(request, 0) + 1
        if (seen[request] <= times) if in_all is None else (sum(seen.values()) <= in_all):
            raise cancellation(reason, len(items))

    ddb.meta.events.register("before-call.dynamodb.TransactWriteItems", cancel)
    try:
        yield seen
    finally:
        ddb.meta.events.unregister("before-call.dynamodb.TransactWriteItems", cancel)


def writes_a_review(items) -> bool:
    """The transaction writes a human loop's record."""
    keys = [op.get("Key") or op["Item"] for item in items for op in item.values()]
    return any(key["pk"]["S"].startswith("HL#") for key in keys)


@pytest.mark.parametrize("reason", REASONS)
def test_every_transaction_of_a_review_cancelled_once_loses_nothing(st, waits, reason):
    key = f"images_for_detection/tx/{reason}.png"
    with cancelled(reason) as seen:
        execution = upload(st, key, UNSURE)
    assert len(seen) == 2 and set(seen.values()) == {2}  # detect's and start_review's, each tried twice
    assert execution["status"] == "SUCCEEDED", execution
    assert st.retry_sleeps == [] and len(invocations_of(st, "detect")) == 1  # retried inside, not by Step Functions
    assert len(waits) == 2 and all(0 <= w <= state.CALL_BASE_DELAY for w in waits)
    record = record_of(st, key)
    assert record.outcome == "to_training" and record.human_loop
    assert context.table().review(record.human_loop).status == "open"
    write_output(st, record.human_loop, output_document(st, record.human_loop, ["dog"]))
    assert context.table().review(record.human_loop).status == "accepted"


@pytest.mark.parametrize("operation, code", [("GetItem", "ProvisionedThroughputExceededException"),
                                             ("GetItem", "ThrottlingException"),
                                             ("UpdateItem", "ThrottlingException"),
                                             ("Query", "RequestLimitExceeded")])
def test_single_item_calls_are_retried_too(st, operation, code):
    table = context.table()
    with refusing(st.session, "dynamodb", operation, code, lambda n, _: n <= 2) as (seen, waits):
        if operation == "UpdateItem":
            table.record_training_decision({"train": False, "reason": "a throttled write"})
        elif operation == "Query":
            table.loop_and_dataset()
        else:
            table.loop()
    assert seen == [3] and len(waits) == 2
    if operation == "UpdateItem":
        assert table.loop().last_training_decision["reason"] == "a throttled write"


def test_a_failed_guard_is_never_retried(st, waits):
    key = "images_for_detection/tx/guarded.png"
    upload(st, key, CONFIDENT)
    record = record_of(st, key)
    calls = []
    ddb = aws.client("dynamodb")

    def count(**_):
        calls.append(1)

    ddb.meta.events.register("before-call.dynamodb.TransactWriteItems", count)
    try:
        with pytest.raises(AlreadyDone):
            context.table().record_detection(record)
    finally:
        ddb.meta.events.unregister("before-call.dynamodb.TransactWriteItems", count)
    assert len(calls) == 1 and waits == []


@pytest.mark.parametrize("reason", REASONS)
def test_after_the_retries_the_error_has_a_name_the_retry_rules_match(st, waits, reason):
    record = DetectionRecord("f" * 40, bucket=st.bucket, key="images_for_detection/tx/never.png",
                             detected_at=state.now_iso(), outcome="confident")
    with cancelled(reason, times=100) as seen, pytest.raises(ClientError) as raised:
        context.table().record_detection(record)
    assert list(seen.values()) == [state.CALL_ATTEMPTS] and len(waits) == state.CALL_ATTEMPTS - 1
    assert type(errors.named(raised.value)).__name__ == reason
    assert reason in errors.RETRY_ERROR_NAMES


def test_the_state_machine_retries_what_the_state_module_could_not(st, waits):
    """Detect's transaction cancelled more often than the state module tries: the state machine's
    Retry matches the name, and the next attempt records the image."""
    key = "images_for_detection/tx/persistent.png"
    with cancelled("TransactionConflict", in_all=state.CALL_ATTEMPTS):
        execution = upload(st, key, CONFIDENT)
    assert execution["status"] == "SUCCEEDED"
    assert len(st.retry_sleeps) == 1 and len(invocations_of(st, "detect")) == 2
    assert record_of(st, key).outcome == "confident"


def test_a_loop_whose_record_was_never_written_is_still_this_stacks(st, waits):
    """StartHumanLoop succeeded but its record could not be written however often it was tried: the
    answer still counts — the loop is known by its detection, which asked for the review."""
    key = "images_for_detection/tx/loop without record.png"
    with cancelled("ThrottlingError", times=1000, where=writes_a_review):
        execution = upload(st, key, UNSURE)
    assert execution["status"] == "FAILED"  # the review start failed after every retry
    record = record_of(st, key)
    [name] = [n for n, loop in st.a2i.loops.items() if loop.input["detectionId"] == record.detection_id]
    assert context.table().review(name) is None
    st.notifications()
    write_output(st, name, output_document(st, name, ["cat"]))
    loop = context.table().review(name)
    assert loop is not None and loop.status == "accepted" and loop.detection_id == record.detection_id
    assert record_of(st, key).review_status == "accepted"
    assert [r.detection_id for r in context.table().failed_detections()] == []  # not failed any more


def test_a_failure_record_that_is_cancelled_once_is_still_written(st, waits):
    key = "images_for_detection/tx/failure record.png"
    st.models.fail_next("DetectCustomLabels", "AccessDeniedException")
    with cancelled("ThrottlingError", where=lambda items: "outcome_failed" in json.dumps(items)) as seen:
        execution = upload(st, key, CONFIDENT)
    assert execution["status"] == "FAILED" and list(seen.values()) == [2]
    assert record_of(st, key).outcome == "failed"
