"""A policy author's way from docs/writing-policies.md to a tested policy running in the sandbox: the
policy's own tests run with pytest in its folder, no PYTHONPATH set; a sandbox run made with
``--policy-path`` keeps it, so later commands on the run find the module without it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cli_support import cli, cli_json

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "acme-policy"


MODULE = "team_min_per_label"  # the guide's example under a name of its own (the tests' path has the example's)


def a_policy_folder(tmp_path: Path) -> Path:
    """The guide's example where a team keeps its own policy: the module and its tests."""
    folder = tmp_path / "team"
    (folder / "tests").mkdir(parents=True)
    for source in (EXAMPLE / "acme_min_per_label.py", *EXAMPLE.glob("tests/test_*.py")):
        target = folder / source.relative_to(EXAMPLE)
        target.with_name(target.name.replace("acme_min_per_label", MODULE)).write_text(
            source.read_text().replace("acme_min_per_label", MODULE))
    return folder


def pytest_in(folder: Path, *options: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    pytest = Path(sys.executable).with_name("pytest")  # the command the guide runs, not `python -m pytest`
    return subprocess.run([str(pytest), "-q", "-p", "no:cacheprovider", *options, "tests"], cwd=folder, env=env,
                          capture_output=True, text=True)


def test_a_policys_own_tests_run_in_its_folder_without_pythonpath(tmp_path):
    folder = a_policy_folder(tmp_path)
    done = pytest_in(folder)
    assert done.returncode == 0, done.stdout + done.stderr
    assert " passed" in done.stdout and "failed" not in done.stdout
    without = pytest_in(folder, "-p", "no:labelloop")  # labelloop's pytest plugin is what finds the module
    assert without.returncode != 0 and f"No module named '{MODULE}'" in without.stdout


def test_a_run_made_with_a_policy_path_keeps_it(capsys, tmp_path, monkeypatch):
    folder, out = a_policy_folder(tmp_path), tmp_path / "run"
    monkeypatch.chdir(tmp_path)  # the module is not in the current directory
    code, _, err = cli(capsys, "sandbox", "--policies", MODULE, "--policy-path", folder,
                       "--start-per-label", "3", "--images", "120", "--rounds", "1", "--out", out)
    assert code == 0, err
    for _ in range(2):  # each command imports the module afresh, from the folder the run keeps
        sys.modules.pop(MODULE, None)
        listed = cli_json(capsys, "params", "list", "--sandbox", out)["parameters"]
        assert "Acme-Minimum-Images-Per-Label" in {p["name"] for p in listed}
    sys.modules.pop(MODULE, None)
    assert cli_json(capsys, "status", "--sandbox", out)["last_training_decision"]["policy"] == MODULE
    sys.modules.pop(MODULE, None)
