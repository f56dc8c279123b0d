"""Each stage component: its resources, their wiring and the outputs it registers."""

import json
import re

import pytest

from components.a2i_review import SAGEMAKER_MANAGED_CLIENT_FIELDS
from components.review_backends.a2i import categories
from components.functions import deployed_with
from components.observability import DETECTION_OUTCOMES, REVIEW_PURPOSES, REVIEW_STATUSES
from components.review_app import PUBLIC_ROUTES, REVIEWER_ROUTES
from components.state_machines import detection_definition, lifecycle_definition
from components.triggers import bucket_triggers, parameter_trigger, training_schedule
from handlers import summary
from handlers.runtime.config import LABELS_FILE, RuntimeConfig
from handlers.runtime.state import KEY_SCHEMA
from plugins import Engine
from plugins.decisions import PURPOSES
from policies.names import NONE_OF_THE_ABOVE
from pulumi_mocks import (A2I, ACCOUNT, BUILTIN, BUILTIN_FULL, BUILTIN_SMALL, DASHBOARD, DEFAULT, EVENT_RULE, EVENT_TARGET,
                          EXISTING_POOL, FULL, FUNCTION, LOG_GROUP, METRIC_ALARM, PARAMETER, PERMISSION, REGION,
                          STATE_MACHINE, TABLE, TEAM_POLICIES, function_name, run_program)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def default():
    return run_program(DEFAULT)


@pytest.fixture(scope="module")
def full():
    return run_program(FULL)


def arns_of(d, keys):
    return {k: d.one(FUNCTION, name=function_name(k)).outputs["arn"] for k in keys}


def rule(d, name):
    return d.one(EVENT_RULE, name=f"labelloop-test-{name}")


def target_of(d, rule_resource):
    return d.one(EVENT_TARGET, rule=rule_resource.outputs["name"])


def environment(d, key):
    return d.one(FUNCTION, name=function_name(key)).inputs["environment"]["variables"]


# -- Storage --------------------------------------------------------------------------------------------
def test_storage(default, full):
    storage = default.component("labelloop:index:Storage")
    kinds = {r.type.split(":")[-1] for r in default.children(storage)}
    assert kinds == {"Bucket", "BucketServerSideEncryptionConfiguration", "BucketPublicAccessBlock",
                     "BucketVersioning", "BucketLifecycleConfiguration", "BucketPolicy", "BucketNotification",
                     "BucketCorsConfiguration", "Table", "Key", "Alias", "Topic", "Queue", "QueuePolicy"}
    # A2I's task pages load the image cross-origin: the rule A2I documents, on the bucket holding them.
    (cors,) = default.of_type("aws:s3/bucketCorsConfiguration:BucketCorsConfiguration")
    assert cors.inputs["bucket"] == default.stack_outputs["bucketName"]
    assert [{k: rule.get(k, []) for k in ("allowedHeaders", "allowedMethods", "allowedOrigins", "exposeHeaders")}
            for rule in cors.inputs["corsRules"]] == [
        {"allowedHeaders": [], "allowedMethods": ["GET"], "allowedOrigins": ["*"], "exposeHeaders": []}]
    (table,) = default.of_type(TABLE)
    assert table.inputs["billingMode"] == "PAY_PER_REQUEST"
    assert table.inputs["pointInTimeRecovery"] == {"enabled": True}
    assert (table.inputs["hashKey"], table.inputs["rangeKey"]) == ("pk", "sk")
    assert {(a["name"], a["type"]) for a in table.inputs["attributes"]} == {(n, t) for n, t, _ in KEY_SCHEMA}
    (notification,) = default.of_type("aws:s3/bucketNotification:BucketNotification")
    assert notification.inputs["eventbridge"] is True
    (lifecycle,) = default.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    rules = {r["filter"]["prefix"]: r for r in lifecycle.inputs["rules"]}
    assert set(rules) == {"images_for_detection/", "a2i-human-loop-data/", ""}
    assert rules["images_for_detection/"]["expiration"]["days"] == rules["a2i-human-loop-data/"]["expiration"]["days"]
    assert rules[""]["abortIncompleteMultipartUpload"]["daysAfterInitiation"] > 0
    assert all(r["status"] == "Enabled" for r in rules.values())
    bucket = default.stack_outputs["bucketName"]
    assert default.registered(storage) == {
        "bucketName": bucket, "bucketArn": f"arn:aws:s3:::{bucket}", "tableName": "labelloop-test-state",
        "tableArn": table.outputs["arn"], "topicArn": default.stack_outputs["topicArn"],
        "deadLetterQueueArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:labelloop-test-dead-letters"}
    assert default.of_type("aws:sns/topicSubscription:TopicSubscription") == []
    (subscription,) = full.of_type("aws:sns/topicSubscription:TopicSubscription")
    assert subscription.inputs == {"topic": full.stack_outputs["topicArn"], "protocol": "email",
                                   "endpoint": "ops@example.com"}


# -- OperatorParameters -------------------------------------------------------------------------------
@pytest.mark.parametrize("config", ["default", "full"])
def test_one_parameter_per_catalog_entry_with_its_default_and_pattern(config, request):
    d = request.getfixturevalue(config)
    policies = list(d.config.get("policies", []))
    catalog = Engine.load(policies, entry_points=False).catalog
    expected = catalog.defaults(d.config.get("parameterDefaults"))
    created = {p.inputs["name"]: p for p in d.of_type(PARAMETER)}
    assert set(created) == {f"/labelloop/test/{spec.name}" for spec in catalog}
    for spec in catalog:
        parameter = created[f"/labelloop/test/{spec.name}"]
        assert parameter.inputs["value"] == spec.format(expected[spec.name])
        assert parameter.inputs["allowedPattern"] == spec.allowed_pattern
        assert re.fullmatch(spec.allowed_pattern, parameter.inputs["value"])
        assert parameter.inputs["description"] == spec.description
        assert parameter.inputs["type"] == "String"
        assert parameter.ignore_changes == ("value",)  # operators own the value once it exists
        assert parameter.inputs["tags"]["labelloop:policy"] == spec.owner


def test_parameter_overrides_reach_the_parameters(full):
    values = {p.inputs["name"].rsplit("/", 1)[1]: p.inputs["value"] for p in full.of_type(PARAMETER)}
    assert (values["Minimum-F1-Score"], values["Automatic-Training-Poll-Frequency"],
            values["Enable-Automatic-Training"], values["Maximum-Reviews-Per-Day"]) == ("0.9", "60", "false", "40")
    assert values["Acme-Minimum-Images-Per-Label"] == "5" and values["Minimum-Untrained-Images"] == "10"


def test_parameter_changes_reach_their_handler(default):
    component = default.component("labelloop:index:OperatorParameters")
    change = rule(default, "parameter-change")
    assert change.parent == component.urn
    assert json.loads(change.inputs["eventPattern"]) == parameter_trigger("/labelloop/test/").pattern
    target = target_of(default, change)
    handler = default.one(FUNCTION, name=function_name("parameter_change"))
    assert target.inputs["arn"] == handler.outputs["arn"]
    assert target.inputs["deadLetterConfig"]["arn"].endswith(":labelloop-test-dead-letters")
    permission = default.one(PERMISSION, function=handler.outputs["name"])
    assert (permission.inputs["principal"], permission.inputs["sourceArn"]) == ("events.amazonaws.com",
                                                                                change.outputs["arn"])
    outputs = default.registered(component)
    assert outputs["parameterPath"] == "/labelloop/test/"
    assert len(outputs["parameterNames"]) == len(Engine.load([], entry_points=False).catalog)
    assert outputs["parameterChangeRule"] == "labelloop-test-parameter-change"


# -- Detection ------------------------------------------------------------------------------------------
def test_uploads_start_the_express_state_machine_of_the_builder(default):
    d = default
    bucket = d.stack_outputs["bucketName"]
    patterns = {t.name: t.pattern for t in bucket_triggers(bucket)}
    upload = rule(d, "detection-upload")
    assert json.loads(upload.inputs["eventPattern"]) == patterns["detection-upload"]
    assert patterns["detection-upload"]["detail"]["object"]["key"] == [{"prefix": "images_for_detection/"}]
    machine = d.one(STATE_MACHINE, name="labelloop-test-detection")
    assert machine.inputs["type"] == "EXPRESS"
    arns = arns_of(d, ("detect", "start_review", "detection_failed"))
    assert json.loads(machine.inputs["definition"]) == detection_definition(
        arns["detect"], arns["start_review"], arns["detection_failed"])
    logs = d.one(LOG_GROUP, name="/aws/vendedlogs/states/labelloop-test-detection")
    assert machine.inputs["loggingConfiguration"] == {"level": "ALL", "includeExecutionData": True,
                                                      "logDestination": logs.outputs["arn"] + ":*"}
    target = target_of(d, upload)
    assert target.inputs["arn"] == machine.outputs["arn"] == d.stack_outputs["detectionStateMachineArn"]
    assert target.inputs["roleArn"].endswith(":role/labelloop-test-events-detection")
    assert "input" not in target.inputs  # the S3 event itself is the execution's input

    training = rule(d, "training-data")
    assert json.loads(training.inputs["eventPattern"]) == patterns["training-data"]
    assert target_of(d, training).inputs["arn"] == arns_of(d, ["training_data"])["training_data"]
    deleted = rule(d, "upload-deleted")  # an upload deleted is taken out of the dataset
    assert json.loads(deleted.inputs["eventPattern"]) == patterns["upload-deleted"]
    assert patterns["upload-deleted"]["detail-type"] == ["Object Deleted"]
    assert patterns["upload-deleted"]["detail"]["object"]["key"] == [{"prefix": "images_for_detection/"}]
    dataset = arns_of(d, ["dataset"])["dataset"]
    assert target_of(d, deleted).inputs["arn"] == dataset
    sweep = rule(d, "dataset-sweep")  # the copies accepted reviews left unmade
    assert sweep.inputs["scheduleExpression"] == "rate(5 minutes)" and sweep.inputs["state"] == "ENABLED"
    assert target_of(d, sweep).inputs["arn"] == dataset and json.loads(target_of(d, sweep).inputs["input"]) == {
        "sweep": True}
    component = d.component("labelloop:index:Detection")
    assert upload.parent == training.parent == machine.parent == deleted.parent == sweep.parent == component.urn
    assert d.registered(component) == {
        "stateMachineArn": machine.outputs["arn"], "uploadRule": "labelloop-test-detection-upload",
        "trainingDataRule": "labelloop-test-training-data", "uploadDeletedRule": "labelloop-test-upload-deleted",
        "datasetSweepRule": "labelloop-test-dataset-sweep",
        "functions": {k: function_name(k) for k in ("detect", "start_review", "detection_failed", "training_data",
                                                    "dataset")}}


# -- A2IReview ----------------------------------------------------------------------------------------
def test_the_task_ui_offers_the_labels_and_none_of_the_above(full):
    (ui,) = full.of_type("aws:sagemaker/humanTaskUI:HumanTaskUI")
    template = ui.inputs["uiTemplate"]["content"]
    assert '<crowd-image-classifier\n    name="crowd-image-classifier"' in template
    assert 'src="{{ task.input.taskObject | grant_read_access }}"' in template
    (choices,) = re.findall(r'categories="([^"]*)"', template)
    assert json.loads(choices.replace("&quot;", '"')) == ["cat", "dog", "bird", NONE_OF_THE_ABOVE]
    assert categories(["a&b", "c"]) == ["a&b", "c", NONE_OF_THE_ABOVE]


def test_the_flow_definition_writes_answers_where_the_output_trigger_listens(default):
    d = default
    (flow,) = d.of_type("aws:sagemaker/flowDefinition:FlowDefinition")
    (ui,) = d.of_type("aws:sagemaker/humanTaskUI:HumanTaskUI")
    bucket = d.stack_outputs["bucketName"]
    assert flow.inputs["outputConfig"] == {"s3OutputPath": f"s3://{bucket}/a2i-human-loop-data"}
    loop = flow.inputs["humanLoopConfig"]
    assert loop["humanTaskUiArn"] == ui.outputs["arn"]
    assert loop["workteamArn"] == f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:workteam/private-crowd/reviewers"
    assert loop["taskCount"] == 1 and loop["taskAvailabilityLifetimeInSeconds"] <= 864_000
    assert flow.inputs["roleArn"].endswith(":role/labelloop-test-review-flow")
    assert flow.outputs["arn"] == d.stack_outputs["flowDefinitionArn"]
    assert environment(d, "start_review")["LABELLOOP_FLOW_DEFINITION_ARN"] == flow.outputs["arn"]
    output = rule(d, "review-output")
    assert json.loads(output.inputs["eventPattern"]) == {t.name: t.pattern for t in bucket_triggers(bucket)}[
        "review-output"]
    assert target_of(d, output).inputs["arn"] == arns_of(d, ["review_output"])["review_output"]
    component = d.component("labelloop:index:A2IReview")
    assert d.registered(component)["flowDefinitionArn"] == flow.outputs["arn"]
    assert "portalUrl" not in d.registered(component)
    assert not [r for r in d.resources if r.type.startswith(("aws:cognito", "aws:sagemaker/work"))]


def test_the_a2i_component_keeps_its_former_type_so_deployed_stacks_keep_their_resources(default):
    # Its children's URNs take their parent's type: the alias carries them over too (no replacement).
    assert [a["type"] for a in default.component("labelloop:index:A2IReview").aliases] == ["labelloop:index:HumanReview"]


def test_a_changed_label_set_is_a_new_flow_definition():
    other = run_program({**DEFAULT, "labels": ["cat", "dog", "fox"]})
    names = {d.of_type("aws:sagemaker/flowDefinition:FlowDefinition")[0].inputs["flowDefinitionName"]
             for d in (run_program(DEFAULT), other)}
    assert len(names) == 2 and all(re.fullmatch(r"labelloop-test-review-[0-9a-f]{8}", n) for n in names)


def test_a_created_workforce_signs_in_the_reviewers(full):
    d = full
    component = d.component("labelloop:index:A2IReview")
    (pool,) = d.of_type("aws:cognito/userPool:UserPool")
    assert pool.inputs["adminCreateUserConfig"] == {"allowAdminCreateUserOnly": True}
    (client,) = d.of_type("aws:cognito/userPoolClient:UserPoolClient")
    assert client.inputs["generateSecret"] is True and client.inputs["userPoolId"] == pool.id
    assert set(client.ignore_changes) == set(SAGEMAKER_MANAGED_CLIENT_FIELDS)
    (domain,) = d.of_type("aws:cognito/userPoolDomain:UserPoolDomain")
    assert domain.inputs["domain"] == f"labelloop-test-{ACCOUNT}"
    (group,) = d.of_type("aws:cognito/userGroup:UserGroup")
    users = {u.inputs["username"]: u for u in d.of_type("aws:cognito/user:User")}
    assert set(users) == {"ana@example.com", "bo@example.com"}
    memberships = d.of_type("aws:cognito/userInGroup:UserInGroup")
    assert {(m.inputs["username"], m.inputs["groupName"]) for m in memberships} == {
        (u, group.inputs["name"]) for u in users}
    (workforce,) = d.of_type("aws:sagemaker/workforce:Workforce")
    assert workforce.inputs["cognitoConfig"] == {"clientId": client.id, "userPool": pool.id}
    (team,) = d.of_type("aws:sagemaker/workteam:Workteam")
    assert team.inputs["workforceName"] == workforce.id
    assert team.inputs["memberDefinitions"] == [{"cognitoMemberDefinition": {
        "clientId": client.id, "userGroup": group.inputs["name"], "userPool": pool.id}}]
    (flow,) = d.of_type("aws:sagemaker/flowDefinition:FlowDefinition")
    assert flow.inputs["humanLoopConfig"]["workteamArn"] == team.outputs["arn"]
    portal = f"https://{team.outputs['subdomain']}"
    assert d.registered(component)["portalUrl"] == d.stack_outputs["reviewerPortalUrl"] == portal
    assert all(r.parent == component.urn for r in (pool, client, domain, group, workforce, team))


# -- ReviewApp (the builtin review backend) ---------------------------------------------------------------
A2I_TYPES = ("aws:sagemaker/flowDefinition:FlowDefinition", "aws:sagemaker/humanTaskUI:HumanTaskUI",
             "aws:sagemaker/workteam:Workteam", "aws:sagemaker/workforce:Workforce",
             "aws:s3/bucketCorsConfiguration:BucketCorsConfiguration")
API = "aws:apigatewayv2/api:Api"
ROUTE = "aws:apigatewayv2/route:Route"


@pytest.fixture(scope="module")
def builtin():
    return run_program(BUILTIN_SMALL)


@pytest.fixture(scope="module")
def builtin_full():
    return run_program(BUILTIN_FULL)


@pytest.fixture(scope="module")
def existing_pool():
    return run_program(EXISTING_POOL)


def test_a_builtin_stack_has_no_a2i_resources_and_an_a2i_stack_no_review_app(builtin, builtin_full, default, full):
    for d in (builtin, builtin_full):
        assert not [r for r in d.resources if r.type in A2I_TYPES]
        assert not [r for r in d.resources if r.inputs.get("name") in (function_name("review_output"),
                                                                       "labelloop-test-review-output")]
        assert d.registered(d.component("labelloop:index:Storage"))  # the bucket, without A2I's CORS rule
    for d in (default, full):
        assert d.of_type("aws:sagemaker/flowDefinition:FlowDefinition")
        assert not [r for r in d.resources if r.type.startswith("aws:apigatewayv2/")
                    or r.type == "aws:cognito/managedLoginBranding:ManagedLoginBranding"]
        assert not [r for r in d.resources if r.inputs.get("name") == function_name("review_api")]
        assert not [r for r in d.resources if r.type == "labelloop:index:ReviewApp"]


def test_the_review_api_serves_the_page_publicly_and_the_api_to_reviewers_only(builtin):
    d = builtin
    (api,) = d.of_type(API)
    assert (api.inputs["protocolType"], api.inputs["name"]) == ("HTTP", "labelloop-test-review")
    (integration,) = d.of_type("aws:apigatewayv2/integration:Integration")
    function = d.one(FUNCTION, name=function_name("review_api"))
    assert function.inputs["handler"] == "handlers.review_api.handler"
    assert {k: integration.inputs[k] for k in ("apiId", "integrationType", "integrationUri", "payloadFormatVersion")} \
        == {"apiId": api.id, "integrationType": "AWS_PROXY", "integrationUri": function.outputs["invokeArn"],
            "payloadFormatVersion": "2.0"}
    (authorizer,) = d.of_type("aws:apigatewayv2/authorizer:Authorizer")
    routes = {r.inputs["routeKey"]: r for r in d.of_type(ROUTE)}
    assert set(routes) == set(PUBLIC_ROUTES) | set(REVIEWER_ROUTES)
    assert set(PUBLIC_ROUTES) == {"GET /", "GET /config"}
    assert set(REVIEWER_ROUTES) == {"GET /api/tasks/next", "GET /api/tasks/{id}", "POST /api/tasks/{id}/answer",
                                    "POST /api/tasks/{id}/skip", "GET /api/me"}
    for key, route in routes.items():
        assert (route.inputs["apiId"], route.inputs["target"]) == (api.id, f"integrations/{integration.id}")
        if key in PUBLIC_ROUTES:
            assert route.inputs["authorizationType"] == "NONE" and "authorizerId" not in route.inputs, key
        else:
            assert key.split(" ")[1].startswith("/api/")
            assert (route.inputs["authorizationType"], route.inputs["authorizerId"]) == ("JWT", authorizer.id), key
    assert not [k for k in routes if "$default" in k]  # nothing else reaches the function


def test_the_jwt_authorizer_trusts_the_stacks_pool_and_app_client(builtin, existing_pool):
    (pool,) = builtin.of_type("aws:cognito/userPool:UserPool")
    for d, pool_id in ((builtin, pool.id), (existing_pool, EXISTING_POOL["reviewerUserPoolId"])):
        (authorizer,) = d.of_type("aws:apigatewayv2/authorizer:Authorizer")
        (client,) = d.of_type("aws:cognito/userPoolClient:UserPoolClient")
        assert client.inputs["userPoolId"] == pool_id
        assert authorizer.inputs["authorizerType"] == "JWT"
        assert authorizer.inputs["identitySources"] == ["$request.header.Authorization"]
        assert authorizer.inputs["jwtConfiguration"] == {
            "issuer": f"https://cognito-idp.{REGION}.amazonaws.com/{pool_id}", "audiences": [client.id]}
    assert builtin.one("aws:apigatewayv2/authorizer:Authorizer").inputs["jwtConfiguration"]["issuer"] == (
        "https://" + pool.outputs["endpoint"])  # what Cognito puts in the tokens' iss


def test_the_stage_deploys_itself_logs_access_and_throttles(builtin, builtin_full):
    for d, (rate, burst) in ((builtin, (20, 40)), (builtin_full, (5, 10))):
        (api,) = d.of_type(API)
        (stage,) = d.of_type("aws:apigatewayv2/stage:Stage")
        assert (stage.inputs["apiId"], stage.inputs["name"], stage.inputs["autoDeploy"]) == (api.id, "$default", True)
        assert stage.inputs["defaultRouteSettings"] == {"throttlingRateLimit": rate, "throttlingBurstLimit": burst}
        logs = d.one(LOG_GROUP, name="/aws/vendedlogs/apigateway/labelloop-test-review")
        assert logs.inputs["retentionInDays"] == d.config.get("logRetentionDays", 30)
        access = stage.inputs["accessLogSettings"]
        assert access["destinationArn"] == logs.outputs["arn"]
        fields = json.loads(access["format"])
        assert {"requestId", "routeKey", "status", "authorizerError", "integrationError"} <= set(fields)
        assert all(v.startswith("$context.") for v in fields.values())


def test_the_stack_creates_the_reviewers_pool_group_users_and_sign_in_domain(builtin, builtin_full):
    d = builtin_full
    (pool,) = d.of_type("aws:cognito/userPool:UserPool")
    admin = pool.inputs["adminCreateUserConfig"]
    assert admin["allowAdminCreateUserOnly"] is True  # no self sign-up: only invited reviewers
    invitation = admin["inviteMessageTemplate"]
    assert {"{username}", "{####}", d.stack_outputs["reviewUrl"]} <= set(re.findall(
        r"\{username\}|\{####\}|https://\S+/", invitation["emailMessage"]))
    assert "labelloop-test" in invitation["emailSubject"]
    assert pool.inputs["passwordPolicy"]["minimumLength"] >= 12
    assert pool.inputs["usernameAttributes"] == ["email"] and pool.inputs["deletionProtection"] == "INACTIVE"
    (group,) = d.of_type("aws:cognito/userGroup:UserGroup")
    assert (group.inputs["name"], group.inputs["userPoolId"]) == ("reviewers", pool.id)
    users = {u.inputs["username"]: u for u in d.of_type("aws:cognito/user:User")}
    assert set(users) == set(BUILTIN_FULL["reviewerEmails"])
    assert all(u.inputs["desiredDeliveryMediums"] == ["EMAIL"] and u.inputs["userPoolId"] == pool.id
               and u.inputs["attributes"]["email"] == name for name, u in users.items())
    assert {(m.inputs["username"], m.inputs["groupName"], m.inputs["userPoolId"])
            for m in d.of_type("aws:cognito/userInGroup:UserInGroup")} == {(u, "reviewers", pool.id) for u in users}
    (domain,) = d.of_type("aws:cognito/userPoolDomain:UserPoolDomain")
    assert (domain.inputs["domain"], domain.inputs["userPoolId"]) == (f"labelloop-test-review-{ACCOUNT}", pool.id)
    assert domain.inputs["managedLoginVersion"] == 2
    assert d.stack_outputs["reviewerUserPoolId"] == pool.id
    # The default config invites nobody: reviewers are added later (docs/deploying.md).
    assert builtin.of_type("aws:cognito/user:User") == []
    assert len(builtin.of_type("aws:cognito/userGroup:UserGroup")) == 1


def test_the_page_signs_in_with_a_public_pkce_client_of_managed_login(builtin):
    d = builtin
    (client,) = d.of_type("aws:cognito/userPoolClient:UserPoolClient")
    page = d.stack_outputs["reviewUrl"]
    assert client.inputs["generateSecret"] is False and "clientSecret" not in client.outputs
    assert client.inputs["allowedOauthFlows"] == ["code"] and client.inputs["allowedOauthFlowsUserPoolClient"] is True
    assert client.inputs["allowedOauthScopes"] == ["openid", "email", "profile"]
    assert client.inputs["supportedIdentityProviders"] == ["COGNITO"]
    assert client.inputs["callbackUrls"] == client.inputs["logoutUrls"] == [page]
    assert client.inputs["preventUserExistenceErrors"] == "ENABLED"
    assert (client.inputs["accessTokenValidity"], client.inputs["idTokenValidity"]) == (1, 1)
    units = client.inputs["tokenValidityUnits"]
    assert units["accessToken"] == units["idToken"] == "hours"
    # No password ever reaches the client itself; the admin flow (AWS credentials needed) signs in smoke's reviewer.
    assert sorted(client.inputs["explicitAuthFlows"]) == ["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH",
                                                           "ALLOW_USER_SRP_AUTH"]
    (branding,) = d.of_type("aws:cognito/managedLoginBranding:ManagedLoginBranding")
    assert (branding.inputs["clientId"], branding.inputs["useCognitoProvidedValues"]) == (client.id, True)


def test_the_review_function_is_told_how_the_page_signs_in(builtin, builtin_full, existing_pool, tmp_path):
    for d in (builtin, builtin_full, existing_pool):
        env = environment(d, "review_api")
        (client,) = d.of_type("aws:cognito/userPoolClient:UserPoolClient")
        config = RuntimeConfig.from_env(env | {"LAMBDA_TASK_ROOT": _labels_root(d, tmp_path)})
        assert config.labels == tuple(d.config["labels"])
        assert config.user_pool_id == d.stack_outputs["reviewerUserPoolId"]
        assert config.user_pool_client_id == client.id
        assert config.review_url == d.stack_outputs["reviewUrl"]
        assert config.image_url_seconds == d.config.get("reviewImageUrlSeconds", 300)
        assert config.flow_definition_arn is None  # no A2I
        assert config.reviewer_group == d.config.get("reviewerGroup", "reviewers")
        assert config.login_url == d.registered(d.component("labelloop:index:ReviewApp"))["loginUrl"]
        others = [k for k in deployed_with(BUILTIN) if k != "review_api"]
        assert all("LABELLOOP_USER_POOL_ID" not in environment(d, k) for k in others)  # the review function only
    assert environment(builtin, "review_api")["LABELLOOP_LOGIN_URL"] == (
        f"https://labelloop-test-review-{ACCOUNT}.auth.{REGION}.amazoncognito.com")
    assert environment(existing_pool, "review_api")["LABELLOOP_REVIEWER_GROUP"] == "labelers"
    assert environment(existing_pool, "review_api")["LABELLOOP_LOGIN_URL"] == (
        f"https://acme-login.auth.{REGION}.amazoncognito.com")


def test_every_function_of_a_builtin_stack_shares_its_environment_without_a2i(builtin):
    shared = environment(builtin, "detect")
    assert "LABELLOOP_FLOW_DEFINITION_ARN" not in shared and shared["LABELLOOP_TABLE"] == "labelloop-test-state"
    review = {"LABELLOOP_REVIEWER_GROUP", "LABELLOOP_USER_POOL_ID", "LABELLOOP_USER_POOL_CLIENT_ID",
              "LABELLOOP_LOGIN_URL", "LABELLOOP_REVIEW_URL", "LABELLOOP_IMAGE_URL_SECONDS"}
    for key in deployed_with(BUILTIN):
        env = environment(builtin, key)
        assert {k: v for k, v in env.items() if k in shared} == shared, key
        assert set(env) - set(shared) == (review if key == "review_api" else set()), key


def _labels_root(d, tmp_path):
    code = d.of_type(FUNCTION)[0].inputs["code"]
    (tmp_path / LABELS_FILE).write_text(code.assets[LABELS_FILE].text)
    return str(tmp_path)


def test_an_existing_pool_gets_only_the_app_client(existing_pool):
    d = existing_pool
    for typ in ("aws:cognito/userPool:UserPool", "aws:cognito/userGroup:UserGroup", "aws:cognito/user:User",
                "aws:cognito/userInGroup:UserInGroup", "aws:cognito/userPoolDomain:UserPoolDomain",
                "aws:cognito/managedLoginBranding:ManagedLoginBranding"):
        assert d.of_type(typ) == [], typ
    (client,) = d.of_type("aws:cognito/userPoolClient:UserPoolClient")
    assert client.inputs["userPoolId"] == EXISTING_POOL["reviewerUserPoolId"]
    assert client.inputs["callbackUrls"] == [d.stack_outputs["reviewUrl"]]
    custom = run_program({**EXISTING_POOL, "reviewerUserPoolDomain": "login.example.com"})
    assert environment(custom, "review_api")["LABELLOOP_LOGIN_URL"] == "https://login.example.com"


def test_the_review_app_registers_its_outputs(builtin):
    d = builtin
    component = d.component("labelloop:index:ReviewApp")
    (client,) = d.of_type("aws:cognito/userPoolClient:UserPoolClient")
    assert d.registered(component) == {
        "reviewUrl": d.stack_outputs["reviewUrl"], "apiUrl": d.stack_outputs["reviewApiUrl"],
        "userPoolId": d.stack_outputs["reviewerUserPoolId"], "userPoolClientId": client.id,
        "loginUrl": f"https://labelloop-test-review-{ACCOUNT}.auth.{REGION}.amazoncognito.com",
        "functions": {"review_api": function_name("review_api")}}
    function = d.one(FUNCTION, name=function_name("review_api"))
    assert function.parent == component.urn
    assert all(r.parent == component.urn for r in d.of_type(ROUTE) + d.of_type(API))


# -- ModelLifecycle -------------------------------------------------------------------------------------
LIFECYCLE_KEYS = ("stop_strays", "training_check", "build_manifest", "start_training", "model_status", "evaluate", "start_model",
                  "compare_models", "switch_model", "stop_model", "replay_pending", "finish_run", "prepare_rollback")


@pytest.mark.parametrize("config", ["default", "full"])
def test_the_schedule_starts_the_lifecycle_state_machine_of_the_builder(config, request):
    d = request.getfixturevalue(config)
    catalog = Engine.load(list(d.config.get("policies", [])), entry_points=False).catalog
    schedule = training_schedule(catalog.defaults(d.config.get("parameterDefaults")))
    machine = d.one(STATE_MACHINE, name="labelloop-test-lifecycle")
    assert machine.inputs["type"] == "STANDARD"
    waits = {"max_training_seconds": int(d.config.get("maxTrainingHours", 24) * 3600),
             "max_start_seconds": d.config.get("maxStartMinutes", 60) * 60}
    definition = json.loads(machine.inputs["definition"])
    assert definition == lifecycle_definition(arns_of(d, LIFECYCLE_KEYS), **waits)
    assert definition["States"]["PollTraining"]["Parameters"]["Payload"]["max_wait_seconds"] == (
        3 * 3600 if config == "full" else 24 * 3600)
    timer = rule(d, "training-schedule")
    assert (timer.inputs["scheduleExpression"], timer.inputs["state"]) == (
        schedule.expression, "ENABLED" if schedule.enabled else "DISABLED")
    assert set(timer.ignore_changes) == {"scheduleExpression", "state"}  # parameter_change owns them
    target = target_of(d, timer)
    assert target.inputs["arn"] == machine.outputs["arn"] == d.stack_outputs["lifecycleStateMachineArn"]
    assert json.loads(target.inputs["input"]) == {"trigger": "schedule"}
    assert target.inputs["roleArn"].endswith(":role/labelloop-test-events-lifecycle")
    assert machine.inputs["loggingConfiguration"]["logDestination"].endswith(
        ":log-group:/aws/vendedlogs/states/labelloop-test-lifecycle:*")


def test_the_schedule_follows_the_parameter_values(default, full):
    assert rule(default, "training-schedule").inputs["scheduleExpression"] == "rate(720 minutes)"
    assert rule(default, "training-schedule").inputs["state"] == "ENABLED"
    assert rule(full, "training-schedule").inputs["scheduleExpression"] == "rate(60 minutes)"
    assert rule(full, "training-schedule").inputs["state"] == "DISABLED"


def test_the_project_and_the_lifecycle_outputs(default):
    d = default
    (project,) = d.of_type("aws:rekognition/project:Project")
    assert (project.inputs["name"], project.inputs["feature"]) == ("labelloop-test-model", "CUSTOM_LABELS")
    component = d.component("labelloop:index:ModelLifecycle")
    outputs = d.registered(component)
    assert outputs["projectArn"] == project.outputs["arn"] == d.stack_outputs["projectArn"]
    assert (outputs["scheduleExpression"], outputs["scheduleEnabled"]) == ("rate(720 minutes)", True)
    assert outputs["functions"] == {k: function_name(k) for k in LIFECYCLE_KEYS}
    assert {r.parent for r in d.of_type(FUNCTION) if r.inputs["name"] in outputs["functions"].values()} == {
        component.urn}


# -- Observability --------------------------------------------------------------------------------------
def test_the_dashboard_shows_the_loop(default):
    d = default
    (dashboard,) = d.of_type(DASHBOARD)
    body = json.loads(dashboard.inputs["dashboardBody"])
    widgets = {w["properties"].get("title"): w["properties"] for w in body["widgets"]}
    loop_metrics = lambda title: [m[1] for m in widgets[title]["metrics"]]  # noqa: E731
    # Every outcome and review the handlers count and the daily summary reports.
    # (an image that waits is a metric as it waits; the summary counts it once detected and says what waits now)
    assert set(DETECTION_OUTCOMES) - {"pending"} == set(summary.OUTCOMES) - {"failed"}
    assert loop_metrics("Detections by outcome") == [f"Detections_{o}" for o in DETECTION_OUTCOMES]
    assert set(REVIEW_PURPOSES) == set(PURPOSES)
    assert loop_metrics("Reviews started") == [f"ReviewsStarted_{p}" for p in REVIEW_PURPOSES]
    assert {f"reviews_{s}" for s in REVIEW_STATUSES} <= set(summary.REVIEWS)
    assert loop_metrics("Reviews completed") == [f"Reviews_{s}" for s in REVIEW_STATUSES]
    (f1,) = widgets["Model F1 per evaluated version"]["metrics"]
    assert 'MetricName="ModelF1" service="labelloop-test"' in f1[0]["expression"]
    assert "{labelloop,service,version}" in f1[0]["expression"]
    assert all(m[0] == "labelloop" and m[2:4] == ["service", "labelloop-test"]
               for title in ("Detections by outcome", "Reviews started", "Reviews completed")
               for m in widgets[title]["metrics"])
    errors = {m[3] for m in widgets["Function errors"]["metrics"]}
    assert errors == {function_name(k) for k in deployed_with(A2I)}
    failures = {(m[1], m[3]) for m in widgets["State machine failures"]["metrics"]}
    assert failures == {(metric, d.stack_outputs[f"{m}StateMachineArn"]) for m in ("detection", "lifecycle")
                        for metric in ("ExecutionsFailed", "ExecutionsTimedOut")}
    assert "/aws/lambda/labelloop-test-evaluate" in widgets["Evaluations, latest first"]["query"]
    assert all(w["region"] == REGION for w in widgets.values() if "region" in w)
    assert d.registered(d.component("labelloop:index:Observability"))["dashboardUrl"] == d.stack_outputs[
        "dashboardUrl"]


def test_alarms_tell_the_topic_about_failures(default):
    d = default
    alarms = d.of_type(METRIC_ALARM)
    topic = d.stack_outputs["topicArn"]
    assert all(a.inputs["alarmActions"] == [topic] for a in alarms)
    gauges = {"IdleRunningMinutes": 24 * 60}  # the forgotten-model alarm's threshold; every other alarm's is 0
    assert all(a.inputs["threshold"] == gauges.get(a.inputs["metricName"], 0)
               and a.inputs["comparisonOperator"] == "GreaterThanThreshold" for a in alarms)
    watched = {(a.inputs["namespace"], a.inputs["metricName"], next(iter(a.inputs["dimensions"].values())))
               for a in alarms}
    assert watched == (
        {("AWS/Lambda", "Errors", function_name(k)) for k in deployed_with(A2I)}
        | {("AWS/States", m, d.stack_outputs[f"{s}StateMachineArn"]) for s in ("detection", "lifecycle")
           for m in ("ExecutionsFailed", "ExecutionsTimedOut")}
        | {("AWS/SQS", "ApproximateNumberOfMessagesVisible", "labelloop-test-dead-letters")}
        | {("labelloop", metric, "labelloop-test") for metric in ("StopFailed", "ServingStartFailed",
                                                                   "IdleRunningMinutes")})


def test_the_daily_summary_is_scheduled(default):
    timer = rule(default, "daily-summary")
    assert re.fullmatch(r"cron\(\d+ \d+ \* \* \? \*\)", timer.inputs["scheduleExpression"])
    assert target_of(default, timer).inputs["arn"] == arns_of(default, ["summary"])["summary"]
    assert timer.parent == default.component("labelloop:index:Observability").urn


def test_the_dashboard_and_an_alarm_watch_the_review_tasks(builtin, builtin_full, default):
    for d, hours in ((builtin, 24), (builtin_full, 8)):
        widgets = {w["properties"].get("title"): w["properties"]
                   for w in json.loads(d.one(DASHBOARD).inputs["dashboardBody"])["widgets"]}
        loop = lambda title: [m for m in widgets[title]["metrics"] if m[0] == "labelloop"]  # noqa: E731
        assert [(m[1], m[2:4], m[4]["stat"]) for m in loop("Review tasks open")] == [
            ("ReviewTasksOpen", ["service", "labelloop-test"], "Maximum")]
        assert [(m[1], m[2:4], m[4]["stat"]) for m in loop("Oldest open review task (hours)")] == [
            ("OldestOpenTaskAgeSeconds", ["service", "labelloop-test"], "Maximum")]
        assert widgets["Oldest open review task (hours)"]["metrics"][0][0]["expression"] == "age / 3600"
        answers = widgets["Review answers per hour"]
        assert [(m[1], m[4]["stat"]) for m in loop("Review answers per hour")] == [("ReviewAnswers", "Sum")]
        assert answers["period"] == 3600
        (alarm,) = [a for a in d.of_type(METRIC_ALARM) if a.inputs["metricName"] == "OldestOpenTaskAgeSeconds"]
        assert (alarm.inputs["namespace"], alarm.inputs["dimensions"], alarm.inputs["statistic"]) == (
            "labelloop", {"service": "labelloop-test"}, "Maximum")
        assert (alarm.inputs["threshold"], alarm.inputs["comparisonOperator"]) == (hours * 3600, "GreaterThanThreshold")
        assert alarm.inputs["alarmActions"] == [d.stack_outputs["topicArn"]]
        assert alarm.inputs["treatMissingData"] == "notBreaching"  # no task open: nothing waits
        assert alarm.inputs["name"] == "labelloop-test-alarm-oldest-review-task"
    body = json.loads(default.one(DASHBOARD).inputs["dashboardBody"])
    titles = {w["properties"].get("title") for w in body["widgets"]}
    assert "Review tasks open" not in titles
    assert not [a for a in default.of_type(METRIC_ALARM) if a.inputs["metricName"] == "OldestOpenTaskAgeSeconds"]


# -- every function --------------------------------------------------------------------------------------
@pytest.mark.parametrize("config", ["default", "full"])
def test_every_function_knows_its_stack(config, request, tmp_path):
    d = request.getfixturevalue(config)
    # The labels travel in the archive; unpack that file where Lambda would (LAMBDA_TASK_ROOT).
    code = d.of_type(FUNCTION)[0].inputs["code"]
    task_root = tmp_path
    (task_root / LABELS_FILE).write_text(code.assets[LABELS_FILE].text)
    flow = d.of_type("aws:sagemaker/flowDefinition:FlowDefinition")[0].outputs["arn"]
    expected = RuntimeConfig(
        table="labelloop-test-state", bucket=d.stack_outputs["bucketName"], parameter_path="/labelloop/test/",
        labels=tuple(d.config["labels"]), topic_arn=d.stack_outputs["topicArn"], project_arn=d.stack_outputs["projectArn"],
        flow_definition_arn=flow, detection_state_machine_arn=d.stack_outputs["detectionStateMachineArn"],
        lifecycle_state_machine_arn=d.stack_outputs["lifecycleStateMachineArn"],
        schedule_rule=rule(d, "training-schedule").outputs["name"], stack="test", labels_file=LABELS_FILE,
        event_bus="labelloop-test-events", review_backend=A2I)
    policies = ",".join(d.config.get("policies", []))
    for key in deployed_with(A2I):
        env = environment(d, key)
        assert RuntimeConfig.from_env(env | {"LAMBDA_TASK_ROOT": str(task_root)}) == expected
        assert env.get("LABELLOOP_POLICIES", "") == policies
        assert {k: v for k, v in env.items() if k != "LABELLOOP_POLICIES"} == expected.to_env()
        assert env["POWERTOOLS_SERVICE_NAME"] == "labelloop-test"  # the metrics' stack dimension
    retention = d.config.get("logRetentionDays", 30)
    assert {g.inputs["retentionInDays"] for g in d.of_type(LOG_GROUP)} == {retention}
    for function in d.of_type(FUNCTION):
        assert function.inputs["loggingConfig"] == {"logFormat": "Text",
                                                    "logGroup": f"/aws/lambda/{function.inputs['name']}"}
    architecture = d.config.get("lambdaArchitecture", "arm64")
    assert {tuple(f.inputs["architectures"]) for f in d.of_type(FUNCTION)} == {(architecture,)}


def test_team_policies_are_listed_for_the_functions(full):
    assert environment(full, "detect")["LABELLOOP_POLICIES"] == ",".join(TEAM_POLICIES)
    assert set(full.stack_outputs["policies"]) == {"policies.defaults", *TEAM_POLICIES}  # in the order asked


def test_tags_reach_the_resources(full):
    for resource in full.of_type(FUNCTION) + full.of_type(TABLE) + full.of_type(STATE_MACHINE):
        assert resource.outputs["tagsAll"] == {"labelloop:stack": "test", "team": "vision"}
