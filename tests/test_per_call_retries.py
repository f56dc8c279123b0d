"""A step that makes many AWS calls does not fail as a whole when one of them is throttled: each
call (a replayed detection's start, a page of the label folders or of the model versions, a start
of one record's detection) is tried again on its own by the client (botocore's standard mode, the
functions' client configuration), within a fraction of a second. Injected at the HTTP level: one
transient fault on every call of its kind, or on one page."""

from __future__ import annotations

from fault_support import every_first_attempt, production_clients, refusing
from lifecycle_support import deploy_first, lifecycle_stack, seed
from stack_support import CONFIDENT, activate_model, deactivate_model, local_stack, notification_event, upload

from handlers import detect
from handlers.lifecycle import manifest, replay, strays
from handlers.runtime import context
from handlers.runtime.events import object_events
from handlers.runtime.workflow import detection_input

OWNER = "arn:aws:states:us-east-1:123456789012:execution:lifecycle:run-1"


def test_every_replayed_start_throttled_once_still_replays_the_whole_page():
    keys = [f"images_for_detection/per-call/{i}.png" for i in range(5)]
    with local_stack(serial=True) as stack:  # each execution runs to its end as it starts
        deactivate_model()
        for key in keys:
            upload(stack, key, CONFIDENT)
        activate_model()
        with refusing(stack.session, "stepfunctions", "StartExecution", "ThrottlingException",
                      every_first_attempt) as (attempts, waits):
            result = replay.replay_pending(OWNER)
        assert result["replayed"] == 5 and attempts == [10] and len(waits) == 5
        assert context.table().pending() == []  # each detected


def test_a_throttled_page_of_the_label_folders_is_listed_again_not_the_whole_step():
    with lifecycle_stack() as stack:
        seed(stack, {"cat": 3, "dog": 2})
        with refusing(stack.session, "s3", "ListObjectsV2", "SlowDown", every_first_attempt, 503) as (attempts, waits):
            result = manifest.build(stack.bucket, "v9", stack.config.labels)
        # The label folders' one page, then the gate set's (empty) one: each listed again on its own.
        assert attempts == [4] and len(waits) == 2
        assert result["ok"] and result["counts"] == {"cat": 3, "dog": 2}


def test_a_throttled_page_of_the_model_versions_is_read_again():
    with lifecycle_stack() as stack:
        deploy_first(stack)
        stack.models.fail_next("DescribeProjectVersions", "ThrottlingException")
        with production_clients(stack.session) as waits:
            assert strays.running_versions() == {"v1": stack.models.arn("v1")}
        assert len(waits) == 1


def test_each_record_of_a_split_event_starts_its_detection_though_each_start_is_throttled_once():
    keys = [f"images_for_detection/per-call/split-{i}.png" for i in range(3)]
    with local_stack() as stack:
        event = notification_event(stack.bucket, *((key, f"e{i}", 40) for i, key in enumerate(keys)))
        with refusing(stack.session, "stepfunctions", "StartExecution", "ServiceUnavailable",
                      every_first_attempt, 503) as (attempts, waits):
            result = detect.split(list(object_events(event)))
        assert result["records"] == 3 and attempts == [6] and len(waits) == 3


def test_a_start_sent_again_under_its_name_is_that_start():
    """The client sends a start again when its response was lost, though it was applied: the execution
    already under that name is this start, not an error that fails the replay."""
    key = "images_for_detection/per-call/again.png"
    with local_stack(serial=True) as stack:
        upload(stack, key, CONFIDENT)
        head = stack.client("s3").head_object(Bucket=stack.bucket, Key=key)
        detection = detection_input(stack.bucket, key, head["ETag"].strip('"'), head.get("VersionId"), reason="again")
        detect.start_detection("replay-again", detection)
        detect.start_detection("replay-again", detection)
        arn = stack.state_machines["detection"]
        names = [e["name"] for e in stack.client("stepfunctions").list_executions(stateMachineArn=arn)["executions"]]
        assert names.count("replay-again") == 1
