"""Serving on demand, end to end on the simulated clock: the real detection state machine and
serving function, the Custom Labels stand-in starting a model in ten minutes and billing it from
RUNNING until STOPPED."""

from __future__ import annotations

import contextlib

import pytest
from botocore.exceptions import ClientError

from components.triggers import SERVING_SCHEDULE
from handlers import drain as drain_module
from handlers.runtime import backoff, context
from handlers.runtime.events import ARRIVAL
from handlers.runtime.ledger import iu_hours
from handlers.runtime.state import from_iso
from policies.names import IDLE_STOP_MINUTES, START_ON_PENDING
from sandbox.a2i import A2I
from sandbox.clock import SimulatedClock
from sandbox.local_aws import LocalStack
from sandbox.scripted_trainer import scripted_custom_labels
from sandbox.serving_day import CONFIDENT, LABELS, PNG, START, serving_model

ON_DEMAND = {IDLE_STOP_MINUTES: "15", START_ON_PENDING: "1"}


@contextlib.contextmanager
def serving_stack(parameters=ON_DEMAND):
    clock = SimulatedClock(START)
    models = scripted_custom_labels(labels=LABELS)
    models.clock = clock.now
    with clock.installed(), LocalStack(labels=LABELS, parameter_overrides=dict(parameters), serial=True,
                                       standins={"rekognition": models, "sagemaker-a2i-runtime": A2I()}) as st:
        st.models, st.clock = models, clock
        serving_model(st, models)
        yield st


@pytest.fixture
def st():
    with serving_stack() as stack:
        yield stack


def upload(st, *names: str, answer=CONFIDENT) -> None:
    """Images arriving at the same moment (the model's ``answer`` to each), then their events delivered."""
    for name in names:
        key = f"images_for_detection/{name}.png"
        st.models.trainer.by_key[key] = answer
        st.client("s3").put_object(Bucket=st.bucket, Key=key, Body=PNG + name.encode())
    st.pump()


def at_minute(st, minute: float) -> dict:
    """The serving schedule at ``minute`` after the start."""
    st.clock.at_minute(minute)
    return st.serve()


def records(st) -> dict:
    return {r.key.rsplit("/", 1)[-1]: r for r in context.table().detections()}


def stop_idle_model(st) -> None:
    assert at_minute(st, 15)["outcome"] == "stopped"
    at_minute(st, 20)  # STOPPED now
    assert st.models.status("v1") == "STOPPED"


def test_the_model_stops_after_exactly_the_idle_minutes_and_not_before(st):
    upload(st, "first")  # a detection at minute 0
    st.clock.at_minute(14.9)
    kept = st.serve()
    assert (kept["action"], kept["outcome"]) == ("keep", "kept") and "idle for 14.9 min" in kept["reason"]
    stopped = at_minute(st, 15)
    assert (stopped["action"], stopped["outcome"]) == ("stop", "stopped")
    assert st.models.status("v1") == "STOPPING"
    [period] = context.table().serving_periods()
    assert from_iso(period.until) == st.clock.now()


def test_a_burst_arriving_while_the_model_starts_is_detected_once_in_order(st):
    stop_idle_model(st)
    st.clock.at_minute(30)
    upload(st, "b0")  # wakes the serving function: the model starts
    assert st.models.status("v1") == "STARTING"
    for i in range(1, 6):
        st.clock.at_minute(30 + i)
        upload(st, f"b{i}")
    assert len(st.models.operations("StartProjectVersion")) == 1
    assert at_minute(st, 35)["status"] == "starting"  # ten minutes to start
    assert at_minute(st, 40)["replayed"] == 6  # running: the waiting images, oldest first
    assert context.table().waiting().count == 0
    found = records(st)
    assert all(found[f"b{i}.png"].outcome == "confident" for i in range(6))
    asked = [c["Image"]["S3Object"]["Name"].rsplit("/", 1)[1] for c in st.models.operations("DetectCustomLabels")
             if c["Image"]["S3Object"]["Name"].startswith("images_for_detection/b")]
    assert len(asked) == 6 + 6  # each refused once (stopped, then starting), then detected once
    assert asked[6:] == [f"b{i}.png" for i in range(6)]  # in arrival order


def test_many_arrivals_at_once_start_the_model_once(st):
    stop_idle_model(st)
    st.clock.at_minute(30)
    upload(st, *(f"many-{i}" for i in range(12)))
    assert len(st.models.operations("StartProjectVersion")) == 1
    assert context.table().loop().serving_claim == "start"
    assert context.table().loop().last_serving_decision["trigger"] == "arrival"  # detect's event, through its rule
    assert at_minute(st, 45)["replayed"] == 12 and len(st.models.operations("StartProjectVersion")) == 1


def test_a_stop_during_training_or_a_switch_is_refused_with_a_reason(st):
    table = context.table()
    table.take_training_lock("run-1", {"train": True, "reason": "new images", "trigger": "schedule"})
    refused = st.serve({"action": "stop"})
    assert refused["outcome"].startswith("not stopped: a lifecycle run is training")
    table.set_training_version("run-1", "v2")
    table.update_model("v2", start_requested_by="run-1")  # the run has started its candidate: deploying
    refused = at_minute(st, 60)  # idle an hour: the policy says stop
    assert refused["action"] == "stop" and "deploying a model (blue/green)" in refused["outcome"]
    assert st.models.status("v1") == "RUNNING" and not st.models.operations("StopProjectVersion")
    assert table.loop().last_serving_decision["outcome"] == refused["outcome"]
    table.release_training_lock("run-1")
    assert at_minute(st, 65)["outcome"] == "stopped"


def test_a_start_that_fails_leaves_the_images_pending_and_alarms(st):
    stop_idle_model(st)
    st.notifications()
    st.models.fail_next("StartProjectVersion", "ServiceQuotaExceededException")
    st.clock.at_minute(30)
    upload(st, "waits")
    assert context.table().waiting().count == 1 and records(st)["waits.png"].outcome == "pending"
    decision = context.table().loop().last_serving_decision
    assert decision["action"] == "start" and decision["outcome"].startswith("start failed")
    assert context.table().loop().serving_claim is None  # the next look may try again
    [message] = [n for n in st.notifications() if "could not be started" in n["subject"]]
    assert "ServiceQuotaExceededException" in message["message"]
    assert at_minute(st, 35)["outcome"] == "starting"  # the schedule tries again
    assert at_minute(st, 50)["replayed"] == 1


def test_the_ledger_is_the_running_periods_and_close_to_the_bill(st):
    stop_idle_model(st)
    st.clock.at_minute(60)
    upload(st, "again")
    assert at_minute(st, 70)["status"] == "running"  # ten minutes after the start, idle from then on
    assert at_minute(st, 90)["outcome"] == "stopped"
    periods = context.table().serving_periods()
    recorded = sum((from_iso(p.until) - from_iso(p.start)).total_seconds() / 3600 * p.units for p in periods)
    assert sum(iu_hours(periods, START, st.clock.now()).values()) == pytest.approx(recorded)
    assert len(periods) == 2 and all(p.until for p in periods)
    # The bill runs RUNNING → STOPPED; the ledger from when the loop saw RUNNING to the stop request:
    # two minutes of stopping, twice, less.
    at_minute(st, 95)
    assert st.models.iu_hours() - recorded == pytest.approx((2 + 2) / 60)


def test_with_the_defaults_the_model_runs_all_day():
    with serving_stack({}) as st:
        for minute in (60, 600, 1440):
            assert at_minute(st, minute)["outcome"] == "kept"
        assert st.models.status("v1") == "RUNNING" and st.models.iu_hours() == pytest.approx(24.0)


def test_maximum_inference_units_reach_every_start_as_max_inference_units():
    from lifecycle_support import deploy_first, lifecycle_stack
    from stack_support import set_parameters

    with lifecycle_stack() as st:
        set_parameters(st, **{"Maximum-Inference-Units": 3})
        deploy_first(st)
        [deployed] = st.models.operations("StartProjectVersion")
        assert (deployed["MinInferenceUnits"], deployed["MaxInferenceUnits"]) == (1, 3)
        assert st.serve({"action": "stop"})["outcome"] == "stopped"
        st.models.settle()
        assert st.serve({"action": "start"})["outcome"] == "starting"
        assert st.models.operations("StartProjectVersion")[-1]["MaxInferenceUnits"] == 3


def test_a_wake_up_that_meets_a_passing_fault_is_left_to_the_schedule_not_dead_lettered(st):
    """An image waits: its event asks the serving function at once. That look meeting throttling ends
    there (no retry, no dead letter); the schedule's next look starts the model and detects the image."""
    stop_idle_model(st)
    st.clock.at_minute(30)
    st.models.fail_next("DescribeProjectVersions", "ThrottlingException")  # the sandbox's clients try once
    upload(st, "waits")  # its waiting event wakes the serving function, which fails to look
    assert st.models.faults["DescribeProjectVersions"] == []
    assert records(st)["waits.png"].outcome == "pending" and st.models.status("v1") == "STOPPED"
    assert context.table().loop().last_serving_decision["trigger"] == "schedule"  # the wake-up decided nothing
    assert at_minute(st, 35)["outcome"] == "starting"
    assert at_minute(st, 50)["replayed"] == 1


def test_a_wake_up_that_meets_a_final_error_still_fails(st):
    stop_idle_model(st)
    st.models.fail_next("DescribeProjectVersions", "AccessDeniedException")
    with pytest.raises(Exception, match="AccessDenied"):
        st.deliver(SERVING_SCHEDULE.target, {"detail": {"trigger": ARRIVAL}})


def waiting_for_a_running_model(st, *names: str, answer=CONFIDENT) -> None:
    """Images that arrived while the model was stopped; the model has started since (nothing drained yet)."""
    stop_idle_model(st)
    st.clock.at_minute(30)
    upload(st, *names, answer=answer)
    assert at_minute(st, 35)["status"] == "starting"
    assert context.table().waiting().count == len(names)


def test_a_drain_that_cannot_read_a_page_leaves_it_to_the_next_look(st, monkeypatch):
    waiting_for_a_running_model(st, "w0", "w1")
    table_type, refused = type(context.table()), []
    pending_page = table_type.pending_page

    def throttled_once(table, after, limit):
        if not refused:
            refused.append(after)
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "Query")
        return pending_page(table, after, limit)

    monkeypatch.setattr(table_type, "pending_page", throttled_once)
    look = at_minute(st, 40)  # the model runs: the drain's first page read fails
    assert refused and (look["replayed"], look["drain"]["left"]) == (0, True)
    assert context.table().waiting().count == 2
    assert at_minute(st, 45)["replayed"] == 2 and context.table().waiting().count == 0


def test_the_drain_retries_a_reviews_start_as_the_workflows_retry_does(st, monkeypatch):
    waiting_for_a_running_model(st, "unsure", answer=(("cat", 50.0), ("dog", 40.0)))
    start, tries = drain_module.start_review, []

    def throttled_twice(answer):
        tries.append(answer["key"])
        if len(tries) <= 2:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "StartHumanLoop")
        return start(answer)

    monkeypatch.setattr(drain_module, "start_review", throttled_twice)
    monkeypatch.setattr(backoff, "sleep", lambda seconds: None)
    look = at_minute(st, 40)
    assert look["replayed"] == 1 and len(tries) == 3
    assert records(st)["unsure.png"].outcome == "to_training" and context.table().failed_detections() == []
    assert context.table().loop().open_reviews == 1  # started once


class Died(BaseException):
    """The function's process ends here (a timeout, out of memory): no handler of the drain catches it."""


def test_a_drain_that_dies_before_a_review_starts_leaves_the_image_to_the_next_look(st, monkeypatch):
    waiting_for_a_running_model(st, "unsure", answer=(("cat", 50.0), ("dog", 40.0)))
    st.clock.at_minute(40)  # the model runs
    [pending] = context.table().pending()

    def dies(answer):
        raise Died()

    monkeypatch.setattr(drain_module, "start_review", dies)
    with pytest.raises(Died):
        drain_module._detect_one(pending, context.table().loop())
    assert records(st)["unsure.png"].outcome == "to_training"  # detected: its review decided...
    assert context.table().waiting().count == 1  # ...and not started: the image still waits
    monkeypatch.undo()
    look = at_minute(st, 41)
    assert look["replayed"] == 1 and context.table().waiting().count == 0
    assert context.table().loop().open_reviews == 1  # started once, as first decided
    day = context.table().day_stats().counts
    assert (day["outcome_to_training"], day["replayed"]) == (1, 1)  # counted once
