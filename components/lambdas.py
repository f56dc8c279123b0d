"""Deploying one function of the stack (``components.functions.deployed_functions``): its role
(exactly its grants on this stack's resources), its log group, the function from the
shared archive with the stack's environment and, when it is invoked
asynchronously (EventBridge targets), its failure destination.

The stage components call :meth:`FunctionFactory.create` with themselves as
parent, so each function's resources sit under the stage that uses it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Mapping

import pulumi
import pulumi_aws as aws

from components import iam
from components.grants import FunctionSpec
from components.naming import Naming
from handlers.runtime.config import LABELS_FILE, RuntimeConfig

RUNTIME = "python3.13"
# How long EventBridge's asynchronous events may wait and be retried before they dead-letter.
ASYNC_MAX_EVENT_AGE_SECONDS = 6 * 3600
ASYNC_RETRIES = 2


@dataclass(frozen=True)
class RuntimeEnvironment:
    """What every function is told about its stack (``RuntimeConfig`` fields, as Inputs)."""

    table: pulumi.Input[str]
    bucket: pulumi.Input[str]
    parameter_path: str
    labels: tuple[str, ...]
    topic_arn: pulumi.Input[str]
    detection_state_machine_arn: pulumi.Input[str]
    lifecycle_state_machine_arn: pulumi.Input[str]
    schedule_rule: str
    stack: str
    policies: tuple[str, ...] = ()
    event_bus: str | None = None  # the stack's own event bus (a name)
    project_arn: pulumi.Input[str] | None = None
    # More RuntimeConfig fields, as Inputs: the stack's review backend and what it tells every function
    # (Deployable.environment), and what a stage tells its own functions (FunctionFactory.told).
    more: Mapping[str, pulumi.Input] = dataclasses.field(default_factory=dict)

    def variables(self) -> pulumi.Output[dict[str, str]]:
        """``RuntimeConfig(...).to_env()`` plus the policy modules and Powertools' settings."""
        inputs = {"table": self.table, "bucket": self.bucket, "topic_arn": self.topic_arn,
                  "project_arn": self.project_arn, "detection_state_machine_arn": self.detection_state_machine_arn,
                  "lifecycle_state_machine_arn": self.lifecycle_state_machine_arn, **self.more}

        def build(values: dict) -> dict[str, str]:
            env = RuntimeConfig(parameter_path=self.parameter_path, labels=self.labels, labels_file=LABELS_FILE,
                                schedule_rule=self.schedule_rule, stack=self.stack, event_bus=self.event_bus,
                                **values).to_env()
            if self.policies:
                env["LABELLOOP_POLICIES"] = ",".join(self.policies)
            return env

        return pulumi.Output.all(**inputs).apply(build)


@dataclass(frozen=True)
class DeployedFunction:
    key: str
    function: aws.lambda_.Function
    role: aws.iam.Role
    role_policy: aws.iam.RolePolicy
    log_group: aws.cloudwatch.LogGroup
    invoke_config: aws.lambda_.FunctionEventInvokeConfig | None

    @property
    def arn(self) -> pulumi.Output[str]:
        return self.function.arn

    @property
    def name(self) -> pulumi.Output[str]:
        return self.function.name


@dataclass(frozen=True)
class FunctionFactory:
    """Everything the functions of one stack share."""

    naming: Naming
    code: pulumi.Archive
    environment: RuntimeEnvironment
    arns: iam.StackArns
    specs: Mapping[str, FunctionSpec]  # the stack's functions (components.functions.deployed_functions)
    architecture: str
    log_retention_days: int

    def bind_project(self, project_arn: pulumi.Input[str]) -> "FunctionFactory":
        """The same factory, now that the Rekognition project (and its ARN) exists."""
        return dataclasses.replace(self, environment=dataclasses.replace(self.environment, project_arn=project_arn),
                                   arns=dataclasses.replace(self.arns, project=project_arn))

    def told(self, **more: pulumi.Input) -> "FunctionFactory":
        """The same factory, its functions told more (``RuntimeConfig`` fields, as Inputs): what a stage
        tells only the functions it creates (the review app's sign-in settings)."""
        environment = self.environment
        return dataclasses.replace(self, environment=dataclasses.replace(environment, more={**environment.more, **more}))

    def create(self, key: str, parent: pulumi.Resource, prefix: str, *, asynchronous: bool = False
               ) -> DeployedFunction:
        """Function ``key`` of the stack's, its resources named ``<prefix>-<key>…`` under ``parent``.
        ``asynchronous``: EventBridge invokes it, so failed events go to the dead-letter queue
        after the retries."""
        spec = self.specs[key]
        name = self.naming.function(key)
        logical = f"{prefix}-{key.replace('_', '-')}"
        child = pulumi.ResourceOptions(parent=parent)
        log_group = aws.cloudwatch.LogGroup(f"{logical}-logs", name=self.naming.log_group(key),
                                            retention_in_days=self.log_retention_days,
                                            opts=child)
        role, role_policy = iam.service_role(
            f"{logical}-role", name, "lambda.amazonaws.com",
            iam.function_statements(spec, self.arns, log_group.arn, dead_letter=asynchronous),
            parent=parent, account_id=None, description=f"labelloop {key}: {spec.description}")
        function = aws.lambda_.Function(
            logical, name=name, description=spec.description[:256], role=role.arn, runtime=RUNTIME,
            handler=spec.handler, code=self.code, architectures=[self.architecture], timeout=spec.timeout,
            memory_size=spec.memory, environment=aws.lambda_.FunctionEnvironmentArgs(
                variables=self.environment.variables()),
            # Text: Powertools writes its own JSON log lines and metrics (EMF) to stdout as they are.
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="Text", log_group=log_group.name),
            # The role's policy must be in place before the function can run (or be invoked by a test).
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[role_policy, log_group]))
        invoke_config = None
        if asynchronous:
            invoke_config = aws.lambda_.FunctionEventInvokeConfig(
                f"{logical}-async", function_name=function.name, maximum_retry_attempts=ASYNC_RETRIES,
                maximum_event_age_in_seconds=ASYNC_MAX_EVENT_AGE_SECONDS,
                destination_config=aws.lambda_.FunctionEventInvokeConfigDestinationConfigArgs(
                    on_failure=aws.lambda_.FunctionEventInvokeConfigDestinationConfigOnFailureArgs(
                        destination=self.arns.dead_letter_queue)),
                opts=child)
        return DeployedFunction(key, function, role, role_policy, log_group, invoke_config)
