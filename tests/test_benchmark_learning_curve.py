"""The learning-curve benchmark: its fast path gives a sandbox run's figures, its savings are read
from the curves as documented, and it exits 1 when a strategy does not beat random."""

import importlib.util
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from sandbox import fast_path
from sandbox.mistakes import Hardness, Mistakes
from sandbox.runner import RunData, run

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "learning_curve.py"
SUMMARY = re.compile(r"SUMMARY dataset=(\w+) seeds=(\d+) reviews=(\d+) savings_least_conf=([\d.]+) "
                     r"savings_margin=([\d.]+) savings_entropy=([\d.]+)")
SMALL = {"dataset": "digits", "rounds": 2, "per_round": 40, "budget": 6, "start_per_label": 3, "gate_set_per_label": 5,
         "holdout": 150, "error_rate": 0.0, "mistakes": "uniform", "imbalance": 1.0, "full": False}


def load():
    spec = importlib.util.spec_from_file_location("benchmark_learning_curve", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def figures(rows) -> list[tuple[int, int, float]]:
    return [(row.answers, row.accepted, round(row.active_holdout_f1, 6)) for row in rows]


@pytest.mark.parametrize("strategy,dataset", [("least_conf", "digits"), ("margin", "digits"), ("least_conf", "mnist")])
def test_the_fast_path_gives_the_figures_of_a_sandbox_run(strategy, dataset):
    options = load().options_for(strategy, 11, SMALL | {"dataset": dataset, "rounds": 1 if dataset == "mnist" else 2})
    in_process = figures(fast_path.run(options))
    assert in_process == figures(run(options).rows)  # the same answers, the same models, round after round
    assert [answers for answers, _, _ in in_process][1:] == [6] * (len(in_process) - 1)


def test_reviews_to_a_target_are_interpolated_between_rounds():
    module = load()
    assert module.reviews_to(0.9, [0, 10, 20, 30], [0.7, 0.85, 0.95, 0.96]) == pytest.approx(15.0)
    assert module.reviews_to(0.7, [0, 10], [0.7, 0.85]) == 0.0
    assert module.reviews_to(0.99, [0, 10], [0.7, 0.85]) is None


def test_savings_are_the_reviews_random_needs_over_those_a_strategy_needs_for_randoms_final_f1():
    module = load()
    reviews = [0, 10, 20, 30, 40]
    curves = {"random": np.array([0.70, 0.74, 0.78, 0.82, 0.86]), "least_conf": np.array([0.70, 0.80, 0.86, 0.9, 0.92]),
              "margin": np.array([0.70, 0.71, 0.72, 0.73, 0.74])}
    assert module.savings(curves, reviews, "least_conf") == pytest.approx(40 / 20)
    assert module.savings(curves, reviews, "margin") == pytest.approx(1.0)  # never reaches it: at most 40 / 40
    runs = {name: np.vstack([curve, curve]) for name, curve in curves.items()}
    assert module.bootstrap(runs, reviews, "least_conf", 50) == pytest.approx((2.0, 2.0))


def test_a_small_run_prints_the_bands_the_savings_and_the_summary(capsys, tmp_path):
    plot = tmp_path / "curve.png"
    status = load().main(["--seeds", "4", "--rounds", "4", "--per-round", "30", "--budget", "8", "--workers", "1",
                          "--bootstrap", "300", "--strategies", "least_conf,margin,entropy,random", "--plot", str(plot)])
    lines = capsys.readouterr().out.strip().splitlines()
    summary = SUMMARY.fullmatch(lines[-1])
    assert summary, lines[-1]
    dataset, seeds, reviews, *found = summary.groups()
    assert (dataset, seeds, reviews) == ("digits", "4", "32")
    assert all(float(value) > 1.2 for value in found)  # uncertainty needs fewer labels than random here
    assert status == 0 and "every strategy's interval lies above 1×" in lines[-2]
    rows = [line for line in lines if re.match(r" +\d+  ", line)]
    assert [int(line.split()[0]) for line in rows] == [0, 8, 16, 24, 32]  # reviews answered after each round
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_it_exits_1_when_a_strategy_does_no_better_than_random(capsys, tmp_path, monkeypatch):
    module = load()
    # "least_conf" reviewing at random: the claim fails, and the exit status says so.
    monkeypatch.setitem(module.STRATEGIES, "least_conf", module.STRATEGIES["random"])
    status = module.main(["--seeds", "4", "--rounds", "4", "--per-round", "30", "--budget", "8", "--workers", "1",
                          "--strategies", "least_conf,random", "--bootstrap", "300", "--plot", str(tmp_path / "c.png")])
    lines = capsys.readouterr().out.strip().splitlines()
    assert status == 1 and "target missed: the interval of least_conf does not lie above 1×" in lines[-2]
    assert re.fullmatch(r"SUMMARY dataset=digits seeds=4 reviews=32 savings_least_conf=1\.00", lines[-1])


def test_reviewers_err_uniformly_or_on_the_hard_images():
    rng = np.random.default_rng(0)
    uniform = Mistakes(("a", "b", "c"))
    answers = [uniform.answer(rng, 0.3, "a") for _ in range(2000)]
    assert 0.27 < sum(wrong for _, wrong in answers) / 2000 < 0.33
    assert {label for label, wrong in answers if wrong} == {"b", "c", "None of the Above"}
    hard = Mistakes(("a", "b", "c"), {"easy": Hardness(0.0, "b"), "hard": Hardness(2.0, "c")})
    assert all(hard.answer(rng, 0.3, "a", "easy") == ("a", False) for _ in range(200))
    on_hard = [hard.answer(rng, 0.3, "a", "hard") for _ in range(2000)]
    assert 0.55 < sum(wrong for _, wrong in on_hard) / 2000 < 0.65 and {a for a, w in on_hard if w} == {"c"}


def test_reviewer_mistakes_and_label_imbalance_reach_the_rounds():
    base = load().options_for("least_conf", 12, SMALL | {"rounds": 3})
    assert figures(fast_path.run(replace(base, error_rate=0.5, mistakes="hard"))) != figures(fast_path.run(base))
    streamed = [sum(len(batch) for batch in RunData.load(o).batches) for o in (base, replace(base, imbalance=10.0))]
    assert streamed[1] < streamed[0]
    with pytest.raises(fast_path.FastPathUnsupported):
        fast_path.run(replace(base, parameters=base.parameters | {"Minimum-F1-Score": "0.9"}))
    with pytest.raises(fast_path.FastPathUnsupported, match="gate set has too few images"):
        # five per label, and each label needs six: a sandbox run would deploy nothing
        fast_path.run(replace(base, parameters=base.parameters | {"Minimum-Gate-Set-Images-Per-Label": "6"}))
