"""Names of a stack's resources, and the ARNs derived from them. Pure: no pulumi.

Every resource a stack creates is named ``labelloop-<stack>-<part>`` (the stack
name lower-cased, other characters turned into ``-``), so two stacks in one
account never collide and every ARN a policy grants can be checked to belong to
its stack. The operator parameters keep the original's path,
``/labelloop/<stack>/``, with the stack name as Pulumi spells it.

Names whose ARN a function needs before the resource exists (the state
machines, the schedule rule, the flow definition) are fixed here, so the ARN
can be written into environments and policies without a dependency cycle
(the state machines invoke the functions whose environment names them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PROJECT = "labelloop"
# The Cognito group whose members may review (the stack's own user pool; the sandbox's sign-in).
REVIEWER_GROUP = "reviewers"
# SageMaker names (flow definition, task UI: ``^[a-z0-9](-*[a-z0-9]){0,62}``), Lambda
# function and IAM role names (64) leave room for a stack slug of this length.
MAX_SLUG = 30
COGNITO_RESERVED = ("aws", "amazon", "cognito")  # words a Cognito domain prefix must not contain


class StackNameError(ValueError):
    """The Pulumi stack name cannot name this stack's resources."""


def slug(stack: str) -> str:
    """The stack name as it appears in resource names: ``Prod_EU.1`` → ``prod-eu-1``."""
    return re.sub(r"[^a-z0-9]+", "-", stack.lower()).strip("-")


@dataclass(frozen=True)
class Naming:
    stack: str

    def __post_init__(self) -> None:
        s = slug(self.stack)
        if not s:
            raise StackNameError(f"stack name {self.stack!r} has no letters or digits to name resources with; "
                                 "Fix: use a stack name like 'dev' or 'prod' (`pulumi stack init prod`)")
        if len(s) > MAX_SLUG:
            raise StackNameError(f"stack name {self.stack!r} is longer than {MAX_SLUG} characters, too long for "
                                 "Lambda, IAM and SageMaker names; Fix: use a shorter stack name")

    @property
    def prefix(self) -> str:
        """``labelloop-<stack>``: the start of every resource name of this stack."""
        return f"{PROJECT}-{slug(self.stack)}"

    def __call__(self, part: str) -> str:
        """The name of one resource: ``labelloop-<stack>-<part>`` (``_`` becomes ``-``)."""
        return f"{self.prefix}-{part.replace('_', '-')}"

    @property
    def parameter_path(self) -> str:
        return f"/{PROJECT}/{self.stack}/"

    @property
    def table(self) -> str:
        """The state table."""
        return self("state")

    def function(self, key: str) -> str:
        return self(key)

    def state_machine(self, name: str) -> str:
        return self(name)

    def state_machine_role(self, name: str) -> str:
        return self(f"{name}-sfn")

    @property
    def event_bus(self) -> str:
        """The stack's own event bus: labelloop's own events (an image waiting for a model)."""
        return self("events")

    @property
    def project(self) -> str:
        """The Rekognition Custom Labels project."""
        return self("model")

    def log_group(self, function_key: str) -> str:
        return f"/aws/lambda/{self.function(function_key)}"

    def state_machine_log_group(self, name: str) -> str:
        # The /aws/vendedlogs/ prefix keeps CloudWatch Logs' resource policy from growing per log group.
        return f"/aws/vendedlogs/states/{self.state_machine(name)}"

    def rule(self, name: str) -> str:
        return self(name)

    def api_access_log_group(self, api: str) -> str:
        # HTTP APIs deliver access logs as vended logs: this prefix keeps the resource policy small.
        return f"/aws/vendedlogs/apigateway/{self(api)}"

    @property
    def login_domain_prefix(self) -> str:
        """The start of the review app's Cognito sign-in domain; the account id completes it, since
        domain prefixes are global across AWS accounts. Cognito refuses prefixes with these words."""
        prefix = self("review")
        reserved = [word for word in COGNITO_RESERVED if word in prefix]
        if reserved:
            raise StackNameError(f"stack name {self.stack!r} contains {reserved[0]!r}, which Cognito does not allow in "
                                 f"the reviewers' sign-in domain {prefix}-<account id>; Fix: use a stack name "
                                 f"without {', '.join(COGNITO_RESERVED)}")
        return prefix

    def delivery_queue(self, name: str) -> str:
        """The sandbox's stand-in for a rule's target (or the topic's subscriber): a queue it drains."""
        return self(f"{name}-deliveries")


@dataclass(frozen=True)
class Account:
    """Where a stack lives; ARNs are built from it."""

    partition: str
    region: str
    account_id: str

    def arn(self, service: str, resource: str, *, regional: bool = True, with_account: bool = True) -> str:
        region = self.region if regional else ""
        account = self.account_id if with_account else ""
        return f"arn:{self.partition}:{service}:{region}:{account}:{resource}"

    def state_machine_arn(self, name: str) -> str:
        return self.arn("states", f"stateMachine:{name}")

    def event_bus_arn(self, name: str) -> str:
        return self.arn("events", f"event-bus/{name}")

    def rule_arn(self, name: str) -> str:
        return self.arn("events", f"rule/{name}")

    def flow_definition_arn(self, name: str) -> str:
        return self.arn("sagemaker", f"flow-definition/{name}")

    def workteam_arn(self, name: str) -> str:
        return self.arn("sagemaker", f"workteam/private-crowd/{name}")

    def parameter_arns(self, path: str) -> list[str]:
        """``GetParametersByPath`` is authorized against the path itself; reads of one
        parameter against the parameter: the path and everything under it."""
        base = path.strip("/")
        return [self.arn("ssm", f"parameter/{base}"), self.arn("ssm", f"parameter/{base}/*")]

    def project_versions_arn(self, project_name: str) -> str:
        """Every model version of one Rekognition project (``project/<name>/version/<version>/<created>``)."""
        return self.arn("rekognition", f"project/{project_name}/version/*")

