"""The serving cost benchmark runs a tiny bursty day and ends with its SUMMARY line."""

import importlib.util
import re

import pytest
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "serving_cost.py"
SUMMARY = re.compile(r"SUMMARY trace=bursty always_on_iu_h=([\d.]+) on_demand_iu_h=([\d.]+) ratio=([\d.]+) "
                     r"lost=(\d+) p95_added_wait_min=([\d.]+)")


def test_benchmark_compares_always_on_with_on_demand_and_prints_the_summary(capsys, tmp_path):
    spec = importlib.util.spec_from_file_location("benchmark_serving_cost", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    status = module.main(["--images", "10", "--minutes", "120", "--traces", "bursty", "--out", str(tmp_path)])
    lines = capsys.readouterr().out.strip().splitlines()
    summary = SUMMARY.fullmatch(lines[-1])
    assert summary, lines[-1]
    always, on_demand, ratio, lost, p95 = summary.groups()
    assert float(always) == 3.0  # 120 minutes of the day and the hour after it, running all along
    assert 0 < float(on_demand) < float(always) and float(ratio) == pytest.approx(float(on_demand) / float(always), abs=0.002)
    assert lost == "0" and 0 <= float(p95) <= 10 + 5 + 1  # at most a start, and the schedule that sees it running
    assert status == (0 if float(ratio) <= 0.25 else 1)
    assert (tmp_path / "report.md").exists() and (tmp_path / "units_running.png").stat().st_size > 0
