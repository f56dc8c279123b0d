"""The fault benchmark at a small size: it sweeps the fault rates on the builtin review app, prints a
table per class and a row per rate, ends with its SUMMARY line and exits non-zero when a target is
missed — and a loop that puts an answer into the training data before its review closes makes it
miss the mislabelled target."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
from pathlib import Path

import pytest

from handlers import review_api, review_outcome
from handlers.runtime import aws, config, state

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "faults.py"
SUMMARY = re.compile(r"SUMMARY uploads=(\d+) backend=(\w+) rates=([\d,]+) replayed=(\d+) lost=(\d+) duplicated=(\d+) "
                     r"failed=(\d+) stuck=(\d+) mislabelled=(\d+) stray_models=(\d+)")
CLASSES = ("lost", "duplicated", "failed", "stuck", "mislabelled", "stray_models")
SMALL = ["--uploads", "12", "--rates", "10,30", "--seed", "0"]


def benchmark(argv: list[str]) -> tuple[int, list[str], dict[str, int]]:
    """Run the script's main: its exit status, its output lines and the SUMMARY's counts by class."""
    spec = importlib.util.spec_from_file_location("benchmark_faults", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        status = module.main(argv)
    lines = out.getvalue().strip().splitlines()
    summary = SUMMARY.fullmatch(lines[-1])
    assert summary, lines[-1]
    uploads, backend, rates, replayed, *counts = summary.groups()
    return status, lines, {"uploads": int(uploads), "backend": backend, "rates": rates, "replayed": int(replayed),
                           **dict(zip(CLASSES, map(int, counts)))}


@pytest.fixture(scope="module")
def small():
    return benchmark(SMALL)


@pytest.mark.slow
def test_the_benchmark_sweeps_the_rates_on_the_builtin_app_and_sums_them_in_its_summary(small):
    _, lines, summary = small
    assert summary["uploads"] == 24 and summary["backend"] == "builtin" and summary["rates"] == "10,30"
    rows = [line.split() for line in lines if re.match(r"^\s*(10|30)%\s", line)]
    assert [row[0] for row in rows] == ["10%", "30%"]
    for i, cls in enumerate(CLASSES):
        assert sum(int(row[3 + i]) for row in rows) == summary[cls], cls
    assert sum(int(row[2]) for row in rows) == summary["replayed"]
    for cls in CLASSES:
        assert sum(line.startswith(f"{cls}: ") for line in lines) == 2, cls  # a table per class per rate
    assert sum(line.startswith("faults by kind") for line in lines) == 2


@pytest.mark.slow
def test_nothing_is_lost_duplicated_or_mislabelled_at_any_rate(small):
    _, lines, summary = small
    assert (summary["lost"], summary["duplicated"], summary["mislabelled"], summary["stray_models"]) == (0, 0, 0, 0), \
        "\n".join(lines)


@pytest.mark.slow
def test_the_benchmark_meets_every_target_and_exits_zero(small):
    status, lines, summary = small
    assert status == 0 and not any(summary[cls] for cls in CLASSES), "\n".join(lines)


def copy_each_answer_first(task_id: str, me: str, label: str):
    """A broken review API: every answer puts the image into its label's folder before the review closes
    (before the conditional write that decides which answer wins), as the loop once did."""
    read = review_api._open_task(task_id, me, state.now_iso())
    cfg = config.current()
    if label in cfg.labels:
        copy = review_outcome.licensed_copy(read.task, label)
        source = {"Bucket": cfg.bucket, "Key": copy.source_key, **({"VersionId": copy.version} if copy.version else {})}
        aws.client("s3").copy_object(Bucket=cfg.bucket, Key=copy.target, CopySource=source)
    return answer(task_id, me, label)


answer = review_api._answer


@pytest.mark.slow
def test_the_benchmark_catches_a_loop_that_copies_an_answer_before_its_review_closes(monkeypatch):
    monkeypatch.setattr(review_api, "_answer", copy_each_answer_first)
    status, lines, summary = benchmark(["--uploads", "20", "--rates", "30", "--seed", "1"])
    assert status == 1 and summary["mislabelled"] > 0, "\n".join(lines)
    assert any(line.startswith(" more than one copy of one image") or line.startswith(" copy of a review not accepted")
               for line in lines), "\n".join(lines)
