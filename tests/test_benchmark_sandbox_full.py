"""The full-sandbox benchmark on a small run: its table and SUMMARY line, its targets met, and an
exit status of 1 when the run misses its wall-time target."""

import importlib.util
import re
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the script runs a sandbox run

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "sandbox_full.py"
SUMMARY = re.compile(r"SUMMARY images=(\d+) detected=(\d+) wall_s=([\d.]+) images_per_s=([\d.]+) peak_mb=(\d+) "
                     r"versions=(\d+) deployed=(\d+) f1_first=([\d.]+) f1_final=([\d.]+)")


def test_a_small_run_meets_its_targets_and_misses_an_impossible_one(capsys, monkeypatch):
    spec = importlib.util.spec_from_file_location("benchmark_sandbox_full", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    finished = module.run(module.SandboxOptions(images=260, rounds=1, out=None))  # one real run, judged twice

    def the_run(options, seconds: float):
        assert (options.images, options.rounds) == (260, 1)
        time.sleep(seconds)
        return finished

    monkeypatch.setattr(module, "run", lambda options: the_run(options, 0.0))
    assert module.main(["--images", "260", "--rounds", "1", "--target-seconds", "600"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = SUMMARY.fullmatch(lines[-1])
    assert summary, lines[-1]
    images, detected, wall, _, _, versions, deployed, first, final = summary.groups()
    assert (images, versions, deployed) == ("260", "2", "2") and int(detected) > 0
    assert float(final) > 0.5 and float(first) > 0.5 and lines[-2] == "targets met"
    # The same run, taking longer than its target: the exit status says it missed.
    monkeypatch.setattr(module, "run", lambda options: the_run(options, 0.6))
    assert module.main(["--images", "260", "--rounds", "1", "--target-seconds", "0.5"]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert re.fullmatch(r"target missed: [\d.]+ s is not under 0.5 s", lines[-2])
