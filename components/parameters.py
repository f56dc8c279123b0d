"""OperatorParameters: one SSM parameter per catalog entry — the defaults' and
every configured team policy's — and the rule that applies their changes.

A parameter is created with its default (or the stack's ``parameterDefaults``
override) and then belongs to the operators: ``pulumi up`` does not put a value
back that an operator changed live (``ignore_changes`` on the value).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import events
from components.lambdas import FunctionFactory
from components.naming import Naming
from components.triggers import parameter_trigger
from plugins import Catalog, Settings

DESCRIPTION_LIMIT = 1024


@dataclass
class OperatorParametersArgs:
    naming: Naming
    catalog: Catalog
    settings: Settings  # the values to create the parameters with
    functions: FunctionFactory
    dead_letter_queue_arn: pulumi.Input[str]


class OperatorParameters(pulumi.ComponentResource):
    parameter_path: str
    parameter_names: list[str]

    def __init__(self, name: str, args: OperatorParametersArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("labelloop:index:OperatorParameters", name, None, opts)
        path = args.naming.parameter_path
        self.parameters: dict[str, aws.ssm.Parameter] = {}
        for spec in args.catalog:
            self.parameters[spec.name] = aws.ssm.Parameter(
                f"{name}-{spec.name}", name=f"{path}{spec.name}", type="String",
                value=spec.format(args.settings[spec.name]), allowed_pattern=spec.allowed_pattern,
                description=spec.description[:DESCRIPTION_LIMIT], tags={"labelloop:policy": spec.owner},
                opts=pulumi.ResourceOptions(parent=self, ignore_changes=["value"]))

        self.handler = args.functions.create("parameter_change", self, name, asynchronous=True)
        trigger = parameter_trigger(path)
        self.rule = events.pattern_rule(name, args.naming, trigger, trigger.pattern, parent=self)
        self.target, self.permission = events.function_target(
            self.rule, f"{name}-{trigger.name}", self.handler, dead_letter_queue=args.dead_letter_queue_arn,
            parent=self)

        self.parameter_path = path
        self.parameter_names = [f"{path}{n}" for n in self.parameters]
        self.register_outputs({
            "parameterPath": path, "parameterNames": self.parameter_names,
            "parameterChangeFunction": self.handler.name, "parameterChangeRule": self.rule.name,
        })
