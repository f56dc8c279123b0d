"""The labelstudio review backend as a stack deploys it (Pulumi's mocks: its routes, the reconcile's
schedule, its parameters, the token named and never read, nothing of A2I or the review app) and as
the loop runs it in the sandbox, each function cold under its deployed role, against the session's
real Label Studio."""

from __future__ import annotations

import json
import uuid

import pytest
from deployed_roles import role_policies
from lifecycle_support import deployed_with_two_reviews
from pulumi_mocks import EVENT_RULE, EVENT_TARGET, FUNCTION, PARAMETER, function_name, role_policy, run_program

from components.config import ConfigError, parse_stack_config
from components.deployer import deploy_access
from components.functions import CORE, OPENS, WITHDRAWS, deployed_with
from handlers.labelstudio.client import LabelStudio
from handlers.runtime import context
from handlers.runtime.state import Snapshot
from sandbox.local_aws import LocalStack
from sandbox.review_backends import sandbox_backend
from sandbox.scripted_trainer import scripted_custom_labels

STACK = "lsdev"
TOKEN = f"ssm:/labelloop/{STACK}/labelstudio/token"  # where the sandbox keeps its local server's token
CONFIG = {"labels": ["cat", "dog"], "review": "labelstudio", "labelStudioUrl": "https://labelstudio.example.com",
          "labelStudioProject": "Pets", "labelStudioToken": TOKEN}
UNSURE = (("cat", 52.0), ("dog", 41.0))


def test_a_labelstudio_stack_deploys_the_webhook_route_the_reconcile_and_its_parameters_and_no_a2i_or_cognito():
    d = run_program(CONFIG, stack=STACK)
    (component,) = [r for r in d.resources if r.type == "labelloop:index:LabelStudioReview"]
    routes = {r.inputs["routeKey"]: r for r in d.of_type("aws:apigatewayv2/route:Route")}
    assert set(routes) == {"POST /labelstudio/webhook", "GET /labelstudio/images/{review}"}
    assert all(r.parent == component.urn and r.inputs["authorizationType"] == "NONE" for r in routes.values())
    function = d.one(FUNCTION, name=function_name("labelstudio", STACK))
    assert function.parent == component.urn and function.inputs["handler"] == "handlers.labelstudio.routes.handler"
    rule = d.one(EVENT_RULE, name=f"labelloop-{STACK}-labelstudio-reconcile")
    assert rule.inputs["scheduleExpression"] == "rate(5 minutes)" and rule.parent == component.urn
    (target,) = [t for t in d.of_type(EVENT_TARGET) if t.inputs["rule"] == rule.outputs["name"]]
    assert json.loads(target.inputs["input"]) == {"reconcile": True} and target.inputs["arn"] == function.outputs["arn"]
    key = d.one(PARAMETER, name=f"/labelloop/{STACK}/labelstudio/signing-key")
    assert key.inputs["type"] == "SecureString"
    assert d.one(PARAMETER, name=f"/labelloop/{STACK}/labelstudio/routes-url").inputs["type"] == "String"
    # The functions: the core ones and its own; every one told the instance and where the token lives.
    assert set(deployed_with("labelstudio")) == set(CORE) | {"labelstudio"}
    for fn in d.of_type(FUNCTION):
        told = json.loads(fn.inputs["environment"]["variables"]["LABELLOOP_REVIEW_SETTINGS"])
        assert (told["url"], told["project"], told["token"], told["predictions"]) == (
            "https://labelstudio.example.com", "Pets", TOKEN, False)
    assert d.stack_outputs["labelStudioWebhookUrl"].endswith("/labelstudio/webhook")
    # Nothing of A2I or the review app; the deploy policy covers its API's types.
    assert not [r for r in d.resources if r.type.startswith(("aws:sagemaker", "aws:cognito"))]
    assert not {"reviewUrl", "flowDefinitionArn", "reviewerUserPoolId"} & set(d.stack_outputs)
    granted = {a for access in deploy_access("labelstudio") for a in access.actions}
    assert {"apigateway:POST", "ssm:PutParameter"} <= granted and not any(a.startswith("sagemaker:") for a in granted)


def test_the_token_is_read_by_the_functions_that_call_label_studio_only():
    d = run_program(CONFIG, stack=STACK)
    token_arn = f"parameter/labelloop/{STACK}/labelstudio/token"
    reading = {key for key in deployed_with("labelstudio")
               if token_arn in json.dumps(role_policy(d, function_name(key, STACK)))}
    # its own function settles; those that open a review push (the serving function's drain opens too); the
    # dataset function withdraws a forgotten image's
    assert reading == {"labelstudio", *OPENS, *WITHDRAWS}
    signing = {key for key in deployed_with("labelstudio")
               if "labelstudio/*" in json.dumps(role_policy(d, function_name(key, STACK)))}
    assert signing == {"labelstudio", *OPENS}
    with_secret = run_program({**CONFIG, "labelStudioToken": "secretsmanager:team/labelstudio"}, stack=STACK)
    policy = json.dumps(role_policy(with_secret, function_name("start_review", STACK)))
    assert ":secret:team/labelstudio-??????" in policy


@pytest.mark.parametrize(("change", "message"), [
    ({"labelStudioUrl": None}, "labelloop:labelStudioUrl is required with review: labelstudio"),
    ({"labelStudioUrl": "http://labelstudio.example.com"}, "the API token would travel unencrypted. Fix: use https://"),
    ({"labelStudioToken": "0123456789abcdef"}, "labelloop:labelStudioToken is '0123456789abcdef'. Fix: name where "
                                               "the API token lives, never the token itself"),
    ({"labelStudioProject": "ab"}, "labelloop:labelStudioProject is 'ab'"),
    ({"labelStudioPredictions": "yes"}, "labelloop:labelStudioPredictions is 'yes'. Fix: set true or false"),
    ({"reviewerEmails": ["a@example.com"]}, "labelloop:reviewerEmails is not used with review: labelstudio"),
])
def test_a_wrong_labelstudio_config_names_the_key_and_the_fix(change, message):
    config = {k: v for k, v in {**CONFIG, **change}.items() if v is not None}
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(").replace(")", r"\)")):
        parse_stack_config(config)


def test_labelstudio_keys_are_refused_on_a_stack_of_another_backend():
    with pytest.raises(ConfigError, match="labelloop:labelStudioUrl is only used with labelloop:review labelstudio"):
        parse_stack_config({"labels": ["cat", "dog"], "labelStudioUrl": "https://labelstudio.example.com"})


def test_reviews_in_label_studio_reach_training_each_function_cold_under_its_deployed_role(label_studio):
    models = scripted_custom_labels()
    with LocalStack(labels=("cat", "dog"), containers="per_invocation", standins={"rekognition": models},
                    review="labelstudio", stack=STACK) as stack:
        title = f"labelloop-{uuid.uuid4().hex[:10]}"
        stack.configure(**sandbox_backend("labelstudio").settings(stack.naming, url=label_studio.url, project=title))
        check = stack.enforce_roles(role_policies(stack, CONFIG))
        deployed_with_two_reviews(stack, models, UNSURE)
        s3 = stack.client("s3")
        ls = LabelStudio(label_studio.url, label_studio.token)
        project = ls.project(title, ("cat", "dog"), create=False)["id"]
        assert len(ls.tasks(project)) == 2  # one task per review, pushed by StartReview
        s3.delete_object(Bucket=stack.bucket, Key="images_for_detection/deleted.png")  # its uploader deletes it
        stack.pump()
        assert len(ls.tasks(project)) == 1  # the deleted image's task removed from Label Studio
        truth = {f"s3://{stack.bucket}/images_for_detection/{name}.png": "dog" for name in ("kept", "deleted")}
        annotators = sandbox_backend("labelstudio").reviewers(stack, truth, ("cat", "dog"), (0.0,), 0, None)
        assert annotators.answer(None) == 1
        reviews = {r.image_uri.rsplit("/", 1)[1]: r for r in Snapshot.of(context.table().all_items()).reviews}
        assert (reviews["kept.png"].status, reviews["kept.png"].result["label"]) == ("accepted", "dog")
        assert reviews["deleted.png"].status == "deleted"
        copies = s3.list_objects_v2(Bucket=stack.bucket, Prefix="images_labeled_by_folder/dog/")["Contents"]
        assert [c["Key"] for c in copies if "img-" not in c["Key"]] == [reviews["kept.png"].result["training_key"]]
    assert {"start_review", "dataset", "labelstudio"} <= set(check.requests)
    assert [str(d) for d in check.denials] == []


def test_doctor_tells_a_project_that_does_not_fit_the_labels_before_any_review(label_studio):
    from types import SimpleNamespace

    import boto3
    from moto import mock_aws

    from cli.doctor import CHECKS, Doctor, run_checks
    from handlers.labelstudio import labeling

    ls = LabelStudio(label_studio.url, label_studio.token)
    fits, misfit, missing = (f"labelloop-{uuid.uuid4().hex[:10]}" for _ in range(3))
    ls.project(fits, ("cat", "dog"))
    ls.request("POST", "/api/projects/", {"title": misfit, "label_config": labeling.label_config(("cat", "bird"))})
    with mock_aws():
        ssm = boto3.client("ssm", region_name="us-east-1")
        ssm.put_parameter(Name=TOKEN.removeprefix("ssm:"), Value=label_studio.token, Type="SecureString")

        def doctor(config: dict, **changes):
            config = {**config, **changes}
            target = SimpleNamespace(stack_settings=lambda: {f"labelloop:{k}": v for k, v in config.items()},
                                     client=lambda service: boto3.client(service, region_name="us-east-1"),
                                     account_checks=True, deployed=lambda: None)
            [check] = [c for c in CHECKS if c.name == "labelstudio"]
            [(_, found)] = run_checks(Doctor(target), [check])
            return found if isinstance(found, str) else [(f.status, f"{f.what} | {f.fix}") for f in found]

        given = {**CONFIG, "labelStudioUrl": label_studio.url}
        [(status, said)] = doctor(given, labelStudioProject=fits)
        assert status == "ok" and "offers the stack's 2 labels" in said
        [(status, said)] = doctor(given, labelStudioProject=misfit)
        assert status == "fail" and "missing ['dog']; not labels of the stack ['bird']" in said
        assert "| make its labelling config's choices the stack's labels" in said
        [(status, said)] = doctor(given, labelStudioProject=missing)
        assert status == "ok" and "does not exist yet: the first review creates it" in said
        [(status, said)] = doctor(given, labelStudioProject=fits, labelStudioToken="ssm:/nowhere")
        assert status == "fail" and "the API token at ssm:/nowhere cannot be read" in said
        ssm.put_parameter(Name="/wrong", Value="not-a-token", Type="SecureString")
        [(status, said)] = doctor(given, labelStudioProject=fits, labelStudioToken="ssm:/wrong")
        assert status == "fail" and "refused the token" in said and "not-a-token" not in said
        [(status, said)] = doctor(given, labelStudioProject=fits, labelStudioUrl="http://127.0.0.1:9")
        assert status == "fail" and "cannot be reached" in said
        assert doctor({"labels": ["cat", "dog"]}) == "the stack reviews with builtin"
