"""A simulated day of serving on demand, event by event, without the AWS stand-ins: the serving
benchmark's fast path.

:func:`sandbox.serving_day.simulate` runs a day through the real detection state machine and
serving function in moto — a minute or more of CPU for 400 images. :func:`simulate` here plays the
same day as those do it, at each upload and each look of the serving schedule (every five minutes):

- an upload is detected at once while the model is RUNNING; otherwise it waits (pending) and asks
  the serving function at once (detect's image-waiting event), which only decides;
- a look sees the model's status as the Custom Labels stand-in has it (a start takes the start time,
  a stop two minutes; it bills from RUNNING until STOPPED, and publishes that as
  InServiceInferenceUnits), opens the ledger's period when it first sees the model running —
  halfway between the look that saw it starting and this one — asks the same engine for the
  serving decision (the same policy and parameters, the same facts: idle minutes since the last
  detection or the period's start, the images waiting and the oldest one's wait), starts or stops
  the model (a stop closes the ledger's period at once) and, on the schedule, detects the images
  that waited when the model runs.

tests/test_benchmark_serving_cost.py checks its figures against days run through the sandbox.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Mapping

from handlers.runtime.clock import iso
from plugins import Engine, Serving

from .serving_day import DRAIN_MINUTES, SCHEDULE_MINUTES, START, DayResult, Trace

STOP_MINUTES = 2.0


class _Model:
    """The stand-in's view of the one model version: its status, and the periods it billed."""

    def __init__(self, start_minutes: float, stop_minutes: float):
        self.status, self.asked = "RUNNING", START
        self.start_minutes, self.stop_minutes = start_minutes, stop_minutes
        self.bills: list[list] = [[START, None]]  # [RUNNING from, STOPPED at]

    def at(self, now: datetime) -> str:
        """The status at ``now`` (a start or stop completes once its minutes have passed)."""
        if self.status == "STARTING" and now >= self.asked + timedelta(minutes=self.start_minutes):
            self.status = "RUNNING"
            self.bills.append([self.asked + timedelta(minutes=self.start_minutes), None])
        if self.status == "STOPPING" and now >= self.asked + timedelta(minutes=self.stop_minutes):
            self.status = "STOPPED"
            if self.bills and self.bills[-1][1] is None:
                self.bills[-1][1] = self.asked + timedelta(minutes=self.stop_minutes)
        return self.status


def simulate(trace: Trace, parameters: Mapping[str, str] | None = None, *, start_minutes: float = 10.0,
             stop_minutes: float = STOP_MINUTES) -> DayResult:
    """One day of ``trace`` with these operator parameters, as :func:`sandbox.serving_day.simulate` plays it."""
    engine = Engine.load([], entry_points=False)
    settings = engine.catalog.defaults(dict(parameters or {}))
    model = _Model(start_minutes, stop_minutes)
    ledger: list[list] = [[START, None]]  # the loop's serving periods: [from, until]
    pending: list[float] = []  # arrival minutes of the images waiting
    waits: list[float] = []
    last = {"status": None, "at": None}  # the last serving decision's observed status and time
    detected_at: datetime | None = None
    starts = 0

    def minute_of(moment: datetime) -> float:
        return (moment - START).total_seconds() / 60

    def detect(arrival: float, now: datetime) -> None:
        nonlocal detected_at
        waits.append(max(0.0, minute_of(now) - arrival))
        detected_at = now

    def serve(now: datetime, arrival: bool) -> None:
        nonlocal starts
        status = {"RUNNING": "running", "STARTING": "starting", "STOPPING": "stopping"}.get(model.at(now), "stopped")
        if status == "running" and ledger[-1][1] is not None:
            halfway = last["status"] == "starting" and last["at"] is not None
            ledger.append([last["at"] + (now - last["at"]) / 2 if halfway else now, None])
        since = ledger[-1][0] if status == "running" else None
        idle = (now - max(t for t in (detected_at, since) if t is not None)).total_seconds() / 60 \
            if status == "running" else None
        decision = engine.serving(Serving(status, iso(now), "v1", iso(since) if since else None, 1, idle, 0,
                                          len(pending), minute_of(now) - pending[0] if pending else None), settings)
        if decision.action == "stop" and status in ("running", "starting"):
            model.status, model.asked = "STOPPING", now
            if ledger[-1][1] is None:
                ledger[-1][1] = now
        elif decision.action == "start" and status == "stopped":
            model.status, model.asked = "STARTING", now
            starts += 1
        last.update(status=status, at=now)
        if status == "running" and model.status == "RUNNING" and pending and not arrival:
            for waited in pending:
                detect(waited, now)
            pending.clear()

    ticks = [float(m) for m in range(SCHEDULE_MINUTES, int(trace.minutes + DRAIN_MINUTES) + 1, SCHEDULE_MINUTES)]
    running: list[tuple[float, int]] = []  # (minute, units running or stopping), as the sandbox's plot shows it
    for minute, kind in sorted([(m, 1) for m in trace.arrivals] + [(m, 0) for m in ticks]):
        now = START + timedelta(minutes=minute)
        if not kind:
            serve(now, arrival=False)
        elif model.at(now) == "RUNNING":
            detect(minute, now)
        else:
            pending.append(minute)
            serve(now, arrival=True)
        running.append((minute, int(model.status in ("RUNNING", "STOPPING"))))
    end = START + timedelta(minutes=max(ticks[-1], max(trace.arrivals, default=0.0)))
    model.at(end)
    periods = [(start, until or end) for start, until in model.bills]
    in_service = sum((until - start).total_seconds() for start, until in periods)  # published minute by minute
    covered = min(end, START + timedelta(minutes=math.ceil(minute_of(max(u for _, u in periods)))))
    recorded = sum(max(0.0, (min(until or covered, covered) - start).total_seconds()) for start, until in ledger)
    return DayResult(trace.name, dict(parameters or {}), len(trace.arrivals), len(waits), len(trace.arrivals) - len(waits),
                     [(1, (until - start).total_seconds()) for start, until in periods], round(recorded / 3600, 4),
                     round(in_service / 3600, 4), waits, running, starts, trace.kind, start_minutes)
