"""EventBridge rules from the plain descriptions in :mod:`components.triggers`, and
their targets: a function (with a resource policy naming the rule) or a state
machine (through a role that may start only that state machine). Every target
retries and then dead-letters into the stack's queue, which is alarmed.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

import pulumi
import pulumi_aws as aws

from components import iam
from components.lambdas import DeployedFunction
from components.naming import Naming
from components.triggers import Schedule, Trigger, bucket_triggers

RETRY = aws.cloudwatch.EventTargetRetryPolicyArgs(maximum_event_age_in_seconds=6 * 3600, maximum_retry_attempts=20)


def bucket_trigger(bucket_name: pulumi.Input[str], trigger_name: str) -> tuple[Trigger, pulumi.Output[dict]]:
    """One of :func:`components.triggers.bucket_triggers`, with its pattern for this stack's bucket."""
    def pattern(bucket: str) -> dict:
        return next(t.pattern for t in bucket_triggers(bucket) if t.name == trigger_name)

    trigger = next(t for t in bucket_triggers("") if t.name == trigger_name)
    return trigger, pulumi.Output.from_input(bucket_name).apply(pattern)


def pattern_rule(prefix: str, naming: Naming, trigger: Trigger, pattern: pulumi.Input[Mapping[str, Any]], *,
                 parent: pulumi.Resource,
                 depends_on: list[pulumi.Resource] | None = None) -> aws.cloudwatch.EventRule:
    """Rule ``labelloop-<stack>-<trigger>`` (logical name ``<prefix>-<trigger>``), on the trigger's bus."""
    return aws.cloudwatch.EventRule(
        f"{prefix}-{trigger.name}", name=naming.rule(trigger.name), description=trigger.description, state="ENABLED",
        event_bus_name=trigger.event_bus,
        event_pattern=pulumi.Output.from_input(pattern).apply(lambda p: json.dumps(p, sort_keys=True)),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on))


def schedule_rule(prefix: str, naming: Naming, schedule: Schedule, *, parent: pulumi.Resource,
                  managed_at_run_time: bool = False) -> aws.cloudwatch.EventRule:
    """A schedule rule. ``managed_at_run_time``: a function changes its rate and state when
    operators change the parameters, so a later ``pulumi up`` must not put them back."""
    ignore = ["scheduleExpression", "state"] if managed_at_run_time else []
    return aws.cloudwatch.EventRule(
        f"{prefix}-{schedule.name}", name=naming.rule(schedule.name), description=schedule.description,
        schedule_expression=schedule.expression,
        state="ENABLED" if schedule.enabled else "DISABLED",
        opts=pulumi.ResourceOptions(parent=parent, ignore_changes=ignore))


def function_target(rule: aws.cloudwatch.EventRule, rule_name: str, target: DeployedFunction, *,
                    dead_letter_queue: pulumi.Input[str], parent: pulumi.Resource,
                    input: Mapping[str, Any] | None = None, event_bus: str | None = None,
                    ) -> tuple[aws.cloudwatch.EventTarget, aws.lambda_.Permission]:
    child = pulumi.ResourceOptions(parent=parent)
    permission = aws.lambda_.Permission(
        f"{rule_name}-invoke", action="lambda:InvokeFunction", function=target.function.name,
        principal="events.amazonaws.com", source_arn=rule.arn, opts=child)
    event_target = aws.cloudwatch.EventTarget(
        f"{rule_name}-target", rule=rule.name, target_id=target.key.replace("_", "-"), arn=target.arn,
        event_bus_name=event_bus,
        input=json.dumps(input) if input is not None else None, retry_policy=RETRY,
        dead_letter_config=aws.cloudwatch.EventTargetDeadLetterConfigArgs(arn=dead_letter_queue),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[permission]))
    return event_target, permission


def bucket_function_trigger(prefix: str, naming: Naming, bucket_name: pulumi.Input[str], trigger_name: str,
                            target: DeployedFunction, *, dead_letter_queue: pulumi.Input[str],
                            parent: pulumi.Resource,
                            ) -> tuple[aws.cloudwatch.EventRule, aws.cloudwatch.EventTarget]:
    """A bucket trigger whose target is a function: the rule, the target and its invoke permission."""
    trigger, pattern = bucket_trigger(bucket_name, trigger_name)
    rule = pattern_rule(prefix, naming, trigger, pattern, parent=parent)
    target, _ = function_target(rule, f"{prefix}-{trigger.name}", target, dead_letter_queue=dead_letter_queue,
                                parent=parent)
    return rule, target


def start_execution_role(prefix: str, naming: Naming, machine: str, state_machine_arn: pulumi.Input[str], *,
                         account_id: pulumi.Input[str], parent: pulumi.Resource
                         ) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
    """The role EventBridge uses to start one state machine."""
    return iam.service_role(
        f"{prefix}-events-role", naming(f"events-{machine}"), "events.amazonaws.com",
        [iam.Statement("StartItsStateMachine", ("states:StartExecution",), (state_machine_arn,))],
        parent=parent, account_id=account_id,
        description=f"EventBridge starts the labelloop {machine} state machine")


def state_machine_target(rule: aws.cloudwatch.EventRule, rule_name: str, state_machine_arn: pulumi.Input[str],
                         role: aws.iam.Role, *, dead_letter_queue: pulumi.Input[str], parent: pulumi.Resource,
                         depends_on: list[pulumi.Resource], input: Mapping[str, Any] | None = None
                         ) -> aws.cloudwatch.EventTarget:
    return aws.cloudwatch.EventTarget(
        f"{rule_name}-target", rule=rule.name, target_id="state-machine", arn=state_machine_arn, role_arn=role.arn,
        input=json.dumps(input) if input is not None else None, retry_policy=RETRY,
        dead_letter_config=aws.cloudwatch.EventTargetDeadLetterConfigArgs(arn=dead_letter_queue),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on))
