"""The fault benchmark runs at a small size, ends with its SUMMARY line, finds nothing lost,
duplicated, failed, stuck or left running, and exits 1 when it finds something."""

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
    assert classes == [0, 0, 0, 0, 0] and status == 0  # the claim: faults lose nothing and leave nothing behind
    for cls in ("lost", "duplicated", "failed", "stuck", "stray_models"):
        assert any(line.startswith(f"{cls}: ") for line in lines), cls
    assert any(line.startswith("calls faulted by kind") for line in lines)


def test_benchmark_exits_1_when_the_run_finds_something(capsys, monkeypatch):
    spec = importlib.util.spec_from_file_location("benchmark_faults", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    real = module.fault_run.run

    def losing(**options):
        report = real(**options)
        report.findings.append(module.fault_run.Finding("lost", "upload without a record: made up"))
        return report

    monkeypatch.setattr(module.fault_run, "run", losing)
    assert module.main(["--uploads", "4", "--seed", "1", "--fault-rate", "0"]) == 1
