"""IAM for the stack: statements from the functions' ``grants``, roles for the
services that act for the stack, all rendered with ``aws.iam.get_policy_document``.

Every statement names this stack's resources only. The one kind of statement
that cannot is :data:`STATE_MACHINE_LOG_DELIVERY`: Step Functions sets up its
CloudWatch Logs delivery with ``logs:*LogDelivery``/``*ResourcePolic*`` calls
that IAM does not scope to a resource (AWS documents ``"Resource": "*"`` for
them); :data:`UNSCOPED_ACTIONS` lists those actions and the tests hold every
other statement to this stack's ARNs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from components.grants import FunctionSpec, Grant

# Step Functions' documented permissions for logging to CloudWatch Logs; none supports a resource ARN.
STATE_MACHINE_LOG_DELIVERY = (
    "logs:CreateLogDelivery", "logs:DeleteLogDelivery", "logs:DescribeLogGroups", "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:UpdateLogDelivery",
)
UNSCOPED_ACTIONS = frozenset(STATE_MACHINE_LOG_DELIVERY)
LAMBDA_LOGGING = ("logs:CreateLogStream", "logs:PutLogEvents")
DEAD_LETTER = ("sqs:SendMessage",)


@dataclass(frozen=True)
class Condition:
    test: str
    variable: str
    values: tuple[pulumi.Input[str], ...]


@dataclass(frozen=True)
class Statement:
    sid: str
    actions: tuple[str, ...]
    resources: tuple[pulumi.Input[str], ...]
    effect: str = "Allow"
    conditions: tuple[Condition, ...] = ()
    principals: Mapping[str, Sequence[pulumi.Input[str]]] = field(default_factory=dict)

    def args(self) -> aws.iam.GetPolicyDocumentStatementArgs:
        return aws.iam.GetPolicyDocumentStatementArgs(
            sid=self.sid, effect=self.effect, actions=list(self.actions), resources=list(self.resources) or None,
            conditions=[aws.iam.GetPolicyDocumentStatementConditionArgs(test=c.test, variable=c.variable,
                                                                        values=list(c.values))
                        for c in self.conditions] or None,
            principals=[aws.iam.GetPolicyDocumentStatementPrincipalArgs(type=kind, identifiers=list(ids))
                        for kind, ids in self.principals.items()] or None,
        )


def document(statements: Sequence[Statement], parent: pulumi.Resource) -> pulumi.Output[str]:
    """The policy JSON for ``statements`` (rendered by the provider, exactly as IAM gets it)."""
    if not statements:
        raise ValueError("a policy needs at least one statement")
    sids = [s.sid for s in statements]
    if len(set(sids)) != len(sids):
        raise ValueError(f"duplicate statement ids in {sids}")
    return aws.iam.get_policy_document_output(statements=[s.args() for s in statements],
                                              opts=pulumi.InvokeOutputOptions(parent=parent)).json


@dataclass(frozen=True)
class StackArns:
    """The ARNs of this stack's resources a grant can name (see :class:`components.grants.Grant`)."""

    bucket: pulumi.Input[str]
    table: pulumi.Input[str]
    topic: pulumi.Input[str]
    parameters: Sequence[pulumi.Input[str]]
    project_versions: pulumi.Input[str]
    schedule_rule: pulumi.Input[str]
    state_machines: Mapping[str, pulumi.Input[str]]
    dead_letter_queue: pulumi.Input[str]
    project: pulumi.Input[str] | None = None  # known once the Rekognition project exists
    event_bus: pulumi.Input[str] | None = None  # the stack's own event bus (labelloop's own events)
    review: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)  # the review backend's kinds -> ARN


def _pascal(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in text.replace("-", "_").replace("/", "_").split("_"))


def grant_statement(index: int, grant: Grant, arns: StackArns) -> Statement:
    """One statement: the grant's actions on the ARNs its resource kind names in this stack."""
    kind, _, qualifier = grant.resource.partition(":")
    conditions: tuple[Condition, ...] = ()
    if kind == "objects":
        resources = (pulumi.Output.concat(arns.bucket, "/", qualifier, "*"),)
    elif kind == "bucket":
        resources = (arns.bucket,)
        if qualifier:  # listing limited to a prefix; without one, the bucket itself
            conditions = (Condition("StringLike", "s3:prefix", (f"{qualifier}*",)),)
    elif kind in ("table", "topic", "project_versions", "schedule_rule"):
        resources = (getattr(arns, kind),)
    elif kind == "parameters":
        resources = tuple(arns.parameters)
    elif kind == "project":
        if arns.project is None:
            raise ValueError("a grant on the Rekognition project needs its ARN; create the function in ModelLifecycle")
        resources = (arns.project,)
    elif kind == "event_bus":
        if arns.event_bus is None:
            raise ValueError("a grant on the event bus needs its ARN")
        resources = (arns.event_bus,)
    elif kind in arns.review:
        resources = (arns.review[kind],)
    elif kind == "state_machine":
        if qualifier not in arns.state_machines:
            raise ValueError(f"grant on unknown state machine {qualifier!r}; known: {sorted(arns.state_machines)}")
        resources = (arns.state_machines[qualifier],)
    else:
        raise ValueError(f"grant on unknown resource kind {grant.resource!r}")
    return Statement(f"G{index}{_pascal(kind)}{_pascal(qualifier)}", tuple(grant.actions), resources,
                     conditions=conditions)


def function_statements(spec: FunctionSpec, arns: StackArns, log_group_arn: pulumi.Input[str], *,
                        dead_letter: bool) -> list[Statement]:
    """A function's whole policy: its grants, writing to its own log group and, when it is
    invoked asynchronously, sending failed events to the dead-letter queue."""
    statements = [grant_statement(i, grant, arns) for i, grant in enumerate(spec.grants)]
    statements.append(Statement("OwnLogGroup", LAMBDA_LOGGING, (pulumi.Output.concat(log_group_arn, ":*"),)))
    if dead_letter:
        statements.append(Statement("FailedEventsToDeadLetterQueue", DEAD_LETTER, (arns.dead_letter_queue,)))
    return statements


def state_machine_statements(function_arns: Sequence[pulumi.Input[str]]) -> list[Statement]:
    return [
        Statement("InvokeItsFunctions", ("lambda:InvokeFunction",), tuple(function_arns)),
        Statement("DeliverLogsUnscopedPerAwsDocs", STATE_MACHINE_LOG_DELIVERY, ("*",)),
    ]


def service_role(logical_name: str, role_name: str, service: str, statements: Sequence[Statement], *,
                 parent: pulumi.Resource, account_id: pulumi.Input[str] | None,
                 description: str) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
    """Role ``role_name``, which ``service`` assumes (only on behalf of this account when
    ``account_id`` is given, against the confused deputy), with one inline policy of ``statements``."""
    conditions = (Condition("StringEquals", "aws:SourceAccount", (account_id,)),) if account_id is not None else ()
    trust = document([Statement("AssumedBy" + _pascal(service.split(".")[0]), ("sts:AssumeRole",), (),
                                conditions=conditions, principals={"Service": [service]})], parent)
    child = pulumi.ResourceOptions(parent=parent)
    role = aws.iam.Role(logical_name, name=role_name, description=description[:1000], assume_role_policy=trust,
                        opts=child)
    policy = aws.iam.RolePolicy(f"{logical_name}-policy", name="access", role=role.id,
                                policy=document(list(statements), parent), opts=child)
    return role, policy
