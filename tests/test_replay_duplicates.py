"""Replays of pending images under duplicate starts. AWS does not refuse an asynchronous Express
start whose name is taken (it starts a second, concurrent execution), so a retried ReplayPending
step starts its page again: the detection, keyed by the image's content, makes the duplicate
harmless — one record, counts moved once, one review."""

from __future__ import annotations

import contextlib
import json

import pytest
from botocore.exceptions import ClientError

from stack_support import (CONFIDENT, UNSURE, activate_model, deactivate_model, local_stack, loops_for, record_of,
                           records_for, upload)

from handlers import detect as detect_module
from handlers import start_review as start_review_module
from handlers.lifecycle import replay
from handlers.runtime import context
from handlers.runtime.events import object_events

CONFIDENT_KEY, UNSURE_KEY = "images_for_detection/replay/confident.png", "images_for_detection/replay/unsure.png"


@contextlib.contextmanager
def pending_stack(**options):
    """A stack whose two uploads (one the model will be sure of, one not) wait for a model that now runs."""
    with local_stack(**options) as stack:
        deactivate_model()
        upload(stack, CONFIDENT_KEY, CONFIDENT)
        upload(stack, UNSURE_KEY, UNSURE)
        assert len(context.table().pending()) == 2
        activate_model()
        yield stack


def replay_inputs(stack) -> list[dict]:
    sfn = stack.client("stepfunctions")
    executions = sfn.list_executions(stateMachineArn=stack.state_machines["detection"])["executions"]
    described = [sfn.describe_execution(executionArn=e["executionArn"]) for e in executions]
    return [d for d in described if json.loads(d["input"]).get("reason") == "replay"]


def assert_detected_once(stack) -> None:
    table = context.table()
    assert table.pending() == []
    assert [r.outcome for r in records_for(CONFIDENT_KEY)] == ["confident"]
    assert [r.outcome for r in records_for(UNSURE_KEY)] == ["to_training"]
    stats = table.day_stats().counts
    assert ("outcome_pending" in stats, stats["replayed"]) == (False, 2)
    assert (stats["outcome_confident"], stats["outcome_to_training"]) == (1, 1)
    assert stats["reviews_started_training"] == 1
    [loop] = loops_for(stack, record_of(stack, UNSURE_KEY).detection_id)
    assert table.loop().open_reviews == 1 and table.review(loop.name).status == "open"


def test_a_retried_replay_starts_its_page_again_and_every_image_is_detected_once(monkeypatch):
    with pending_stack(serial=True) as stack:  # each execution runs to its end as it starts
        owner = "arn:aws:states:us-east-1:123456789012:execution:lifecycle:run-1"
        page = context.table().pending_page(None, replay.PAGE)
        # The step's retry (its first attempt timed out) read the same page while the detections
        # the first attempt started were still running.
        monkeypatch.setattr(type(context.table()), "pending_page", lambda table, after, limit: page)
        first = replay.replay_pending(owner)
        second = replay.replay_pending(owner)
        assert first["replayed"] == second["replayed"] == 2  # started again, not refused by name
        executions = replay_inputs(stack)
        assert len(executions) == 4 and len({e["name"] for e in executions}) == 4
        assert all(e["status"] == "SUCCEEDED" for e in executions)
        assert_detected_once(stack)


def test_two_executions_of_one_image_at_once_record_count_and_review_it_once(monkeypatch):
    """Both executions read the pending image and ask the model before either writes; both then
    believe a review is due and start it."""
    with pending_stack() as stack:
        events = {item.key: {"bucket": item.bucket, "key": item.key, "etag": item.etag,
                             "version_id": item.version_id, "pending_cursor": item.cursor}
                  for item in context.table().pending()}
        table_type = type(context.table())
        replace_pending, concurrent, results = table_type.replace_pending, [events[UNSURE_KEY]], []

        def the_other_finishes_first(table, record, cursor, **options):
            if concurrent:  # the concurrent execution of the same image writes in between
                results.append(run_detect(concurrent.pop()))
            return replace_pending(table, record, cursor, **options)

        def run_detect(event):
            return detect_module.detect(next(object_events(event)), event["pending_cursor"])

        monkeypatch.setattr(table_type, "replace_pending", the_other_finishes_first)
        results.append(run_detect(events[UNSURE_KEY]))
        monkeypatch.undo()
        other, late = results
        assert other["outcome"] == "to_training" and late["outcome"] == "duplicate"
        assert other["review"] and late["review"]  # neither saw the other's review yet
        reviews = [start_review_module.start_review(result) for result in (other, late)]
        assert [r["started"] for r in reviews] == [True, False]
        assert len(stack.a2i.loops) == 1

        run_detect(events[CONFIDENT_KEY])
        assert_detected_once(stack)


def test_a_start_that_fails_mid_page_ends_the_call_with_what_it_started_and_the_next_goes_on(monkeypatch):
    with pending_stack(serial=True) as stack:
        owner = "arn:aws:states:us-east-1:123456789012:execution:lifecycle:run-2"
        start, calls = replay.start_detection, []

        def throttled_once(name, detection):
            calls.append(detection["key"])
            if len(calls) == 2:
                raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}},
                                  "StartExecution")
            start(name, detection)

        monkeypatch.setattr(replay, "start_detection", throttled_once)
        first = replay.replay_pending(owner)
        assert (first["replayed"], first["more"]) == (1, True)  # the state machine calls again from its cursor
        second = replay.replay_pending(owner, first["after"])
        assert (second["replayed"], second["more"]) == (1, False)
        assert calls[1] == calls[2] and len(calls) == 3  # the failed start, and only it, is tried again
        assert len(replay_inputs(stack)) == 2
        assert_detected_once(stack)


def test_a_call_that_starts_nothing_fails_for_the_steps_retry(monkeypatch):
    with pending_stack(serial=True):
        def throttled(name, detection):
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "StartExecution")

        monkeypatch.setattr(replay, "start_detection", throttled)
        with pytest.raises(ClientError):
            replay.replay_pending("arn:aws:states:us-east-1:123456789012:execution:lifecycle:run-3")
        assert len(context.table().pending()) == 2
