"""Operator parameter changes reach the training schedule through the
parameter-change rule (SSM change event → EventBridge → handler).

moto's Parameter Store does not enforce a parameter's AllowedPattern on
overwrite, which lets these tests deliver values the real service would refuse
(as happens when someone removes the pattern): the handler must ignore them.
"""

from __future__ import annotations

import itertools
import json

import pytest
import state_support

from handlers.parameter_change import rate_expression
from handlers.runtime import context
from handlers.runtime.state import ParameterChange
from sandbox.local_aws import LocalStack

TOGGLE, FREQUENCY = "Enable-Automatic-Training", "Automatic-Training-Poll-Frequency"


@pytest.fixture(scope="module")
def shared():
    with LocalStack(labels=("cat", "dog")) as stack:
        yield stack


@pytest.fixture
def stack(shared):
    """One stack for the module (its setup is the slow part), put back to the defaults for each test."""
    for name, value in ((TOGGLE, "true"), (FREQUENCY, "720")):
        shared.client("ssm").put_parameter(Name=shared.parameter_path + name, Value=value, Overwrite=True)
    shared.client("events").put_rule(Name=shared.schedule_rule, ScheduleExpression="rate(720 minutes)",
                                     State="ENABLED", Description=_rule(shared)["Description"])
    state_support.delete_partition("PARAMCHANGE")
    context.parameters().provider.clear_cache()
    shared.pump()
    shared.notifications()
    return shared


def _rule(stack) -> dict:
    return stack.client("events").describe_rule(Name=stack.schedule_rule)


def _set(stack, name: str, value: str) -> None:
    stack.set_parameter(name, value)
    assert stack.pump() == 1


def _changes() -> list[ParameterChange]:
    return context.table().parameter_changes()


def test_rate_expression_is_singular_for_one_minute():
    assert rate_expression(1) == "rate(1 minute)"
    assert rate_expression(2) == "rate(2 minutes)"
    assert rate_expression(720) == "rate(720 minutes)"


def test_enable_disable_and_frequency_in_every_order(stack):
    """Every order of disable, frequency and enable, with an invalid value between
    them: after each step the rule is exactly what the valid changes so far say."""
    rule = _rule(stack)
    assert (rule["State"], rule["ScheduleExpression"]) == ("ENABLED", "rate(720 minutes)")  # the defaults
    description = rule["Description"]
    invalid = [(TOGGLE, "maybe"), (FREQUENCY, "0"), (FREQUENCY, "ten")]
    enabled, minutes, applied = True, 720, 0
    for n, order in enumerate(itertools.permutations(["disable", "frequency", "enable"])):
        steps = {"disable": (TOGGLE, "false"), "enable": (TOGGLE, "TRUE"),
                 "frequency": (FREQUENCY, "1" if n % 2 else "45")}
        bad = invalid[n % len(invalid)]
        for name, value in [steps[order[0]], bad, steps[order[1]], steps[order[2]]]:
            _set(stack, name, value)
            if (name, value) != bad:
                applied += 1
                if name == TOGGLE:
                    enabled = value.lower() == "true"
                else:
                    minutes = int(value)
            rule = _rule(stack)
            expected = ("ENABLED" if enabled else "DISABLED", f"rate({minutes} minute{'' if minutes == 1 else 's'})")
            assert (rule["State"], rule["ScheduleExpression"]) == expected, (order, name, value)
            assert rule["Description"] == description
    assert len(_changes()) == applied == 3 * 6


def test_a_frequency_change_never_re_enables_a_disabled_schedule(stack):
    _set(stack, TOGGLE, "false")
    for value in ("1", "5", "1", "43200"):
        _set(stack, FREQUENCY, value)
        assert _rule(stack)["State"] == "DISABLED"
    assert _rule(stack)["ScheduleExpression"] == "rate(43200 minutes)"
    _set(stack, TOGGLE, "on")
    assert (_rule(stack)["State"], _rule(stack)["ScheduleExpression"]) == ("ENABLED", "rate(43200 minutes)")


def test_every_change_is_recorded_and_notified(stack):
    _set(stack, TOGGLE, "False")
    _set(stack, FREQUENCY, "1")
    _set(stack, "Minimum-F1-Score", "0.9")  # not a schedule parameter: recorded, the rule untouched

    changes = _changes()
    assert [(c.parameter, c.value, c.operation) for c in changes] == [
        (TOGGLE, "false", "Update"), (FREQUENCY, "1", "Update"), ("Minimum-F1-Score", "0.9", "Update")]
    assert changes[0].schedule == "disabled (rate(720 minutes))"
    assert changes[1].schedule == "rate(1 minute), disabled"
    assert changes[2].schedule is None
    subjects = [n["subject"] for n in stack.notifications()]
    assert subjects == [f"[labelloop sandbox] Parameter {TOGGLE} is now false",
                        f"[labelloop sandbox] Parameter {FREQUENCY} is now 1",
                        "[labelloop sandbox] Parameter Minimum-F1-Score is now 0.9"]
    assert context.settings()["Minimum-F1-Score"] == 0.9  # this container sees it at once

    stack.set_parameter("Not-A-Parameter", "x")  # under the path, not in the catalog: ignored
    assert stack.pump() == 1
    assert len(_changes()) == 3 and stack.notifications() == []


def test_an_invalid_value_changes_nothing_and_is_reported_once(stack):
    _set(stack, FREQUENCY, "30")
    stack.notifications()
    before = _rule(stack)
    for _ in range(2):
        _set(stack, FREQUENCY, "99999")  # above the 43200 maximum
    _set(stack, TOGGLE, "perhaps")

    after = _rule(stack)
    assert (after["State"], after["ScheduleExpression"]) == (before["State"], before["ScheduleExpression"])
    assert [c.value for c in _changes()] == ["30"]
    notes = stack.notifications()
    assert [n["message"].splitlines()[0] for n in notes] == [
        f"Parameter {FREQUENCY} was set to an invalid value; nothing changed",
        f"Parameter {TOGGLE} was set to an invalid value; nothing changed"]
    assert "labelloop params set" in notes[0]["message"] and "99999" in notes[0]["message"]


def test_a_deleted_parameter_falls_back_to_its_default(stack):
    _set(stack, FREQUENCY, "5")
    stack.client("ssm").delete_parameter(Name=stack.parameter_path + FREQUENCY)
    stack.client("events").put_events(Entries=[{
        "Source": "aws.ssm", "DetailType": "Parameter Store Change",
        "Detail": json.dumps({"operation": "Delete", "name": stack.parameter_path + FREQUENCY, "type": "String"})}])
    assert stack.pump() == 1
    assert _rule(stack)["ScheduleExpression"] == "rate(720 minutes)"
    assert _changes()[-1].operation == "Delete"
