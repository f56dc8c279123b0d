"""`labelloop doctor` and `labelloop smoke` against saved sandbox runs: both pass on a fresh run and
fail clearly on a broken one."""

from __future__ import annotations

import json
import re

from cli_support import cli, cli_json_code

from sandbox.saved import load_state, write_state


def statuses(data: dict) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for row in data["checks"]:
        found.setdefault(row["check"], set()).add(row["status"])
    return found


def test_a_fresh_sandbox_run_passes_the_checks_that_apply_there(capsys, saved_run):
    data = cli_json_code(capsys, 0, "doctor", "--sandbox", saved_run)
    found = statuses(data)
    assert found == {"region": {"ok"}, "parameters": {"ok"}, "model": {"ok"}, "permissions": {"skip"},
                     "quotas": {"skip"}, "reviewer-email": {"skip"}, "a2i": {"skip"}, "functions": {"skip"},
                     "rules": {"skip"}, "idle-model": {"skip"}}


def test_a_broken_sandbox_run_fails_clearly(capsys, run_copy):
    state = load_state(run_copy)
    state["parameters"]["Minimum-F1-Score"] = "very high"
    loop = next(i for i in state["items"] if (i["pk"], i["sk"]) == ("LOOP", "STATE"))
    loop["active_version"] = "v99"
    write_state(run_copy, state)
    code, out, _ = cli(capsys, "doctor", "--sandbox", run_copy)
    assert code == 1
    assert "FAIL  parameters      Minimum-F1-Score = 'very high' is not allowed" in out
    assert "FAIL  model           the active model v99 is not a version of the stack's project" in out
    # What still runs is not the active model: it bills without serving.
    assert re.search(r"FAIL  model           v\d+ run\(s\) without serving \(\$4\.00 an hour\)", out)
    assert out.splitlines()[-1] == "1 ok, 0 warning(s), 3 failed, 7 skipped"
    assert json.loads(cli(capsys, "doctor", "--sandbox", run_copy, "--json")[1])["fail"] == 3
