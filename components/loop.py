"""LabelLoop: the whole stack, one component composing the stages.

Order matters only where a stage needs what another creates: Storage first;
ModelLifecycle next, because every function's environment names the
Rekognition project; the rest after. Names known before deploying (state
machines, schedule rule, the A2I flow definition) come from :mod:`components.naming`
and the review backend's declaration, so no stage waits for one created later.

The review stage is the configured backend's (``labelloop:review``): its
declaration (``components/review_backends/``) says what the other stages need
of it — the bucket's CORS rules, what every function is told and may do, its
alarms and widgets — and its component creates the rest; nothing here asks
which backend it is. Every resource is created with the stack's own AWS
provider, whose default tags are the stack's (:mod:`components.provider`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components import iam
from components.config import StackConfig, load_policies
from components.detection import Detection, DetectionArgs
from components.detection import MACHINE as DETECTION
from components.functions import deployed_functions
from components.lambdas import FunctionFactory, RuntimeEnvironment
from components.model_lifecycle import MACHINE as LIFECYCLE
from components.model_lifecycle import ModelLifecycle, ModelLifecycleArgs
from components.naming import Account, Naming
from components.observability import Observability, ObservabilityArgs
from components.packaging import lambda_archive
from components.parameters import OperatorParameters, OperatorParametersArgs
from components.provider import stack_provider
from components.review_backends import deployable
from components.review_stage import ReviewStage, ReviewStageArgs
from components.serving import Serving, ServingArgs
from components.storage import Storage, StorageArgs
from components.triggers import training_schedule
from handlers.runtime import layout


@dataclass
class LabelLoopArgs:
    config: StackConfig
    stack: str  # the Pulumi stack name


def account_of(parent: pulumi.Resource, provider: aws.Provider) -> pulumi.Output[Account]:
    """The partition, region and account the provider deploys to."""
    invoke = pulumi.InvokeOutputOptions(parent=parent, provider=provider)
    return pulumi.Output.all(aws.get_partition_output(opts=invoke).partition,
                             aws.get_region_output(opts=invoke).region,
                             aws.get_caller_identity_output(opts=invoke).account_id).apply(lambda v: Account(*v))


class LabelLoop(pulumi.ComponentResource):
    def __init__(self, name: str, args: LabelLoopArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("labelloop:index:LabelLoop", name, None, opts)
        config, naming = args.config, Naming(args.stack)
        engine, settings = load_policies(config)
        backend = deployable(config.review_backend)
        prefix = naming.prefix
        self.provider = stack_provider(f"{name}-aws", {"labelloop:stack": args.stack, **config.tags}, parent=self)
        child = pulumi.ResourceOptions(parent=self, providers={"aws": self.provider})
        account = account_of(self, self.provider)

        self.storage = Storage(f"{prefix}-storage", StorageArgs(
            naming=naming, account=account, notification_email=config.notification_email,
            cors_rules=backend.cors_rules), opts=child)

        schedule_rule = naming.rule(training_schedule(settings).name)
        state_machines = {m: account.apply(lambda a, m=m: a.state_machine_arn(naming.state_machine(m)))
                          for m in (DETECTION, LIFECYCLE)}
        review = (naming, config.review_settings, config.labels, account)
        functions = FunctionFactory(
            naming=naming, code=lambda_archive(config.policies, config.lambda_architecture, config.labels),
            environment=RuntimeEnvironment(
                table=self.storage.table_name, bucket=self.storage.bucket_name, parameter_path=naming.parameter_path,
                labels=config.labels, topic_arn=self.storage.topic_arn,
                detection_state_machine_arn=state_machines[DETECTION],
                lifecycle_state_machine_arn=state_machines[LIFECYCLE], schedule_rule=schedule_rule,
                stack=args.stack, policies=config.policies, event_bus=naming.event_bus,
                more={"review_backend": config.review_backend, **backend.environment(*review)}),
            arns=iam.StackArns(
                bucket=self.storage.bucket_arn, table=self.storage.table_arn, topic=self.storage.topic_arn,
                parameters=[account.apply(lambda a, i=i: a.parameter_arns(naming.parameter_path)[i]) for i in (0, 1)],
                project_versions=account.apply(lambda a: a.project_versions_arn(naming.project)),
                schedule_rule=account.apply(lambda a: a.rule_arn(schedule_rule)),
                state_machines=state_machines, dead_letter_queue=self.storage.dead_letter_queue_arn,
                event_bus=account.apply(lambda a: a.event_bus_arn(naming.event_bus)),
                review=backend.resources(*review)),
            specs=deployed_functions(config.review_backend),
            architecture=config.lambda_architecture, log_retention_days=config.log_retention_days)
        dead_letters = self.storage.dead_letter_queue_arn

        self.lifecycle = ModelLifecycle(f"{prefix}-lifecycle", ModelLifecycleArgs(
            naming=naming, account=account, settings=settings, functions=functions, dead_letter_queue_arn=dead_letters,
            log_retention_days=config.log_retention_days, max_training_seconds=int(config.max_training_hours * 3600),
            max_start_seconds=config.max_start_minutes * 60), opts=child)
        functions = self.lifecycle.functions  # now with the project
        self.serving = Serving(f"{prefix}-serving", ServingArgs(
            naming=naming, functions=functions, dead_letter_queue_arn=dead_letters, stack=args.stack), opts=child)
        self.review: ReviewStage = backend.component_class()(f"{prefix}-review", ReviewStageArgs(
            naming=naming, account=account, config=config, bucket_name=self.storage.bucket_name,
            bucket_arn=self.storage.bucket_arn, functions=functions, dead_letter_queue_arn=dead_letters), opts=child)
        self.detection = Detection(f"{prefix}-detection", DetectionArgs(
            naming=naming, account=account, bucket_name=self.storage.bucket_name, functions=functions,
            dead_letter_queue_arn=dead_letters, log_retention_days=config.log_retention_days), opts=child)
        self.parameters = OperatorParameters(f"{prefix}-parameters", OperatorParametersArgs(
            naming=naming, catalog=engine.catalog, settings=settings, functions=functions,
            dead_letter_queue_arn=dead_letters), opts=child)
        deployed = {**self.lifecycle.deployed, **self.review.deployed, **self.detection.deployed,
                    **self.serving.deployed, "parameter_change": self.parameters.handler}
        self.observability = Observability(f"{prefix}-observability", ObservabilityArgs(
            naming=naming, account=account, functions=functions, deployed=deployed,
            state_machines={DETECTION: self.detection.state_machine_arn, LIFECYCLE: self.lifecycle.state_machine_arn},
            topic_arn=self.storage.topic_arn, dead_letter_queue_name=self.storage.dead_letter_queue_name,
            dead_letter_queue_arn=dead_letters, review_backend=backend, review_settings=config.review_settings,
            forgotten_model_hours=config.forgotten_model_hours), opts=child)
        self.deployed = {**deployed, "summary": self.observability.summary}

        self.outputs: dict[str, Any] = {
            "bucketName": self.storage.bucket_name,
            "uploadPrefix": layout.DETECTION_PREFIX,
            "trainingPrefix": layout.TRAINING_PREFIX,
            "parameterPath": naming.parameter_path,
            "detectionStateMachineArn": self.detection.state_machine_arn,
            "lifecycleStateMachineArn": self.lifecycle.state_machine_arn,
            "tableName": self.storage.table_name,
            "topicArn": self.storage.topic_arn,
            "projectArn": self.lifecycle.project_arn,
            "dashboardUrl": self.observability.dashboard_url,
            "policies": list(engine.policies),
            "servingFunction": self.serving.handler.name,
            "prices": config.prices.as_config(),
            **self.review.stack_outputs,
        }
        self.register_outputs(self.outputs)
