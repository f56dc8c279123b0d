"""Serving: the serving function, the schedule that asks it every few minutes whether the active
model should run (:mod:`handlers.serving`), and the rule that hands it ``detect``'s event when an
image arrives while the model does not run. The operator's ``labelloop start``, ``stop`` and
``teardown`` invoke it directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import events
from components.lambdas import DeployedFunction, FunctionFactory
from components.naming import Naming
from components.triggers import SERVING_SCHEDULE, waiting_trigger

FUNCTION = "serve"


@dataclass
class ServingArgs:
    naming: Naming
    functions: FunctionFactory  # with the project: the function starts and stops its versions
    dead_letter_queue_arn: pulumi.Input[str]
    stack: str  # the Pulumi stack: its waiting-image events are this stack's


class Serving(pulumi.ComponentResource):
    handler: DeployedFunction

    def __init__(self, name: str, args: ServingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("labelloop:index:Serving", name, None, opts)
        self.handler = args.functions.create(FUNCTION, self, name, asynchronous=True)
        self.deployed = {FUNCTION: self.handler}
        self.schedule_rule = events.schedule_rule(name, args.naming, SERVING_SCHEDULE, parent=self)
        self.schedule_target, _ = events.function_target(
            self.schedule_rule, f"{name}-{SERVING_SCHEDULE.name}", self.handler,
            dead_letter_queue=args.dead_letter_queue_arn, parent=self, input=SERVING_SCHEDULE.input)
        self.event_bus = aws.cloudwatch.EventBus(f"{name}-event-bus", name=args.naming.event_bus,
                                                 opts=pulumi.ResourceOptions(parent=self))
        waiting = waiting_trigger(args.stack, args.naming.event_bus)
        self.waiting_rule = events.pattern_rule(name, args.naming, waiting, waiting.pattern, parent=self,
                                                depends_on=[self.event_bus])
        self.waiting_target, _ = events.function_target(self.waiting_rule, f"{name}-{waiting.name}", self.handler,
                                                        dead_letter_queue=args.dead_letter_queue_arn, parent=self,
                                                        event_bus=waiting.event_bus)
        self.register_outputs({"function": self.handler.name, "scheduleRule": self.schedule_rule.name,
                               "waitingRule": self.waiting_rule.name,
                               "scheduleExpression": SERVING_SCHEDULE.expression})
