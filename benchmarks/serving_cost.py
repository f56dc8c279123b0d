"""When serving on demand pays: days of uploads of several shapes, the model always on and on
demand, for several model start times, priced per second, per minute and per started hour — on
the sandbox's simulated clock, with the ledger reconciled against CloudWatch.

Run from the repository root:

    python benchmarks/serving_cost.py                      # every trace, 20 bursty days, 3 start times (long)
    python benchmarks/serving_cost.py --seeds 3 --start-minutes 10        # a smaller run
    python benchmarks/serving_cost.py --images 40 --minutes 240 --traces bursty --seeds 1 --start-minutes 10

Each day is played event by event (``sandbox.serving_events``: every upload and every look of the
serving schedule, with the serving policy and the ledger's rules, checked against days run through
the sandbox by its test); ``--full`` drives the real detection state machine and serving function in
moto instead (a minute or more of CPU a day). The Custom Labels stand-in takes the start time to
start a model (two minutes to stop it), bills it from RUNNING until STOPPED and publishes
InServiceInferenceUnits. Traces: independent random arrivals at three rates,
an office-hours day, and the bursty day over ``--seeds`` seeds. On demand is ``Idle-Stop-Minutes``
15 with ``Start-On-Pending-Images`` 1. For each trace and start time: the ratio of on-demand to
always-on IU-hours for each billing granularity, the images lost, the added wait, and the ledger's
difference from CloudWatch. The exit status is 1 when a target is missed: an image lost anywhere, the
ledger more than ``--ledger-tolerance`` % from CloudWatch on any day, or the bursty day's median ratio
(10-minute starts, per second) above ``--bursty-target``. The last line: ``SUMMARY traces=…
ratio_min=… ratio_max=… lost=… ledger_error_max_pct=…``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sandbox import serving_day, serving_events  # noqa: E402
from sandbox.serving_day import (DAY_MINUTES, GRANULARITIES, ON_DEMAND, DayResult, bursty_day,  # noqa: E402
                                 office_day, random_day, write_report)

RATES = (50, 400, 1000)  # random arrivals: images a day
START_MINUTES = (5, 10, 20)
HEADLINE = ("bursty", 10.0)  # the trace kind and start time of the documented headline


def traces(args) -> list:
    scale = args.minutes / DAY_MINUTES
    found = []
    if "random" in args.traces:
        found += [random_day(max(1, round(rate * scale)), minutes=args.minutes) for rate in RATES]
    if "office" in args.traces:
        found.append(office_day(args.images, minutes=args.minutes))
    if "bursty" in args.traces:
        found += [bursty_day(args.images, minutes=args.minutes, seed=seed) for seed in range(args.seeds)]
    return found


def day(trace, on_demand: bool, start: float, full: bool = False) -> DayResult:
    warnings.simplefilter("ignore")
    simulate = serving_day.simulate if full else serving_events.simulate
    return simulate(trace, ON_DEMAND if on_demand else {}, start_minutes=start)


def run_days(args, found: list) -> tuple[dict, list[DayResult]]:
    """The always-on day of each trace kind (the model never stops: the start time and the seed do not
    matter), and every trace on demand at every start time."""
    kinds = {}
    for trace in found:
        kinds.setdefault(trace.kind, trace)
    jobs = [(trace, False, args.start_minutes[0], args.full) for trace in kinds.values()]
    jobs += [(trace, True, start, args.full) for start in args.start_minutes for trace in found]
    if args.workers > 1 and args.full:
        with ProcessPoolExecutor(args.workers, mp_context=get_context("spawn")) as pool:
            results = list(pool.map(day, *zip(*jobs)))
    else:
        results = [day(*job) for job in jobs]
    always = {r.kind: r for r in results[:len(kinds)]}
    return always, results[len(kinds):]


def rows(always: dict, on_demand: list[DayResult], starts) -> list[dict]:
    """Per trace kind and start time: the ratios per granularity (median and range over seeds), lost,
    p95 added wait, starts, ledger error."""
    table = []
    for kind in always:
        for start in starts:
            days = [r for r in on_demand if r.kind == kind and r.start_minutes == start]
            ratio = {g: [r.billed(g) / always[kind].billed(g) for r in days] for g in GRANULARITIES}
            errors = [r.ledger_error_pct for r in days if r.ledger_error_pct is not None]
            table.append({"kind": kind, "start": start, "days": len(days), "ratio": ratio,
                          "lost": sum(r.lost for r in days), "p95_wait": max(r.wait(0.95) for r in days),
                          "starts": statistics.median(r.starts for r in days),
                          "ledger_error": max(errors, key=abs, default=0.0)})
    return table


def _spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=400, help="images in the office and bursty days (default 400)")
    parser.add_argument("--minutes", type=float, default=DAY_MINUTES, help="length of the day (default 1440)")
    parser.add_argument("--traces", default="random,office,bursty", help="of random, office, bursty (default all)")
    parser.add_argument("--seeds", type=int, default=20, help="bursty days, seeds 0, 1, … (default 20)")
    parser.add_argument("--start-minutes", default=",".join(map(str, START_MINUTES)),
                        help="minutes a model takes to start, comma-separated (default 5,10,20)")
    parser.add_argument("--ledger-tolerance", type=float, default=15.0,
                        help="largest difference (%%) of the ledger from CloudWatch on a day (default 15)")
    parser.add_argument("--bursty-target", type=float, default=0.25,
                        help="largest median on-demand/always-on ratio of the bursty days, 10-minute starts, "
                             "billed per second (default 0.25)")
    parser.add_argument("--full", action="store_true", help="run each day through the sandbox in moto (slow)")
    parser.add_argument("--workers", type=int, default=2, help="days at a time with --full (default 2)")
    parser.add_argument("--out", type=Path, default=None, help="write report.md and a plot of a bursty day here")
    args = parser.parse_args(argv)
    args.traces = {t.strip() for t in args.traces.split(",") if t.strip()}
    args.start_minutes = [float(m) for m in args.start_minutes.split(",") if m.strip()]
    unknown = args.traces - {"random", "office", "bursty"}
    if unknown or not args.traces or not args.start_minutes:
        parser.error(f"--traces: of random, office, bursty (not {', '.join(sorted(unknown)) or 'none'}); "
                     "--start-minutes: at least one")
    started = time.perf_counter()
    found = traces(args)
    always, on_demand = run_days(args, found)
    table = rows(always, on_demand, args.start_minutes)

    print("labelloop: when serving on demand pays (on demand: " + ", ".join(f"{k} {v}" for k, v in ON_DEMAND.items())
          + f"); always on bills {next(iter(always.values())).billed():.2f} IU-hours a day with the hour after it\n")
    print(f"{'trace':<17}{'start':>6}{'days':>5}  {'ratio billed per second':<24}{'per minute':<20}"
          f"{'per started hour':<20}{'lost':>5}{'p95 wait':>9}{'starts':>7}{'ledger vs CW':>13}")
    for row in table:
        r = row["ratio"]
        print(f"{row['kind']:<17}{row['start']:>5.0f}m{row['days']:>5}  {_spread(r['second']):<24}"
              f"{_spread(r['minute']):<20}{_spread(r['hour']):<20}{row['lost']:>5}{row['p95_wait']:>8.1f}m"
              f"{row['starts']:>7.0f}{row['ledger_error']:>+12.1f}%")
    ratios = [v for row in table for values in row["ratio"].values() for v in values]
    lost = sum(r.lost for r in [*always.values(), *on_demand])
    error = max(abs(r.ledger_error_pct) for r in [*always.values(), *on_demand] if r.ledger_error_pct is not None)
    headline = next((row for row in table if (row["kind"], row["start"]) == HEADLINE), None)
    missed = []
    if lost:
        missed.append(f"{lost} image(s) lost")
    if error > args.ledger_tolerance:
        missed.append(f"the ledger is {error:.1f} % from CloudWatch (tolerance {args.ledger_tolerance:g} %)")
    if headline and statistics.median(headline["ratio"]["second"]) > args.bursty_target:
        missed.append(f"the bursty days' median ratio is {statistics.median(headline['ratio']['second']):.3f} "
                      f"(target {args.bursty_target:g})")
    if args.out:
        bursty = [r for r in on_demand if r.kind == "bursty"][:1]
        report = write_report([always.get("bursty") or next(iter(always.values())), *bursty], args.out)[0]
        print(f"\nreport: {report}")
    how = f"through the sandbox, {args.workers} at a time" if args.full else "event by event"
    print(f"\n{time.perf_counter() - started:.0f} s of wall time for {len(always) + len(on_demand)} simulated days, {how}")
    print("targets met" if not missed else "target missed: " + "; ".join(missed))
    print(f"SUMMARY traces={len(found)} ratio_min={min(ratios):.3f} ratio_max={max(ratios):.3f} lost={lost} "
          f"ledger_error_max_pct={error:.1f}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
