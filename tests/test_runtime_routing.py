"""Which upload starts what, and the detect handler with both S3 event formats."""

import json

import pytest
from stack_support import (
    CONFIDENT,
    PNG,
    detection_result,
    detections_asked,
    eventbridge_event,
    execution_for,
    fresh,
    invocations_of,
    notification_event,
    output_key,
    records_for,
    upload,
)

from handlers.runtime import context
from handlers.runtime.ids import detection_id


@pytest.fixture
def st(shared_stack):
    fresh(shared_stack)
    return shared_stack


def _routed(st):
    return {
        "detection": len(st.executions),
        "training_data": len(invocations_of(st, "training_data")),
        "review_output": len(invocations_of(st, "review_output")),
    }


@pytest.mark.parametrize("key, target", [
    ("images_for_detection/route/a.png", "detection"),
    ("images_for_detection/route/deeper/b.jpg", "detection"),
    ("images_labeled_by_folder/cat/route-a.png", "training_data"),
    ("a2i-human-loop-data/labelloop-sandbox/2026/01/01/00/00/00/labelloop-x/output.json", "review_output"),
    ("manifests/route.manifest", None),
    ("evaluation/route/summary.json", None),
    ("elsewhere/images_for_detection/c.png", None),
    ("route-d.png", None),
])
def test_upload_routing(st, key, target):
    before = _routed(st)
    upload(st, key, CONFIDENT)
    after = _routed(st)
    expected = {name: before[name] + (1 if name == target else 0) for name in before}
    assert after == expected


@pytest.mark.parametrize("key, target", [
    ("images_for_detection/route/deleted.png", None),
    ("images_labeled_by_folder/dog/route-deleted.png", "training_data"),
])
def test_delete_routing(st, key, target):
    st.client("s3").put_object(Bucket=st.bucket, Key=key, Body=PNG)
    st.pump()
    before = _routed(st)
    st.client("s3").delete_object(Bucket=st.bucket, Key=key)
    st.pump()
    after = _routed(st)
    assert after == {name: before[name] + (1 if name == target else 0) for name in before}


def test_multipart_upload_is_detected(st):
    key = "images_for_detection/route/multi part.png"
    s3 = st.client("s3")
    upload_id = s3.create_multipart_upload(Bucket=st.bucket, Key=key)["UploadId"]
    part = s3.upload_part(Bucket=st.bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=PNG)
    s3.complete_multipart_upload(Bucket=st.bucket, Key=key, UploadId=upload_id,
                                 MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]})
    st.pump()
    outcomes = [detection_result(e)["outcome"] for e in st.executions
                if json.loads(e["input"])["detail"]["object"]["key"] == key]
    # moto announces a completed multipart upload twice; the second is a duplicate
    assert outcomes.count("confident") == 1 and set(outcomes) <= {"confident", "duplicate"}
    [record] = records_for(key)
    assert record.etag.endswith("-1")  # a multipart ETag


def test_copy_is_detected(st):
    source, key = "elsewhere/original.png", "images_for_detection/route/copied.png"
    st.client("s3").put_object(Bucket=st.bucket, Key=source, Body=PNG)
    st.client("s3").copy_object(Bucket=st.bucket, Key=key, CopySource={"Bucket": st.bucket, "Key": source})
    st.pump()
    assert detection_result(execution_for(st, key))["outcome"] == "confident"


@pytest.mark.parametrize("key", [
    "images_for_detection/route/my photo+1.png",
    "images_for_detection/route/café ☕/Straße.JPG",
    "images_for_detection/route/100% & more=.jpeg",
])
def test_awkward_keys_through_eventbridge(st, key):
    execution = upload(st, key, CONFIDENT)
    assert detection_result(execution)["outcome"] == "confident"
    assert detections_asked(st)[-1]["Image"]["S3Object"]["Name"] == key  # the key as it is, not re-encoded
    [record] = records_for(key)
    assert record.image_uri == f"s3://{st.bucket}/{key}"


@pytest.mark.parametrize("key", [
    "images_for_detection/route/notif photo+2.png",
    "images_for_detection/route/notif café ☕.png",
])
def test_detect_handler_decodes_notification_keys(st, key):
    st.client("s3").put_object(Bucket=st.bucket, Key=key, Body=PNG)
    etag = st.client("s3").head_object(Bucket=st.bucket, Key=key)["ETag"].strip('"')
    st.discard_pending_events()  # deliver this one by S3 notification instead
    event = notification_event(st.bucket, (key, etag, len(PNG)))
    assert event["Records"][0]["s3"]["object"]["key"] != key
    result = st.deliver("detect", event)
    assert result["outcome"] == "confident" and result["key"] == key
    assert detections_asked(st)[-1]["Image"]["S3Object"]["Name"] == key
    assert result["detection_id"] == detection_id(st.bucket, key, etag)
    # the same object arriving by EventBridge later is the same detection
    again = st.deliver("detect", eventbridge_event(st.bucket, key, etag))
    assert again["outcome"] == "duplicate"
    assert len(records_for(key)) == 1


def test_detect_handler_refuses_what_is_not_an_s3_event(st):
    from sandbox.local_aws import LambdaFailed

    with pytest.raises(LambdaFailed) as failed:
        st.deliver("detect", {"hello": "world"})
    assert failed.value.payload["errorType"] == "UnrecognisedEvent"


def test_detections_are_counted_on_their_day(st):
    before = context.table().day_stats().counts.get("outcome_confident", 0)
    upload(st, "images_for_detection/route/seq-1.png", CONFIDENT)
    upload(st, "images_for_detection/route/seq-2.png", CONFIDENT)
    assert context.table().day_stats().counts["outcome_confident"] == before + 2


def test_review_output_handler_ignores_other_files(st):
    key = output_key(st, "labelloop-nothing").replace("output.json", "notes.txt")
    upload(st, key)
    [invocation] = invocations_of(st, "review_output")
    assert invocation.result == [{"output": key, "status": "ignored", "reason": "not a created output.json"}]
