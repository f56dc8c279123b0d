"""Helpers of the operator command tests: running `labelloop` in process, a small
saved sandbox run shared by every test worker, and a fake `pulumi` CLI."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import stat
import sys
from pathlib import Path

import pytest

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


@pytest.fixture(scope="session")
def saved_run(tmp_path_factory) -> Path:
    """One saved sandbox run for the whole test session, built once however many workers ask for it.

    Read it only (commands that read open a snapshot of it); tests that change a run use ``run_copy``."""
    from sandbox.runner import SandboxOptions, run

    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker's base is <session temp>/popen-gwN: their parent belongs to this test run.
    root = base.parent / "cli-sandbox" if os.environ.get("PYTEST_XDIST_WORKER") else base / "cli-sandbox"
    root.mkdir(exist_ok=True)
    folder = root / "run"
    with open(root / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "state.json").is_file():
            run(SandboxOptions(out=root / "building", **SANDBOX_OPTIONS))
            (root / "building").rename(folder)
    return folder


@pytest.fixture
def run_copy(saved_run, tmp_path) -> Path:
    """A copy of the saved run that a test may change."""
    copy = tmp_path / "run"
    shutil.copytree(saved_run, copy, ignore=shutil.ignore_patterns("*.png", "*.md"))
    return copy


def fake_pulumi(folder: Path, monkeypatch, outputs: dict | None = None, *, exit_code: int = 0,
                stderr: str = "") -> Path:
    """Put a `pulumi` on PATH that prints ``outputs`` as `pulumi stack output --json` does (and logs its arguments)."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "pulumi"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"open({str(folder / 'calls.log')!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
        f"sys.stderr.write({stderr!r})\n"
        f"print(json.dumps({outputs or {}!r}))\n"
        f"sys.exit({exit_code})\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(folder))
    return folder / "calls.log"
