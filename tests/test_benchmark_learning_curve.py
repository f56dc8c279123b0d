"""The learning-curve benchmark runs (a tiny variant) and ends in its SUMMARY line."""

import importlib.util
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the script runs sandbox runs

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "learning_curve.py"


def load():
    spec = importlib.util.spec_from_file_location("benchmark_learning_curve", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reviews_to_target_reads_the_curve():
    module = load()
    assert module.reviews_to(0.9, [0, 10, 20, 30], [0.7, 0.85, 0.9, 0.95]) == 20
    assert module.reviews_to(0.99, [0, 10], [0.7, 0.85]) is None


def test_a_tiny_run_prints_the_table_the_plot_and_the_summary(capsys, tmp_path):
    module = load()
    plot = tmp_path / "curve.png"
    assert module.main(["--seeds", "1", "--rounds", "1", "--per-round", "15", "--budget", "3", "--holdout", "50",
                        "--gate-set-per-label", "1", "--strategies", "least_conf,random", "--workers", "1",
                        "--target", "0.5", "--plot", str(plot)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    summary = re.fullmatch(r"SUMMARY start_per_label=3 seeds=1 reviews_to_f1_0\.50: least_conf=(\d+|none) "
                           r"random=(\d+|none)", lines[-1])
    assert summary, lines[-1]
    assert summary.groups() == ("0", "0")  # three labelled digits per label already score above 0.5
    rows = [line for line in lines if re.match(r" +\d+  ", line)]
    assert [int(line.split()[0]) for line in rows] == [0, 3]  # reviews answered after each round
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
