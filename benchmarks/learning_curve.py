"""Learning curves of the review strategies: does sending the images the model is unsure of to
people teach it more than sending random ones?

Every run is the whole loop in the sandbox (real handlers and state machines, the scikit-learn
Custom Labels stand-in, simulated reviewers answering through the review app's API) from a cold
start: a few labelled images per label, and a gate set. Each strategy opens a review task for every
detected image, at its own priority; the reviewers answer the same number of tasks every round (the
budget), highest priority first, as the review app serves them — so the strategies differ only in
which images people label. After every round a version is trained and deployed, and the active
model is scored on holdout images that are never uploaded. The same seeds give every strategy the
same images in the same order.

    python benchmarks/learning_curve.py [--seeds 3] [--rounds 8] [--per-round 40] [--budget 10]

Prints the mean holdout macro-F1 per round, the reviews each strategy needed to reach the target
F1, and a last line ``SUMMARY start_per_label=N seeds=S reviews_to_f1_0.90: least_conf=A margin=B
entropy=C random=R`` (``none``: not reached within the runs' reviews); writes a plot of the curves
with their spread across seeds.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# name -> (policy modules, parameters that make it open a task for every image it ranks)
STRATEGIES = {
    "least_conf": ((), {"Minimum-Label-Detection-Confidence": "100"}),
    "margin": (("policies.margin",), {"Review-Margin": "100"}),
    "entropy": (("policies.entropy",), {"Review-Entropy": "0"}),
    "random": (("policies.random_review",), {"Random-Review-Share": "1"}),
}
# Train after every round and deploy every version: the curve follows the data, not the gate.
EVERY_ROUND = {"Minimum-Untrained-Images": "1", "Minimum-F1-Score": "0"}
FIRST_SEED = 11


def run_one(strategy: str, seed: int, args: dict) -> dict:
    """One sandbox run; the active model's holdout F1 and the answers given after every round."""
    warnings.simplefilter("ignore")
    from sandbox.runner import SandboxOptions, run

    policies, parameters = STRATEGIES[strategy]
    images = (args["start_per_label"] + args["gate_set_per_label"]) * 10 + args["holdout"] \
        + args["rounds"] * args["per_round"]
    started = time.perf_counter()
    result = run(SandboxOptions(
        images=images, seed=seed, policies=policies, rounds=args["rounds"], seed_per_label=args["start_per_label"],
        holdout=args["holdout"], gate_set_per_label=args["gate_set_per_label"], review_budget=args["budget"],
        parameters=EVERY_ROUND | parameters, out=None))
    answers, reviews = [], 0
    for row in result.rows:
        reviews += row.answers
        answers.append(reviews)
    return {"strategy": strategy, "seed": seed, "reviews": answers,
            "f1": [row.active_holdout_f1 or 0.0 for row in result.rows], "seconds": time.perf_counter() - started}


def reviews_to(target: float, reviews: list[int], f1: list[float]) -> int | None:
    """The reviews answered when the curve first reaches ``target``; None if it never does."""
    return next((n for n, value in zip(reviews, f1) if value >= target), None)


def curves(results: list[dict], strategies: list[str]) -> dict[str, dict]:
    """Per strategy: reviews per round (the same in every run), and the mean, lowest and highest F1."""
    out = {}
    for name in strategies:
        runs = [r for r in results if r["strategy"] == name]
        per_round = list(zip(*(r["f1"] for r in runs)))
        out[name] = {"reviews": [min(n) for n in zip(*(r["reviews"] for r in runs))],
                     "mean": [sum(v) / len(v) for v in per_round], "low": [min(v) for v in per_round],
                     "high": [max(v) for v in per_round], "runs": runs}
    return out


def plot(summary: dict[str, dict], target: float, title: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for name, curve in summary.items():
        (line,) = ax.plot(curve["reviews"], curve["mean"], "o-", label=name, markersize=3)
        ax.fill_between(curve["reviews"], curve["low"], curve["high"], color=line.get_color(), alpha=0.15)
    ax.axhline(target, color="grey", linestyle="--", linewidth=1, label=f"target F1 {target:g}")
    ax.set_xlabel("reviews answered (same budget per round for every strategy)")
    ax.set_ylabel("holdout macro F1 of the active model")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="runs per strategy, seeds 11, 12, … (default 3)")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--per-round", type=int, default=40, help="images uploaded per round (default 40)")
    parser.add_argument("--budget", type=int, default=10, help="reviews answered per round (default 10)")
    parser.add_argument("--start-per-label", type=int, default=3, help="labelled images per label to start from")
    parser.add_argument("--gate-set-per-label", type=int, default=5, help="gate-set images per label")
    parser.add_argument("--holdout", type=int, default=300, help="images never uploaded, to score every model")
    parser.add_argument("--target", type=float, default=0.90, help="the F1 to reach (default 0.90)")
    parser.add_argument("--strategies", default=",".join(STRATEGIES), help="comma-separated, of: " + ", ".join(STRATEGIES))
    parser.add_argument("--workers", type=int, default=2, help="runs at a time (default 2)")
    parser.add_argument("--plot", type=Path, default=Path("learning-curve.png"), help="where to write the plot")
    args = parser.parse_args(argv)
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    unknown = sorted(set(strategies) - set(STRATEGIES))
    if unknown:
        parser.error(f"unknown strategies {unknown}; known: {', '.join(STRATEGIES)}")
    options = {k: getattr(args, k) for k in ("rounds", "per_round", "budget", "start_per_label", "gate_set_per_label",
                                             "holdout")}
    seeds = [FIRST_SEED + i for i in range(args.seeds)]
    started = time.perf_counter()
    jobs = [(name, seed) for seed in seeds for name in strategies]
    if args.workers > 1:
        with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
            results = list(pool.map(run_one, *zip(*jobs), [options] * len(jobs)))
    else:
        results = [run_one(name, seed, options) for name, seed in jobs]
    wall = time.perf_counter() - started
    summary = curves(results, strategies)

    print(f"learning curves: start {args.start_per_label} labelled images per label, gate set "
          f"{args.gate_set_per_label} per label, {args.rounds} rounds of {args.per_round} images, {args.budget} "
          f"reviews per round, seeds {', '.join(map(str, seeds))}; mean holdout macro-F1 (lowest-highest)")
    print("reviews  " + "  ".join(f"{name:>19}" for name in strategies))
    for i, reviews in enumerate(summary[strategies[0]]["reviews"]):
        print(f"{reviews:7d}  " + "  ".join(
            f"{summary[n]['mean'][i]:.3f} ({summary[n]['low'][i]:.3f}-{summary[n]['high'][i]:.3f})".rjust(19)
            for n in strategies))
    print()
    reached = {}
    print(f"reviews to reach holdout F1 {args.target:.2f} (mean curve; per seed)")
    for name in strategies:
        curve = summary[name]
        reached[name] = reviews_to(args.target, curve["reviews"], curve["mean"])
        each = [reviews_to(args.target, r["reviews"], r["f1"]) for r in curve["runs"]]
        print(f"  {name:<11} {_n(reached[name]):>5}   per seed: {', '.join(_n(n) for n in each)}")
    path = plot(summary, args.target, f"Learning curves from {args.start_per_label} images per label "
                                      f"({len(seeds)} seeds; band: lowest to highest)", args.plot)
    run_seconds = [r["seconds"] for r in results]
    print(f"\nplot: {path}; {len(results)} runs in {wall:.0f} s wall ({min(run_seconds):.0f}-{max(run_seconds):.0f} s "
          f"each, {args.workers} at a time)")
    print(f"SUMMARY start_per_label={args.start_per_label} seeds={len(seeds)} reviews_to_f1_{args.target:.2f}: "
          + " ".join(f"{name}={_n(reached[name])}" for name in strategies))
    return 0


def _n(value: int | None) -> str:
    return "none" if value is None else str(value)


if __name__ == "__main__":
    sys.exit(main())
