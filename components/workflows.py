"""Deploying one of the loop's state machines, the same way for each: its log group, its role (invoke
its functions, deliver its logs), the machine itself, and the role EventBridge starts it with — the
rules that start it are its stage's (:class:`Workflow.started_by`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import pulumi
import pulumi_aws as aws

from components import events, iam
from components.naming import Naming


@dataclass
class Workflow:
    log_group: aws.cloudwatch.LogGroup
    role: aws.iam.Role
    role_policy: aws.iam.RolePolicy
    state_machine: aws.sfn.StateMachine
    events_role: aws.iam.Role
    events_policy: aws.iam.RolePolicy

    def started_by(self, rule: aws.cloudwatch.EventRule, rule_name: str, *, dead_letter_queue: pulumi.Input[str],
                   parent: pulumi.Resource, input: Mapping[str, Any] | None = None) -> aws.cloudwatch.EventTarget:
        """``rule`` starts the state machine (through the events role), dead-lettering what it cannot."""
        return events.state_machine_target(rule, rule_name, self.state_machine.arn, self.events_role,
                                           dead_letter_queue=dead_letter_queue, parent=parent,
                                           depends_on=[self.events_policy], input=input)


def workflow(prefix: str, naming: Naming, machine: str, kind: str, definition: pulumi.Input[str],
             function_arns: Sequence[pulumi.Input[str]], *, log_level: str, log_retention_days: int,
             account_id: pulumi.Input[str], parent: pulumi.Resource) -> Workflow:
    """State machine ``machine`` (``EXPRESS`` or ``STANDARD``) of ``definition``, invoking
    ``function_arns``, logging at ``log_level`` (with the execution data) to its own log group."""
    log_group = aws.cloudwatch.LogGroup(f"{prefix}-state-machine-logs", name=naming.state_machine_log_group(machine),
                                        retention_in_days=log_retention_days, opts=pulumi.ResourceOptions(parent=parent))
    role, role_policy = iam.service_role(
        f"{prefix}-state-machine-role", naming.state_machine_role(machine), "states.amazonaws.com",
        iam.state_machine_statements(function_arns), parent=parent, account_id=account_id,
        description=f"The labelloop {machine} state machine")
    state_machine = aws.sfn.StateMachine(
        f"{prefix}-state-machine", name=naming.state_machine(machine), type=kind, role_arn=role.arn,
        definition=definition, logging_configuration=aws.sfn.StateMachineLoggingConfigurationArgs(
            level=log_level, include_execution_data=True, log_destination=pulumi.Output.concat(log_group.arn, ":*")),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[role_policy]))
    events_role, events_policy = events.start_execution_role(prefix, naming, machine, state_machine.arn,
                                                             account_id=account_id, parent=parent)
    return Workflow(log_group, role, role_policy, state_machine, events_role, events_policy)
