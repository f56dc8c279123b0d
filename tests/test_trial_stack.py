"""The example stack is cheap by default, and what the deploy guide says it costs is computed from
its config and the prices (components/cost_bounds.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components.config import load_policies, parse_stack_config
from components.cost_bounds import cost_bounds
from handlers.runtime.ledger import Prices
from plugins import Engine

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "Pulumi.dev.yaml.example"


def example_bounds():
    document = yaml.safe_load(EXAMPLE.read_text())["config"]
    config = parse_stack_config({k.split(":", 1)[1]: v for k, v in document.items() if k.startswith("labelloop:")})
    _, settings = load_policies(config)
    return cost_bounds(settings, config.max_training_hours, config.prices), settings


def test_the_example_serves_on_demand_and_retrains_at_most_once_a_day():
    bounds, settings = example_bounds()
    assert bounds.on_demand and bounds.idle_day == 0
    assert settings["Start-On-Pending-Images"] >= 1 and settings["Idle-Stop-Minutes"] <= 30
    assert bounds.trainings_per_day == 1 and bounds.units == 1


def test_the_guide_and_the_example_state_the_computed_costs():
    bounds, settings = example_bounds()
    wake = f"${bounds.wake(settings['Idle-Stop-Minutes']):.2f}"
    worst = f"${bounds.worst_day:.0f}"
    guide = " ".join((ROOT / "docs" / "deploying.md").read_text().split())  # wherever the lines break
    assert f"its worst day costs {worst}" in guide and f"a burst of uploads about {wake}" in guide
    comment = EXAMPLE.read_text()
    assert f"the worst day - uploads that never\n# pause, and a training with its blue/green switch - {worst}" in comment
    assert f"a burst of uploads about\n# {wake}" in comment


def _settings(**values):
    return Engine.load([], entry_points=False).catalog.defaults(values)


@pytest.mark.parametrize("values, expected", [
    # The defaults: always on; two checks a day, but one 24-hour training fills the day.
    ({}, {"on_demand": False, "idle_day": 96.0, "trainings_per_day": 1, "worst_day": 96.0 + 24 * 1.0 + 4.0}),
    ({"Idle-Stop-Minutes": 30, "Start-On-Pending-Images": 1, "Automatic-Training-Poll-Frequency": 1440},
     {"on_demand": True, "idle_day": 0.0, "worst_day": 96.0 + 24.0 + 4.0, "wake": 2.33}),
    ({"Minimum-Inference-Units": 2, "Maximum-Inference-Units": 5, "Enable-Automatic-Training": False},
     {"units": 5, "worst_day": 480.0, "trainings_per_day": 0}),
])
def test_cost_bounds(values, expected):
    bounds = cost_bounds(_settings(**values), 24.0, Prices())
    figures = bounds.as_dict(values.get("Idle-Stop-Minutes", 0))
    assert {k: figures[k] for k in expected} == expected
