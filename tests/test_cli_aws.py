"""The operator commands against a stack in moto, addressed as a deployed stack is:
by explicit names, or by `--stack NAME` through (a fake) `pulumi stack output`."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone

import pytest
from cli_support import cli, cli_json, cli_json_code, fake_pulumi
from lifecycle_support import deploy_first, lifecycle_stack, loop, seed
import state_support

from cli import train_cmd
from handlers.runtime import context

F1 = "Minimum-F1-Score"


@pytest.fixture(scope="module")
def st():
    with lifecycle_stack() as stack:
        deploy_first(stack)
        yield stack


@pytest.fixture
def target(st):
    """The explicit-names options of the stack."""
    return ["--parameter-path", st.parameter_path, "--table", st.table, "--lifecycle-arn",
            st.state_machines["lifecycle"]]


@pytest.fixture
def restore_parameters(st):
    ssm = st.client("ssm")

    def parameters() -> list[dict]:  # every page: the path holds more parameters than one call returns
        return [p for page in ssm.get_paginator("get_parameters_by_path").paginate(Path=st.parameter_path)
                for p in page["Parameters"]]

    saved = {p["Name"]: p["Value"] for p in parameters()}
    yield ssm
    for parameter in parameters():
        if parameter["Name"] not in saved:
            ssm.delete_parameter(Name=parameter["Name"])
    for name, value in saved.items():
        ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True)
    context.reset()


def value(st, name: str) -> str:
    return st.client("ssm").get_parameter(Name=st.parameter_path + name)["Parameter"]["Value"]


def outputs(st) -> dict:
    """What `pulumi stack output --json` prints for a labelloop stack (keys of components/loop.py)."""
    return {"bucketName": st.bucket, "parameterPath": st.parameter_path, "tableName": st.table,
            "lifecycleStateMachineArn": st.state_machines["lifecycle"],
            "detectionStateMachineArn": st.state_machines["detection"],
            "policies": ["policies.review_budget", "policies.defaults"]}


# -- params --------------------------------------------------------------------------------
def test_params_list_shows_every_catalog_parameter(capsys, st, target, restore_parameters):
    restore_parameters.put_parameter(Name=st.parameter_path + F1, Value="abc", Type="String", Overwrite=True)
    restore_parameters.delete_parameter(Name=st.parameter_path + "Human-Sampling-Interval")
    restore_parameters.put_parameter(Name=st.parameter_path + "Left-Over", Value="1", Type="String")
    data = cli_json(capsys, "params", "list", *target)
    rows = {r["name"]: r for r in data["parameters"]}
    assert set(rows) == set(st.engine.catalog.specs) | {"Left-Over"}
    assert data["parameter_path"] == st.parameter_path
    confidence = rows["Minimum-Label-Detection-Confidence"]
    assert confidence | {"modified": None} == confidence | {
        "value": "70.0", "default": "70.0", "range": "0–100", "state": "ok", "valid": True, "kind": "float",
        "allowed": "a number from 0.0 to 100.0", "policy": "policies.defaults", "modified": None}
    assert datetime.fromisoformat(confidence["modified"].replace("Z", "+00:00")) <= datetime.now(timezone.utc)
    assert (rows[F1]["state"], rows[F1]["valid"]) == ("invalid", False) and "'abc' is not allowed" in rows[F1]["problem"]
    assert rows["Human-Sampling-Interval"]["state"] == "missing" and rows["Human-Sampling-Interval"]["value"] is None
    assert rows["Left-Over"]["state"] == "unknown"

    code, out, _ = cli(capsys, "params", "list", *target)
    assert code == 0
    line = next(x for x in out.splitlines() if x.startswith(F1))
    assert line.split()[:5] == [F1, "abc", "0.8", "0–1", "NO"]
    assert f"! {F1}: {F1}: 'abc' is not allowed" in out


def test_params_get(capsys, st, target):
    row = cli_json(capsys, "params", "get", "Human-Sampling-Interval", *target)
    assert (row["name"], row["value"], row["default"], row["range"]) == \
        ("Human-Sampling-Interval", "1000", "1000", "1–1000000")
    code, out, _ = cli(capsys, "params", "get", "Human-Sampling-Interval", *target)
    assert code == 0 and out.splitlines()[0] == "Human-Sampling-Interval = 1000"
    assert "allowed      a whole number from 1 to 1000000" in out


def test_params_set_writes_the_normalised_value_and_shows_old_and_new(capsys, st, target, restore_parameters):
    code, out, _ = cli(capsys, "params", "set", F1, " +.90 ", *target)
    assert code == 0 and out.startswith(f"{F1}: 0.8 → 0.9")
    assert value(st, F1) == "0.9"
    assert cli_json(capsys, "params", "set", "Enable-A2I-Workflow", "OFF", *target) == {
        "target": f"stack at {st.parameter_path}", "name": "Enable-A2I-Workflow", "old": "true", "new": "false",
        "changed": True}
    assert value(st, "Enable-A2I-Workflow") == "false"
    code, out, _ = cli(capsys, "params", "set", F1, "0.90", *target)
    assert code == 0 and "already 0.9; nothing written" in out
    # Written as the stack created it: Parameter Store keeps refusing bad values written past the CLI.
    described = st.client("ssm").describe_parameters(
        ParameterFilters=[{"Key": "Name", "Values": [st.parameter_path + F1]}])["Parameters"][0]
    spec = st.engine.catalog[F1]
    assert (described["AllowedPattern"], described["Description"]) == (spec.allowed_pattern, spec.description)


@pytest.mark.parametrize("name, raw, message", [
    ("Nope", "1", "no parameter 'Nope' in the catalog"),
    ("Minimum-F1", "0.9", "did you mean Minimum-F1-Score?"),
    (F1, "abc", "Minimum-F1-Score: 'abc' is not allowed; expected a number from 0.0 to 1.0; nothing was written"),
    ("Human-Sampling-Interval", "1,000", "'1,000' is not allowed; expected a whole number from 1 to 1000000"),
    (F1, "1.5", "expected a number from 0.0 to 1.0"),
    ("Minimum-Inference-Units", "0", "expected a whole number from 1 to 64"),
    ("Enable-A2I-Workflow", "maybe", "expected true or false"),
    ("Maximum-Reviews-Per-Day", "5", "pass --stack-policies MODULE"),  # a team policy's, not loaded here
])
def test_params_set_refuses_before_writing(capsys, st, target, name, raw, message):
    before = {p["Name"]: (p["Value"], p["Version"])
              for p in st.client("ssm").get_parameters_by_path(Path=st.parameter_path)["Parameters"]}
    code, out, err = cli(capsys, "params", "set", name, raw, *target)
    assert code == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1
    after = {p["Name"]: (p["Value"], p["Version"])
             for p in st.client("ssm").get_parameters_by_path(Path=st.parameter_path)["Parameters"]}
    assert after == before


def test_team_policy_parameters_join_the_catalog(capsys, st, target, restore_parameters):
    code, out, _ = cli(capsys, "params", "set", "Maximum-Reviews-Per-Day", "25", *target,
                       "--stack-policies", "policies.review_budget")
    assert code == 0 and "Maximum-Reviews-Per-Day: (not set) → 25" in out
    code, _, err = cli(capsys, "params", "set", "Maximum-Reviews-Per-Day", "-1", *target,
                       "--stack-policies", "policies.review_budget")
    assert code == 2 and "expected a whole number from 0 to 1000000" in err


def test_params_diff_and_reset(capsys, st, target, restore_parameters):
    assert cli_json(capsys, "params", "diff", *target)["differences"] == []
    code, out, _ = cli(capsys, "params", "diff", *target)
    assert code == 0 and "Every parameter of" in out and "has its default value" in out
    restore_parameters.put_parameter(Name=st.parameter_path + "Human-Sampling-Interval", Value="50", Type="String",
                                     Overwrite=True)
    restore_parameters.put_parameter(Name=st.parameter_path + F1, Value="x", Type="String", Overwrite=True)
    diff = cli_json(capsys, "params", "diff", *target)["differences"]
    assert [(d["name"], d["value"], d["default"], d["state"]) for d in diff] == [
        ("Human-Sampling-Interval", "50", "1000", "ok"), (F1, "x", "0.8", "invalid")]
    assert cli_json(capsys, "params", "reset", F1, *target)["new"] == "0.8"
    code, out, _ = cli(capsys, "params", "reset", "Human-Sampling-Interval", *target)
    assert code == 0 and "Human-Sampling-Interval: 50 → 1000" in out
    assert value(st, F1) == "0.8" and value(st, "Human-Sampling-Interval") == "1000"
    code, _, err = cli(capsys, "params", "reset", "Nope", *target)
    assert code == 2 and "no parameter 'Nope'" in err


# -- targets ---------------------------------------------------------------------------------
def test_stack_names_come_from_pulumi_stack_outputs(capsys, st, tmp_path, monkeypatch):
    calls = fake_pulumi(tmp_path / "bin", monkeypatch, outputs(st))
    data = cli_json(capsys, "params", "list", "--stack", "dev")
    assert json.loads(calls.read_text().splitlines()[0]) == ["stack", "output", "--json", "--stack", "dev"]
    assert data["target"] == "stack dev" and data["parameter_path"] == st.parameter_path
    # The stack's policies come from its outputs: the team policy's parameter is in the catalog.
    assert "Maximum-Reviews-Per-Day" in {r["name"] for r in data["parameters"]}
    status = cli_json(capsys, "status", "--stack", "dev")
    assert status["model"]["active_version"] == loop().active_version


def test_explicit_names_win_over_stack_outputs(capsys, st, tmp_path, monkeypatch):
    fake_pulumi(tmp_path / "bin", monkeypatch, outputs(st) | {"parameterPath": "/labelloop/elsewhere/"})
    data = cli_json(capsys, "params", "list", "--stack", "dev", "--parameter-path", st.parameter_path)
    assert data["parameter_path"] == st.parameter_path
    assert next(r for r in data["parameters"] if r["name"] == F1)["value"] is not None


def test_a_failing_pulumi_is_named_with_the_fix(capsys, tmp_path, monkeypatch):
    fake_pulumi(tmp_path / "bin", monkeypatch, exit_code=255, stderr="error: no stack named 'prod' found\n")
    code, _, err = cli(capsys, "status", "--stack", "prod")
    assert code == 2
    assert "`pulumi stack output --json --stack prod` failed: error: no stack named 'prod' found" in err
    assert "pulumi stack ls" in err and "--parameter-path" in err


def test_a_stack_without_outputs_is_named(capsys, tmp_path, monkeypatch):
    fake_pulumi(tmp_path / "bin", monkeypatch, {})  # e.g. never deployed
    code, _, err = cli(capsys, "params", "list", "--stack", "dev")
    assert code == 2
    assert "no parameter path for stack 'dev': the outputs of stack 'dev' have no parameterPath; " \
           "pass --parameter-path /labelloop/dev/" in err
    code, _, err = cli(capsys, "status", "--stack", "dev")
    assert code == 2 and "the outputs of stack 'dev' have no tableName; pass --table labelloop-dev-state" in err


def test_a_failing_pulumi_does_not_matter_when_every_name_is_given(capsys, st, target, tmp_path, monkeypatch):
    fake_pulumi(tmp_path / "bin", monkeypatch, exit_code=255, stderr="error: no stack named 'dev' found\n")
    data = cli_json(capsys, "params", "list", "--stack", "dev", *target)
    assert data["target"] == "stack dev" and len(data["parameters"]) == len(st.engine.catalog)


def test_an_unknown_stack_policy_module_is_named(capsys, st, target):
    code, out, err = cli(capsys, "params", "list", *target, "--stack-policies", "team.nope")
    assert code == 2 and out == ""
    assert "policy module 'team.nope' cannot be imported" in err


def test_without_pulumi_the_error_names_the_options_to_pass(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no pulumi here
    code, _, err = cli(capsys, "params", "list", "--stack", "prod")
    assert code == 2
    assert "no parameter path for stack 'prod': the pulumi CLI is not on PATH" in err
    assert "pass --parameter-path /labelloop/prod/" in err
    code, _, err = cli(capsys, "train", "--stack", "prod", "--table", "labelloop-prod-state")
    assert code == 2 and "--lifecycle-arn arn:aws:states:REGION:ACCOUNT:stateMachine:labelloop-prod-lifecycle" in err


@pytest.mark.parametrize("argv", [["params", "list"], ["params", "set", F1, "0.9"], ["status"], ["train"],
                                  ["rollback", "--yes"], ["export"]])
def test_every_command_needs_a_target(capsys, argv, tmp_path, monkeypatch):
    fake_pulumi(tmp_path / "bin", monkeypatch, selected=None)  # no stack selected
    code, out, err = cli(capsys, *argv)
    assert code == 2 and out == ""
    assert err.strip() == "labelloop: error: no stack to talk to: pass --stack NAME (names read with `pulumi stack " \
                          "output`) or select one (`pulumi stack select NAME`), pass --parameter-path/--table/" \
                          "--lifecycle-arn, or --sandbox DIR (a run saved by `labelloop sandbox --out DIR`)"


def test_a_missing_name_names_its_option(capsys, st):
    code, _, err = cli(capsys, "status", "--parameter-path", st.parameter_path)
    assert code == 2 and "no state table given: pass --table" in err


def test_no_region_is_a_one_line_error(capsys, monkeypatch, tmp_path):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    code, _, err = cli(capsys, "params", "list", "--parameter-path", "/labelloop/x/")
    assert code == 2 and "no AWS region: set AWS_REGION" in err


def test_an_aws_failure_is_one_line_with_exit_1(capsys, st):
    code, _, err = cli(capsys, "status", "--parameter-path", st.parameter_path, "--table", "no-such-table")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "ResourceNotFoundException" in err and "check the target" in err


# -- status ------------------------------------------------------------------------------------
def test_status(capsys, st, target, restore_parameters):
    s3 = st.client("s3")
    st.models.trainer.by_key["images_for_detection/unsure.png"] = (("cat", 40.0), ("dog", 35.0))
    for key in ("images_for_detection/sure.png", "images_for_detection/unsure.png"):
        s3.put_object(Bucket=st.bucket, Key=key, Body=b"\x89PNG\r\n\x1a\n" + key.encode())
    st.pump()
    restore_parameters.put_parameter(Name=st.parameter_path + "Minimum-Untrained-Images", Value="ten",
                                     Type="String", Overwrite=True)
    state = loop()
    data = cli_json(capsys, "status", *target)
    assert set(data) == {"target", "as_of", "model", "training", "last_training_decision", "last_trained_at",
                         "open_reviews", "pending_detections", "pending_copies", "reviewers", "days", "labels",
                         "parameters", "stuck", "serving", "cost"}
    assert data["pending_copies"] == 0
    assert data["model"]["active_version"] == state.active_version and data["model"]["active_f1"] == 0.9
    assert data["training"] == {"in_progress": False, "version": None, "started_at": None, "owner": None}
    assert data["last_training_decision"]["reason"] == state.last_training_decision["reason"]
    today = data["days"][-1]
    assert today["day"] == datetime.now(timezone.utc).strftime("%Y-%m-%d")
    assert today["counts"]["outcome_confident"] >= 1 and today["counts"]["reviews_started_training"] >= 1
    assert data["open_reviews"] == state.open_reviews >= 1
    assert {r["label"]: r["images"] for r in data["labels"]}["cat"] >= 6
    assert data["parameters"]["problems"] == [{
        "name": "Minimum-Untrained-Images", "value": "ten", "state": "invalid",
        "problem": "Minimum-Untrained-Images: 'ten' is not allowed; expected a whole number from 1 to 1000000; "
                   "the functions use the last good value (or the default)"}]

    code, out, _ = cli(capsys, "status", *target)
    assert code == 0
    assert f"active         {state.active_version} (F1 0.900)" in out
    assert "training       none in progress" in out
    assert f"open reviews            {state.open_reviews}" in out
    assert "! Minimum-Untrained-Images = ten" in out
    detected = next(x for x in out.splitlines() if x.startswith("images detected"))
    assert int(detected.split()[-1]) == today["detections"]


# -- train and rollback ----------------------------------------------------------------------------
def test_train_shows_a_no_training_decision(capsys, st, target, monkeypatch):
    monkeypatch.setattr(train_cmd, "POLL_SECONDS", 0.02)
    data = cli_json(capsys, "train", *target)
    assert data["status"] == "SUCCEEDED" and data["check"]["train"] is False
    assert data["check"]["trigger"] == "manual" and data["outcome"] is None
    assert "new labelled images since the last training; Minimum-Untrained-Images is 10" in data["check"]["reason"]
    code, out, _ = cli(capsys, "train", *target)
    assert code == 0 and "decision   no training: " in out and "decided by policies.defaults" in out


def test_train_then_rollback(capsys, st, target, monkeypatch):
    monkeypatch.setattr(train_cmd, "POLL_SECONDS", 0.02)
    before = loop().active_version
    seed(st, {"cat": 6, "dog": 6}, start=100)
    code, out, err = cli(capsys, "train", "--wait", *target)
    assert code == 0, err
    assert "Training check started: arn:aws:states:" in err
    trained = loop().active_version
    assert trained != before
    assert f"decision   train {trained}: 12 new labelled images since the last training" in out
    assert f"outcome    deployed {trained}: F1 0.900 meets Minimum-F1-Score 0.8" in out

    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # nobody to answer
    code, _, err = cli(capsys, "rollback", *target)
    assert code == 2 and "needs a confirmation and there is no one to answer: pass --yes" in err

    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    code, _, err = cli(capsys, "rollback", *target)
    assert code == 1 and f"from {trained} (F1 0.900) to {before} (F1 0.900)?" in err and "nothing was started" in err
    assert loop().active_version == trained

    monkeypatch.setattr("sys.stdin", io.StringIO("yes\n"))
    code, out, _ = cli(capsys, "rollback", *target)
    assert code == 0 and f"outcome    rolled_back {before}: operator rollback from {trained}" in out
    assert loop().active_version == before

    data = cli_json(capsys, "rollback", "--yes", *target)
    assert (data["from_version"], data["to_version"], data["outcome"]["outcome"]) == (before, trained, "rolled_back")
    assert loop().active_version == trained


def test_a_failed_run_exits_1_and_says_why(capsys, st, target, monkeypatch):
    monkeypatch.setattr(train_cmd, "POLL_SECONDS", 0.02)
    failing = f"v{loop().versions + 1}"
    st.models.trainer.script(failing, training=st.models.TRAINING_FAILS)
    seed(st, {"cat": 6, "dog": 6}, start=200)
    active = loop().active_version
    data = cli_json_code(capsys, 1, "train", "--wait", *target)
    assert data["check"]["train"] is True and data["check"]["version"] == failing
    assert data["status"] == "FAILED" and data["outcome"]["outcome"] == "failed"
    assert "TRAINING_FAILED" in data["outcome"]["reason"]
    assert loop().active_version == active  # nothing changed for the detections
    assert loop().training_owner is None  # the lock is released


def test_rollback_without_a_previous_version_starts_nothing(capsys, st, target):
    state = loop()
    state_support.set_loop(previous_version="", previous_arn="")
    sfn = st.client("stepfunctions")
    started = len(sfn.list_executions(stateMachineArn=st.state_machines["lifecycle"])["executions"])
    try:
        code, _, err = cli(capsys, "rollback", "--yes", *target)
    finally:
        state_support.set_loop(previous_version=state.previous_version or "", previous_arn=state.previous_arn or "")
    assert code == 2 and "nothing to roll back to" in err and f"(active: {state.active_version})" in err
    assert len(sfn.list_executions(stateMachineArn=st.state_machines["lifecycle"])["executions"]) == started


# -- export ----------------------------------------------------------------------------------------
def test_export_writes_every_detection_as_json_lines(capsys, st, target, tmp_path):
    st.client("s3").put_object(Bucket=st.bucket, Key="images_for_detection/export.png", Body=b"\x89PNG\r\n\x1a\nexp")
    st.pump()
    out_file = tmp_path / "detections.jsonl"
    summary = cli_json(capsys, "export", "--table", st.table, "--out", out_file)
    records = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert summary == {"target": f"stack at {st.table}", "out": str(out_file), "detections": len(records),
                       "with_true_label": 0}
    assert len(records) == sum(1 for _ in context.table().detections())
    assert [r["detected_at"] for r in records] == sorted(r["detected_at"] for r in records)
    record = next(r for r in records if r["image_uri"].endswith("/export.png"))
    assert set(record) == {"detection_id", "image_uri", "detected_at", "model_version", "labels",
                           "outcome", "reason", "decision", "human_loop", "review_status", "human_label",
                           "true_label"}
    assert record["labels"] == [{"name": "cat", "confidence": 95.0}, {"name": "dog", "confidence": 5.0}]
    assert record["decision"]["review"] is False and record["true_label"] is None
    code, out, _ = cli(capsys, "export", *target)
    assert code == 0 and [json.loads(x) for x in out.splitlines()] == records

    # The stack's own detections replay through its current parameters.
    result = cli_json(capsys, "backtest", "--policies", "", *target)
    assert result["source"]["kind"] == "target" and result["replayed"] == len(records)
    defaults = next(c for c in result["columns"] if c["name"] == "policies.defaults")
    assert defaults["reviews"] == sum(1 for r in records if r["decision"]["review"])
