"""What a stack's model can cost, from its stack config, its parameters and the prices (pure): the
bounds the deploy guide states for the example stack and ``labelloop doctor`` shows for any stack.

Only the billed parts count (Rekognition Custom Labels: inference-unit hours from RUNNING until
STOPPED, idle or not; training hours); the serverless rest is cents a month. The bounds:

* **Worst day**: uploads never pause long enough for the idle stop, so a model runs all 24 hours at
  the most units it may scale to; each scheduled training check trains (one training at a time, each
  counted at ``maxTrainingHours``, after which the run gives up on it) and each new version is
  started beside the running one for a blue/green switch (counted as one more hour of units).
* **A wake**: a stopped model started by waiting images runs at least until ``Idle-Stop-Minutes``
  after the last detection, seen by the serving schedule within its period. AWS states no billing
  granularity, so :attr:`CostBounds.wake_if_hourly` is the same wake billed by the started hour.
* **An idle day** (no upload): nothing runs when serving is on demand; otherwise the worst day's
  serving.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Mapping

from handlers.runtime.ledger import Prices
from handlers.serving import SCHEDULE as SERVING_RATE
from policies.names import ENABLE_TRAINING, IDLE_STOP_MINUTES, MAX_INFERENCE_UNITS, MIN_INFERENCE_UNITS, POLL_FREQUENCY

DAY_MINUTES = 24 * 60
BLUE_GREEN_HOURS = 1.0  # the candidate runs beside the active model: start seen, compared, switched, old stopped
SERVING_CHECK_MINUTES = int(re.fullmatch(r"rate\((\d+) minutes?\)", SERVING_RATE).group(1))


@dataclass(frozen=True)
class CostBounds:
    units: int  # the most inference units a running model bills
    on_demand: bool  # the model stops by itself when uploads pause
    trainings_per_day: int
    training_hours: float  # per training, at most
    prices: Prices

    @property
    def per_hour_running(self) -> float:
        return self.units * self.prices.inference_unit_hour

    @property
    def worst_day_serving(self) -> float:
        return 24 * self.per_hour_running

    @property
    def worst_day_training(self) -> float:
        return self.trainings_per_day * (self.training_hours * self.prices.training_hour
                                         + BLUE_GREEN_HOURS * self.per_hour_running)

    @property
    def worst_day(self) -> float:
        return self.worst_day_serving + self.worst_day_training

    @property
    def idle_day(self) -> float:
        return 0.0 if self.on_demand else self.worst_day_serving

    def wake(self, idle_minutes: float) -> float:
        """One burst of uploads on a stopped model: its units until the idle stop is seen."""
        return (idle_minutes + SERVING_CHECK_MINUTES) / 60 * self.per_hour_running

    @property
    def wake_if_hourly(self) -> float:
        return self.per_hour_running

    def as_dict(self, idle_minutes: float) -> dict[str, Any]:
        return {"units": self.units, "on_demand": self.on_demand, "per_hour_running": round(self.per_hour_running, 2),
                "worst_day": round(self.worst_day, 2), "worst_day_serving": round(self.worst_day_serving, 2),
                "worst_day_training": round(self.worst_day_training, 2), "idle_day": round(self.idle_day, 2),
                "wake": round(self.wake(idle_minutes), 2) if self.on_demand else None,
                "trainings_per_day": self.trainings_per_day, "training_hours": self.training_hours}


def cost_bounds(settings: Mapping[str, Any], max_training_hours: float, prices: Prices) -> CostBounds:
    """The bounds for a stack's parameter values (``settings``, as the catalog parses them)."""
    units = max(int(settings[MIN_INFERENCE_UNITS]), int(settings[MAX_INFERENCE_UNITS]))
    on_demand = int(settings[IDLE_STOP_MINUTES]) > 0
    checks = math.ceil(DAY_MINUTES / int(settings[POLL_FREQUENCY])) if settings[ENABLE_TRAINING] else 0
    # One training at a time: no more trainings start in a day than fit in it.
    trainings = min(checks, math.ceil(24 / max_training_hours))
    return CostBounds(units, on_demand, trainings, max_training_hours, prices)
