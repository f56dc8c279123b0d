"""A lifecycle task retried after a partial success goes on: its first attempt's call applied (the
switch, the version created, the stop), then a later call of the same task failed after its own
retries; Step Functions runs the task again, which finds its own work done and continues. Injected:
the write after the call, refused as throttled until the task fails."""

from __future__ import annotations

import contextlib
import json

import pytest
from fault_support import refusing
from lifecycle_support import deploy_first, lifecycle_stack, loop, output, seed

from handlers.runtime import context, state

pytestmark = pytest.mark.usefixtures("waits")  # the functions' own waits (a model still starting) do not sleep


@contextlib.contextmanager
def write_throttled(stack, pk: str, attribute: str, after=lambda: True):
    """The first UpdateItem of item ``pk`` that names ``attribute`` (once ``after()``) is throttled on every
    one of its client's attempts (so the task fails); the task's retry writes it. Yields the attempts refused."""
    refused = [0]

    def fails(_, request) -> bool:
        body = json.loads(request.body)
        hit = refused[0] < state.CALL_ATTEMPTS and body["Key"]["pk"]["S"] == pk and attribute in json.dumps(body)
        if hit and after():
            refused[0] += 1
            return True
        return False

    with refusing(stack.session, "dynamodb", "UpdateItem", "ProvisionedThroughputExceededException", fails):
        yield refused


def test_a_switch_retried_after_its_swap_applied_promotes_and_stops_the_previous_model():
    with lifecycle_stack() as stack:
        deploy_first(stack)
        seed(stack, {"cat": 5, "dog": 5}, start=100)
        v1 = stack.models.arn("v1")
        with write_throttled(stack, "MODEL#v2", "deployed_at") as refused:  # after the swap, in the same task
            execution = stack.run_lifecycle()
        assert refused == [state.CALL_ATTEMPTS]
        assert execution["status"] == "SUCCEEDED", execution
        assert output(execution)["outcome"]["value"] == "deployed"
        assert output(execution)["switch"]["value"] == {"previous_version": "v1", "previous_arn": v1}
        assert (loop().active_version, loop().previous_version) == ("v2", "v1")
        assert stack.models.running == {"v2"} and stack.models.status("v1") == "STOPPING"
        assert context.table().model("v2").status == "RUNNING"


def test_training_retried_after_its_version_was_created_trains_that_version():
    with lifecycle_stack() as stack:
        seed(stack, {"cat": 6, "dog": 6})
        created = lambda: bool(stack.models.operations("CreateProjectVersion"))  # noqa: E731
        with write_throttled(stack, "LOOP", "training_version", after=created) as refused:
            execution = stack.run_lifecycle()
        assert refused == [state.CALL_ATTEMPTS]
        assert execution["status"] == "SUCCEEDED", execution
        assert [c["VersionName"] for c in stack.models.operations("CreateProjectVersion")] == ["v1", "v1"]
        assert loop().active_version == "v1" and stack.models.running == {"v1"}
        assert context.table().model("v1").arn == stack.models.arn("v1")


def test_a_stop_retried_after_it_applied_records_the_model_stopping():
    with lifecycle_stack() as stack:
        deploy_first(stack)
        seed(stack, {"cat": 5, "dog": 5}, start=100)
        with write_throttled(stack, "MODEL#v1", "stopped_at") as refused:  # after StopProjectVersion
            execution = stack.run_lifecycle()
        assert refused == [state.CALL_ATTEMPTS]
        assert execution["status"] == "SUCCEEDED", execution
        assert output(execution)["stop"]["value"] == {"stopped": "v1"}
        assert context.table().model("v1").status == "STOPPING" and stack.models.running == {"v2"}
