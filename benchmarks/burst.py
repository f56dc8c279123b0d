"""A burst: thousands of images uploaded at once to a model of one and of four inference units,
detected at the model's capacity with nothing failed — against the loop before admission at capacity.

Run from the repository root:

    python benchmarks/burst.py                               # 10 000 uploads on 1 and 4 units (long)
    python benchmarks/burst.py --uploads 1000 --units 4      # a smaller run

Each burst is replayed on the sandbox's simulated clock (``sandbox.burst``) through the real detect
function (with the detection workflow's Retry rules), the serving function and its drain, the state
module on moto's DynamoDB. The Custom Labels stand-in answers at most ``--throughput`` calls a second
per inference unit (an assumption: AWS publishes no figure) and refuses the rest with
``ProvisionedThroughputExceededException``; DynamoDB cancels a transaction on an item another one
holds. For each run: detected, failed, pending at the peak, the time from the first upload to the last
detection against the capacity floor (images ÷ capacity), AWS calls per image, transaction conflicts
and the executions running at once. With admission, the targets: failed 0, every upload detected,
drain within ``--drain-target`` × the floor, at most ``--calls-target`` calls per image; the loop before
admission (a refusal retried by the workflow, then failed) is shown beside it, without a target. The
exit status is 1 when a target is missed. The last line: ``SUMMARY uploads=… detected=… failed=…
drain_over_floor=… calls_per_image=… conflicts=…`` (the admission runs: the fewest detected, the rest
summed or the worst).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sandbox import burst  # noqa: E402
from sandbox.burst import BurstResult  # noqa: E402
from sandbox.custom_labels import DEFAULT_THROUGHPUT  # noqa: E402


def run(uploads: int, units: int, throughput: float, admission: bool) -> BurstResult:
    warnings.simplefilter("ignore")
    return burst.replay(uploads, units=units, throughput=throughput, admission=admission)


def missed(results: list[BurstResult], drain_target: float, calls_target: float) -> list[str]:
    """The targets each admission run missed, in words."""
    found = []
    for r in results:
        if not r.admission:
            continue
        at = f"on {r.units} unit(s)"
        if r.failed:
            found.append(f"{r.failed} detection(s) failed {at}")
        if r.detected != r.uploads:
            found.append(f"{r.detected} of {r.uploads} uploads detected {at}")
        if r.drain_over_floor > drain_target:
            found.append(f"drained in {r.drain_over_floor:.2f} × the floor {at} (target {drain_target})")
        if r.calls_per_image > calls_target:
            found.append(f"{r.calls_per_image:.2f} AWS calls per image {at} (target {calls_target})")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=10_000, help="images uploaded at once (default 10000)")
    parser.add_argument("--units", default="1,4", help="inference units, comma-separated (default 1,4)")
    parser.add_argument("--throughput", type=float, default=DEFAULT_THROUGHPUT,
                        help=f"detections a second per inference unit (default {DEFAULT_THROUGHPUT:g})")
    parser.add_argument("--drain-target", type=float, default=1.2,
                        help="largest time to drain over the floor, images ÷ capacity (default 1.2)")
    parser.add_argument("--calls-target", type=float, default=5.0, help="most AWS calls per image (default 5)")
    parser.add_argument("--no-before", action="store_true", help="skip the loop before admission")
    parser.add_argument("--workers", type=int, default=2, help="runs at a time, one process each (default 2)")
    args = parser.parse_args(argv)
    try:
        units = [int(u) for u in args.units.split(",") if u.strip()]
    except ValueError:
        units = []
    if not units or min(units) < 1 or args.uploads < 1 or args.throughput <= 0:
        parser.error("--units: positive integers, comma-separated; --uploads and --throughput: above zero")
    jobs = [(args.uploads, u, args.throughput, True) for u in units]
    jobs += [] if args.no_before else [(args.uploads, u, args.throughput, False) for u in units]
    started = time.perf_counter()
    print(f"labelloop: {args.uploads} uploads at once, the model answering {args.throughput:g} detections a "
          f"second per inference unit ({len(jobs)} runs, {min(args.workers, len(jobs))} at a time)\n", flush=True)
    if args.workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(min(args.workers, len(jobs)), mp_context=get_context("spawn")) as pool:
            results = list(pool.map(run, *zip(*jobs)))
    else:
        results = [run(*job) for job in jobs]

    print(f"{'loop':<18}{'units':>6}{'detected':>10}{'failed':>8}{'pending peak':>13}{'drain s':>9}{'floor s':>9}"
          f"{'÷ floor':>8}{'calls/image':>12}{'conflicts':>10}{'peak runs':>10}{'refused':>9}")
    for r in results:
        print(f"{'admission' if r.admission else 'before admission':<18}{r.units:>6}{r.detected:>10}{r.failed:>8}"
              f"{r.pending_peak:>13}{r.drain_seconds:>9.0f}{r.floor_seconds:>9.0f}{r.drain_over_floor:>8.2f}"
              f"{r.calls_per_image:>12.2f}{r.conflicts:>10}{r.peak_executions:>10}{r.refused:>9}")
    calls = [r for r in results if r.admission]
    print(f"\nAWS calls per image with admission ({', '.join(f'{r.units} unit(s)' for r in calls)}):")
    for r in calls:
        print("  " + ", ".join(f"{name} {n / r.uploads:.2f}" for name, n in r.calls.most_common()))
    print(f"\n{time.perf_counter() - started:.0f} s")
    problems = missed(results, args.drain_target, args.calls_target)
    print("\n".join(f"target missed: {p}" for p in problems) or "targets met")
    print(f"SUMMARY uploads={args.uploads} detected={min(r.detected for r in calls)} "
          f"failed={sum(r.failed for r in calls)} drain_over_floor={max(r.drain_over_floor for r in calls):.3f} "
          f"calls_per_image={max(r.calls_per_image for r in calls):.2f} conflicts={sum(r.conflicts for r in calls)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
