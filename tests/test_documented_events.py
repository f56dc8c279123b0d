"""The events AWS documents (tests/events/, sources in its README), with only the bucket, the key,
the parameter or the human loop made the stack's, go through the real handlers: the S3
notification record and the EventBridge "Object Created" to detection, "Object Deleted" to the
training-data counters, the A2I output document to review processing, the "Parameter Store Change"
to the schedule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from stack_support import (PNG, UNSURE, activate_model, counts, detection_result, local_stack, model_arn, open_review,
                           output_key, record_of, training_keys)

from handlers.runtime.events import ObjectEvent, object_events
from handlers.runtime.ids import detection_id
from sandbox.local_aws import LocalStack

EVENTS = Path(__file__).resolve().parent / "events"


def documented(name: str, **values: str) -> dict:
    """An example event, its placeholders (``BUCKET`` …) replaced."""
    text = (EVENTS / name).read_text()
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return json.loads(text)


@pytest.fixture
def st():
    with local_stack() as stack:
        activate_model()
        yield stack


def test_every_fixture_names_its_source():
    readme = (EVENTS / "README.md").read_text()
    fixtures = sorted(p.name for p in EVENTS.glob("*.json"))
    assert len(fixtures) == 5 and all(f"`{name}` | " in readme and "https://docs.aws.amazon.com/" in readme
                                      for name in fixtures)


def test_a_documented_notification_record_reads_as_its_object():
    event = documented("s3-notification-put.json", BUCKET="b")
    assert list(object_events(event)) == [ObjectEvent(
        "b", "images_for_detection/Happy Face(1).jpg", "d41d8cd98f00b204e9800998ecf8427e",
        "096fKKXTRTtl3on89fVO.nfljtsv6qko", 1024, True, "ObjectCreated:Put")]


def test_documented_eventbridge_events_read_as_their_objects():
    created = documented("eventbridge-object-created.json", BUCKET="b")
    deleted = documented("eventbridge-object-deleted.json", BUCKET="b")
    assert list(object_events(created)) == [ObjectEvent(
        "b", "images_for_detection/example key+1.png", "b1946ac92492d2347c6235b4d2611184",
        "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e", 5, True, "PutObject")]
    assert list(object_events(deleted)) == [ObjectEvent(
        "b", "images_labeled_by_folder/cat/example-key.png", "d41d8cd98f00b204e9800998ecf8427e",
        "1QW9g1Z99LUNbvaaYVpW9xDlOLU.qxgF", None, False, "DeleteObject", "Delete Marker Created")]


@pytest.mark.parametrize("fixture, key", [
    ("s3-notification-put.json", "images_for_detection/Happy Face(1).jpg"),
    ("eventbridge-object-created.json", "images_for_detection/example key+1.png"),
])
def test_a_documented_upload_event_is_detected(st, fixture, key):
    st.client("s3").put_object(Bucket=st.bucket, Key=key, Body=PNG)
    st.discard_pending_events()  # the documented event is the one delivered
    st.deliver("detection", documented(fixture, BUCKET=st.bucket))
    [execution] = st.wait_for_executions()
    assert execution["status"] == "SUCCEEDED", execution
    result = detection_result(execution)
    assert result["outcome"] == "confident" and result["key"] == key
    event_version = next(object_events(documented(fixture, BUCKET=st.bucket))).content_id
    assert result["detection_id"] == detection_id(st.bucket, key, event_version)  # the version the event names
    asked = st.models.operations("DetectCustomLabels")[-1]
    assert asked["Image"]["S3Object"] == {"Bucket": st.bucket, "Name": key, "Version": event_version}
    assert asked["ProjectVersionArn"] == model_arn("v1")


def test_a_documented_delete_event_uncounts_the_training_image(st):
    key = "images_labeled_by_folder/cat/example-key.png"
    st.client("s3").put_object(Bucket=st.bucket, Key=key, Body=PNG)
    st.pump()
    assert counts() == {"cat": 1}
    st.client("s3").delete_object(Bucket=st.bucket, Key=key)
    st.discard_pending_events()
    st.deliver("training_data", documented("eventbridge-object-deleted.json", BUCKET=st.bucket))
    assert counts() == {"cat": 0}


def test_a_documented_a2i_output_becomes_training_data(st):
    detection, loop = open_review(st, "images_for_detection/unsure.png", UNSURE)
    text = (EVENTS / "a2i-output.json").read_text()
    text = text.replace('"INPUT_CONTENT"', json.dumps(st.a2i.loops[loop].input))
    document = json.loads(text.replace("FLOW_DEFINITION_ARN", st.flow_definition_arn)
                          .replace("HUMAN_LOOP_NAME", loop))
    key = output_key(st, loop)
    st.client("s3").put_object(Bucket=st.bucket, Key=key, Body=json.dumps(document).encode())
    st.pump()
    record = record_of(st, "images_for_detection/unsure.png")
    assert record.review_status == "accepted" and record.human_label == "cat"
    assert [k for k in training_keys(st) if k.startswith("images_labeled_by_folder/cat/")]
    assert record.detection_id == detection


def test_a_documented_parameter_change_reaches_the_schedule():
    with LocalStack(labels=("cat", "dog")) as stack:
        name = stack.parameter_path + "Automatic-Training-Poll-Frequency"
        stack.client("ssm").put_parameter(Name=name, Value="7", Type="String", Overwrite=True)
        event = documented("ssm-parameter-store-change.json", ARN_NAME=name.lstrip("/"), NAME=name)
        result = stack.deliver("parameter_change", event)
        assert result["applied"] is True and result["value"] == "7"
        rule = stack.client("events").describe_rule(Name=stack.schedule_rule)
        assert rule["ScheduleExpression"] == "rate(7 minutes)"
