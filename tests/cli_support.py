"""Helpers of the operator command tests: running `labelloop` in process, the options of the small
saved sandbox run every test worker shares (the ``saved_run`` fixture, in conftest.py), and a fake
`pulumi` CLI."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

from cli.main import main

# A small run: 120 seed images, 100 streamed in two rounds, audit sampling on so audits are recorded too.
SANDBOX_OPTIONS = dict(images=280, rounds=2, holdout=60, seed_per_label=12,
                       parameters={"Minimum-F1-Score": "0.5", "Enable-Automatic-Human-Sampling": "true",
                                   "Human-Sampling-Interval": "10"})


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Run `labelloop ARGV…` in process, on a 150-column terminal: (exit code, stdout, stderr)."""
    capsys.readouterr()
    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "150"
    try:
        code = main([str(a) for a in argv])
    finally:
        if saved is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = saved
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def cli_json(capsys, *argv: str):
    code, out, err = cli(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def cli_json_code(capsys, expected_code: int, *argv: str):
    code, out, err = cli(capsys, *argv, "--json")
    assert code == expected_code, err
    return json.loads(out)


def statuses(doctor: dict) -> dict[str, set[str]]:
    """`labelloop doctor --json`'s findings: each check's statuses."""
    found: dict[str, set[str]] = {}
    for row in doctor["checks"]:
        found.setdefault(row["check"], set()).add(row["status"])
    return found


def fake_pulumi(folder: Path, monkeypatch, outputs: dict | None = None, *, exit_code: int = 0,
                stderr: str = "", config: dict | None = None, selected: str | None = None) -> Path:
    """Put a `pulumi` on PATH that prints ``outputs`` as `pulumi stack output --json` does, ``config`` (key ->
    value) as `pulumi config --json` does, and ``selected`` as `pulumi stack --show-name` does (failing when
    None, as with no stack selected); it logs its arguments."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "pulumi"
    shown = {key: {"value": value, "secret": False} for key, value in (config or {}).items()}
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"open({str(folder / 'calls.log')!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
        "if sys.argv[1:2] == ['config']:\n"
        f"    print(json.dumps({shown!r})); sys.exit(0)\n"
        "if sys.argv[1:3] == ['stack', '--show-name']:\n"
        f"    print({selected or ''!r}); sys.exit({0 if selected else 255})\n"
        f"sys.stderr.write({stderr!r})\n"
        f"print(json.dumps({outputs or {}!r}))\n"
        f"sys.exit({exit_code})\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(folder))
    return folder / "calls.log"
