"""The serving cost benchmark: a tiny bursty day, always on and on demand, priced three ways, with the
ledger reconciled against CloudWatch; it exits 1 when on-demand serving does not save what it claims."""

import importlib.util
import re
from pathlib import Path

import pytest

from sandbox import serving_day, serving_events
from sandbox.serving_day import ON_DEMAND, DayResult, bursty_day, office_day, random_day

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "serving_cost.py"
SUMMARY = re.compile(r"SUMMARY traces=(\d+) ratio_min=([\d.]+) ratio_max=([\d.]+) lost=(\d+) "
                     r"ledger_error_max_pct=([\d.]+)")
TINY = ["--images", "10", "--minutes", "120", "--traces", "bursty", "--seeds", "1", "--start-minutes", "10",
        "--workers", "1", "--bursty-target", "0.8"]


def load():
    spec = importlib.util.spec_from_file_location("benchmark_serving_cost", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_tiny_bursty_day_on_demand_bills_less_and_the_ledger_matches_cloudwatch(capsys, tmp_path):
    status = load().main([*TINY, "--out", str(tmp_path)])
    lines = capsys.readouterr().out.strip().splitlines()
    summary = SUMMARY.fullmatch(lines[-1])
    assert summary, lines[-1]
    traces, low, high, lost, error = summary.groups()
    assert (traces, lost) == ("1", "0")
    [row] = [line for line in lines if line.startswith("bursty")]
    per_second, per_minute, per_hour = (float(x) for x in re.findall(r"\d\.\d\d", row)[:3])
    assert per_second < 0.8 and per_second <= per_minute <= per_hour  # coarser billing, smaller savings
    assert float(low) == pytest.approx(per_second, abs=0.006) and float(high) == pytest.approx(per_hour, abs=0.006)
    assert 0 < float(error) <= 15.0  # the ledger against InServiceInferenceUnits: it under-reports
    assert status == 0 and lines[-2] == "targets met"
    assert (tmp_path / "report.md").exists() and (tmp_path / "units_running.png").stat().st_size > 0


def test_it_exits_1_when_on_demand_serving_saves_nothing(capsys, monkeypatch):
    module = load()
    monkeypatch.setattr(module, "ON_DEMAND", {})  # "on demand" that never stops the model
    status = module.main(TINY)
    lines = capsys.readouterr().out.strip().splitlines()
    assert status == 1 and lines[-2].startswith("target missed: the bursty days' median ratio is 1.000")


def figures(day: DayResult) -> tuple:
    return (day.detected, day.lost, day.starts, [round(s, 1) for _, s in day.periods], day.ledger_iu_hours,
            day.cloudwatch_iu_hours, round(day.wait(0.5), 2), round(day.wait(0.95), 2), round(max(day.added_wait_minutes), 2))


@pytest.mark.slow
@pytest.mark.parametrize("trace,start", [(bursty_day(40, minutes=240, seed=0), 10.0),
                                         (random_day(30, minutes=240, seed=3), 5.0)], ids=["bursty", "random"])
def test_the_day_played_event_by_event_gives_the_figures_of_the_sandbox(trace, start):
    by_events = serving_events.simulate(trace, ON_DEMAND, start_minutes=start)
    assert figures(by_events) == figures(serving_day.simulate(trace, ON_DEMAND, start_minutes=start))
    assert by_events.starts >= 3 and by_events.ledger_iu_hours < by_events.cloudwatch_iu_hours  # what is compared


def test_billing_granularities_round_each_running_period_up():
    day = DayResult("t", {}, 1, 1, 0, [(1, 90.0), (2, 3601.0)], 1.0, 1.0)
    assert day.billed("second") == pytest.approx((90 + 2 * 3601) / 3600)
    assert day.billed("minute") == pytest.approx((120 + 2 * 3660) / 3600)
    assert day.billed("hour") == 1 + 2 * 2
    assert DayResult("t", {}, 1, 1, 0, [], 0.9, 1.0).ledger_error_pct == pytest.approx(-10.0)


def test_the_traces_have_the_shape_they_are_named_for():
    office = office_day(400, seed=1).arrivals
    assert len(office) == 400 and sum(8 * 60 <= m <= 18 * 60 for m in office) > 360  # most in office hours
    spread = random_day(400, seed=1).arrivals
    assert len(spread) == 400 and 80 < sum(m < 6 * 60 for m in spread) < 120  # a quarter in any quarter-day
