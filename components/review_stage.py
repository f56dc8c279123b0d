"""What a review backend's component is given and what it hands back (the stage ``LabelLoop``
composes for ``labelloop:review``; ``Deployable.component`` names it).

A :class:`ReviewStage` creates the backend's resources under itself: its functions (from
``args.functions``, which already knows the backend's environment and grants), whatever drives them,
and the reviewers' side. It hands back the functions it deployed (:attr:`ReviewStage.deployed`: the
alarms and the dashboard watch them) and the stack outputs it adds (:attr:`ReviewStage.stack_outputs`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.config import StackConfig
from components.lambdas import DeployedFunction, FunctionFactory
from components.naming import Account, Naming


@dataclass
class ReviewStageArgs:
    naming: Naming
    account: pulumi.Output[Account]
    config: StackConfig  # the labels, the reviewers to invite, the backend's settings (review_settings)
    bucket_name: pulumi.Input[str]
    bucket_arn: pulumi.Input[str]
    functions: FunctionFactory
    dead_letter_queue_arn: pulumi.Input[str]  # where its asynchronous targets' failed events go

    @property
    def settings(self) -> Any:
        return self.config.review_settings


class ReviewStage(pulumi.ComponentResource):
    """A review backend's component; ``type_`` is its own Pulumi type token."""

    deployed: dict[str, DeployedFunction]
    stack_outputs: dict[str, pulumi.Input[Any]]

    def served_by(self, name: str, api: aws.apigatewayv2.Api, function: DeployedFunction) -> pulumi.Output[str]:
        """Let the HTTP API ``api`` invoke ``function`` through a Lambda proxy integration (payload 2.0);
        returns what its routes target (``integrations/<id>``)."""
        child = pulumi.ResourceOptions(parent=self)
        self.permission = aws.lambda_.Permission(
            f"{name}-api-invoke", action="lambda:InvokeFunction", function=function.name,
            principal="apigateway.amazonaws.com", source_arn=pulumi.Output.concat(api.execution_arn, "/*/*"),
            opts=child)
        self.integration = aws.apigatewayv2.Integration(
            f"{name}-integration", api_id=api.id, integration_type="AWS_PROXY",
            integration_uri=function.function.invoke_arn, integration_method="POST",
            payload_format_version="2.0", opts=child)
        return pulumi.Output.concat("integrations/", self.integration.id)
