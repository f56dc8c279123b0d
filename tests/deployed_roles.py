"""The policy documents the Pulumi program attaches to each function's role, for a LocalStack.

The program runs under the Pulumi mocks (``pulumi_mocks.run_program``) as the same stack with the
same labels; its documents name the deployment's resources, which the LocalStack names otherwise
(the bucket's and the flow definition's generated suffix, the project's creation time, the region).
Those names, read from the deployment's stack outputs, are swapped for the LocalStack's, and nothing
else in a document changes.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi_mocks
from pulumi_mocks import BUILTIN

from components.functions import deployed_with


def deployed_config(stack) -> dict[str, Any]:
    return {**pulumi_mocks.DEFAULT, "labels": list(stack.config.labels)}


def role_policies(stack, config: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Function key -> the deployed policy document of its role, naming ``stack``'s resources, for
    every function the config's review backend deploys."""
    config = config or deployed_config(stack)
    deployment = pulumi_mocks.run_program(config, stack=stack.stack)
    outputs = deployment.stack_outputs
    swaps = [
        (f"arn:aws:s3:::{outputs['bucketName']}", f"arn:aws:s3:::{stack.bucket}"),
        (outputs["projectArn"], stack.project_arn),
        (outputs["projectArn"].rsplit("/", 1)[0] + "/", stack.project_arn.rsplit("/", 1)[0] + "/"),
        *([(outputs["flowDefinitionArn"], stack.flow_definition_arn)] if "flowDefinitionArn" in outputs else []),
        (outputs["topicArn"], stack.topic_arn),
        (outputs["detectionStateMachineArn"], stack.state_machines["detection"]),
        (outputs["lifecycleStateMachineArn"], stack.state_machines["lifecycle"]),
        (f":{pulumi_mocks.REGION}:", f":{stack.session.region_name}:"),
    ]
    policies = {}
    for key in deployed_with(config.get("review", BUILTIN)):
        text = json.dumps(pulumi_mocks.role_policy(deployment, pulumi_mocks.function_name(key, stack.stack)))
        for deployed, local in swaps:
            text = text.replace(deployed, local)
        policies[key] = json.loads(text)
    return policies
