"""Security of the deployed stack, asserted on the documents the program generates:
least-privilege roles, resource ARNs scoped to the stack, the bucket and topic locked down."""

import json
import re

import pytest

from components import iam
from components.functions import FUNCTIONS, deployed_with
from components.state_machines import detection_definition
from pulumi_mocks import (A2I, ACCOUNT, BUILTIN, BUCKET, BUCKET_POLICY, BUILTIN_FULL, BUILTIN_SMALL, DEFAULT, EVENT_TARGET,
                          EXISTING_POOL, FULL, FUNCTION, INVOKE_CONFIG, KMS_KEY, PERMISSION, QUEUE_POLICY, REGION, ROLE,
                          ROLE_POLICY, STATE_MACHINE, TOPIC, actions_of, as_list, function_name, role_policy,
                          run_program, trust_policy)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PREFIX = "labelloop-test"
ASYNCHRONOUS = {"training_data", "review_output", "parameter_change", "summary", "serve", "dataset"}  # an A2I stack's
ASYNCHRONOUS_BUILTIN = ASYNCHRONOUS - {"review_output"} | {"review_api"}  # the review sweep's schedule

# Every statement whose Resource is "*", and why it cannot name a resource.
UNSCOPED = {
    # Step Functions sets up log delivery with logs:*LogDelivery / resource-policy calls that
    # IAM does not scope to a resource; AWS documents "Resource": "*" for them.
    ("role-policy", "DeliverLogsUnscopedPerAwsDocs"),
    # In a key policy, "*" is the key the policy is attached to, and nothing else.
    ("key-policy", "AccountAdministersKey"),
    ("key-policy", "PublishThroughSnsInThisAccount"),
    ("key-policy", "CloudWatchAlarmsPublish"),
}
# The only wildcard action: a Deny, which can only take access away.
WILDCARD_ACTIONS = {("bucket-policy", "DenyInsecureTransport"): "s3:*"}


STACKS = {"default": DEFAULT, "full": FULL, "builtin": BUILTIN_SMALL, "builtin-full": BUILTIN_FULL,
          "existing-pool": EXISTING_POOL}


@pytest.fixture(scope="module", params=list(STACKS))
def stack(request):
    return run_program(STACKS[request.param])


def documents(deployment):
    """(kind, owner, document) for every policy document the stack creates."""
    for rp in deployment.of_type(ROLE_POLICY):
        yield "role-policy", rp.inputs["role"], json.loads(rp.inputs["policy"])
    for role in deployment.of_type(ROLE):
        yield "trust-policy", role.inputs["name"], json.loads(role.inputs["assumeRolePolicy"])
    for bp in deployment.of_type(BUCKET_POLICY):
        yield "bucket-policy", bp.name, json.loads(bp.inputs["policy"])
    for key in deployment.of_type(KMS_KEY):
        yield "key-policy", key.name, json.loads(key.inputs["policy"])
    for qp in deployment.of_type(QUEUE_POLICY):
        yield "queue-policy", qp.name, json.loads(qp.inputs["policy"])


def statements(deployment):
    for kind, owner, document in documents(deployment):
        for statement in document["Statement"]:
            yield kind, owner, statement


def test_the_stack_has_every_kind_of_policy_document(stack):
    kinds = {kind for kind, _, _ in documents(stack)}
    assert kinds == {"role-policy", "trust-policy", "bucket-policy", "key-policy", "queue-policy"}
    backend = stack.config.get("review", BUILTIN)
    others = 5 if backend == A2I else 4  # 2 sfn, 2 events, and A2I's flow definition
    assert len(stack.of_type(ROLE_POLICY)) == len(stack.of_type(ROLE)) == len(deployed_with(backend)) + others


def test_no_action_has_a_wildcard(stack):
    wildcards = {(kind, s.get("Sid")): a for kind, _, s in statements(stack)
                 for a in as_list(s.get("Action", [])) if "*" in a}
    assert wildcards == WILDCARD_ACTIONS
    (kind, sid), _ = next(iter(WILDCARD_ACTIONS.items()))
    assert all(s["Effect"] == "Deny" for k, _, s in statements(stack) if (k, s.get("Sid")) == (kind, sid))
    assert not any("NotAction" in s or "NotResource" in s for _, _, s in statements(stack))


def _scoped(resource: str, bucket: str) -> bool:
    """An ARN of this stack: its resource part names the stack's prefix (or bucket, or
    parameter path) before any wildcard, in this account and region."""
    s3 = f"arn:aws:s3:::{bucket}"
    if resource == s3 or resource.startswith(s3 + "/"):
        return "*" not in resource or resource.index("*") > len(s3)
    match = re.fullmatch(rf"arn:aws:([a-z0-9-]+):({REGION})?:({ACCOUNT}):(.+)", resource)
    if not match:
        return False
    rest = match.group(4)
    marks = [rest.find(m) for m in (PREFIX, "parameter/labelloop/test") if m in rest]
    return bool(marks) and ("*" not in rest or rest.index("*") > min(marks))


def test_every_resource_arn_is_scoped_to_this_stack(stack):
    bucket = stack.of_type(BUCKET)[0].outputs["bucket"]
    unscoped, checked = set(), 0
    for kind, _, s in statements(stack):
        for resource in as_list(s.get("Resource", [])):
            checked += 1
            if resource == "*":
                unscoped.add((kind, s["Sid"]))
            else:
                assert _scoped(resource, bucket), f"{kind} {s.get('Sid')}: {resource} is not this stack's"
    assert unscoped == UNSCOPED
    assert checked > 60
    # The exceptions are exactly what they claim: log delivery actions, and key policies.
    for kind, _, s in statements(stack):
        if (kind, s.get("Sid")) == ("role-policy", "DeliverLogsUnscopedPerAwsDocs"):
            assert set(as_list(s["Action"])) == iam.UNSCOPED_ACTIONS


def test_the_scope_check_rejects_other_stacks_and_wildcards():
    bucket = "labelloop-test-storage-data-1234567"
    assert _scoped(f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/labelloop-test-state", bucket)
    assert _scoped(f"arn:aws:s3:::{bucket}/images_for_detection/*", bucket)
    assert not _scoped(f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/labelloop-prod-state", bucket)
    assert not _scoped(f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/*", bucket)
    assert not _scoped(f"arn:aws:s3:::{bucket}*", bucket)
    assert not _scoped(f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:labelloop-test-detect", bucket)
    assert not _scoped(f"arn:aws:rekognition:{REGION}:{ACCOUNT}:project/*/labelloop-test", bucket)


BACKEND_FUNCTIONS = [(A2I, key) for key in deployed_with(A2I)] + [(BUILTIN, key) for key in deployed_with(BUILTIN)]


@pytest.mark.parametrize("backend,key", BACKEND_FUNCTIONS, ids=[f"{b}-{k}" for b, k in BACKEND_FUNCTIONS])
def test_each_function_role_has_exactly_its_grants(backend, key):
    deployment = run_program(DEFAULT if backend == A2I else BUILTIN_SMALL)
    name = function_name(key)
    function = deployment.one(FUNCTION, name=name)
    assert function.inputs["role"] == f"arn:aws:iam::{ACCOUNT}:role/{name}"
    document = role_policy(deployment, name)
    # Without A2I there is no flow definition to start human loops with.
    expected = {a for grant in FUNCTIONS[key].grants for a in grant.actions
                if backend == A2I or grant.resource != "flow_definition"} | set(iam.LAMBDA_LOGGING)
    if key in (ASYNCHRONOUS if backend == A2I else ASYNCHRONOUS_BUILTIN):
        expected |= set(iam.DEAD_LETTER)
    assert actions_of(document) == expected
    logging = next(s for s in document["Statement"] if s["Sid"] == "OwnLogGroup")
    assert logging["Resource"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{name}:*"
    trust = trust_policy(deployment, name)["Statement"]
    assert trust == [{"Sid": "AssumedByLambda", "Effect": "Allow", "Action": "sts:AssumeRole",
                      "Principal": {"Service": "lambda.amazonaws.com"}}]


def test_grants_name_the_resources_of_their_kind():
    d = run_program(DEFAULT)
    bucket = d.of_type(BUCKET)[0].outputs["bucket"]
    arn = lambda service, rest: f"arn:aws:{service}:{REGION}:{ACCOUNT}:{rest}"  # noqa: E731
    by_sid = lambda key: {s["Sid"]: s for s in role_policy(d, function_name(key))["Statement"]}  # noqa: E731

    detect = by_sid("detect")
    assert detect["G0ObjectsImagesForDetection"]["Resource"] == f"arn:aws:s3:::{bucket}/images_for_detection/*"
    # DetectCustomLabels reads the image, the uploaded version, with the caller's S3 access.
    assert detect["G0ObjectsImagesForDetection"]["Action"] == ["s3:GetObject", "s3:GetObjectVersion"]
    assert detect["G1ProjectVersions"]["Resource"] == arn("rekognition", "project/labelloop-test-model/version/*")
    assert detect["G2Table"]["Resource"] == arn("dynamodb", "table/labelloop-test-state")
    assert detect["G3Parameters"]["Resource"] == [arn("ssm", "parameter/labelloop/test"),
                                                  arn("ssm", "parameter/labelloop/test/*")]
    assert detect["G4Topic"]["Resource"] == arn("sns", "labelloop-test-notifications")
    manifest = by_sid("build_manifest")["G0BucketImagesLabeledByFolder"]
    assert manifest == {"Sid": "G0BucketImagesLabeledByFolder", "Effect": "Allow", "Action": "s3:ListBucket",
                        "Resource": f"arn:aws:s3:::{bucket}",
                        "Condition": {"StringLike": {"s3:prefix": "images_labeled_by_folder/*"}}}
    training = by_sid("start_training")
    project = d.stack_outputs["projectArn"]
    assert training["G0Project"]["Resource"] == project == arn("rekognition", "project/labelloop-test-model/1767225600000")
    assert training["G2ProjectVersions"]["Action"] == "rekognition:TagResource"
    assert by_sid("start_review")["G0FlowDefinition"]["Resource"] == d.stack_outputs["flowDefinitionArn"]
    rollback = by_sid("prepare_rollback")["G1Parameters"]
    assert (rollback["Action"], rollback["Resource"]) == ("ssm:GetParametersByPath", detect["G3Parameters"]["Resource"])
    assert by_sid("replay_pending")["G1StateMachineDetection"]["Resource"] == d.stack_outputs["detectionStateMachineArn"]
    rule = d.one("aws:cloudwatch/eventRule:EventRule", name="labelloop-test-training-schedule")
    assert by_sid("parameter_change")["G0ScheduleRule"]["Resource"] == rule.outputs["arn"]
    dead_letter = by_sid("review_output")["FailedEventsToDeadLetterQueue"]
    assert dead_letter["Resource"] == arn("sqs", "labelloop-test-dead-letters")


@pytest.mark.parametrize("config,asynchronous", [(DEFAULT, ASYNCHRONOUS), (BUILTIN_SMALL, ASYNCHRONOUS_BUILTIN)],
                         ids=["a2i", "builtin"])
def test_only_eventbridge_targets_are_asynchronous_and_dead_letter(config, asynchronous):
    d = run_program(config)
    targeted = {t.inputs["arn"] for t in d.of_type(EVENT_TARGET)}
    async_functions = {c.inputs["functionName"] for c in d.of_type(INVOKE_CONFIG)}
    assert async_functions == {function_name(k) for k in asynchronous}
    assert {f.outputs["arn"] for f in d.of_type(FUNCTION) if f.inputs["name"] in async_functions} <= targeted
    for config in d.of_type(INVOKE_CONFIG):
        assert config.inputs["destinationConfig"]["onFailure"]["destination"] == d.stack_outputs["topicArn"].replace(
            "sns", "sqs").replace("labelloop-test-notifications", "labelloop-test-dead-letters")


def test_no_function_may_pass_a_role():
    """Nothing the functions call takes a role: A2I and Rekognition act with the flow
    definition's role and the bucket policy, which the program creates. So no iam:PassRole
    at all — and were one added, it would have to name the service it passes to."""
    for config in STACKS.values():
        passing = [s for kind, _, s in statements(run_program(config)) if "iam:PassRole" in as_list(s.get("Action"))]
        assert all("iam:PassedToService" in s.get("Condition", {}).get("StringEquals", {}) for s in passing)
        assert passing == []
    assert not any("iam:PassRole" in g.actions for spec in FUNCTIONS.values() for g in spec.grants)


def test_state_machine_roles_invoke_only_their_functions():
    d = run_program(DEFAULT)
    for machine in d.of_type(STATE_MACHINE):
        definition = json.loads(machine.inputs["definition"])
        invoked = {s["Parameters"]["FunctionName"] for s in definition["States"].values() if s["Type"] == "Task"}
        role = machine.inputs["roleArn"].rsplit("/", 1)[1]
        document = role_policy(d, role)
        (invoke,) = [s for s in document["Statement"] if s["Sid"] == "InvokeItsFunctions"]
        assert set(as_list(invoke["Resource"])) == invoked
        assert invoke["Action"] == "lambda:InvokeFunction"
        assert actions_of(document) == {"lambda:InvokeFunction"} | iam.UNSCOPED_ACTIONS
        (trust,) = trust_policy(d, role)["Statement"]
        assert trust["Principal"] == {"Service": "states.amazonaws.com"}
        assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
    detection = d.one(STATE_MACHINE, name="labelloop-test-detection")
    assert len(detection_definition("a", "b", "c")["States"]) == len(json.loads(detection.inputs["definition"])["States"])


def test_eventbridge_roles_start_only_their_state_machine():
    d = run_program(DEFAULT)
    for target in d.of_type(EVENT_TARGET):
        if "roleArn" not in target.inputs:
            continue
        role = target.inputs["roleArn"].rsplit("/", 1)[1]
        (statement,) = role_policy(d, role)["Statement"]
        assert (statement["Action"], statement["Resource"]) == ("states:StartExecution", target.inputs["arn"])
        (trust,) = trust_policy(d, role)["Statement"]
        assert trust["Principal"] == {"Service": "events.amazonaws.com"}
        assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_the_review_role_reads_uploads_and_writes_answers_only():
    d = run_program(DEFAULT)
    bucket = d.stack_outputs["bucketName"]
    document = role_policy(d, "labelloop-test-review-flow")
    assert {(s["Action"], s["Resource"]) for s in document["Statement"]} == {
        ("s3:GetObject", f"arn:aws:s3:::{bucket}/images_for_detection/*"),
        ("s3:PutObject", f"arn:aws:s3:::{bucket}/a2i-human-loop-data/*")}
    (trust,) = trust_policy(d, "labelloop-test-review-flow")["Statement"]
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}


def test_the_review_function_has_exactly_the_review_apps_access_on_this_stacks_resources():
    d = run_program(BUILTIN_SMALL)
    bucket = f"arn:aws:s3:::{d.stack_outputs['bucketName']}"
    arn = lambda service, rest: f"arn:aws:{service}:{REGION}:{ACCOUNT}:{rest}"  # noqa: E731
    document = role_policy(d, function_name("review_api"))
    granted = {(s["Sid"], tuple(sorted(as_list(s["Action"]))), tuple(as_list(s["Resource"])), json.dumps(s.get(
        "Condition"))) for s in document["Statement"]}
    assert granted == {
        # Presigning the pinned version of an upload; is it still there; copying it (a copy reads its source).
        ("G0ObjectsImagesForDetection", ("s3:GetObject", "s3:GetObjectVersion"),
         (f"{bucket}/images_for_detection/*",), "null"),
        ("G1BucketImagesForDetection", ("s3:ListBucket",), (bucket,),
         json.dumps({"StringLike": {"s3:prefix": "images_for_detection/*"}})),
        # The copy into its label folder or the gate set, deleted again when withdrawn meanwhile.
        ("G2ObjectsImagesLabeledByFolder", ("s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObject"),
         (f"{bucket}/images_labeled_by_folder/*",), "null"),
        ("G3ObjectsImagesForTesting", ("s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObject"),
         (f"{bucket}/images_for_testing/*",), "null"),
        # A task closed or expired leaves the open index; a pending copy made is no longer pending.
        ("G4Table", ("dynamodb:DeleteItem",), (arn("dynamodb", "table/labelloop-test-state"),), "null"),
        ("G5Table", ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"),
         (arn("dynamodb", "table/labelloop-test-state"),), "null"),
        ("G6Parameters", ("ssm:GetParametersByPath",),
         (arn("ssm", "parameter/labelloop/test"), arn("ssm", "parameter/labelloop/test/*")), "null"),
        ("G7Topic", ("sns:Publish",), (arn("sns", "labelloop-test-notifications"),), "null"),
        # The sweep schedule's failed events.
        ("FailedEventsToDeadLetterQueue", ("sqs:SendMessage",), (arn("sqs", "labelloop-test-dead-letters"),), "null"),
        # Its metrics are EMF lines in its own log.
        ("OwnLogGroup", ("logs:CreateLogStream", "logs:PutLogEvents"),
         (arn("logs", "log-group:/aws/lambda/labelloop-test-review-api:*"),), "null"),
    }


@pytest.mark.parametrize("config", [BUILTIN_SMALL, EXISTING_POOL], ids=["created-pool", "existing-pool"])
def test_only_this_stacks_api_may_invoke_the_review_function(config):
    d = run_program(config)
    (api,) = d.of_type("aws:apigatewayv2/api:Api")
    function = d.one(FUNCTION, name=function_name("review_api"))
    (permission,) = d.where(PERMISSION, principal="apigateway.amazonaws.com")
    assert permission.inputs["function"] == function.outputs["name"]
    assert permission.inputs["action"] == "lambda:InvokeFunction"
    assert permission.inputs["sourceArn"] == api.outputs["executionArn"] + "/*/*"
    assert api.outputs["executionArn"] == f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api.id}"
    # No other principal may invoke any function through API Gateway.
    assert [p for p in d.of_type(PERMISSION) if p.inputs["principal"] != "events.amazonaws.com"] == [permission]


def test_statement_ids_are_valid_for_iam(stack):
    for kind, owner, document in documents(stack):
        sids = [s.get("Sid", "") for s in document["Statement"]]
        assert all(re.fullmatch(r"[A-Za-z0-9]+", sid) for sid in sids), (kind, owner, sids)
        assert len(set(sids)) == len(sids)


# -- the bucket and the topic ------------------------------------------------------------------
def _bucket_policy(d):
    return {s["Sid"]: s for s in json.loads(d.of_type(BUCKET_POLICY)[0].inputs["policy"])["Statement"]}


def test_bucket_is_encrypted_private_versioned_and_tls_only():
    d = run_program(DEFAULT)
    (bucket,) = d.of_type(BUCKET)
    name = bucket.outputs["bucket"]
    (sse,) = d.of_type("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    assert sse.inputs["bucket"] == name
    assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    (block,) = d.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert {k: block.inputs[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                         "restrictPublicBuckets")} == dict.fromkeys(
        ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"), True)
    assert block.inputs["bucket"] == name
    (versioning,) = d.of_type("aws:s3/bucketVersioning:BucketVersioning")
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"
    tls = _bucket_policy(d)["DenyInsecureTransport"]
    assert tls == {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Action": "s3:*", "Principal": "*",
                   "Resource": [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"],
                   "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    assert bucket.inputs.get("forceDestroy") is False


def test_the_bucket_policy_names_no_service_and_only_refuses_insecure_transport():
    """Custom Labels reads and writes with the calling function's role ("Set up SDK permissions":
    a statement for rekognition.amazonaws.com is no longer needed), A2I with its flow definition's."""
    policy = _bucket_policy(run_program(DEFAULT))
    assert list(policy) == ["DenyInsecureTransport"]


def test_training_reads_its_data_and_writes_its_evaluation_with_its_own_role():
    d = run_program(DEFAULT)
    bucket = f"arn:aws:s3:::{d.stack_outputs['bucketName']}"
    statements = role_policy(d, function_name("start_training"))["Statement"]
    s3 = {s["Sid"]: (sorted(as_list(s["Action"])), s["Resource"], s.get("Condition"))
          for s in statements if any(a.startswith("s3:") for a in as_list(s["Action"]))}
    reads = ["s3:GetObject", "s3:GetObjectAcl", "s3:GetObjectTagging", "s3:GetObjectVersion"]
    assert s3 == {
        "G3Bucket": (["s3:GetBucketAcl", "s3:GetBucketLocation", "s3:ListBucket"], bucket, None),
        "G4ObjectsManifests": (reads, f"{bucket}/manifests/*", None),
        "G5ObjectsImagesLabeledByFolder": (reads, f"{bucket}/images_labeled_by_folder/*", None),
        "G6ObjectsImagesForTesting": (reads, f"{bucket}/images_for_testing/*", None),  # the gate set, TestingData
        "G7ObjectsEvaluation": (["s3:PutObject"], f"{bucket}/evaluation/*", None),
    }


def test_topic_is_encrypted_with_a_rotated_key_alarms_can_use():
    d = run_program(DEFAULT)
    (topic,) = d.of_type(TOPIC)
    (key,) = d.of_type(KMS_KEY)
    assert topic.inputs["kmsMasterKeyId"] == key.outputs["arn"]
    assert key.inputs["enableKeyRotation"] is True
    policy = {s["Sid"]: s for s in json.loads(key.inputs["policy"])["Statement"]}
    assert policy["CloudWatchAlarmsPublish"]["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert policy["PublishThroughSnsInThisAccount"]["Condition"] == {"StringEquals": {
        "kms:CallerAccount": ACCOUNT, "kms:ViaService": f"sns.{REGION}.amazonaws.com"}}
    assert policy["AccountAdministersKey"]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    assert not {"kms:Decrypt", "kms:GenerateDataKey"} & set(as_list(policy["AccountAdministersKey"]["Action"]))


def test_only_this_stacks_rules_may_dead_letter():
    d = run_program(DEFAULT)
    (statement,) = json.loads(d.of_type(QUEUE_POLICY)[0].inputs["policy"])["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"] == {"ArnLike": {"aws:SourceArn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{PREFIX}-*"}}
