"""The full sandbox run over all 1 797 digits: wall time, peak memory and
detection throughput on this machine. Target: the full run under 2 minutes.

    python benchmarks/sandbox_full.py [--rounds 8] [--seed 7]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sandbox.report import COLUMNS, cell  # noqa: E402
from sandbox.runner import SandboxOptions, run  # noqa: E402

TARGET_SECONDS = 120


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    started = time.perf_counter()
    result = run(SandboxOptions(seed=args.seed, rounds=args.rounds, out=None))
    wall = time.perf_counter() - started  # includes loading data and building the stack

    widths = [max(len(title), *(len(cell(r, key)) for r in result.rows)) for key, title in COLUMNS]
    print("  ".join(title.ljust(w) for (_, title), w in zip(COLUMNS, widths)))
    for row in result.rows:
        print("  ".join(cell(row, key).ljust(w) for (key, _), w in zip(COLUMNS, widths)))
    print()
    first, final = result.first_deployed, result.final_active
    figures = [
        ("images in the data set", "1797"),
        ("images detected", str(result.detections)),
        ("wall time, whole run", f"{wall:.1f} s (target < {TARGET_SECONDS} s)"),
        ("time detecting", f"{result.detection_seconds:.1f} s"),
        ("detection throughput", f"{result.images_per_second:.1f} images/s"),
        ("peak memory (RSS)", f"{result.peak_memory_mb:.0f} MB"),
        ("versions trained / deployed", f"{len(result.versions)} / {sum(v['deployed'] for v in result.versions.values())}"),
        ("holdout F1 first → final", f"{result.versions[first]['holdout_f1']:.3f} → {result.versions[final]['holdout_f1']:.3f}"
         if first and final else "no model deployed"),
    ]
    width = max(len(name) for name, _ in figures)
    for name, value in figures:
        print(f"{name.ljust(width)}  {value}")
    verdict = "meets" if wall < TARGET_SECONDS else "misses"
    print(f"sandbox_full: {wall:.1f} s wall ({verdict} the {TARGET_SECONDS} s target), "
          f"{result.images_per_second:.1f} images/s through detection, peak {result.peak_memory_mb:.0f} MB, "
          f"{result.detections} images, {len(result.versions)} versions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
