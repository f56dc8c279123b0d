"""The seeded fault run at scale: uploads delivered up to three times and out of order, review
answers and two lifecycle runs, with a share of every AWS call the functions make faulted
(throttling, server errors, each transaction-cancellation reason, throttled parameter reads).

Run from the repository root:

    python benchmarks/faults.py                           # 500 uploads, seed 0, 10 % faulted (minutes)
    python benchmarks/faults.py --uploads 100 --seed 7    # a smaller run

Prints the calls faulted by kind and by operation, a table per failure class (lost, duplicated,
failed, stuck, stray models) with the faults injected while each finding's events were handled,
and, last, ``SUMMARY uploads=N deliveries=D faulted_calls=F lost=… duplicated=… failed=… stuck=…
stray_models=…``. The exit status is 1 when any class is not zero. The run itself is
:mod:`sandbox.fault_run` (shared with tests/test_faults.py).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sandbox import fault_run  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=500, help="uploads to detect (default 500)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the faults and the deliveries (default 0)")
    parser.add_argument("--fault-rate", type=float, default=0.1, help="share of calls faulted (default 0.1)")
    parser.add_argument("--max-deliveries", type=int, default=3, help="deliveries of each event, at most (default 3)")
    args = parser.parse_args(argv)
    logging.getLogger("handlers").setLevel(logging.CRITICAL)  # notifications that could not be sent
    started = time.monotonic()
    report = fault_run.run(uploads=args.uploads, seed=args.seed, fault_rate=args.fault_rate,
                           max_deliveries=args.max_deliveries)
    lines = report.lines()
    print("\n".join(lines[:-1]))
    print(f"wall time {time.monotonic() - started:.1f} s")
    print(lines[-1])
    return 1 if any(report.count(cls) for cls in fault_run.CLASSES) else 0


if __name__ == "__main__":
    sys.exit(main())
