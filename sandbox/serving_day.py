"""A day of uploads on the simulated clock, to see what serving on demand costs and what it adds to
the wait: the real detection state machine and serving function, the Custom Labels stand-in
starting a model in minutes, billing it from RUNNING until STOPPED and publishing
``InServiceInferenceUnits`` to CloudWatch, and no wall time spent on start-up or idle hours.

A trace is the arrival times of a day's images (minutes after midnight UTC): :func:`random_day`
(independent arrivals all day at a rate), :func:`office_day` (an office-hours curve: a morning and
an afternoon peak, a lunch dip, a trickle at night), :func:`bursty_day` (bursts in working hours,
quiet nights) or :func:`steady_day`. :func:`simulate` runs one trace under a set of operator
parameters — the defaults (the model always runs) or on-demand settings — and measures the periods
billed (to price per second, per minute or per started hour: AWS states no granularity), the
inference-unit hours the loop's ledger recorded and those CloudWatch recorded, the images lost
(never detected) and the wait each image had beyond what the always-running model gives it (none).
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping

import boto3

from handlers.runtime import layout
from handlers.runtime.clock import from_iso, iso
from handlers.runtime.ledger import iu_hours
from handlers.runtime.state import StateTable
from handlers.runtime.usage import in_service, project_of

from .a2i import A2I
from .clock import SimulatedClock
from .local_aws import ACCOUNT, REGION, LocalStack
from .scripted_trainer import scripted_custom_labels

LABELS = ("cat", "dog")
CONFIDENT = (("cat", 95.0), ("dog", 5.0))
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 24
DAY_MINUTES = 24 * 60
SCHEDULE_MINUTES = 5  # the serving schedule's rate (handlers.serving.SCHEDULE)
DRAIN_MINUTES = 60  # after the day: time for the last images to be detected and the model to stop
START = datetime(2026, 3, 2, tzinfo=timezone.utc)
MODEL_ARN = f"arn:aws:rekognition:{REGION}:{ACCOUNT}:project/labelloop-sandbox-model/version/v1/1700000000000"
DETECTED = ("confident", "to_training", "to_audit", "no_label", "unreadable")
ON_DEMAND = {"Idle-Stop-Minutes": "15", "Start-On-Pending-Images": "1", "Maximum-Start-Delay-Minutes": "0"}
# How a running period may be billed: AWS charges "for the number of hours that your model is running"
# but states no granularity or minimum, so each is shown: seconds, started minutes, started hours.
GRANULARITIES = {"second": 1, "minute": 60, "hour": 3600}


@dataclass(frozen=True)
class Trace:
    name: str
    arrivals: tuple[float, ...]  # minutes after the day's start, in order
    minutes: float = DAY_MINUTES
    kind: str = ""  # what kind of day, for tables that group seeds: bursty, random, office, steady

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", self.kind or self.name)


def bursty_day(images: int = 400, *, bursts: int = 6, minutes: float = DAY_MINUTES, seed: int = 7) -> Trace:
    """Bursts in working hours (09:00-18:00 of a full day; the middle of a shorter one), each a few
    minutes of uploads, and a handful of images at night."""
    rng = random.Random(seed)
    night = max(1, images // 50)
    first, last = (9 * 60, 18 * 60) if minutes >= DAY_MINUTES else (minutes * 0.1, minutes * 0.7)
    starts = sorted(rng.uniform(first, last) for _ in range(bursts))
    sizes = [(images - night) // bursts + (i < (images - night) % bursts) for i in range(bursts)]
    arrivals = [start + rng.uniform(0, 8) for start, size in zip(starts, sizes) for _ in range(size)]
    arrivals += [rng.choice((rng.uniform(0, first), rng.uniform(last + 30, minutes))) for _ in range(night)]
    return Trace(f"bursty #{seed}", tuple(sorted(min(a, minutes - 1) for a in arrivals)), minutes, "bursty")


def steady_day(images: int = 400, *, minutes: float = DAY_MINUTES) -> Trace:
    """The same number of images, evenly spread over the day."""
    return Trace("steady", tuple(minutes * (i + 0.5) / images for i in range(images)), minutes)


def random_day(images: int = 400, *, minutes: float = DAY_MINUTES, seed: int = 7) -> Trace:
    """``images`` arrivals at independent, uniformly random times over the whole day (a Poisson stream
    of that rate, as many uploaders acting on their own produce)."""
    rng = random.Random(seed)
    return Trace(f"random {images}/day", tuple(sorted(rng.uniform(0, minutes) for _ in range(images))), minutes,
                 f"random {images}/day")


def office_rate(minute: float) -> float:
    """Relative upload rate of an office day: peaks at 10:00 and 15:00, a dip at 12:30, a trickle at night."""
    hour = (minute / 60) % 24
    if not 7.5 <= hour <= 19:
        return 0.02
    return 0.1 + math.exp(-((hour - 10) / 1.3) ** 2) + 0.8 * math.exp(-((hour - 15) / 1.6) ** 2)


def office_day(images: int = 400, *, minutes: float = DAY_MINUTES, seed: int = 7) -> Trace:
    """``images`` arrivals drawn from the office-hours curve (:func:`office_rate`)."""
    rng, peak = random.Random(seed), max(office_rate(m) for m in range(0, int(minutes)))
    arrivals: list[float] = []
    while len(arrivals) < images:
        minute = rng.uniform(0, minutes)
        if rng.random() * peak < office_rate(minute * DAY_MINUTES / minutes):
            arrivals.append(minute)
    return Trace("office hours", tuple(sorted(arrivals)), minutes)


@dataclass
class DayResult:
    trace: str
    parameters: Mapping[str, str]
    images: int
    detected: int
    lost: int
    periods: list[tuple[int, float]]  # what Rekognition would bill: (units, seconds) from RUNNING until STOPPED
    ledger_iu_hours: float  # what the cost ledger recorded
    cloudwatch_iu_hours: float  # what InServiceInferenceUnits recorded
    added_wait_minutes: list[float] = field(default_factory=list)  # per image
    units: list[tuple[float, int]] = field(default_factory=list)  # (minute, units running)
    starts: int = 0
    kind: str = ""
    start_minutes: float = 10.0

    def billed(self, granularity: str = "second") -> float:
        """IU-hours billed with each running period rounded up to a whole ``granularity``."""
        step = GRANULARITIES[granularity]
        return sum(units * math.ceil(round(seconds, 6) / step) * step for units, seconds in self.periods) / 3600

    @property
    def billed_iu_hours(self) -> float:
        return round(self.billed("second"), 4)

    @property
    def ledger_error_pct(self) -> float | None:
        """The ledger's difference from CloudWatch, in % of CloudWatch."""
        if not self.cloudwatch_iu_hours:
            return None
        return (self.ledger_iu_hours - self.cloudwatch_iu_hours) / self.cloudwatch_iu_hours * 100

    def wait(self, quantile: float) -> float:
        waits = sorted(self.added_wait_minutes)
        if not waits:
            return 0.0
        return waits[min(len(waits) - 1, int(quantile * len(waits)))]

    @property
    def mean_wait(self) -> float:
        return statistics.fmean(self.added_wait_minutes) if self.added_wait_minutes else 0.0


def simulate(trace: Trace, parameters: Mapping[str, str] | None = None, *, start_minutes: float = 10.0,
             stop_minutes: float = 2.0) -> DayResult:
    """One day of ``trace`` with these operator parameters (the defaults: the model always runs)."""
    clock = SimulatedClock(START)
    models = scripted_custom_labels(labels=LABELS, cloudwatch=lambda: boto3.client("cloudwatch", region_name=REGION))
    models.clock, models.start_minutes, models.stop_minutes = clock.now, start_minutes, stop_minutes
    with clock.installed(), LocalStack(labels=LABELS, parameter_overrides=dict(parameters or {}), serial=True,
                                       standins={"rekognition": models, "sagemaker-a2i-runtime": A2I()}) as stack:
        serving_model(stack, models)
        arrived = _run(stack, models, clock, trace)
        result = _result(stack, models, clock, trace, dict(parameters or {}), arrived)
        result.start_minutes = start_minutes
        return result


def serving_model(stack: LocalStack, models) -> None:
    """A first model, deployed and running from now on (as a blue/green deployment leaves it)."""
    models.add_running(MODEL_ARN)
    table = StateTable(stack.table)
    table.switch_active("v1", MODEL_ARN, 0.95, None)
    table.update_model("v1", arn=MODEL_ARN, status="RUNNING", inference_units=1)
    table.open_serving_period("v1", 1, iso(models.now()))


def _run(stack: LocalStack, models, clock: SimulatedClock, trace: Trace) -> dict[str, float]:
    """Uploads at their minutes and the serving schedule every five minutes; (key -> arrival minute)."""
    s3, arrived = stack.client("s3"), {}
    ticks = [float(m) for m in range(SCHEDULE_MINUTES, int(trace.minutes + DRAIN_MINUTES) + 1, SCHEDULE_MINUTES)]
    events = sorted([(m, 1, i) for i, m in enumerate(trace.arrivals)] + [(m, 0, -1) for m in ticks])
    units = []
    for minute, kind, index in events:
        clock.at_minute(minute)
        if kind:
            key = f"{layout.DETECTION_PREFIX}day/{index:05d}.png"
            models.trainer.by_key[key] = CONFIDENT
            s3.put_object(Bucket=stack.bucket, Key=key, Body=PNG + index.to_bytes(4, "big"))
            arrived[key] = minute
        else:
            stack.serve()
        stack.pump()
        units.append((minute, sum(v.min_units or 1 for v in models.versions.values() if v.status in ("RUNNING",
                                                                                                   "STOPPING"))))
    stack.units = units
    return arrived


def _result(stack: LocalStack, models, clock: SimulatedClock, trace: Trace, parameters: dict,
            arrived: dict[str, float]) -> DayResult:
    table = StateTable(stack.table)
    records = {r.key: r for r in table.detections()}
    waits, detected = [], 0
    for key, minute in arrived.items():
        record = records.get(key)
        if record is None or record.outcome not in DETECTED:
            continue
        detected += 1
        waits.append(max(0.0, clock.minutes(from_iso(record.detected_at)) - minute))
    end = clock.now()
    models.publish()
    usage = in_service(stack.client("cloudwatch"), {"v1": project_of(MODEL_ARN)}, START, end)
    periods = [(bill.units, ((bill.until or end) - bill.running_from).total_seconds()) for bill in models.bills]
    return DayResult(trace.name, parameters, len(arrived), detected, len(arrived) - detected, periods,
                     round(sum(iu_hours(table.serving_periods(), usage.start, usage.end).values()), 4),
                     round(usage.total, 4), waits, stack.units, len(models.operations("StartProjectVersion")),
                     trace.kind)


def plot_units(results: list[DayResult], path: Path) -> Path:
    """Units running across the day, one line per run."""
    from .report import _figure, _save

    plt = _figure()
    fig, ax = plt.subplots(figsize=(8, 3))
    for result in results:
        label = "on demand" if result.parameters else "always on"
        ax.step([m / 60 for m, _ in result.units], [u for _, u in result.units], where="post",
                label=f"{result.trace}, {label} ({result.billed_iu_hours:.1f} IU-h)")
    ax.set_xlabel("hour of the day (UTC)")
    ax.set_ylabel("inference units running")
    ax.legend(fontsize=7)
    return _save(plt, fig, path)


def report_lines(results: list[DayResult]) -> list[str]:
    """The runs side by side: IU-hours billed (and recorded by the ledger), images lost, added wait."""
    lines = ["| trace | serving | images | lost | IU-hours billed | IU-hours in the ledger | starts | "
             "added wait p50 / p95 / max (min) |", "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in results:
        lines.append(f"| {r.trace} | {'on demand' if r.parameters else 'always on'} | {r.images} | {r.lost} | "
                     f"{r.billed_iu_hours:.2f} | {r.ledger_iu_hours:.2f} | {r.starts} | "
                     f"{r.wait(0.5):.1f} / {r.wait(0.95):.1f} / {max(r.added_wait_minutes, default=0):.1f} |")
    return lines


def write_report(results: list[DayResult], out: Path) -> list[Path]:
    """``report.md`` with the table and a plot of the units running across the day."""
    out.mkdir(parents=True, exist_ok=True)
    plot = plot_units(results, out / "units_running.png")
    parameters = next((r.parameters for r in results if r.parameters), {})
    text = ["# Serving on demand: a simulated day", "",
            "Always on: the defaults (the model runs all day). On demand: "
            + ", ".join(f"{k} {v}" for k, v in parameters.items()) + ". Starting a model takes "
            "minutes; the images that arrive meanwhile wait and are detected once it runs.", "",
            *report_lines(results), "", f"![units running]({plot.name})", ""]
    (out / "report.md").write_text("\n".join(text))
    return [out / "report.md", plot]
