"""Detection: the upload trigger, the detection functions and the Express state
machine built by :func:`components.state_machines.detection_definition`.

Uploads arrive through S3 → EventBridge, not an S3 notification to a function:
a bucket has one notification configuration (a second tool writing it would
silently cut the loop off), EventBridge rules filter by prefix and event type
without code, EventBridge keys are not URL-encoded, and the state machine is
the rule's direct target with retries and a dead-letter queue — no router
function in the path. The training folder's events (per-label counters) and an
upload's deletion (the dataset function forgets it) take the same route; the
dataset function's sweep makes the copies accepted reviews left unmade.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi

from components import events
from components.lambdas import DeployedFunction, FunctionFactory
from components.naming import Account, Naming
from components.state_machines import detection_definition
from components.triggers import DATASET_SWEEP
from components.workflows import workflow

DETECTION_FUNCTIONS = ("detect", "start_review", "detection_failed")
MACHINE = "detection"
UPLOAD_TRIGGER = "detection-upload"
TRAINING_DATA_TRIGGER = "training-data"
UPLOAD_DELETED_TRIGGER = "upload-deleted"


@dataclass
class DetectionArgs:
    naming: Naming
    account: pulumi.Output[Account]
    bucket_name: pulumi.Input[str]
    functions: FunctionFactory
    dead_letter_queue_arn: pulumi.Input[str]
    log_retention_days: int = 30


class Detection(pulumi.ComponentResource):
    state_machine_arn: pulumi.Output[str]
    definition: pulumi.Output[str]

    def __init__(self, name: str, args: DetectionArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("labelloop:index:Detection", name, None, opts)
        naming = args.naming
        account_id = args.account.apply(lambda a: a.account_id)

        self.deployed: dict[str, DeployedFunction] = {key: args.functions.create(key, self, name)
                                                      for key in DETECTION_FUNCTIONS}
        for key in ("training_data", "dataset"):
            self.deployed[key] = args.functions.create(key, self, name, asynchronous=True)

        arns = [self.deployed[key].arn for key in DETECTION_FUNCTIONS]
        self.definition = pulumi.Output.all(*arns).apply(lambda a: json.dumps(detection_definition(*a), indent=2))
        # Express executions have no history of their own: their log is it, so log everything.
        self.workflow = workflow(name, naming, MACHINE, "EXPRESS", self.definition, arns, log_level="ALL",
                                 log_retention_days=args.log_retention_days, account_id=account_id, parent=self)
        self.state_machine = self.workflow.state_machine

        upload, pattern = events.bucket_trigger(args.bucket_name, UPLOAD_TRIGGER)
        self.upload_rule = events.pattern_rule(name, naming, upload, pattern, parent=self)
        self.upload_target = self.workflow.started_by(self.upload_rule, f"{name}-{upload.name}",
                                                      dead_letter_queue=args.dead_letter_queue_arn, parent=self)

        self.training_data_rule, self.training_data_target = events.bucket_function_trigger(
            name, naming, args.bucket_name, TRAINING_DATA_TRIGGER, self.deployed["training_data"],
            dead_letter_queue=args.dead_letter_queue_arn, parent=self)

        # The dataset function: an upload deleted is taken out of the dataset; the sweep makes pending copies.
        self.upload_deleted_rule, self.upload_deleted_target = events.bucket_function_trigger(
            name, naming, args.bucket_name, UPLOAD_DELETED_TRIGGER, self.deployed["dataset"],
            dead_letter_queue=args.dead_letter_queue_arn, parent=self)
        self.dataset_sweep_rule = events.schedule_rule(name, naming, DATASET_SWEEP, parent=self)
        self.dataset_sweep_target, _ = events.function_target(
            self.dataset_sweep_rule, f"{name}-{DATASET_SWEEP.name}", self.deployed["dataset"],
            dead_letter_queue=args.dead_letter_queue_arn, parent=self, input=DATASET_SWEEP.input)

        self.state_machine_arn = self.state_machine.arn
        self.register_outputs({
            "stateMachineArn": self.state_machine_arn, "uploadRule": self.upload_rule.name,
            "trainingDataRule": self.training_data_rule.name, "uploadDeletedRule": self.upload_deleted_rule.name,
            "datasetSweepRule": self.dataset_sweep_rule.name,
            "functions": {key: fn.name for key, fn in self.deployed.items()},
        })

