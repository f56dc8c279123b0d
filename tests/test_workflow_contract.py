"""The state machine definitions and the handlers agree through one contract
(handlers/runtime/workflow.py): every path a definition writes is one the
contract names, every path a state or a task reads is written before it, every
task invokes the function the contract names, and the payloads the definitions
build are the ones the handlers read."""

import dataclasses

import pytest

from components.functions import FUNCTIONS
from components.model_lifecycle import LIFECYCLE_FUNCTIONS
from components.state_machines import detection_definition, lifecycle_definition
from handlers.lifecycle.finish import EVENT_KINDS, HEADLINES
from handlers.runtime import workflow as wf

ARNS = {key: f"arn:aws:lambda:us-east-1:123456789012:function:labelloop-test-{key}" for key in FUNCTIONS}
DETECTION = detection_definition(ARNS["detect"], ARNS["start_review"], ARNS["detection_failed"])
LIFECYCLE = lifecycle_definition({key: ARNS[key] for key in LIFECYCLE_FUNCTIONS})
# definition, its tasks, the keys of its execution input that its states read
WORKFLOWS = {"detection": (DETECTION, wf.DETECTION_TASKS, set()),
             "lifecycle": (LIFECYCLE, wf.LIFECYCLE_TASKS, {wf.ACTION})}


def written(definition: dict) -> set[str]:
    """Every ResultPath a definition writes (states and their catches)."""
    paths = set()
    for state in definition["States"].values():
        if "ResultPath" in state:
            paths.add(state["ResultPath"])
        paths |= {catch["ResultPath"] for catch in state.get("Catch", [])}
    return paths


def _references(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Variable" or key.endswith(".$"):
                yield value
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


def read(definition: dict) -> set[str]:
    """Every path into the execution's state that a definition's parameters and choices read."""
    paths = set()
    for state in definition["States"].values():
        paths |= set(_references([state.get("Parameters"), state.get("Choices")]))
    return {path for path in paths if path.startswith("$.")}  # not "$" (all of it) nor "$$." (the context)


def test_every_result_path_the_definitions_write_is_named_by_the_contract():
    slots = {slot.path for slot in wf.SLOTS}
    for definition, _, _ in WORKFLOWS.values():
        assert written(definition) <= slots, written(definition) - slots
    assert written(DETECTION) | written(LIFECYCLE) == slots  # and the contract names nothing unused


@pytest.mark.parametrize("workflow", WORKFLOWS)
def test_every_task_is_a_contract_task_invoking_its_function(workflow):
    definition, tasks, _ = WORKFLOWS[workflow]
    states = definition["States"]
    assert {name for name, state in states.items() if state["Type"] == "Task"} == {task.state for task in tasks}
    for task in tasks:
        state = states[task.state]
        assert state["Parameters"]["FunctionName"] == ARNS[task.function], task
        assert state["ResultPath"] == task.result.path, task
        assert state["ResultSelector"] == {f"{wf.VALUE}.$": "$.Payload"}, task  # what Result.value unwraps


@pytest.mark.parametrize("workflow", WORKFLOWS)
def test_every_path_a_definition_reads_is_written_or_in_its_input(workflow):
    definition, _, inputs = WORKFLOWS[workflow]
    slots = {slot.path: slot for slot in wf.SLOTS}
    for path in read(definition):
        top = ".".join(path.split(".")[:2])
        if top[2:] in inputs:
            continue
        assert top in written(definition), path
        if isinstance(slots[top], wf.Result):  # a result is read through its "value"
            assert path.startswith(slots[top].field()), path


def test_the_poll_payloads_are_what_the_poll_handler_reads():
    fields = {field.name for field in dataclasses.fields(wf.PollRequest)}
    for task in (wf.POLL_TRAINING, wf.POLL_START):
        payload = LIFECYCLE["States"][task.state]["Parameters"]["Payload"]
        assert {key.removesuffix(".$") for key in payload} == fields, task


def test_the_failure_payload_is_what_the_failure_handler_reads():
    payload = DETECTION["States"][wf.RECORD_FAILURE.state]["Parameters"]["Payload"]
    assert {key.removesuffix(".$") for key in payload} == {f.name for f in dataclasses.fields(wf.FailedDetection)}
    assert payload["error.$"] in written(DETECTION)


def test_every_result_a_lifecycle_task_reads_is_written_by_the_definition():
    """A state holding exactly what the definition writes gives every accessor something."""
    state = {path[2:]: {wf.VALUE: {"written at": path}} for path in written(LIFECYCLE)}
    state[wf.RUN.name] = {"owner": "run-1", "lock_seconds": 60}
    run, nothing = wf.RunState.from_event(state), wf.RunState.from_event({wf.RUN.name: {"owner": None}})
    accessors = [name for name, member in vars(wf.RunState).items() if isinstance(member, property)]
    assert len(accessors) > 10
    for name in accessors:
        if name not in ("trigger", "rollback_to"):  # from the execution's input, below
            assert getattr(run, name) != getattr(nothing, name), name


def test_the_inputs_are_what_the_lifecycle_reads():
    assert wf.RunState.from_event(wf.lifecycle_input("manual")).trigger == "manual"
    rollback = LIFECYCLE["States"]["Action"]["Choices"][0]
    assert rollback["Next"] == wf.PREPARE_ROLLBACK.state
    assert {(c["Variable"], c.get("StringEquals")) for c in rollback["And"]} == {
        (f"$.{key}", value) for key, value in wf.rollback_input().items()} | {(f"$.{wf.ACTION}", None)}
    assert wf.RunState.from_event(wf.rollback_input("v3")).rollback_to == "v3"
    assert wf.RunState.from_event(wf.rollback_input()).rollback_to is None


def test_every_outcome_is_recorded_by_a_state_and_reported_by_finish():
    recorded = {state["Result"][wf.VALUE] for state in LIFECYCLE["States"].values()
                if state["Type"] == "Pass" and state.get("ResultPath") == wf.OUTCOME.path}
    assert recorded == set(wf.Outcome) == set(HEADLINES) == set(EVENT_KINDS)
