"""The API-call benchmark runs, and its paths stay within their targets, warm and cold, next to the
original's figures counted from its source."""

import importlib.util
import re
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the script runs stacks in moto

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "api_calls.py"
SUMMARY = re.compile(
    r"SUMMARY confident_sdk=(\d+) confident_requests=(\d+) confident_cold_sdk=(\d+) review_builtin_sdk=(\d+) "
    r"review_builtin_cold_sdk=(\d+) review_a2i_sdk=(\d+) review_requests=(\d+) original_confident_sdk=5 "
    r"original_confident_requests=3 original_review_sdk=8 original_review_requests=4 sns_per_image=(\d+) "
    r"training_check=(\d+)/(\d+)/(\d+) manifest_1k_s=[\d.]+ manifest_peak_mb=\d+")


def test_benchmark_runs_within_targets(capsys):
    spec = importlib.util.spec_from_file_location("benchmark_api_calls", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    assert module.main(["--manifest-images", "1500"]) == 0  # 1: a path over its target
    lines = capsys.readouterr().out.strip().splitlines()
    summary = SUMMARY.fullmatch(lines[-1])
    assert summary, lines[-1]
    confident, requests, cold, builtin, builtin_cold, a2i, review_requests, sns, *checks = map(int, summary.groups())
    assert confident == 3 and requests == 2  # GetItem, DetectCustomLabels, a transaction; an execution, detect
    assert cold == 4  # + the review decision's parameters by name: one call
    assert builtin == 4 and a2i == 5 and review_requests == 3 and builtin_cold > builtin and sns == 0
    assert all(1 <= n <= 4 for n in checks)
    assert any(re.match(r" +list calls +3 ", line) for line in lines)  # 1 500 keys: two pages; the empty gate set
    assert any("lambda/rekognition-detect-label.py:27" in line for line in lines)  # where the original's figure is
