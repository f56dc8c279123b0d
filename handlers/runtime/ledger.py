"""The cost ledger: what the loop's billed resources cost, from what the state table records —
the periods each version ran (inference-unit hours, billed from RUNNING until stopped, idle or
not), the trainings (training hours) and the reviews started. Pure: records in, figures out.

Prices are stack config (``prices``); the defaults are AWS's us-east-1 list prices as this module
records them (:data:`PRICES_READ`). Serverless costs (Lambda, Step Functions, DynamoDB, S3) are
cents a month at these volumes and are not counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterable, Mapping

from .clock import from_iso
from .state import DayStats, ServingPeriod, TrainingPeriod

# The date the default prices were read. The figures are those the project's cost model uses for
# us-east-1 (Rekognition Custom Labels: inference per inference-unit hour, training per hour);
# check them against https://aws.amazon.com/rekognition/pricing/ and set `prices` when they differ.
PRICES_READ = "2026-12-01"


@dataclass(frozen=True)
class Prices:
    """USD prices: an inference-unit hour, a training hour, a review started (the builtin review
    app's reviewers are your own: 0; A2I charges per object reviewed)."""

    inference_unit_hour: float = 4.00
    training_hour: float = 1.00
    review: float = 0.0

    @classmethod
    def of(cls, raw: Mapping[str, float] | None) -> "Prices":
        """From the stack config's camelCase keys (``inferenceUnitHour``, ``trainingHour``, ``review``)."""
        raw = raw or {}
        default = cls()
        return cls(float(raw.get("inferenceUnitHour", default.inference_unit_hour)),
                   float(raw.get("trainingHour", default.training_hour)), float(raw.get("review", default.review)))

    def as_config(self) -> dict[str, float]:
        return {"inferenceUnitHour": self.inference_unit_hour, "trainingHour": self.training_hour,
                "review": self.review}


@dataclass(frozen=True)
class Ledger:
    """What a window of time cost: inference-unit hours per version, training hours, reviews and
    detections (for the cost per 1 000 images)."""

    start: str
    end: str
    iu_hours: Mapping[str, float] = field(default_factory=dict)
    training_hours: float = 0.0
    reviews: int = 0
    detections: int = 0

    @property
    def total_iu_hours(self) -> float:
        return sum(self.iu_hours.values())

    def cost(self, prices: Prices) -> float:
        return (self.total_iu_hours * prices.inference_unit_hour + self.training_hours * prices.training_hour
                + self.reviews * prices.review)

    def cost_per_1000_images(self, prices: Prices) -> float | None:
        return self.cost(prices) / self.detections * 1000 if self.detections else None


def _overlap_hours(start: str, until: str | None, window: tuple[datetime, datetime]) -> float:
    begin, end = max(from_iso(start), window[0]), min(from_iso(until) if until else window[1], window[1])
    return max(0.0, (end - begin).total_seconds() / 3600)


def iu_hours(periods: Iterable[ServingPeriod], start: datetime, end: datetime) -> dict[str, float]:
    """Inference-unit hours per version within [start, end) (a period still open runs until ``end``)."""
    hours: dict[str, float] = {}
    for period in periods:
        overlap = _overlap_hours(period.start, period.until, (start, end))
        if overlap:
            hours[period.version] = hours.get(period.version, 0.0) + overlap * period.units
    return hours


def training_hours(trainings: Iterable[TrainingPeriod], start: datetime, end: datetime) -> float:
    """Hours of training within [start, end): each training from its start to its end (or ``end``)."""
    return sum(_overlap_hours(t.start, t.until, (start, end)) for t in trainings)


def units_running(periods: Iterable[ServingPeriod]) -> int:
    """Inference units billing right now (the open periods)."""
    return sum(p.units for p in periods if p.until is None)


def ledger(periods: Iterable[ServingPeriod], trainings: Iterable[TrainingPeriod], days: Iterable[DayStats],
           start: datetime, end: datetime) -> Ledger:
    """The ledger of [start, end); ``days`` are the day counters of the days it covers."""
    days = list(days)
    reviews = sum(n for d in days for name, n in d.counts.items() if name.startswith("reviews_started_"))
    return Ledger(start.strftime("%Y-%m-%dT%H:%M:%SZ"), end.strftime("%Y-%m-%dT%H:%M:%SZ"),
                  iu_hours(periods, start, end), training_hours(trainings, start, end), reviews,
                  sum(d.detections for d in days))


def month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def days_between(start: datetime, end: datetime) -> list[str]:
    """The UTC days from ``start``'s to ``end``'s, as the day counters name them."""
    day, days = start.date(), []
    while day <= end.date():
        days.append(day.isoformat())
        day += timedelta(days=1)
    return days
