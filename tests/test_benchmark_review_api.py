"""The review API benchmark runs at a small size, serves the most urgent tasks first and ends with
its SUMMARY line; a request that made more calls than the target would fail the run."""

import importlib.util
import re
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "review_api.py"
SUMMARY = re.compile(r"SUMMARY open_tasks=(\d+) next_task_calls=(\d+) answer_calls=(\d+) "
                     r"next_task_p50_ms=([\d.]+) answer_p50_ms=([\d.]+)")


@pytest.mark.slow
def test_benchmark_counts_the_calls_of_next_task_and_answer(capsys):
    spec = importlib.util.spec_from_file_location("benchmark_review_api", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--tasks", "120", "--answers", "4", "--leased", "105"]) == 0  # past a page (100)
    lines = capsys.readouterr().out.strip().splitlines()
    summary = SUMMARY.fullmatch(lines[-1])
    assert summary, lines[-1]
    tasks, next_calls, answer_calls = map(int, summary.groups()[:3])
    assert (tasks, next_calls, answer_calls) == (120, 3, 3)  # paging past the leased tasks takes a second Query
    assert "served in priority order: yes; open tasks left: 116" in lines
    assert any(line.startswith("next task, 105 leased to others") and "Query + Query + TransactWriteItems" in line
               for line in lines)
