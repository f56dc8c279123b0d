"""Helpers of the lifecycle tests: a stack with the Custom Labels stand-in, seeding
training images through the bucket, and reading what a run left behind."""

from __future__ import annotations

import contextlib
import json
import time

from handlers.runtime import context
from sandbox.a2i import A2I
from sandbox.custom_labels import CustomLabels
from sandbox.local_aws import LocalStack
from sandbox.scripted_trainer import scripted_custom_labels

LABELS = ("cat", "dog")
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


@contextlib.contextmanager
def lifecycle_stack(models: CustomLabels | None = None, labels=LABELS, policies=(), **options):
    """A LocalStack with ``models`` (scripted by default) standing in for Rekognition; ``options`` go to
    lifecycle_definition."""
    models = models or scripted_custom_labels(labels=labels)
    with LocalStack(labels=labels, policies=tuple(policies), lifecycle_options=options,
                    standins={"rekognition": models, "sagemaker-a2i-runtime": A2I()}) as stack:
        stack.models = models
        yield stack


def seed(stack, counts: dict[str, int], start: int = 0) -> None:
    """Put PNG images into the label folders and let the training-data rule count them."""
    s3 = stack.client("s3")
    for label, n in counts.items():
        for i in range(start, start + n):
            s3.put_object(Bucket=stack.bucket, Key=f"images_labeled_by_folder/{label}/img-{i}.png",
                          Body=PNG + i.to_bytes(4, "big"))
    stack.pump()


def loop():
    return context.table().loop()


def new_since_training(stack) -> int:
    """New labelled images since the last training, as the training check counts them."""
    from handlers.lifecycle.check import training_facts

    return training_facts(stack.config.labels)[1].new_total


def output(execution: dict) -> dict:
    return json.loads(execution.get("output") or "{}")


def finish_result(stack, execution: dict) -> dict:
    """What the Finish task returned for this run (also present when the run failed)."""
    name = execution["executionArn"]
    for invocation in stack.invocations:
        if invocation.key == "finish_run" and invocation.event.get("run", {}).get("owner") == name:
            return invocation.result
    raise AssertionError("Finish did not run")


def deploy_first(stack) -> dict:
    """A first model (v1) deployed the ordinary way; notifications so far are drained."""
    seed(stack, {label: 6 for label in stack.config.labels})
    execution = stack.run_lifecycle()
    assert execution["status"] == "SUCCEEDED", execution
    assert loop().active_version == "v1"
    stack.notifications()
    return execution


def wait_for_detections(stack, timeout: float = 30.0) -> None:
    """Wait until no execution of the detection state machine is running (replays start them directly)."""
    sfn, deadline = stack.client("stepfunctions"), time.monotonic() + timeout
    while sfn.list_executions(stateMachineArn=stack.state_machines["detection"], statusFilter="RUNNING")["executions"]:
        assert time.monotonic() < deadline, "detections still running"
        time.sleep(0.01)


def deployed_with_two_reviews(stack, models, unsure=(("cat", 52.0), ("dog", 41.0))) -> None:
    """A stack with a deployed model and two unsure uploads under review, ``kept.png`` and ``deleted.png``
    (a backend's end-to-end test deletes the second)."""
    seed(stack, {"cat": 6, "dog": 6})
    assert stack.run_lifecycle()["status"] == "SUCCEEDED"
    for name in ("kept", "deleted"):
        models.trainer.by_key[f"images_for_detection/{name}.png"] = unsure
        stack.client("s3").put_object(Bucket=stack.bucket, Key=f"images_for_detection/{name}.png",
                                      Body=PNG + name.encode())
    stack.pump()
    wait_for_detections(stack)
