"""A failed detection is not final: its event delivered again detects it (a duplicate of a failure
is a retry, not a "duplicate"), and `labelloop replay --failed` — on a stack or a sandbox run —
detects every failed image again, once each (a sandbox run: tests/test_replay_sandbox.py). Failures are listed without a scan, and one that
fails again is failed again, counted once."""

from __future__ import annotations

import json

import pytest
from cli_support import cli, cli_json, cli_json_code
from lifecycle_support import wait_for_detections
from stack_support import CONFIDENT, UNSURE, fresh, record_of, upload

from cli import replay_cmd
from cli.aws_target import aws_target
from handlers.runtime import context
from handlers.runtime.state import today


@pytest.fixture
def st(shared_stack):
    fresh(shared_stack)
    for failure in context.table().failed_detections():  # what earlier tests left failed
        context.table().clear_failure(failure.detection_id)
    return shared_stack


@pytest.fixture
def target(st):
    return ["--parameter-path", st.parameter_path, "--table", st.table, "--lifecycle-arn",
            st.state_machines["lifecycle"]]


@pytest.fixture(autouse=True)
def quick_watch(monkeypatch):
    monkeypatch.setattr(replay_cmd, "POLL_SECONDS", 0.01)


def fail(st, key: str, scores=CONFIDENT, code: str = "AccessDeniedException") -> dict:
    """Upload an image whose detection fails for good (a final error: not retried)."""
    st.models.fail_next("DetectCustomLabels", code)
    execution = upload(st, key, scores)
    assert execution["status"] == "FAILED", execution
    return execution


def day() -> dict:
    return dict(context.table().day_stats(today()).counts)


def test_a_redelivered_event_retries_a_failed_detection(st):
    key = "images_for_detection/failed/redelivered.png"
    before = day()
    execution = fail(st, key)
    assert record_of(st, key).outcome == "failed"
    assert [f.key for f in context.table().failed_detections()] == [key]
    assert day().get("outcome_failed", 0) == before.get("outcome_failed", 0) + 1

    st.start_execution("detection", json.loads(execution["input"]))  # the same event again
    st.wait_for_executions()
    again = json.loads(st.executions[-1]["output"])["detection"]["value"]
    assert again["outcome"] == "confident" and "detected again after a failure" in again["retried"]
    assert record_of(st, key).outcome == "confident"
    assert context.table().failed_detections() == []
    after = day()
    assert after.get("outcome_failed", 0) == before.get("outcome_failed", 0)  # the failure's count moved
    assert after["outcome_confident"] == before.get("outcome_confident", 0) + 1


def test_a_failure_that_fails_again_is_counted_once(st):
    key = "images_for_detection/failed/twice.png"
    before = day().get("outcome_failed", 0)
    execution = fail(st, key)
    st.models.fail_next("DetectCustomLabels", "AccessDeniedException")
    st.start_execution("detection", json.loads(execution["input"]))
    st.wait_for_executions()
    assert st.executions[-1]["status"] == "FAILED"
    [failure] = context.table().failed_detections()
    assert (failure.key, failure.failures) == (key, 2)
    assert day()["outcome_failed"] == before + 1
    assert record_of(st, key).outcome == "failed"


def test_replay_failed_on_a_stack_detects_each_failure_once(capsys, st, target):
    keys = [f"images_for_detection/failed/replay-{i}.png" for i in range(3)]
    for key in keys:
        fail(st, key, UNSURE if key.endswith("2.png") else CONFIDENT)
    result = cli_json(capsys, "replay", "--failed", *target)
    wait_for_detections(st)  # the CLI returns once each image is detected; a review may still be starting
    assert (result["replayed"], result["detected"], result["failed_again"], result["still_running"]) == (3, 3, 0, 0)
    assert {r["key"]: r["outcome"] for r in result["detections"]} == {
        keys[0]: "confident", keys[1]: "confident", keys[2]: "to_training"}
    assert [record_of(st, k).outcome for k in keys] == ["confident", "confident", "to_training"]
    assert record_of(st, keys[2]).review_status == "open"  # its review started, as a first delivery's would
    assert context.table().failed_detections() == []

    again = cli_json(capsys, "replay", "--failed", *target)  # right after: nothing new to do
    assert (again["replayed"], again["detections"]) == (0, [])
    code, out, _ = cli(capsys, "replay", "--failed", *target)
    assert code == 0 and "No failed detections to replay" in out


def test_replay_failed_reports_what_fails_again(capsys, st, target):
    ok, bad = "images_for_detection/failed/ok.png", "images_for_detection/failed/bad.png"
    fail(st, ok)
    fail(st, bad)
    before = day()["outcome_failed"]
    st.models.fail_next("DetectCustomLabels", "AccessDeniedException")  # whichever replay asks the model first
    result = cli_json_code(capsys, 1, "replay", "--failed", *target)
    st.wait_for_executions()
    states = {r["key"]: r["state"] for r in result["detections"]}
    assert sorted(states.values()) == ["detected", "failed again"]
    [still] = context.table().failed_detections()
    assert states[still.key] == "failed again" and still.failures == 2 and still.replayed_at is None
    assert day()["outcome_failed"] == before - 1  # one detected at last, the other still counted once
    code, out, _ = cli(capsys, "replay", "--failed", *target)  # the failure that failed again is replayed
    assert code == 0 and "1 started, 1 detected, 0 failed again" in out and still.key in out


def test_a_replay_under_way_is_not_started_again(capsys, st, target):
    key = "images_for_detection/failed/in flight.png"
    fail(st, key)
    [failure] = context.table().failed_detections()
    assert context.table().claim_failed(failure.detection_id, stale_before="2000-01-01T00:00:00Z")
    result = cli_json(capsys, "replay", "--failed", "--no-wait", *target)
    assert result["replayed"] == 0 and result["already_being_replayed"] == 1
    assert [r["state"] for r in result["detections"]] == ["already being replayed"]


def test_replay_needs_the_failed_flag_and_names_the_detection_machine(capsys, target):
    code, _, err = cli(capsys, "replay", *target)
    assert code == 2 and "--failed" in err
    prod = aws_target(None, {"lifecycle_arn": "arn:aws:states:eu-west-1:1:stateMachine:labelloop-prod-eu-lifecycle"}, ())
    assert prod.detection_machine() == "arn:aws:states:eu-west-1:1:stateMachine:labelloop-prod-eu-detection"
    code, _, err = cli(capsys, "replay", "--failed", "--table", "t", "--lifecycle-arn", "arn:aws:states:x:1:stateMachine:other")
    assert code == 2 and "--detection-arn" in err
