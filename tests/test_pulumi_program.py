"""The program as a whole: what a stack creates, how it is structured, what it exports,
what the stack config examples do, and that the mocks themselves are trustworthy."""

import importlib
import json
import re
from dataclasses import replace
from pathlib import Path

import pulumi
import pytest
import yaml

from components.config import KEYS, ConfigError, parse_stack_config
from components.functions import FUNCTIONS, deployed_with
from components.naming import Account, Naming, StackNameError
from components.storage import Storage, StorageArgs
from plugins import Engine
from pulumi_mocks import (A2I, ACCOUNT, BUILTIN, BUILTIN_FULL, BUILTIN_SMALL, DEFAULT, EXISTING_POOL, FULL, FUNCTION,
                          REGION, ROLE_POLICY, ROOT, TEAM_POLICIES, Deployment, run, run_loop, run_program)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

# What the default stack (two labels, the builtin review app) creates.
DEFAULT_STACK = {
    "aws:apigatewayv2/api:Api": 1,
    "aws:apigatewayv2/authorizer:Authorizer": 1,
    "aws:apigatewayv2/integration:Integration": 1,
    "aws:apigatewayv2/route:Route": 7,  # 2 public (page, sign-in settings), 5 for reviewers
    "aws:apigatewayv2/stage:Stage": 1,
    "aws:cloudwatch/dashboard:Dashboard": 1,
    "aws:cloudwatch/eventBus:EventBus": 1,  # the stack's own events (an image waiting for a model)
    # 3 bucket prefixes (uploads, deleted uploads, training data), parameter changes, an image waiting,
    # training, serving, summary, dataset and review sweep schedules
    "aws:cloudwatch/eventRule:EventRule": 10,
    "aws:cloudwatch/eventTarget:EventTarget": 10,
    "aws:cloudwatch/logGroup:LogGroup": 25,  # 22 functions, 2 state machines, the API's access log
    # 22 functions, 2 x 2 state machine failures, dead letters, models that could not be stopped, a forgotten
    # model, a model that could not be started, oldest task
    "aws:cloudwatch/metricAlarm:MetricAlarm": 31,
    "aws:cognito/managedLoginBranding:ManagedLoginBranding": 1,
    "aws:cognito/userGroup:UserGroup": 1,
    "aws:cognito/userPool:UserPool": 1,
    "aws:cognito/userPoolClient:UserPoolClient": 1,
    "aws:cognito/userPoolDomain:UserPoolDomain": 1,
    "aws:dynamodb/table:Table": 1,
    "aws:iam/role:Role": 26,  # 22 functions, 2 state machines, 2 EventBridge → state machine
    "aws:iam/rolePolicy:RolePolicy": 26,
    "aws:kms/alias:Alias": 1,
    "aws:kms/key:Key": 1,
    "aws:lambda/function:Function": 22,
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": 6,
    "aws:lambda/permission:Permission": 9,  # 8 EventBridge rules, the API
    "aws:rekognition/project:Project": 1,
    "aws:s3/bucket:Bucket": 1,
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": 1,
    "aws:s3/bucketNotification:BucketNotification": 1,
    "aws:s3/bucketPolicy:BucketPolicy": 1,
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": 1,
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": 1,
    "aws:s3/bucketVersioning:BucketVersioning": 1,
    "aws:sfn/stateMachine:StateMachine": 2,
    "aws:sns/topic:Topic": 1,
    "aws:sqs/queue:Queue": 1,
    "aws:sqs/queuePolicy:QueuePolicy": 1,
    "aws:ssm/parameter:Parameter": len(Engine.load([], entry_points=False).catalog),  # one per parameter
}
# What the smallest A2I stack (two labels, an existing work team) has instead of the review app.
A2I_INSTEAD = {
    "aws:apigatewayv2/api:Api": -1, "aws:apigatewayv2/authorizer:Authorizer": -1,
    "aws:apigatewayv2/integration:Integration": -1, "aws:apigatewayv2/route:Route": -7,
    "aws:apigatewayv2/stage:Stage": -1, "aws:cognito/managedLoginBranding:ManagedLoginBranding": -1,
    "aws:cognito/userGroup:UserGroup": -1, "aws:cognito/userPool:UserPool": -1,
    "aws:cognito/userPoolClient:UserPoolClient": -1, "aws:cognito/userPoolDomain:UserPoolDomain": -1,
    "aws:cloudwatch/logGroup:LogGroup": -1, "aws:cloudwatch/metricAlarm:MetricAlarm": -1,  # the API's; oldest task
    # A2I's output files instead of the review sweep: as many rules, targets and failure destinations
    "aws:lambda/permission:Permission": -1,  # the API's
    "aws:iam/role:Role": 1, "aws:iam/rolePolicy:RolePolicy": 1,  # the flow definition's
    "aws:s3/bucketCorsConfiguration:BucketCorsConfiguration": 1,
    "aws:sagemaker/flowDefinition:FlowDefinition": 1, "aws:sagemaker/humanTaskUI:HumanTaskUI": 1,
}
COMPONENTS = {"labelloop:index:LabelLoop", "labelloop:index:Storage", "labelloop:index:OperatorParameters",
              "labelloop:index:Detection", "labelloop:index:A2IReview", "labelloop:index:ModelLifecycle",
              "labelloop:index:Observability", "labelloop:index:Serving"}
BUILTIN_COMPONENTS = COMPONENTS - {"labelloop:index:A2IReview"} | {"labelloop:index:ReviewApp"}


def _difference(counts: dict, base: dict) -> dict:
    return {k: counts.get(k, 0) - base.get(k, 0) for k in {*counts, *base} if counts.get(k, 0) != base.get(k, 0)}


def test_a_default_stack_creates_these_resources():
    assert run_program(BUILTIN_SMALL).count_by_type() == DEFAULT_STACK


def test_an_a2i_stack_reviews_with_a2i_instead_of_the_review_app():
    assert _difference(run_program(DEFAULT).count_by_type(), DEFAULT_STACK) == A2I_INSTEAD


def test_the_deploying_guide_describes_this_program():
    guide = (ROOT / "docs" / "deploying.md").read_text()
    total = sum(DEFAULT_STACK.values())
    assert f"A default stack (two labels, the builtin review app) creates {total} resources" in guide
    assert all(f"| `{key}` |" in guide for key in KEYS)
    outputs = {output for config in (FULL, BUILTIN_FULL) for output in run_program(config).stack_outputs}
    assert all(f"`{output}`" in guide for output in outputs)


def test_a_full_stack_adds_the_workforce_reviewers_email_and_team_parameters():
    counts = run_program(FULL).count_by_type()
    small = run_program(DEFAULT).count_by_type()  # the smallest A2I stack
    extra = {k: counts.get(k, 0) - small.get(k, 0) for k in counts if counts.get(k, 0) != small.get(k, 0)}
    team_parameters = set(Engine.load(TEAM_POLICIES, entry_points=False).catalog) - set(
        Engine.load([], entry_points=False).catalog)
    assert team_parameters  # each team policy brings its own
    assert extra == {
        "aws:cognito/user:User": 2, "aws:cognito/userGroup:UserGroup": 1, "aws:cognito/userInGroup:UserInGroup": 2,
        "aws:cognito/userPool:UserPool": 1, "aws:cognito/userPoolClient:UserPoolClient": 1,
        "aws:cognito/userPoolDomain:UserPoolDomain": 1, "aws:sagemaker/workforce:Workforce": 1,
        "aws:sagemaker/workteam:Workteam": 1, "aws:sns/topicSubscription:TopicSubscription": 1,
        "aws:ssm/parameter:Parameter": len(team_parameters),  # the team policies' (Maximum-Reviews-Per-Day, …)
    }


@pytest.mark.parametrize("config,backend", [(DEFAULT, A2I), (BUILTIN_SMALL, BUILTIN)], ids=[A2I, BUILTIN])
def test_every_function_is_deployed_once_with_its_handler(config, backend):
    d = run_program(config)
    deployed = {f.inputs["name"]: f.inputs for f in d.of_type(FUNCTION)}
    assert set(deployed) == {f"labelloop-test-{k.replace('_', '-')}" for k in deployed_with(backend)}
    for key in deployed_with(backend):
        spec = FUNCTIONS[key]
        inputs = deployed[f"labelloop-test-{key.replace('_', '-')}"]
        assert (inputs["handler"], inputs["timeout"], inputs["memorySize"]) == (spec.handler, spec.timeout, spec.memory)
        assert inputs["runtime"] == "python3.13" and inputs["architectures"] == ["arm64"]


def test_each_review_backend_has_its_own_functions():
    assert set(FUNCTIONS) - set(deployed_with(BUILTIN)) == {"review_output"}  # A2I's output files
    assert set(FUNCTIONS) - set(deployed_with(A2I)) == {"review_api"}


@pytest.mark.parametrize("config,expected", [(FULL, COMPONENTS), (BUILTIN_FULL, BUILTIN_COMPONENTS),
                                             (EXISTING_POOL, BUILTIN_COMPONENTS)], ids=["full", "builtin", "pool"])
def test_every_resource_belongs_to_a_component_and_carries_its_name(config, expected):
    d = run_program(config)
    by_urn = {r.urn: r for r in d.resources}
    components = [r for r in d.resources if not r.custom]
    assert {c.type for c in components} == expected
    (loop,) = [c for c in components if c.type == "labelloop:index:LabelLoop"]
    assert loop.parent.endswith("::labelloop-test")  # the stack itself
    for resource in d.resources:
        if resource is loop:
            continue
        parent = by_urn[resource.parent]
        assert not parent.custom, f"{resource.name} is not inside a component"
        if resource.custom:
            assert resource.name.startswith(parent.name), (resource.name, parent.name)
        else:
            assert parent is loop and resource.name.startswith("labelloop-test-")


@pytest.mark.parametrize("config", [FULL, BUILTIN_FULL, EXISTING_POOL], ids=["full", "builtin", "pool"])
def test_every_component_registers_its_outputs(config):
    d = run_program(config)
    for component in (r for r in d.resources if not r.custom):
        outputs = d.registered(component)
        assert outputs, component.type
        assert all(v is not None for v in outputs.values()), component.type
    loop = d.registered(d.component("labelloop:index:LabelLoop"))
    assert loop == {k: v for k, v in d.stack_outputs.items()}


def test_stack_outputs():
    d = run_program(DEFAULT)
    out = d.stack_outputs
    assert out["bucketName"].startswith("labelloop-test-")
    assert (out["uploadPrefix"], out["trainingPrefix"], out["parameterPath"]) == (
        "images_for_detection/", "images_labeled_by_folder/", "/labelloop/test/")
    assert out["detectionStateMachineArn"] == f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:labelloop-test-detection"
    assert out["lifecycleStateMachineArn"] == f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:labelloop-test-lifecycle"
    assert out["dashboardUrl"] == (f"https://{REGION}.console.aws.amazon.com/cloudwatch/home?region={REGION}"
                                   "#dashboards:name=labelloop-test")
    assert out["policies"] == ["policies.defaults"]
    assert "reviewerPortalUrl" not in out  # no workforce created: the work team's own portal applies
    portal = run_program(FULL).stack_outputs["reviewerPortalUrl"]
    assert portal.startswith("https://") and portal.endswith(f".labeling.{REGION}.sagemaker.aws")
    assert not {"reviewUrl", "reviewApiUrl", "reviewerUserPoolId", "reviewerGroup"} & set(out)


def test_stack_outputs_of_the_review_app():
    out = run_program(BUILTIN_SMALL).stack_outputs
    assert re.fullmatch(rf"https://[0-9a-f]{{10}}\.execute-api\.{REGION}\.amazonaws\.com", out["reviewApiUrl"])
    assert out["reviewUrl"] == out["reviewApiUrl"] + "/"  # the page: the stage's root
    assert re.fullmatch(rf"{REGION}_[0-9a-f]+", out["reviewerUserPoolId"])
    assert not {"flowDefinitionArn", "workteamArn", "reviewerPortalUrl"} & set(out)
    assert out["reviewerGroup"] == "reviewers"
    existing = run_program(EXISTING_POOL).stack_outputs
    assert (existing["reviewerUserPoolId"], existing["reviewerGroup"]) == (EXISTING_POOL["reviewerUserPoolId"],
                                                                         EXISTING_POOL["reviewerGroup"])


def test_names_follow_the_stack_so_two_stacks_do_not_collide():
    test, prod = run_program(DEFAULT), run_program(DEFAULT, stack="Prod_EU")
    assert prod.stack_outputs["parameterPath"] == "/labelloop/Prod_EU/"
    named = lambda d: {r.inputs.get("name") for r in d.resources  # noqa: E731
                       if r.custom and r.inputs.get("name") and r.type != ROLE_POLICY}  # a role's policy: "access"
    assert all(n.startswith(("labelloop-prod-eu-", "/aws/", "alias/labelloop-prod-eu-", "/labelloop/Prod_EU/"))
               for n in named(prod))
    assert not named(test) & named(prod)


@pytest.mark.parametrize("config", [FULL, BUILTIN_FULL], ids=["full", "builtin"])
def test_the_mocks_fill_what_the_provider_computes(config):
    """With preview=False a computed attribute the mocks forget is silently None: check them all."""
    d = run_program(config)
    with_arn = 0
    for resource in d.resources:
        if not resource.custom:
            continue
        assert resource.id, resource.name
        assert all(v is not None for v in resource.outputs.values()), resource.name
        if isinstance(getattr(_resource_class(resource.type), "arn", None), property):
            assert resource.outputs["arn"].startswith("arn:aws:"), resource.name
            with_arn += 1
    assert with_arn > 100
    assert all(v for v in d.stack_outputs.values())
    assert {t for t, _ in d.invokes} == {"aws:iam/getPolicyDocument:getPolicyDocument",
                                         "aws:index/getCallerIdentity:getCallerIdentity",
                                         "aws:index/getRegion:getRegion", "aws:index/getPartition:getPartition"}


def _resource_class(token: str) -> type:
    """``aws:lambda/function:Function`` → ``pulumi_aws.lambda_.Function``."""
    module, name = token.split(":")[1].split("/")[0], token.split(":")[2]
    return getattr(importlib.import_module(f"pulumi_aws.{module}{'_' if module == 'lambda' else ''}"), name)


# -- stack config ----------------------------------------------------------------------------------
def _example(stack: str) -> dict:
    document = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml.example").read_text())
    return {k.split(":", 1)[1]: v for k, v in document["config"].items() if k.startswith("labelloop:")}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_stack_config_examples_deploy(stack):
    config = _example(stack)
    d = run_program(config, stack=stack)
    assert len(d.of_type(FUNCTION)) == len(deployed_with(config.get("review", BUILTIN)))
    assert d.stack_outputs["parameterPath"] == f"/labelloop/{stack}/"
    parameters = {p.inputs["name"]: p.inputs["value"] for p in d.of_type("aws:ssm/parameter:Parameter")}
    for name, value in config.get("parameterDefaults", {}).items():
        assert float(parameters[f"/labelloop/{stack}/{name}"]) == float(value)
    assert ("reviewerPortalUrl" in d.stack_outputs) == bool(config.get("createWorkforce"))
    assert ("reviewUrl" in d.stack_outputs) == (config.get("review", BUILTIN) == BUILTIN)


INVALID = [
    ({"review": "a2i", "workteamName": "reviewers"}, "labels", "labelloop:labels is required"),
    ({"labels": ["cat"], "review": "a2i", "workteamName": "reviewers"}, "labels",
     "has 1 label(s); Rekognition classification needs 2 to 250"),
    ({"labels": ["cat", "dogs/big"], "review": "a2i", "workteamName": "reviewers"}, "labels",
     "contains 'dogs/big', which cannot be an S3 folder and review choice"),
    ({"labels": [f"l{i}" for i in range(10)], "review": "a2i", "workteamName": "reviewers"}, "labels",
     "has 10 labels; A2I's image classification task (crowd-image-classifier) shows at most 10 choices"),
    ({**DEFAULT, "createWorkforce": True}, "workteamName",
     "workteamName and createWorkforce are both set"),
    ({**DEFAULT, "policies": ["acme_no_such_policy"]}, "policies",
     "policy module 'acme_no_such_policy' cannot be imported"),
    ({**DEFAULT, "parameterDefaults": {"Minimum-F1-Scor": 0.9}},
     "parameterDefaults", "names 'Minimum-F1-Scor', which no loaded policy defines"),
    ({**DEFAULT, "parameterDefaults": {"Minimum-F1-Score": 2}},
     "parameterDefaults", "Minimum-F1-Score: '2' is not allowed"),
    ({"labels": ["cat", "dog"], "workteamName": "reviewers"}, "workteamName",
     "workteamName is only used with labelloop:review a2i"),
    ({"labels": ["cat", "dog"], "review": "A2I"}, "review", "labelloop:review is 'A2I'"),
    ({"labels": ["cat", "dog"], "reviewerUserPoolId": "eu-west-1_AbC123"}, "reviewerGroup",
     "is required with an existing user pool"),
]


@pytest.mark.parametrize("config,key,message", INVALID, ids=[m for _, _, m in INVALID])
def test_an_invalid_config_stops_the_program_naming_the_key_and_the_fix(config, key, message):
    with pytest.raises(ConfigError) as error:
        run_program(config)
    assert error.value.key == key
    assert message in str(error.value) and "Fix:" in str(error.value)


def test_the_longest_stack_name_fits_every_name_limit():
    d = run_loop(replace(parse_stack_config(FULL), labels=tuple(f"l{i:03}" for i in range(250))), stack="s" * 30)
    limits = {"aws:lambda/function:Function": ("name", 64), "aws:iam/role:Role": ("name", 64),
              "aws:cloudwatch/eventRule:EventRule": ("name", 64), "aws:sqs/queue:Queue": ("name", 80),
              "aws:sfn/stateMachine:StateMachine": ("name", 80), "aws:cognito/userPoolDomain:UserPoolDomain":
              ("domain", 63), "aws:sagemaker/workforce:Workforce": ("workforceName", 63),
              "aws:sagemaker/workteam:Workteam": ("workteamName", 63)}
    sagemaker = {"aws:sagemaker/flowDefinition:FlowDefinition": "flowDefinitionName",
                 "aws:sagemaker/humanTaskUI:HumanTaskUI": "humanTaskUiName"}
    for typ, (field, limit) in limits.items():
        assert all(len(r.inputs[field]) <= limit for r in d.of_type(typ)), typ
    for typ, field in sagemaker.items():
        (resource,) = d.of_type(typ)
        assert re.fullmatch(r"[a-z0-9](-*[a-z0-9]){0,62}", resource.inputs[field])
    environment = d.of_type(FUNCTION)[0].inputs["environment"]["variables"]
    assert sum(len(k) + len(v) for k, v in environment.items()) < 4096


def test_the_longest_stack_name_fits_the_review_apps_name_limits():
    d = run_loop(parse_stack_config(BUILTIN_FULL), stack="s" * 30)
    (domain,) = d.of_type("aws:cognito/userPoolDomain:UserPoolDomain")
    assert domain.inputs["domain"] == f"labelloop-{'s' * 30}-review-{ACCOUNT}"
    assert len(domain.inputs["domain"]) <= 63 and re.fullmatch(r"[a-z0-9](-*[a-z0-9])*", domain.inputs["domain"])
    for typ in ("aws:apigatewayv2/api:Api", "aws:apigatewayv2/authorizer:Authorizer",
                "aws:cognito/userPoolClient:UserPoolClient", "aws:cognito/userPool:UserPool"):
        assert all(len(r.inputs["name"]) <= 128 for r in d.of_type(typ)), typ


def test_a_stack_name_cognito_refuses_in_a_sign_in_domain_is_refused_for_the_review_app():
    with pytest.raises(StackNameError, match="contains 'aws', which Cognito does not allow in the reviewers' sign-in "
                                             "domain labelloop-aws-dev-review-<account id>; Fix:"):
        run_program(BUILTIN_SMALL, stack="aws-dev")
    assert run_program(DEFAULT, stack="aws-dev").stack_outputs["flowDefinitionArn"]  # A2I has no such domain


def test_a_stack_name_that_cannot_name_resources_is_refused():
    with pytest.raises(StackNameError, match="longer than 30 characters.*Fix: use a shorter stack name"):
        run_program(DEFAULT, stack="a-very-long-stack-name-for-testing-limits")
    assert Naming("Prod_EU.1").prefix == "labelloop-prod-eu-1"


# -- the guard: assertions inside apply do run ----------------------------------------------------------
def test_storage_without_a2i_review_has_no_cors_rule():
    def program():
        Storage("labelloop-unit-storage", StorageArgs(
            naming=Naming("unit"), account=pulumi.Output.from_input(Account("aws", REGION, ACCOUNT))))

    types = {r.type for r in run(program, {}).resources.values()}
    assert "aws:s3/bucketPolicy:BucketPolicy" in types
    assert "aws:s3/bucketCorsConfiguration:BucketCorsConfiguration" not in types


def _storage_bucket_check(expected_prefix: str):
    def program():
        storage = Storage("labelloop-unit-storage", StorageArgs(
            naming=Naming("unit"), account=pulumi.Output.from_input(Account("aws", REGION, ACCOUNT))))

        def check(values):
            bucket, table, topic = values
            assert bucket.startswith(expected_prefix), bucket
            assert table == "labelloop-unit-state"
            assert topic == f"arn:aws:sns:{REGION}:{ACCOUNT}:labelloop-unit-notifications"

        return pulumi.Output.all(storage.bucket_name, storage.table_name, storage.topic_arn).apply(check)

    return program


def test_assertions_inside_apply_run():
    mocks = run(_storage_bucket_check("labelloop-unit-storage-data-"), {})
    assert any(r.type == "aws:s3/bucket:Bucket" for r in mocks.resources.values())


def test_a_wrong_expectation_inside_apply_fails():
    with pytest.raises(AssertionError, match="labelloop-unit-storage-data-"):
        run(_storage_bucket_check("definitely-not-the-bucket"), {})


def test_snapshots_are_of_their_own_run():
    default, full = run_program(DEFAULT), run_program(FULL)
    assert isinstance(default, Deployment) and default is run_program(DEFAULT)
    assert len(full.resources) > len(default.resources)
    assert json.loads(json.dumps(default.stack_outputs)) == default.stack_outputs
    assert Path(ROOT / "__main__.py").read_text().count("LabelLoop(") == 1


def test_250_long_labels_fit_lambda_limits():
    """The labels travel in the archive, so even Rekognition's maximum of 250 labels leaves every
    function's environment far under Lambda's 4 KB."""
    labels = [f"a rather long label name number {i:03}" for i in range(250)]
    d = run_loop(replace(parse_stack_config(DEFAULT), labels=tuple(labels)))
    for function in d.of_type(FUNCTION):
        variables = function.inputs["environment"]["variables"]
        assert "LABELLOOP_LABELS" not in variables
        assert sum(len(k) + len(v) for k, v in variables.items()) < 2048
    code = d.of_type(FUNCTION)[0].inputs["code"]
    assert json.loads(code.assets["labelloop_labels.json"].text) == labels
