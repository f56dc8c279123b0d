"""The API-call benchmark runs, and its paths stay within their targets."""

import importlib.util
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the script runs stacks in moto

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "api_calls.py"


def test_benchmark_runs_within_targets(capsys):
    spec = importlib.util.spec_from_file_location("benchmark_api_calls", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--manifest-images", "1500"]) == 0  # 1: a path over its target
    lines = capsys.readouterr().out.strip().splitlines()
    summary = re.fullmatch(r"SUMMARY confident=(\d+) calls \(original 8\), review=(\d+) \(original 12\), "
                           r"sns_per_image=(\d+) \(original 1\), training_check=(\d+)/(\d+)/(\d+) at 1k/100k/1M "
                           r"images \(original ~1/100/1000 lists\), manifest_1k=[\d.]+s peak=\d+MB", lines[-1])
    assert summary, lines[-1]
    confident, review, sns, *checks = map(int, summary.groups())
    assert 1 <= confident <= 3 and confident < review <= 5 and sns == 0
    assert all(1 <= n <= 4 for n in checks)
    assert any(re.match(r" +list calls +3 ", line) for line in lines)  # 1 500 keys: two pages; the empty gate set
