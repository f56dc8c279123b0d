"""The toy backend at deploy time: one config key of its own, its function, what opening and
withdrawing a review may do on its queue, a CORS rule, an alarm and a widget, and what deploying its function URL takes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from components.config_values import ConfigError
from components.deploy_access import FUNCTION, on
from components.grants import COPY_REVIEWED, PARAMETERS, PUBLISH, TABLE_RW, FunctionSpec, Grant
from components.review_backends import Deployable, GaugeAlarm, Widgets

QUEUE = "toy-tasks"
CORS_RULE = {"allowed_headers": [], "allowed_methods": ["GET"], "allowed_origins": ["https://toy.example.com"],
             "expose_headers": []}


def queue_name(naming) -> str:
    return naming(QUEUE) + ".fifo"


@dataclass(frozen=True)
class Settings:
    greeting: str = "hello"


class ToyDeploy(Deployable):
    name = "toy"
    component = "toy_review.component:ToyReview"
    keys = ("toyGreeting",)
    settings_type = Settings
    functions = (FunctionSpec("toy_answer", "toy_review.runtime.answer_handler", "Take the toy reviewers' answers",
                              (*COPY_REVIEWED, TABLE_RW, PARAMETERS, PUBLISH)),)
    open_grants = withdraw_grants = (Grant(("sqs:GetQueueUrl", "sqs:SendMessage"), "toy_queue"),)
    cors_rules = (CORS_RULE,)
    resource_access = {"aws:lambda/functionUrl:FunctionUrl": (
        on(FUNCTION, "lambda:CreateFunctionUrlConfig", "lambda:GetFunctionUrlConfig", "lambda:UpdateFunctionUrlConfig",
           "lambda:DeleteFunctionUrlConfig"),)}

    def settings(self, raw: Mapping[str, Any], labels, reviewer_emails) -> Settings:
        greeting = raw.get("toyGreeting", Settings.greeting)
        if not isinstance(greeting, str) or not greeting:
            raise ConfigError("toyGreeting", f"is {greeting!r}", "set a word the toy's messages start with")
        return Settings(greeting)

    def environment(self, naming, settings: Settings, labels, account) -> dict[str, Any]:
        return {"review_settings": {"queue": queue_name(naming), "greeting": settings.greeting}}

    def resources(self, naming, settings: Settings, labels, account) -> dict[str, Any]:
        return {"toy_queue": account.apply(lambda a: f"arn:{a.partition}:sqs:{a.region}:{a.account_id}:"
                                                     f"{queue_name(naming)}")}

    def alarms(self, settings: Settings) -> tuple[GaugeAlarm, ...]:
        return (GaugeAlarm("toy-backlog", "ToyBacklog", 10, "More than 10 toy reviews wait."),)

    def dashboard(self, widgets: Widgets) -> list[dict]:
        return [widgets.metric("Toy backlog", [widgets.loop_metric("ToyBacklog", "Maximum", "waiting")], 0)]


BACKEND = ToyDeploy()
