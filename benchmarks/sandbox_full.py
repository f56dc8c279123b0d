"""The full sandbox run over all 1 797 digits: wall time, peak memory and detection throughput on
this machine. Targets: the whole run in under 2 minutes, and a loop that works — no detection
failed, a version deployed. (The holdout F1 of the first and the final model is shown, not judged:
on a small run its few holdout images make it noisy.)

    python benchmarks/sandbox_full.py [--rounds 8] [--seed 7] [--images N] [--target-seconds 120]

The last line: ``SUMMARY images=… detected=… wall_s=… images_per_s=… peak_mb=… versions=…
deployed=… f1_first=… f1_final=…``; the exit status is 1 when a target is missed.
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--images", type=int, default=None, help="images in all (default: all 1 797)")
    parser.add_argument("--target-seconds", type=float, default=TARGET_SECONDS,
                        help=f"the wall time the run must stay under (default {TARGET_SECONDS})")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    started = time.perf_counter()
    result = run(SandboxOptions(images=args.images, seed=args.seed, rounds=args.rounds, out=None))
    wall = time.perf_counter() - started  # includes loading data and building the stack

    widths = [max(len(title), *(len(cell(r, key)) for r in result.rows)) for key, title in COLUMNS]
    print("  ".join(title.ljust(w) for (_, title), w in zip(COLUMNS, widths)))
    for row in result.rows:
        print("  ".join(cell(row, key).ljust(w) for (key, _), w in zip(COLUMNS, widths)))
    print()
    first, final = result.first_deployed, result.final_active
    f1_first = result.versions[first]["holdout_f1"] if first else None
    f1_final = result.versions[final]["holdout_f1"] if final else None
    deployed = sum(v["deployed"] for v in result.versions.values())
    images = args.images or 1797
    figures = [
        ("images in the run", str(images)),
        ("images detected", str(result.detections)),
        ("wall time, whole run", f"{wall:.1f} s (target < {args.target_seconds:g} s)"),
        ("time detecting", f"{result.detection_seconds:.1f} s"),
        ("detection throughput", f"{result.images_per_second:.1f} images/s"),
        ("peak memory (RSS)", f"{result.peak_memory_mb:.0f} MB"),
        ("versions trained / deployed", f"{len(result.versions)} / {deployed}"),
        ("detections failed", str(sum(result.failures.values()))),
        ("holdout F1 first → final", f"{f1_first:.3f} → {f1_final:.3f}" if first and final else "no model deployed"),
    ]
    width = max(len(name) for name, _ in figures)
    for name, value in figures:
        print(f"{name.ljust(width)}  {value}")
    missed = [what for what, failed in (
        (f"{wall:.1f} s is not under {args.target_seconds:g} s", wall >= args.target_seconds),
        (f"{sum(result.failures.values())} detection(s) failed", bool(result.failures)),
        ("no version was deployed", not deployed)) if failed]
    print("targets met" if not missed else "target missed: " + "; ".join(missed))
    print(f"SUMMARY images={images} detected={result.detections} wall_s={wall:.1f} "
          f"images_per_s={result.images_per_second:.1f} peak_mb={result.peak_memory_mb:.0f} "
          f"versions={len(result.versions)} deployed={deployed} f1_first={f1_first or 0:.3f} f1_final={f1_final or 0:.3f}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
