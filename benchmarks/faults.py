"""The seeded fault run at scale, on the default review backend (the builtin review app, reviewers
answering through its HTTP API), at fault rates of 10, 20 and 30 %: uploads delivered up to three
times and out of order, review answers, uploaders deleting images, two lifecycle runs, with that share
of every AWS call the functions make faulted (throttling, server errors, each transaction-cancellation
reason, throttled parameter reads, responses lost after the call was applied) and a tenth of that
share of the invocations dying mid-way.

Run from the repository root:

    python benchmarks/faults.py                              # 500 uploads per rate, seed 0 (about 5 CPU-minutes a rate)
    python benchmarks/faults.py --jobs 2                     # the rates side by side, on two cores
    python benchmarks/faults.py --uploads 100 --rates 30     # a smaller run
    python benchmarks/faults.py --backend a2i                # the A2I backend instead

Prints, for each rate, the faults by kind and by operation and a table per failure class (lost,
duplicated, failed, stuck, mislabelled, stray models) with the faults injected while each finding's
events were handled; then one row per rate and, last, ``SUMMARY uploads=N backend=builtin
rates=10,20,30 replayed=R lost=… duplicated=… failed=… stuck=… mislabelled=… stray_models=…``, each
count summed over the rates (``replayed``: the failed detections the operator's ``labelloop replay
--failed`` detected again at the end). The exit status is 1 when any class is not zero at any rate.
The run itself is :mod:`sandbox.fault_run` (shared with tests/test_faults.py).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sandbox import fault_run  # noqa: E402

RATES = (10, 20, 30)


def rates(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of percentages, e.g. 10,20,30")
    if not values or any(not 0 <= v <= 100 for v in values):
        raise argparse.ArgumentTypeError(f"fault rates are percentages from 0 to 100, not {text!r}")
    return values


def one_rate(rate: int, args: argparse.Namespace) -> tuple[list[str], fault_run.Tally, float]:
    """One run at ``rate`` %: its report's lines, its tally and its CPU seconds."""
    started = time.process_time()
    with quiet():
        report = fault_run.run(uploads=args.uploads, seed=args.seed, fault_rate=rate / 100,
                               max_deliveries=args.max_deliveries, backend=args.backend)
    return report.lines()[:-1], report.tally(), time.process_time() - started


@contextlib.contextmanager
def quiet():
    """The handlers' own logs of the errors they meet left out: the report says what came of them."""
    handlers, level = logging.getLogger("handlers"), os.environ.get("POWERTOOLS_LOG_LEVEL")
    os.environ["POWERTOOLS_LOG_LEVEL"] = "CRITICAL"
    handlers.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        handlers.setLevel(logging.NOTSET)
        if level is None:
            os.environ.pop("POWERTOOLS_LOG_LEVEL", None)
        else:
            os.environ["POWERTOOLS_LOG_LEVEL"] = level


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=500, help="uploads to detect at each rate (default 500)")
    parser.add_argument("--rates", type=rates, default=RATES, metavar="PERCENTS",
                        help="fault rates, comma-separated percentages (default 10,20,30)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the faults and the deliveries (default 0)")
    parser.add_argument("--backend", choices=fault_run.BACKENDS, default="builtin",
                        help="review backend (default builtin, the stack's default)")
    parser.add_argument("--max-deliveries", type=int, default=3, help="deliveries of each event, at most (default 3)")
    parser.add_argument("--jobs", type=int, default=1, help="rates run side by side, one process each (default 1)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    with ProcessPoolExecutor(max_workers=args.jobs) if args.jobs > 1 else contextlib.nullcontext() as pool:
        runs = [pool.submit(one_rate, rate, args) if pool else None for rate in args.rates]
        results = []
        for rate, run in zip(args.rates, runs):
            results.append(run.result() if run else one_rate(rate, args))
            print(f"{rate} % of calls faulted: done ({results[-1][2]:.0f} CPU s)", file=sys.stderr, flush=True)
    for (lines, _, _), rate in zip(results, args.rates):
        print(f"== {rate} % of calls faulted " + "=" * 60)
        print("\n".join(lines))
        print()
    tallies = [tally for _, tally, _ in results]
    print(f"{'rate':>5} {'uploads':>8} {'replayed':>9} " + " ".join(f"{cls:>12}" for cls in fault_run.CLASSES)
          + f" {'CPU s':>7}")
    for (_, tally, cpu), rate in zip(results, args.rates):
        print(f"{rate:>4}% {tally.uploads:>8} {tally.replayed:>9} "
              + " ".join(f"{tally.count(cls):>12}" for cls in fault_run.CLASSES) + f" {cpu:>7.0f}")
    print(f"wall time {time.monotonic() - started:.0f} s")
    print(fault_run.summary_line(tallies))
    return 1 if any(tally.count(cls) for tally in tallies for cls in fault_run.CLASSES) else 0


if __name__ == "__main__":
    sys.exit(main())
