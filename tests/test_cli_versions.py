"""`labelloop versions` and `labelloop rollback --to VERSION`, on a saved sandbox run."""

from __future__ import annotations

import io
import json

from cli_support import cli, cli_json

from cli.versions_cmd import render


def test_versions_lists_every_version_with_its_f1_per_label(capsys, saved_run):
    data = cli_json(capsys, "versions", "--sandbox", saved_run)
    versions = data["versions"]
    assert [v["version"] for v in versions] == [f"v{n}" for n in range(1, len(versions) + 1)] and len(versions) >= 3
    [serving] = [v for v in versions if v["serving"]]
    assert serving["version"] == data["active_version"] and serving["running"] and serving["deployed_at"]
    assert all(not v["running"] for v in versions if not v["serving"])
    assert all(0 < v["f1"] <= 1 and len(v["per_label_f1"]) == 10 for v in versions)
    code, out, _ = cli(capsys, "versions", "--sandbox", saved_run)
    lines = out.splitlines()
    assert code == 0 and lines[2].split()[:3] == ["version", "F1", "status"] and "cost" not in lines[2]
    assert any(line.startswith(f"{serving['version']} *") for line in lines)
    assert "F1 per label" in out and "digit-9" in out


def test_a_cost_column_appears_only_with_costs():
    row = {"version": "v1", "f1": 0.9, "per_label_f1": {}, "status": "RUNNING", "running": True, "serving": True,
           "deployed": True, "reason": "F1 0.900 meets Minimum-F1-Score 0.8", "trained_at": None,
           "deployed_at": None, "stopped_at": None}
    assert " cost " not in render({"target": "t", "versions": [row]})[2]
    assert " cost " in render({"target": "t", "versions": [row | {"cost": 4.2}]})[2]


def test_rollback_to_a_chosen_version_shows_both_f1s_first(capsys, run_copy, monkeypatch):
    versions = {v["version"]: v for v in cli_json(capsys, "versions", "--sandbox", run_copy)["versions"]}
    active = next(v for v, row in versions.items() if row["serving"])
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    code, _, err = cli(capsys, "rollback", "--to", "v1", "--sandbox", run_copy)
    assert code == 1 and "nothing was started" in err
    assert f"from {active} (F1 {versions[active]['f1']:.3f}) to v1 (F1 {versions['v1']['f1']:.3f})?" in err
    code, _, err = cli(capsys, "rollback", "--to", "v9", "--yes", "--sandbox", run_copy)
    assert code == 2 and "no version v9" in err
    code, _, err = cli(capsys, "rollback", "--to", active, "--yes", "--sandbox", run_copy)
    assert code == 2 and "is the active version" in err
    result = cli_json(capsys, "rollback", "--to", "v1", "--yes", "--sandbox", run_copy)
    assert result["to_version"] == "v1" and result["outcome"]["outcome"] == "rolled_back"
    after = cli_json(capsys, "versions", "--sandbox", run_copy)
    assert after["active_version"] == "v1"
    assert json.loads(json.dumps(after))["versions"][0]["serving"]
