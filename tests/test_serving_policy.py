"""The default serving decision at its boundaries, and the ledger's arithmetic."""

from datetime import datetime, timezone

import pytest

from handlers.runtime.ledger import Prices, iu_hours, ledger, training_hours, units_running
from handlers.runtime.state import DayStats, ServingPeriod, TrainingPeriod
from plugins import Serving, ServingDecision
from policies.names import IDLE_STOP_MINUTES, MAX_INFERENCE_UNITS, MAX_START_DELAY, START_ON_PENDING
from plugins import Evaluation

NOW = "2026-03-02T12:00:00.000000Z"


def running(idle: float, **more) -> Serving:
    return Serving("running", NOW, "v1", "2026-03-02T08:00:00.000000Z", 1, idle_minutes=idle, **more)


def stopped(pending: int = 0, oldest: float | None = None, **more) -> Serving:
    return Serving("stopped", NOW, "v1", pending=pending, oldest_pending_minutes=oldest, **more)


def test_hook_serving_decision_the_defaults_keep_the_model_running_and_never_start_it(engine, settings):
    assert engine.serving(running(idle=10_000), settings).action == "keep"
    assert engine.serving(stopped(pending=500, oldest=600.0), settings).action == "keep"
    decision = engine.serving(running(idle=10_000), settings)
    assert decision.policy == "policies.defaults" and "runs until it is stopped" in decision.reason


def test_hook_serving_decision_stops_after_exactly_the_idle_minutes(engine, settings):
    idle = settings.replace(**{IDLE_STOP_MINUTES: 15})
    assert engine.serving(running(idle=14.99), idle).action == "keep"
    decision = engine.serving(running(idle=15.0), idle)
    assert decision.action == "stop" and "no detection for 15 min" in decision.reason


def test_hook_serving_decision_starts_when_enough_images_wait(engine, settings):
    at_three = settings.replace(**{START_ON_PENDING: 3})
    assert engine.serving(stopped(pending=2, oldest=30.0), at_three).action == "keep"
    decision = engine.serving(stopped(pending=3, oldest=0.5), at_three)
    assert decision.action == "start" and "3 image(s) waiting" in decision.reason
    assert engine.serving(stopped(pending=1), settings.replace(**{START_ON_PENDING: 1})).action == "start"
    assert engine.serving(Serving("failed", NOW, "v1", pending=1),  # a start that failed is tried again
                          settings.replace(**{START_ON_PENDING: 1})).action == "start"


def test_hook_serving_decision_starts_when_the_oldest_image_waited_the_maximum(engine, settings):
    delay = settings.replace(**{START_ON_PENDING: 100, MAX_START_DELAY: 30})
    assert engine.serving(stopped(pending=1, oldest=29.9), delay).action == "keep"
    decision = engine.serving(stopped(pending=1, oldest=30.0), delay)
    assert decision.action == "start" and "waited 30 min" in decision.reason
    assert engine.serving(stopped(pending=0), delay).action == "keep"


def test_hook_serving_decision_keeps_a_model_that_starts_stops_or_was_never_deployed(engine, settings):
    eager = settings.replace(**{START_ON_PENDING: 1, IDLE_STOP_MINUTES: 1})
    for status in ("starting", "stopping"):
        assert engine.serving(Serving(status, NOW, "v1", pending=9, idle_minutes=99), eager).action == "keep"
    assert engine.serving(Serving("none", NOW, pending=9), eager).action == "keep"


def test_a_serving_decision_is_start_stop_or_keep():
    with pytest.raises(ValueError, match="start, stop, keep"):
        ServingDecision("pause", "why not")
    with pytest.raises(ValueError, match="model status"):
        Serving("asleep", NOW)


def test_hook_inference_capacity_autoscales_up_to_the_maximum(engine, settings):
    assert engine.capacity(Evaluation("v2", 0.9), settings).max_units is None  # the default: no autoscaling
    capacity = engine.capacity(Evaluation("v2", 0.9), settings.replace(**{MAX_INFERENCE_UNITS: 4}))
    assert (capacity.min_units, capacity.max_units) == (1, 4) and "scaling up to 4" in capacity.reason
    assert engine.capacity(Evaluation("v2", 0.9), settings.replace(**{"Minimum-Inference-Units": 3,
                                                                    MAX_INFERENCE_UNITS: 2})).max_units == 3


# -- the ledger ----------------------------------------------------------------------------------
def at(hour: float) -> str:
    return f"2026-03-02T{int(hour):02d}:{int(hour % 1 * 60):02d}:00.000000Z"


DAY = (datetime(2026, 3, 2, tzinfo=timezone.utc), datetime(2026, 3, 2, 12, tzinfo=timezone.utc))


def test_the_ledgers_inference_unit_hours_are_the_recorded_running_periods_within_the_window():
    periods = [ServingPeriod("v1", 1, at(1), at(3)), ServingPeriod("v1", 1, at(5), at(5.5)),
               ServingPeriod("v2", 2, at(11), None)]  # still running at the window's end
    hours = iu_hours(periods, *DAY)
    assert hours == {"v1": pytest.approx(2.5), "v2": pytest.approx(2.0)}
    assert iu_hours(periods, DAY[0].replace(hour=2), DAY[1]) == {"v1": pytest.approx(1.5), "v2": pytest.approx(2.0)}
    assert units_running(periods) == 2


def test_the_ledger_prices_inference_training_and_reviews_and_the_cost_per_1000_images():
    figures = ledger([ServingPeriod("v1", 1, at(0), at(10))], [TrainingPeriod("v2", at(1), at(3))],
                     [DayStats("2026-03-02", {"outcome_confident": 400, "reviews_started_training": 20})], *DAY)
    assert (figures.total_iu_hours, figures.training_hours, figures.reviews, figures.detections) == \
        (pytest.approx(10.0), pytest.approx(2.0), 20, 400)
    prices = Prices(inference_unit_hour=4.0, training_hour=1.0, review=0.5)
    assert figures.cost(prices) == pytest.approx(40 + 2 + 10)
    assert figures.cost_per_1000_images(prices) == pytest.approx(52 / 400 * 1000)
    assert training_hours([TrainingPeriod("v3", at(11), None)], *DAY) == pytest.approx(1.0)
    assert Prices.of({"inferenceUnitHour": 5}).inference_unit_hour == 5.0 and Prices.of(None) == Prices()
