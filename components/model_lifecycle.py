"""ModelLifecycle: the Rekognition Custom Labels project, the lifecycle functions,
the Standard state machine built by :func:`components.state_machines.lifecycle_definition`
and the schedule that starts it.

The schedule is created from the parameter values (defaults or the stack's
overrides); afterwards the ``parameter_change`` function owns its rate and state,
so ``pulumi up`` leaves them as operators set them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import events
from components.lambdas import DeployedFunction, FunctionFactory
from components.naming import Account, Naming
from components.state_machines import lifecycle_definition
from components.triggers import training_schedule
from components.workflows import workflow
from plugins import Settings

LIFECYCLE_FUNCTIONS = ("stop_strays", "training_check", "build_manifest", "start_training", "model_status", "evaluate",
                       "start_model", "compare_models", "switch_model", "stop_model", "replay_pending", "finish_run",
                       "prepare_rollback")
MACHINE = "lifecycle"


@dataclass
class ModelLifecycleArgs:
    naming: Naming
    account: pulumi.Output[Account]
    settings: Settings
    functions: FunctionFactory  # without the project yet: it is created here
    dead_letter_queue_arn: pulumi.Input[str]
    log_retention_days: int = 30
    max_training_seconds: int = 24 * 3600  # polling gives up on a training after this long
    max_start_seconds: int = 3600  # … and on a model that does not reach RUNNING


class ModelLifecycle(pulumi.ComponentResource):
    project_arn: pulumi.Output[str]
    project_name: str
    state_machine_arn: pulumi.Output[str]
    schedule_rule_name: pulumi.Output[str]
    definition: pulumi.Output[str]

    def __init__(self, name: str, args: ModelLifecycleArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("labelloop:index:ModelLifecycle", name, None, opts)
        naming = args.naming
        account_id = args.account.apply(lambda a: a.account_id)

        self.project_name = naming.project
        self.project = aws.rekognition.Project(f"{name}-model", name=self.project_name, feature="CUSTOM_LABELS",
                                               opts=pulumi.ResourceOptions(parent=self))
        # Every function created from here on knows the project (environment and grants).
        self.functions = args.functions.bind_project(self.project.arn)
        self.deployed: dict[str, DeployedFunction] = {
            key: self.functions.create(key, self, name) for key in LIFECYCLE_FUNCTIONS}

        arns = {key: fn.arn for key, fn in self.deployed.items()}
        self.definition = pulumi.Output.all(**arns).apply(lambda a: json.dumps(lifecycle_definition(
            a, max_training_seconds=args.max_training_seconds, max_start_seconds=args.max_start_seconds), indent=2))
        self.workflow = workflow(name, naming, MACHINE, "STANDARD", self.definition, list(arns.values()),
                                 log_level="ERROR", log_retention_days=args.log_retention_days,
                                 account_id=account_id, parent=self)
        self.state_machine = self.workflow.state_machine

        schedule = training_schedule(args.settings)
        self.schedule = schedule
        self.schedule_rule = events.schedule_rule(name, naming, schedule, parent=self, managed_at_run_time=True)
        self.schedule_target = self.workflow.started_by(self.schedule_rule, f"{name}-{schedule.name}",
                                                        dead_letter_queue=args.dead_letter_queue_arn, parent=self,
                                                        input=schedule.input)

        self.project_arn = self.project.arn
        self.state_machine_arn = self.state_machine.arn
        self.schedule_rule_name = self.schedule_rule.name
        self.register_outputs({
            "projectArn": self.project_arn, "projectName": self.project_name,
            "stateMachineArn": self.state_machine_arn, "scheduleRule": self.schedule_rule_name,
            "scheduleExpression": schedule.expression, "scheduleEnabled": schedule.enabled,
            "functions": {key: fn.name for key, fn in self.deployed.items()},
        })
