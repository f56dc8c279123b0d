"""`labelloop doctor` against a deployed stack (in moto, doctor_support.py), a stack not deployed yet,
and saved sandbox runs: it passes on a healthy one and fails clearly — the check, what it saw, the
fix — on a broken one: a missing grant, a disabled rule, a parameter set to garbage, a region
without Custom Labels (saved sandbox runs: tests/test_cli_sandbox_checks.py).

What moto does not check is left to the stand-ins and named there: IAM's policy simulator
(sandbox/iam_simulator.py), Service Quotas' list and Lambda's account settings (moto lacks both:
the quota checks warn that they could not read them)."""

from __future__ import annotations

import pytest
from cli_support import cli, cli_json_code, fake_pulumi, statuses
from doctor_support import clients_of, deployed_stack, grant, stack_policies, target_options
from stack_support import parameters


@pytest.fixture(scope="module")
def st():
    with deployed_stack() as stack:
        yield stack


@pytest.fixture(autouse=True)
def stack_clients(st, monkeypatch):
    monkeypatch.setattr("cli.aws_target._session_clients", clients_of(st))


def test_a_healthy_deployed_stack_passes(capsys, st):
    data = cli_json_code(capsys, 0, "doctor", *target_options(st))
    found = statuses(data)
    assert found["region"] == found["permissions"] == found["parameters"] == found["rules"] == {"ok"}
    assert found["model"] == found["functions"] == found["reviewer-email"] == {"ok"}
    assert found["a2i"] == {"skip"}  # the stack reviews in the builtin review app
    # moto has neither Lambda's account settings nor Service Quotas' list: said, not passed silently.
    quotas = [r for r in data["checks"] if r["check"] == "quotas"]
    assert any("could not read Lambda's concurrency limit" in r["what"] for r in quotas)
    assert any("AWS's documented default" in r["what"] for r in quotas)
    assert data["fail"] == 0 and data["region"] == "us-east-1"
    permissions = [r["what"] for r in data["checks"] if r["check"] == "permissions"]
    assert permissions[0].startswith("arn:aws:iam::123456789012:user/moto may deploy the stack")
    code, out, _ = cli(capsys, "doctor", *target_options(st))
    assert code == 0 and out.splitlines()[0] == "labelloop doctor — stack at /labelloop/sandbox/, region us-east-1"
    assert "ok    rules           " in out and "failed" in out.splitlines()[-1]


def test_a_missing_grant_is_named_with_the_policy_that_gives_it(capsys, st):
    policies = stack_policies(st)
    for piece in policies["operate"]:
        for statement in piece["Statement"]:
            statement["Action"] = [a for a in statement["Action"] if a != "lambda:InvokeFunction"]
        piece["Statement"] = [s for s in piece["Statement"] if s["Action"]]
    grant(st, policies)
    try:
        data = cli_json_code(capsys, 1, "doctor", "--check", "permissions", *target_options(st))
    finally:
        grant(st, stack_policies(st))
    (failed,) = [r for r in data["checks"] if r["status"] == "fail"]
    assert "may not lambda:InvokeFunction (operate)" in failed["what"]
    assert "labelloop deployer-policy --stack sandbox --region us-east-1 --account 123456789012 --part operate" \
        in failed["fix"]


def test_a_disabled_rule_fails_with_the_command_that_enables_it(capsys, st):
    events, rule = st.client("events"), st.naming.rule("serving-schedule")
    events.put_rule(Name=rule, ScheduleExpression="rate(5 minutes)", State="DISABLED")
    try:
        code, out, _ = cli(capsys, "doctor", "--check", "rules", *target_options(st))
    finally:
        events.put_rule(Name=rule, ScheduleExpression="rate(5 minutes)", State="ENABLED")
    assert code == 1
    assert f"FAIL  rules           rule {rule} is DISABLED: what it drives does not happen" in out
    assert f"fix: aws events enable-rule --name {rule}" in out
    # The training schedule follows Enable-Automatic-Training: disabled while it is on is a problem too.
    schedule = st.naming.rule("training-schedule")
    events.disable_rule(Name=schedule)
    try:
        data = cli_json_code(capsys, 1, "doctor", "--check", "rules", *target_options(st))
    finally:
        events.enable_rule(Name=schedule)
    (failed,) = [r for r in data["checks"] if r["status"] == "fail"]
    assert failed["what"] == f"rule {schedule} is DISABLED while Enable-Automatic-Training is true"
    assert failed["fix"].startswith("labelloop params set Enable-Automatic-Training true")


def test_a_parameter_set_to_garbage_fails(capsys, st):
    with parameters(st, {"Minimum-Inference-Units": "lots"}):
        data = cli_json_code(capsys, 1, "doctor", "--check", "parameters", *target_options(st))
    (failed,) = data["checks"]
    assert failed["status"] == "fail" and failed["what"].startswith("Minimum-Inference-Units = 'lots' is not allowed")
    assert failed["fix"].startswith("labelloop params set Minimum-Inference-Units VALUE")


def test_too_many_inference_units_for_the_quota(capsys, st):
    with parameters(st, {"Maximum-Inference-Units": 8}):
        data = cli_json_code(capsys, 1, "doctor", "--check", "quotas", *target_options(st))
    failed = [r for r in data["checks"] if r["status"] == "fail"]
    assert [r["what"] for r in failed] == ["a model may be started with 8 inference units; the account allows 5 per "
                                           "model (AWS's documented default: Service Quotas not readable)"]


def test_a_region_without_custom_labels_fails(capsys, st):
    code, out, _ = cli(capsys, "doctor", "--region", "ca-central-1", *target_options(st))
    assert code == 1
    assert "FAIL  region          region ca-central-1 does not offer Rekognition Custom Labels" in out
    assert "fix: choose one of us-east-1, us-east-2" in out
    # Nothing of the stack in that region: its checks wait for a deploy.
    assert "skip  rules           the stack is not deployed yet" in out


def test_before_a_deploy_the_account_is_checked_against_the_stack_config(capsys, st, tmp_path, monkeypatch):
    reviewers = [f"reviewer{i}@example.com" for i in range(60)]
    fake_pulumi(tmp_path / "bin", monkeypatch, {}, config={"aws:region": "eu-west-1",
                                                           "labelloop:reviewerEmails": reviewers,
                                                           "labelloop:parameterDefaults": {"Minimum-Inference-Units": 9}})
    data = cli_json_code(capsys, 1, "doctor", "--stack", "trial")
    rows = {(r["check"], r["status"]): r for r in data["checks"]}
    assert data["region"] == "eu-west-1" and ("region", "ok") in rows
    email = rows[("reviewer-email", "warn")]
    assert "60 reviewers to invite" in email["what"] and "2 days" in email["what"] and "Amazon SES" in email["fix"]
    assert "9 inference units" in rows[("quotas", "fail")]["what"]
    assert {r["status"] for r in data["checks"] if r["check"] in ("rules", "model", "parameters")} == {"skip"}


def test_status_after_a_deploy_shows_the_cost_per_hour_now(capsys, st):
    data = cli_json_code(capsys, 0, "status", *target_options(st))
    assert (data["cost"]["units_running"], data["cost"]["per_hour_now"]) == (1, 4.0)
    code, out, _ = cli(capsys, "status", *target_options(st))
    assert code == 0 and "  now            $4.00 per hour (1 inference unit(s) running)" in out


def test_models_running_elsewhere_in_the_account_leave_no_room_for_a_blue_green_switch(capsys, st):
    others = [f"arn:aws:rekognition:us-east-1:123456789012:project/other/version/{v}/1700000000001" for v in ("a", "b")]
    for arn in others:
        st.models.add_running(arn)
    try:
        data = cli_json_code(capsys, 0, "doctor", "--check", "quotas", *target_options(st))
    finally:
        for name in ("a", "b"):
            st.models.versions.pop(name)
    (warned,) = [r for r in data["checks"] if r["status"] == "warn" and "other projects run" in r["what"]]
    assert warned["what"].startswith("2 model(s) of other projects run in this account and region (a, b); 2 may run")
    assert "a blue/green switch needs 2" in warned["what"] and "Service Quotas" in warned["fix"]
