"""What serving on demand saves: a bursty day of uploads (and a steady one) under the defaults
(the model always runs) and under on-demand settings, on the sandbox's simulated clock.

Run from the repository root:

    python benchmarks/serving_cost.py                   # 400 images a day, both traces (a few minutes)
    python benchmarks/serving_cost.py --images 40 --minutes 240 --traces bursty   # a tiny variant (seconds)
    python benchmarks/serving_cost.py --out serving-report   # also a report with a plot of the units running

Each run drives the real detection state machine and serving function in moto; the Custom Labels
stand-in takes ``--start-minutes`` to start a model and bills it from RUNNING until STOPPED. Printed:
the inference-unit hours billed in each mode, their ratio, the images lost (never detected) and
the wait on-demand serving adds to an image (p50, p95, max). The exit status is 1 when the bursty
day misses its target: ratio ≤ 0.25 with no image lost.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sandbox.serving_day import (DAY_MINUTES, ON_DEMAND, bursty_day, report_lines, simulate,  # noqa: E402
                                 steady_day, write_report)

TARGET_RATIO = 0.25


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=400, help="images in the day (default 400)")
    parser.add_argument("--minutes", type=float, default=DAY_MINUTES, help="length of the day (default 1440)")
    parser.add_argument("--traces", default="bursty,steady", help="bursty, steady or both (default both)")
    parser.add_argument("--start-minutes", type=float, default=10.0, help="minutes a model takes to start")
    parser.add_argument("--out", type=Path, default=None, help="write report.md and a plot here")
    args = parser.parse_args(argv)
    traces = {"bursty": lambda: bursty_day(args.images, minutes=args.minutes),
              "steady": lambda: steady_day(args.images, minutes=args.minutes)}
    started, results = time.perf_counter(), []
    for name in (t.strip() for t in args.traces.split(",") if t.strip()):
        trace = traces[name]()
        for parameters in ({}, ON_DEMAND):
            results.append(simulate(trace, parameters, start_minutes=args.start_minutes))
    print("labelloop: serving cost on a simulated day (on demand: "
          + ", ".join(f"{k} {v}" for k, v in ON_DEMAND.items()) + ")\n")
    print("\n".join(report_lines(results)))
    if args.out:
        print(f"\nreport: {write_report(results, args.out)[0]}")
    print(f"\n{time.perf_counter() - started:.0f} s of wall time for {len(results)} simulated days")
    always, on_demand = results[0], results[1]
    ratio = on_demand.billed_iu_hours / always.billed_iu_hours if always.billed_iu_hours else 0.0
    lost = always.lost + on_demand.lost
    print(f"SUMMARY trace={always.trace} always_on_iu_h={always.billed_iu_hours:.2f} "
          f"on_demand_iu_h={on_demand.billed_iu_hours:.2f} ratio={ratio:.3f} lost={lost} "
          f"p95_added_wait_min={on_demand.wait(0.95):.1f}")
    return 0 if always.trace != "bursty" or (ratio <= TARGET_RATIO and lost == 0) else 1


if __name__ == "__main__":
    sys.exit(main())
