"""A sandbox run shows what went wrong: detections a broken policy failed, and a loop that is stuck."""

from __future__ import annotations

import io
import json

from cli_support import cli
from rich.console import Console

from sandbox.console import SandboxConsole
from sandbox.report import summary_lines
from sandbox.runner import SandboxOptions, run

SMALL = dict(images=150, rounds=1, holdout=60, seed_per_label=12, out=None)
BROKEN = "from plugins import hookimpl\n\n\n@hookimpl\ndef review_decision(detection, settings):\n    return 1 / 0\n"


def test_a_broken_policy_shows_in_the_table_and_the_summary(tmp_path, monkeypatch):
    (tmp_path / "broken_policy.py").write_text(BROKEN)
    monkeypatch.syspath_prepend(str(tmp_path))
    result = run(SandboxOptions(policies=("broken_policy",), **SMALL))
    streamed = result.rows[1].uploaded
    assert result.rows[1].failed == streamed > 0 and result.rows[1].detected == 0
    [line] = [line for line in summary_lines(result) if line.startswith("!")]
    assert line.startswith(f"! {streamed} detections failed after their retries ({streamed}: ")
    assert "policy 'broken_policy' failed in review_decision: ZeroDivisionError" in line
    out = io.StringIO()
    console = SandboxConsole(Console(file=out, force_terminal=False))
    console.rows = result.rows
    console.finish(result)
    header = next(line for line in out.getvalue().splitlines() if "Failed" in line)
    assert header.index("Failed") > header.index("Detected")


def test_a_stuck_loop_is_named_in_the_summary():
    result = run(SandboxOptions(parameters={"Minimum-F1-Score": "0.99"}, **SMALL))
    stuck = [line for line in summary_lines(result) if line.startswith("! Stuck:")]
    assert len(stuck) == 1 and "no version was ever deployed" in stuck[0]
    assert "Fix: labelloop params set Minimum-F1-Score 0." in stuck[0]


def test_backtest_of_a_broken_policy_is_one_clear_line(capsys, tmp_path):
    (tmp_path / "broken_policy.py").write_text(BROKEN)
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps({"detection_id": "d-1", "detected_at": "2026-01-01T00:00:00Z",
                                  "labels": [{"name": "cat", "confidence": 60.0}]}) + "\n")
    code, out, err = cli(capsys, "backtest", "--events", events, "--policies", "broken_policy",
                         "--policy-path", tmp_path)
    assert code == 1 and out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith("labelloop: error: policy 'broken_policy' failed in review_decision: ZeroDivisionError")
    assert "(replaying detection d-1 through broken_policy)" in err
