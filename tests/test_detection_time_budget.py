"""The detection workflow fits Express's five minutes — the whole run, every retry and backoff
included, along its longest path, RecordFailure too — so a failure is always recorded before the
run's end. Computed from the deployed definition and the functions' timeouts."""

from __future__ import annotations

from typing import Any, Mapping

from components.functions import FUNCTIONS
from components.state_machines import RETRY_SERVICE_ERRORS, detection_definition, lifecycle_definition
from handlers.runtime import workflow as wf

EXPRESS_LIMIT = 300
BUDGET = 240  # a minute of margin for cold starts, Step Functions' own latency and clock skew


def backoff_seconds(rule: Mapping[str, Any]) -> float:
    """The longest wait a Retry rule adds: each delay at its maximum (full jitter draws up to it)."""
    interval, rate = rule.get("IntervalSeconds", 1), rule.get("BackoffRate", 2.0)
    cap = rule.get("MaxDelaySeconds", float("inf"))
    return sum(min(interval * rate**n, cap) for n in range(rule.get("MaxAttempts", 3)))


def task_seconds(state: Mapping[str, Any]) -> float:
    """Every attempt running to the function's timeout, every Retry rule spent, every backoff at its maximum."""
    timeout = FUNCTIONS[state["Parameters"]["FunctionName"]].timeout
    rules = state.get("Retry", [])
    attempts = 1 + sum(rule.get("MaxAttempts", 3) for rule in rules)  # each rule counts its own attempts
    return timeout * attempts + sum(backoff_seconds(rule) for rule in rules)


def successors(state: Mapping[str, Any]) -> list[str]:
    nexts = [state["Next"]] if "Next" in state else []
    nexts += [choice["Next"] for choice in state.get("Choices", [])]
    nexts += [state["Default"]] if "Default" in state else []
    return nexts + [catch["Next"] for catch in state.get("Catch", [])]


def longest_path(definition: Mapping[str, Any]) -> tuple[float, list[str]]:
    states = definition["States"]

    def walk(name: str, seen: tuple[str, ...]) -> tuple[float, list[str]]:
        assert name not in seen, f"a loop through {name}: the run has no bound"
        state = states[name]
        own = task_seconds(state) if state["Type"] == "Task" else 0.0
        tails = [walk(n, (*seen, name)) for n in successors(state)]
        seconds, path = max(tails, default=(0.0, []))
        return own + seconds, [name, *path]

    return walk(definition["StartAt"], ())


DEFINITION = detection_definition(*(task.function for task in wf.DETECTION_TASKS))


def test_the_worst_detection_run_fits_express_with_margin():
    seconds, path = longest_path(DEFINITION)
    assert path == [wf.DETECT.state, "ReviewNeeded", wf.START_REVIEW.state, wf.RECORD_FAILURE.state, "Failed"]
    assert seconds <= BUDGET, f"{seconds:.0f} s along {' → '.join(path)}"


def test_the_run_times_out_before_express_cuts_it_off_and_after_its_worst_case():
    seconds, _ = longest_path(DEFINITION)
    assert seconds < DEFINITION["TimeoutSeconds"] < EXPRESS_LIMIT


def test_recording_the_failure_is_retried_within_the_budget():
    record = DEFINITION["States"][wf.RECORD_FAILURE.state]
    assert record["Retry"], "a throttled failure record would be lost"
    assert task_seconds(record) <= BUDGET - task_seconds(DEFINITION["States"][wf.DETECT.state]) \
        - task_seconds(DEFINITION["States"][wf.START_REVIEW.state])


def test_the_budget_counts_every_attempt_and_backoff():
    state = {"Type": "Task", "Parameters": {"FunctionName": "detect"},
             "Retry": [{"IntervalSeconds": 2, "MaxAttempts": 3, "BackoffRate": 2.0, "MaxDelaySeconds": 5},
                       {"IntervalSeconds": 1, "MaxAttempts": 1}]}
    assert backoff_seconds(state["Retry"][0]) == 2 + 4 + 5
    assert task_seconds(state) == FUNCTIONS["detect"].timeout * 5 + 11 + 1


def test_the_lifecycle_keeps_its_generous_budget():
    definition = lifecycle_definition({spec.key: spec.key for spec in FUNCTIONS.values()})
    for name, state in definition["States"].items():
        if state["Type"] == "Task":
            assert RETRY_SERVICE_ERRORS in state["Retry"], name
    assert (RETRY_SERVICE_ERRORS["MaxAttempts"], RETRY_SERVICE_ERRORS["MaxDelaySeconds"]) == (6, 60)
