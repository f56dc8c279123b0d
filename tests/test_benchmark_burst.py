"""The burst benchmark on a small burst: every upload detected near the capacity floor with nothing
failed, where the loop before admission fails most of them; it exits 1 when admission does not hold."""

import importlib.util
import re
from pathlib import Path

import pytest

from handlers import admission

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "burst.py"
SUMMARY = re.compile(r"SUMMARY uploads=(\d+) detected=(\d+) failed=(\d+) drain_over_floor=([\d.]+) "
                     r"calls_per_image=([\d.]+) conflicts=(\d+)")
SMALL = ["--uploads", "400", "--units", "1", "--workers", "1"]  # enough that per-run calls weigh little

pytestmark = pytest.mark.slow


def load():
    spec = importlib.util.spec_from_file_location("benchmark_burst", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rows(lines: list[str]) -> dict[str, list[str]]:
    return {line[:18].strip(): line[18:].split() for line in lines if line.startswith(("admission", "before"))}


def test_a_burst_is_detected_at_capacity_with_nothing_failed_where_the_loop_before_failed(capsys):
    status = load().main(SMALL)
    lines = capsys.readouterr().out.strip().splitlines()
    summary = SUMMARY.fullmatch(lines[-1])
    assert summary, lines[-1]
    uploads, detected, failed, over, calls, _ = summary.groups()
    assert (uploads, detected, failed) == ("400", "400", "0")
    assert 1.0 <= float(over) <= 1.2 and float(calls) <= 5
    found = rows(lines)
    units, now_detected, now_failed, pending_peak = found["admission"][:4]
    assert (units, now_detected, now_failed) == ("1", "400", "0") and int(pending_peak) > 300  # most waited
    _, before_detected, before_failed = found["before admission"][:3]
    assert int(before_failed) > 200 and int(before_detected) + int(before_failed) == 400
    assert status == 0 and lines[-2] == "targets met"


def test_it_exits_1_when_a_refused_image_is_not_admitted(capsys, monkeypatch):
    monkeypatch.setattr(admission, "SATURATED", frozenset())  # a refusal for throughput fails, as before
    status = load().main([*SMALL, "--no-before"])
    lines = capsys.readouterr().out.strip().splitlines()
    failed = int(SUMMARY.fullmatch(lines[-1]).group(3))
    assert status == 1 and failed > 0
    assert any(line.startswith(f"target missed: {failed} detection(s) failed on 1 unit(s)") for line in lines)
