"""`labelloop smoke` against a deployed stack in moto (doctor_support.py): its temporary reviewer is a
user of the stack's user pool in moto's Cognito, signed in with the admin password flow, calling the
review API over HTTP through a local stand-in for API Gateway's JWT authorizer; EventBridge's
deliveries run in the background, as AWS runs them. Every call the operator commands make here is
judged by the operate part of `labelloop deployer-policy`. moto does not check the app client's allowed
auth flows, the pool's password policy or a real authorizer's signature check: the stand-in checks
the token's issuer, client, use and expiry."""

from __future__ import annotations

import json

import pytest
from cli_support import cli
from doctor_support import (clients_of, deployed_stack, delivering, review_api_gateway, stack_policies,
                            target_options)

from handlers.runtime import layout
from sandbox.access import Place, allowed, requests
from sandbox.local_aws import ACCOUNT, REGION


@pytest.fixture(scope="module")
def st():
    with deployed_stack() as stack, review_api_gateway(stack):
        yield stack


@pytest.fixture(autouse=True)
def stack_clients(st, monkeypatch):
    monkeypatch.setattr("cli.aws_target._session_clients", clients_of(st))
    monkeypatch.setattr("cli.smoke.POLL_SECONDS", 0.05)


def keys(st, prefix: str) -> list[str]:
    pages = st.client("s3").get_paginator("list_object_versions").paginate(Bucket=st.bucket, Prefix=prefix)
    return [v["Key"] for page in pages for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]


def test_smoke_on_a_deployed_stack_signs_in_a_temporary_reviewer_and_removes_everything(capsys, st):
    st.models.trainer.by_key.clear()  # the scripted model: unsure of everything it does not know
    with delivering(st):
        code, out, err = cli(capsys, "smoke", *target_options(st), "--timeout", "20", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert [s["step"] for s in result["steps"] if s["status"] == "ok"] == [
        "reviewer", "upload", "detection", "review", "answer", "training copy"]
    assert "Bearer" not in err  # the token is never shown
    # The reviewer was a real user of the pool, and is gone; no image of the smoke is left in any version.
    users = st.client("cognito-idp").list_users(UserPoolId=st.pool)["Users"]
    assert users == []
    assert keys(st, f"{layout.DETECTION_PREFIX}labelloop-smoke/") == []
    copy = next(s for s in result["steps"] if s["step"] == "training copy")["detail"].split(",")[0]
    assert keys(st, copy) == []


def test_smoke_names_the_step_that_fails_and_removes_what_it_made(capsys, st):
    cognito = st.client("cognito-idp")
    cognito.delete_group(UserPoolId=st.pool, GroupName="reviewers")  # the pool lost its reviewer group
    try:
        with delivering(st):
            code, out, _ = cli(capsys, "smoke", *target_options(st), "--timeout", "20")
    finally:
        cognito.create_group(UserPoolId=st.pool, GroupName="reviewers")
    assert code == 1
    assert "FAIL  reviewer       AdminAddUserToGroup: ResourceNotFoundException" in out
    assert out.splitlines()[-1].startswith("Smoke failed at reviewer: AdminAddUserToGroup")
    assert cognito.list_users(UserPoolId=st.pool)["Users"] == []  # the half-made reviewer is gone
    assert keys(st, f"{layout.DETECTION_PREFIX}labelloop-smoke/") == []


def test_the_operate_policy_allows_every_call_the_commands_make(capsys, st, monkeypatch, tmp_path):
    """Every AWS call of the operator commands, made against the stack, judged by the operate part of
    `labelloop deployer-policy` for this stack as IAM would judge it (sandbox/access.py)."""
    calls: list[tuple[str, str, dict]] = []
    made = clients_of(st)

    def recording(region, profile):
        client_of = made(region, profile)

        def client(service: str):
            found = client_of(service)
            if not getattr(found, "_recorded", False):
                found.meta.events.register("before-parameter-build.*.*", lambda model, params, **_: calls.append(
                    (model.service_model.signing_name, model.name, dict(params))))
                found._recorded = True
            return found
        return client

    monkeypatch.setattr("cli.aws_target._session_clients", recording)
    monkeypatch.setattr("cli.train_cmd.POLL_SECONDS", 0.02)
    options = target_options(st)
    with delivering(st):
        for argv in (["params", "list"], ["params", "set", "Minimum-F1-Score", "0.75"], ["params", "reset", "Minimum-F1-Score"], ["status"], ["versions"],
                     ["train"], ["replay", "--failed", "--no-wait"], ["export", "--out", tmp_path / "e.jsonl"],
                     ["stop", "--yes"], ["start", "--yes"], ["doctor"], ["smoke", "--timeout", "20"]):
            code, _, err = cli(capsys, *argv, *options)
            assert code in (0, 1), (argv, err)  # 1: doctor's warnings are no failure, but a refused stop is
    policy = stack_policies(st)["operate"]
    place = Place(REGION, ACCOUNT)
    denied = sorted({f"{service}:{operation} needs {request}" for service, operation, params in calls
                     for request in requests(service, operation, params, place, lambda b, k: b"")
                     if not any(allowed(document, request) for document in policy)})
    assert not denied, "\n".join(denied)
    assert {f"{s}:{o}" for s, o, _ in calls} >= {"cognito-idp:AdminInitiateAuth", "lambda:Invoke",
                                                  "iam:SimulatePrincipalPolicy", "s3:PutObject", "ssm:PutParameter",
                                                  "states:StartExecution", "dynamodb:Scan"}


def test_smoke_on_a_stack_not_deployed_says_so(capsys, st):
    code, out, _ = cli(capsys, "smoke", "--parameter-path", "/labelloop/elsewhere/", "--table", "labelloop-elsewhere-state",
                       "--lifecycle-arn", "arn:aws:states:us-east-1:123456789012:stateMachine:labelloop-elsewhere-lifecycle")
    assert code == 1
    assert "FAIL  stack          stack at /labelloop/elsewhere/ is not deployed (its functions are missing)" in out
    assert "look: run `pulumi up`, then `labelloop doctor`" in out
