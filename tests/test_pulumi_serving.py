"""The Serving stage: the serving function and its schedule, the detect function's way to it, the
forgotten-model alarm, the dashboard's units and IU-hours, the prices among the outputs."""

import json

import pytest

from components.triggers import SERVING_SCHEDULE
from pulumi_mocks import (BUILTIN_SMALL, DASHBOARD, EVENT_RULE, EVENT_TARGET, FUNCTION, METRIC_ALARM, arn,
                          function_name, role_policy, run_program)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def d():
    return run_program({**BUILTIN_SMALL, "forgottenModelHours": 6, "prices": {"inferenceUnitHour": 4.5}})


def test_the_serving_schedule_asks_the_serving_function_every_five_minutes(d):
    timer = d.one(EVENT_RULE, name="labelloop-test-serving-schedule")
    assert timer.inputs["scheduleExpression"] == "rate(5 minutes)" and timer.inputs["state"] == "ENABLED"
    target = d.one(EVENT_TARGET, rule=timer.outputs["name"])
    serve = d.one(FUNCTION, name=function_name("serve"))
    assert target.inputs["arn"] == serve.outputs["arn"] and json.loads(target.inputs["input"]) == SERVING_SCHEDULE.input
    assert timer.parent == d.component("labelloop:index:Serving").urn
    assert d.stack_outputs["servingFunction"] == function_name("serve")


def test_an_image_waiting_asks_the_serving_function_through_an_event_of_this_stack(d):
    waiting = d.one(EVENT_RULE, name="labelloop-test-image-waiting")
    assert json.loads(waiting.inputs["eventPattern"]) == {
        "source": ["labelloop"], "detail-type": ["Image waiting for a model"], "detail": {"stack": ["test"]}}
    serve = d.one(FUNCTION, name=function_name("serve"))
    assert d.one(EVENT_TARGET, rule=waiting.outputs["name"]).inputs["arn"] == serve.outputs["arn"]
    put = [s for s in role_policy(d, function_name("detect"))["Statement"] if "events:PutEvents" in s["Action"]]
    assert [s["Resource"] for s in put] == [arn("events", "event-bus/labelloop-test-events")]
    assert waiting.inputs["eventBusName"] == "labelloop-test-events"
    assert d.one(EVENT_TARGET, rule=waiting.outputs["name"]).inputs["eventBusName"] == "labelloop-test-events"
    serving = role_policy(d, function_name("serve"))
    actions = {a for s in serving["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert {"rekognition:StartProjectVersion", "rekognition:StopProjectVersion",
            "rekognition:DescribeProjectVersions", "rekognition:DetectCustomLabels"} <= actions  # it drains
    assert "states:StartExecution" not in actions  # the waiting images are detected in place, not re-run


def test_the_forgotten_model_alarm_and_the_dashboards_inference_unit_hours(d):
    [alarm] = [a for a in d.of_type(METRIC_ALARM) if a.inputs["name"] == "labelloop-test-alarm-forgotten-model"]
    assert (alarm.inputs["metricName"], alarm.inputs["statistic"], alarm.inputs["threshold"]) == (
        "IdleRunningMinutes", "Maximum", 6 * 60)
    assert alarm.inputs["dimensions"] == {"service": "labelloop-test"}
    assert alarm.inputs["alarmActions"] == [d.stack_outputs["topicArn"]]
    widgets = {w["properties"].get("title"): w["properties"]
               for w in json.loads(d.one(DASHBOARD).inputs["dashboardBody"])["widgets"]}
    per_day = widgets["Inference-unit hours per day"]
    assert per_day["period"] == 24 * 3600 and per_day["metrics"][0][0]["expression"] == "units / 12"
    assert per_day["metrics"][1][1] == "InferenceUnitsRunning" and per_day["metrics"][1][4]["stat"] == "Sum"
    assert widgets["Inference units running"]["metrics"][0][1] == "InferenceUnitsRunning"


def test_the_prices_are_stack_config_with_the_list_prices_as_defaults(d):
    assert d.stack_outputs["prices"] == {"inferenceUnitHour": 4.5, "trainingHour": 1.0, "review": 0.0}
