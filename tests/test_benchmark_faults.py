"""The fault benchmark runs at a small size and ends with its SUMMARY line."""

import importlib.util
import re
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "faults.py"
SUMMARY = re.compile(r"SUMMARY uploads=(\d+) deliveries=(\d+) faulted_calls=(\d+) lost=(\d+) duplicated=(\d+) "
                     r"failed=(\d+) stuck=(\d+) stray_models=(\d+)")


def test_benchmark_prints_a_table_per_class_and_the_summary(capsys):
    spec = importlib.util.spec_from_file_location("benchmark_faults", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    status = module.main(["--uploads", "12", "--seed", "1", "--fault-rate", "0.05"])
    lines = capsys.readouterr().out.strip().splitlines()
    summary = SUMMARY.fullmatch(lines[-1])
    assert summary, lines[-1]
    uploads, deliveries, faulted, *classes = map(int, summary.groups())
    assert uploads == 12 and uploads <= deliveries <= 3 * uploads and faulted > 0
    assert status == (1 if any(classes) else 0)
    for cls in ("lost", "duplicated", "failed", "stuck", "stray_models"):
        assert any(line.startswith(f"{cls}: ") for line in lines), cls
    assert any(line.startswith("calls faulted by kind") for line in lines)
