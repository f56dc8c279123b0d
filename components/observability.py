"""Observability: the daily summary, a CloudWatch dashboard of the loop and the
alarms that tell the operator something failed (to the stack's topic).

The loop's own metrics are the ones the handlers emit with Powertools (namespace
``labelloop``, dimension ``service`` = ``labelloop-<stack>``): ``Detections_<outcome>``,
``ReviewsStarted_<purpose>``, ``Reviews_<status>``, ``ModelF1`` per ``version``, from the
lifecycle ``StrayModels`` (models found running that should not) and ``StopFailed`` (models the loop
had to stop and could not: they still bill), which has an alarm of its own; with the builtin review
app also ``ReviewTasksOpen``, ``OldestOpenTaskAgeSeconds`` and ``ReviewAnswers``; from the serving
function, every five minutes, ``InferenceUnitsRunning``, ``IdleRunningMinutes`` (how long the running
model has had no detection: the forgotten-model alarm), ``ImagesWaiting`` and ``ServingStartFailed``.
The review backend adds its own alarms and a row of widgets (``Deployable.alarms``, ``.dashboard``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

import pulumi
import pulumi_aws as aws

from components import events
from components.review_backends import Deployable, GaugeAlarm, Widgets
from handlers.lifecycle.deploy import STOP_FAILED
from handlers.runtime.config import RuntimeConfig
from handlers.serving import IDLE_RUNNING_MINUTES, IMAGES_WAITING, START_FAILED, UNITS_RUNNING
from components.lambdas import DeployedFunction, FunctionFactory
from components.naming import Account, Naming
from components.triggers import Schedule

NAMESPACE = "labelloop"
DETECTION_OUTCOMES = ("confident", "to_training", "to_audit", "no_label", "pending", "skipped", "unreadable")
REVIEW_PURPOSES = ("training", "audit")
REVIEW_STATUSES = ("accepted", "rejected", "audited", "unresolved", "expired")
STATE_MACHINE_FAILURES = ("ExecutionsFailed", "ExecutionsTimedOut")
SUMMARY = Schedule("daily-summary", "The daily detection summary (yesterday, UTC)", "cron(0 7 * * ? *)", True,
                   "summary", {})
PERIOD = 300
WIDE, HALF = 24, 12


@dataclass
class ObservabilityArgs:
    naming: Naming
    account: pulumi.Output[Account]
    functions: FunctionFactory
    deployed: Mapping[str, DeployedFunction]  # every other function of the stack
    state_machines: Mapping[str, pulumi.Input[str]]  # name -> ARN
    topic_arn: pulumi.Input[str]
    dead_letter_queue_name: pulumi.Input[str]
    dead_letter_queue_arn: pulumi.Input[str]
    review_backend: Deployable  # the stack's: its alarms and widgets
    review_settings: Any = None  # its settings (StackConfig.review_settings)
    forgotten_model_hours: float = 24.0  # a model running this long without a detection alarms


def dashboard_body(region: str, functions: Mapping[str, str], state_machines: Mapping[str, str],
                   dead_letter_queue: str, evaluate_log_group: str, service: str,
                   review_backend: Deployable) -> dict[str, Any]:
    """The dashboard (pure: names in, JSON document out); ``service`` is the stack's metrics dimension."""
    def _loop_metric(name: str, stat: str = "Sum", label: str | None = None) -> list[Any]:
        return [NAMESPACE, name, "service", service, {"stat": stat, "label": label or name.split("_", 1)[-1]}]

    def metric_widget(title: str, metrics: list, x: int, y: int, width: int = HALF, stacked: bool = False,
                      **extra: Any) -> dict:
        return {"type": "metric", "x": x, "y": y, "width": width, "height": 6,
                "properties": {"title": title, "region": region, "metrics": metrics, "period": PERIOD,
                               "view": "timeSeries", "stacked": stacked, **extra}}

    widgets = [
        {"type": "text", "x": 0, "y": 0, "width": WIDE, "height": 2, "properties": {"markdown": (
            "## labelloop\nUploads classified, reviews started and answered, model versions evaluated, and what "
            "failed. Tune the loop with the operator parameters; see docs/deploying.md.")}},
        metric_widget("Detections by outcome", [_loop_metric(f"Detections_{o}") for o in DETECTION_OUTCOMES],
                      0, 2, WIDE, stacked=True),
        metric_widget("Reviews started", [_loop_metric(f"ReviewsStarted_{p}") for p in REVIEW_PURPOSES], 0, 8),
        metric_widget("Reviews completed", [_loop_metric(f"Reviews_{s}") for s in REVIEW_STATUSES], HALF, 8),
        metric_widget("Model F1 per evaluated version", [[{
            "expression": f"SEARCH('{{{NAMESPACE},service,version}} MetricName=\"ModelF1\" service=\"{service}\"', "
                          f"'Maximum', {PERIOD})", "id": "f1", "label": ""}]],
                      0, 14, yAxis={"left": {"min": 0, "max": 1}}),
        {"type": "log", "x": HALF, "y": 14, "width": HALF, "height": 6, "properties": {
            "title": "Evaluations, latest first", "region": region, "view": "table",
            "query": (f"SOURCE '{evaluate_log_group}' | fields @timestamp, ModelF1 | filter ispresent(ModelF1) "
                      "| sort @timestamp desc | limit 20")}},
        metric_widget("Function errors", [["AWS/Lambda", "Errors", "FunctionName", name, {"label": key}]
                                          for key, name in sorted(functions.items())], 0, 20, WIDE),
        metric_widget("State machine failures", [["AWS/States", metric, "StateMachineArn", arn,
                                                  {"label": f"{machine} {metric}"}]
                                                 for machine, arn in sorted(state_machines.items())
                                                 for metric in STATE_MACHINE_FAILURES], 0, 26),
        metric_widget("Dead-lettered events", [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName",
                                                dead_letter_queue, {"stat": "Maximum", "label": "waiting"}]],
                      HALF, 26),
    ]
    widgets += serving_widgets(metric_widget, _loop_metric)
    widgets += review_backend.dashboard(Widgets(
        lambda title, metrics, x, width=8, **extra: metric_widget(title, metrics, x, REVIEW_ROW, width, **extra),
        _loop_metric, divided))
    return {"widgets": widgets}


class Observability(pulumi.ComponentResource):
    dashboard_url: pulumi.Output[str]
    alarm_names: list[pulumi.Output[str]]

    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("labelloop:index:Observability", name, None, opts)
        naming = args.naming
        child = pulumi.ResourceOptions(parent=self)

        self.summary = args.functions.create("summary", self, name, asynchronous=True)
        self.summary_rule = events.schedule_rule(name, naming, SUMMARY, parent=self)
        self.summary_target, _ = events.function_target(self.summary_rule, f"{name}-{SUMMARY.name}", self.summary,
                                                        dead_letter_queue=args.dead_letter_queue_arn, parent=self)
        deployed = {**args.deployed, "summary": self.summary}

        # -- alarms ----------------------------------------------------------------------
        def alarm(key: str, description: str, **metric: Any) -> aws.cloudwatch.MetricAlarm:
            return aws.cloudwatch.MetricAlarm(
                f"{name}-alarm-{key}", name=naming(f"alarm-{key}"), alarm_description=description,
                comparison_operator="GreaterThanThreshold",
                threshold=0, evaluation_periods=1, period=PERIOD, treat_missing_data="notBreaching",
                alarm_actions=[args.topic_arn], opts=child, **metric)

        self.alarms: dict[str, aws.cloudwatch.MetricAlarm] = {}
        for key, fn in sorted(deployed.items()):
            self.alarms[f"errors-{key}"] = alarm(
                f"errors-{key}", f"The {key} function failed (after retries, its events are dead-lettered).",
                namespace="AWS/Lambda", metric_name="Errors", statistic="Sum", dimensions={"FunctionName": fn.name})
        for machine, arn in sorted(args.state_machines.items()):
            for metric in STATE_MACHINE_FAILURES:
                self.alarms[f"{machine}-{metric}"] = alarm(
                    f"{machine}-{metric.lower()}", f"{metric} > 0 for the {machine} state machine.",
                    namespace="AWS/States", metric_name=metric, statistic="Sum", dimensions={"StateMachineArn": arn})
        self.alarms["dead-letters"] = alarm(
            "dead-letters", "Events could not be delivered or processed and wait in the dead-letter queue.",
            namespace="AWS/SQS", metric_name="ApproximateNumberOfMessagesVisible", statistic="Maximum",
            dimensions={"QueueName": args.dead_letter_queue_name})
        self.alarms["stop-failed"] = alarm(
            "stop-failed", "A model the loop had to stop is still running and billing; the next lifecycle run "
                           "tries again (see the notification; stop it in the Rekognition console if it persists).",
            namespace=NAMESPACE, metric_name=STOP_FAILED, statistic="Sum",
            dimensions={"service": RuntimeConfig.service_of(naming.stack)})

        self.alarms[FORGOTTEN_MODEL_ALARM] = forgotten_model_alarm(name, naming, args.forgotten_model_hours,
                                                                   args.topic_arn, parent=self)
        self.alarms["serving-start-failed"] = alarm(
            "serving-start-failed", "The active model could not be started: images wait (pending) until it runs; "
                                    "the serving schedule tries again (or run `labelloop start`).",
            namespace=NAMESPACE, metric_name=START_FAILED, statistic="Sum",
            dimensions={"service": RuntimeConfig.service_of(naming.stack)})

        for review_alarm in args.review_backend.alarms(args.review_settings):
            self.alarms[review_alarm.key] = gauge_alarm(name, naming, review_alarm, args.topic_arn, parent=self)

        # -- dashboard ---------------------------------------------------------------------
        names = {key: fn.name for key, fn in deployed.items()}
        body = pulumi.Output.all(region=args.account.apply(lambda a: a.region), functions=names,
                                 machines=dict(args.state_machines), dlq=args.dead_letter_queue_name,
                                 evaluate=deployed["evaluate"].log_group.name if "evaluate" in deployed else "").apply(
            lambda v: json.dumps(dashboard_body(v["region"], v["functions"], v["machines"], v["dlq"], v["evaluate"],
                                                RuntimeConfig.service_of(naming.stack), args.review_backend)))
        dashboard_name = naming.prefix
        self.dashboard = aws.cloudwatch.Dashboard(f"{name}-dashboard", dashboard_name=dashboard_name,
                                                  dashboard_body=body, opts=child)
        self.dashboard_url = pulumi.Output.concat(
            "https://", args.account.apply(lambda a: a.region), ".console.aws.amazon.com/cloudwatch/home?region=",
            args.account.apply(lambda a: a.region), "#dashboards:name=", self.dashboard.dashboard_name)
        self.alarm_names = [a.name for a in self.alarms.values()]
        self.register_outputs({"dashboardUrl": self.dashboard_url, "alarms": self.alarm_names,
                               "summaryRule": self.summary_rule.name})


# -- serving ----------------------------------------------------------------------------------------
FORGOTTEN_MODEL_ALARM = "forgotten-model"
REVIEW_ROW = 32  # the review backend's widgets, below the loop's
SERVING_ROW = 38  # below the review backend's row
SERVING_SAMPLES_PER_HOUR = 60 // 5  # the serving function reports the units running every five minutes
DAY = 24 * 3600


def divided(metric: list, metric_id: str, by: float, shown_id: str, label: str) -> list[list]:
    """A graph of ``metric`` divided by ``by``: the metric fetched hidden, the expression shown."""
    return [[{"expression": f"{metric_id} / {by}", "id": shown_id, "label": label}],
            [*metric[:-1], {**metric[-1], "id": metric_id, "visible": False}]]


def serving_widgets(metric_widget, loop_metric) -> list[dict]:
    """Inference units running, their hours per day (what Rekognition bills), idle time and waiting images."""
    units = loop_metric(UNITS_RUNNING, "Sum", "units")
    return [
        metric_widget("Inference units running", [loop_metric(UNITS_RUNNING, "Maximum", "units")], 0, SERVING_ROW, 8),
        metric_widget("Inference-unit hours per day", divided(units, "units", SERVING_SAMPLES_PER_HOUR, "iuh", "IU-hours"),
                      8, SERVING_ROW, 8, period=DAY, view="bar"),
        metric_widget("Model idle (minutes without a detection) and images waiting", [
            loop_metric(IDLE_RUNNING_MINUTES, "Maximum", "idle minutes"),
            loop_metric(IMAGES_WAITING, "Maximum", "images waiting")], 16, SERVING_ROW, 8),
    ]


def forgotten_model_alarm(name: str, naming: Naming, hours: float, topic_arn: pulumi.Input[str], *,
                          parent: pulumi.Resource) -> aws.cloudwatch.MetricAlarm:
    """A model has run ``hours`` without a detection: billing by the hour for nothing. No data (the
    serving function not reporting) is not breaching; its own errors alarm."""
    return gauge_alarm(name, naming, GaugeAlarm(
        FORGOTTEN_MODEL_ALARM, IDLE_RUNNING_MINUTES, hours * 60,
        f"A model has been running more than {hours:g} hours without a detection, billing per inference-unit "
        "hour (forgottenModelHours): stop it (`labelloop stop`) or set Idle-Stop-Minutes."), topic_arn, parent=parent)


def gauge_alarm(name: str, naming: Naming, gauge: GaugeAlarm, topic_arn: pulumi.Input[str], *,
                parent: pulumi.Resource) -> aws.cloudwatch.MetricAlarm:
    """The alarm ``gauge`` describes: one of the loop's gauges above its threshold in a five-minute
    period (no data: not breaching)."""
    return aws.cloudwatch.MetricAlarm(
        f"{name}-alarm-{gauge.key}", name=naming(f"alarm-{gauge.key}"), alarm_description=gauge.description,
        namespace=NAMESPACE, metric_name=gauge.metric, statistic="Maximum",
        dimensions={"service": RuntimeConfig.service_of(naming.stack)}, comparison_operator="GreaterThanThreshold",
        threshold=gauge.threshold, evaluation_periods=1, period=PERIOD, treat_missing_data="notBreaching",
        alarm_actions=[topic_arn], opts=pulumi.ResourceOptions(parent=parent))
