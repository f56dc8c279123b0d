import json

from cli.main import main


def test_policies_lists_order_and_parameters(capsys):
    assert main(["policies", "--policies", "policies.review_budget"]) == 0
    out = capsys.readouterr().out
    assert "policies.review_budget → policies.defaults" in out
    assert "Maximum-Reviews-Per-Day" in out and "Minimum-F1-Score" in out


def test_policies_json(capsys):
    assert main(["policies", "--policies", "", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["policies"] == ["policies.defaults"]
    assert {"name": "Minimum-F1-Score", "default": "0.8", "allowed": "a number from 0.0 to 1.0",
            "policy": "policies.defaults"} in data["parameters"]


def test_policies_load_error_is_a_clear_message(capsys):
    assert main(["policies", "--policies", "team.nope"]) == 2
    assert "labelloop: error: policy module 'team.nope' cannot be imported" in capsys.readouterr().err
