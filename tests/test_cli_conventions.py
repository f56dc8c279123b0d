"""The command line in the conventions people know: --version, help everywhere, exit codes, JSON errors,
the Pulumi CLI's stack selection and aws:region, the AWS CLI's --region/--profile and variables, and
policy modules found next to the user's own files."""

from __future__ import annotations

import json

import pytest
from cli_support import cli, fake_pulumi

from cli.aws_target import aws_target
from cli.main import build_parser, main

NAMES = {"parameter_path": "/labelloop/dev/", "table": "labelloop-dev-state",
         "lifecycle_arn": "arn:aws:states:eu-west-1:1:stateMachine:labelloop-dev-lifecycle"}


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith("labelloop ")


def test_a_bare_command_prints_its_help(capsys):
    code, out, err = cli(capsys)
    assert code == 0 and err == "" and out.startswith("usage: labelloop") and "versions" in out
    assert "exit codes: 0 done, 1 what was asked failed, 2 a usage error" in out
    code, out, _ = cli(capsys, "params")
    assert code == 0 and out.startswith("usage: labelloop params") and "reset" in out


def commands() -> list[list[str]]:
    parser = build_parser()
    top = next(a for a in parser._actions if a.dest == "command").choices
    found = []
    for name, command in top.items():
        found.append([name])
        actions = [a for a in command._actions if a.dest == "params_command"]
        found += [[name, action] for action in (actions[0].choices if actions else ())]
    return found


@pytest.mark.parametrize("argv", commands(), ids=" ".join)
def test_every_command_has_help(capsys, argv):
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0 and out.startswith(f"usage: labelloop {' '.join(argv)}")
    assert "exit codes" in out


def test_a_usage_error_exits_2_in_one_line(capsys):
    code, out, err = cli(capsys, "status", "--bogus")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "unrecognized arguments: --bogus" in err and "see `labelloop status --help`" in err


@pytest.mark.parametrize("argv, meant", [(["stauts"], "status"), (["params", "lst"], "list"),
                                         (["sandbox", "--review", "a2"], "a2i")])
def test_a_mistyped_command_action_or_choice_names_the_closest(capsys, argv, meant):
    code, out, err = cli(capsys, *argv)
    assert code == 2 and out == ""
    assert f"invalid choice: {argv[-1]!r}; did you mean {meant!r}?" in err
    code, _, err = cli(capsys, "zzzz")
    assert code == 2 and "did you mean" not in err and "choose from 'sandbox'" in err


@pytest.mark.parametrize("given, version", [("3", "v3"), (" 12 ", "v12"), ("v3", "v3"), ("candidate", "candidate")])
def test_a_version_is_named_by_its_number_or_its_name(given, version):
    assert build_parser().parse_args(["rollback", "--to", given]).to == version


def test_errors_under_json_are_json_on_stderr(capsys):
    code, out, err = cli(capsys, "policies", "--policies", "team.nope", "--json")
    assert code == 2 and out == ""
    error = json.loads(err)["error"]
    assert error["exit_code"] == 2 and "policy module 'team.nope' cannot be imported" in error["message"]
    code, _, err = cli(capsys, "status", "--bogus", "--json")
    assert code == 2 and "unrecognized arguments" in json.loads(err)["error"]["message"]


def region_of(target) -> str:
    return target.client("ssm").meta.region_name


@pytest.fixture
def no_aws_environment(monkeypatch, tmp_path):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))


def test_the_region_comes_from_the_option_the_stack_or_the_environment(tmp_path, monkeypatch, no_aws_environment):
    fake_pulumi(tmp_path / "bin", monkeypatch, {}, config={"aws:region": "eu-west-1"})
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    assert region_of(aws_target("dev", NAMES, ())) == "eu-west-1"  # the stack's aws:region, as Pulumi deploys it
    assert region_of(aws_target("dev", NAMES, (), region="ap-northeast-1")) == "ap-northeast-1"
    assert region_of(aws_target(None, NAMES, ())) == "us-west-2"  # AWS_REGION, which boto3 alone ignores
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    assert region_of(aws_target(None, NAMES, ())) == "eu-central-1"


def test_the_profile_comes_from_the_option_or_the_stack(tmp_path, monkeypatch, no_aws_environment):
    config = tmp_path / "config"
    config.write_text("[profile ops]\nregion = sa-east-1\n[profile stackops]\nregion = eu-north-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    fake_pulumi(tmp_path / "bin", monkeypatch, {}, config={"aws:profile": "stackops"})
    assert region_of(aws_target(None, NAMES, (), profile="ops")) == "sa-east-1"
    assert region_of(aws_target("dev", NAMES, ())) == "eu-north-1"
    monkeypatch.setenv("AWS_PROFILE", "ops")
    assert region_of(aws_target(None, NAMES, ())) == "sa-east-1"


def test_the_selected_pulumi_stack_is_the_default_target(capsys, tmp_path, monkeypatch, no_aws_environment):
    calls = fake_pulumi(tmp_path / "bin", monkeypatch, {}, selected="dev")
    code, _, err = cli(capsys, "params", "list")
    assert code == 2 and "no parameter path for stack 'dev'" in err  # dev's (empty) outputs were read
    assert ["stack", "output", "--json", "--stack", "dev"] in [json.loads(c) for c in calls.read_text().splitlines()]


def test_an_unknown_policy_module_in_the_environment_stops_the_sandbox(capsys, monkeypatch):
    monkeypatch.setenv("LABELLOOP_POLICIES", "policies.nope")
    code, out, err = cli(capsys, "sandbox", "--no-report")
    assert code == 2 and "policy module 'policies.nope' cannot be imported" in err
    assert "searched " in err and "labelloop" not in out


def test_a_policy_module_next_to_the_users_files_loads(capsys, tmp_path, monkeypatch):
    team = tmp_path / "team"
    team.mkdir()
    (team / "acme_first.py").write_text("from plugins import ParameterSpec, hookimpl\n\n\n@hookimpl\n"
                                        "def labelloop_parameters():\n"
                                        "    return [ParameterSpec('Acme-First', 'int', 3, 'A team value.', 1, 9)]\n")
    code, _, err = cli(capsys, "policies", "--policies", "acme_first")
    assert code == 2 and f"searched {tmp_path}" not in err and "put the module in one of these folders" in err
    code, out, _ = cli(capsys, "policies", "--policies", "acme_first", "--policy-path", team)
    assert code == 0 and "Acme-First" in out
    monkeypatch.chdir(team)
    code, out, _ = cli(capsys, "policies", "--policies", "acme_first")
    assert code == 0 and "Acme-First" in out


def test_policies_prints_the_asking_order_throughout(capsys):
    code, out, _ = cli(capsys, "policies", "--policies", "policies.uncertainty,policies.review_budget")
    assert code == 0
    assert "policies.review_budget → policies.uncertainty → policies.defaults" in out
    owners = [line.split()[-1] for line in out.splitlines()[4:] if line.strip()]
    assert owners == sorted(owners, key=["policies.review_budget", "policies.uncertainty",
                                         "policies.defaults"].index)
    assert owners[0] == "policies.review_budget" and owners[-1] == "policies.defaults"


def test_the_sandbox_says_when_it_replaces_the_last_report(capsys, tmp_path, monkeypatch):
    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("sandbox.runner.run", stop)
    code, out, _ = cli(capsys, "sandbox", "--out", tmp_path)
    assert code == 130 and "replaces the last report" not in out
    (tmp_path / "state.json").write_text("{}")
    code, out, _ = cli(capsys, "sandbox", "--out", tmp_path)
    assert code == 130 and f"This run replaces the last report in {tmp_path}/ (pass --out DIR to keep it)." in out
