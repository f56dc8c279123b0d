"""The real detection state machine definition, run by moto's Step Functions
interpreter with the Lambda tasks dispatched to the in-process handlers."""

import pytest
from stack_support import (
    CONFIDENT,
    UNSURE,
    activate_model,
    deactivate_model,
    detection_result,
    detections_asked,
    fresh,
    loops_for,
    model_arn,
    output_of,
    parameters,
    record_of,
    upload,
)

from components.state_machines import detection_definition
from handlers.runtime import context
from handlers.runtime.ids import HUMAN_LOOP_NAME
from policies.names import (
    ENABLE_REVIEW,
    ENABLE_SAMPLING,
    MIN_CONFIDENCE,
    SAMPLING_INTERVAL,
)

RETRIES = detection_definition("detect", "review", "failed")["States"]["Detect"]["Retry"][0]["MaxAttempts"]


@pytest.fixture
def st(shared_stack):
    fresh(shared_stack)
    activate_model("v1")
    yield shared_stack
    activate_model("v1")


def test_confident_image(st):
    key = "images_for_detection/sm/confident.png"
    execution = upload(st, key, CONFIDENT)
    assert execution["status"] == "SUCCEEDED"
    result = detection_result(execution)
    assert result["outcome"] == "confident" and result["review"] is False
    assert "review" not in output_of(execution)  # StartReview never ran
    call = detections_asked(st)[-1]
    assert call["MinConfidence"] == 0 and call["ProjectVersionArn"] == model_arn("v1")
    assert call["Image"] == {"S3Object": {"Bucket": st.bucket, "Name": key}}
    record = record_of(st, key)
    assert record.outcome == "confident"
    assert record.model_version == "v1"
    assert list(record.labels) == [{"name": "cat", "confidence": 95.0}, {"name": "dog", "confidence": 5.0}]
    assert record.decision["review"] is False and record.decision["policy"] == "policies.defaults"
    assert f"meets {MIN_CONFIDENCE}" in record.reason
    assert loops_for(st, result["detection_id"]) == []


def test_low_confidence_image_goes_to_review(st):
    key = "images_for_detection/sm/unsure image.png"
    execution = upload(st, key, UNSURE)
    assert execution["status"] == "SUCCEEDED"
    result = detection_result(execution)
    assert result["outcome"] == "to_training" and result["review"] is True
    [loop] = loops_for(st, result["detection_id"])
    assert HUMAN_LOOP_NAME.fullmatch(loop.name) and len(loop.name) <= 63
    assert loop.flow_definition_arn == st.flow_definition_arn
    loop_input = loop.input
    assert loop_input["taskObject"] == f"s3://{st.bucket}/{key}"
    assert loop_input["purpose"] == "training" and loop_input["modelVersion"] == "v1"
    assert [l["name"] for l in loop_input["modelLabels"]] == ["cat", "dog"]
    assert output_of(execution)["review"]["value"] == {"human_loop": loop.name, "started": True, "resumed": False}
    record = record_of(st, key)
    assert record.human_loop == loop.name and record.review_status == "open"
    assert "below" in record.reason
    hl = context.table().review(loop.name)
    assert hl.status == "open" and hl.purpose == "training" and hl.image_uri == loop_input["taskObject"]
    assert st.notifications() == []  # a started review is not an e-mail


def test_low_confidence_image_with_review_off(st):
    key = "images_for_detection/sm/unsure-no-review.png"
    with parameters(st, {ENABLE_REVIEW: "false"}):
        execution = upload(st, key, UNSURE)
    result = detection_result(execution)
    assert execution["status"] == "SUCCEEDED" and result["review"] is False
    assert loops_for(st, result["detection_id"]) == []
    record = record_of(st, key)
    assert record.decision["review"] is False
    assert record.decision["policy"] == ENABLE_REVIEW
    assert record.reason.startswith(f"{ENABLE_REVIEW} is false: no review")


def test_audit_sample(st):
    key = "images_for_detection/sm/audited.jpg"
    with parameters(st, {ENABLE_SAMPLING: "TRUE", SAMPLING_INTERVAL: "1"}):
        execution = upload(st, key, CONFIDENT)
    result = detection_result(execution)
    assert result["outcome"] == "to_audit" and result["purpose"] == "audit"
    [loop] = loops_for(st, result["detection_id"])
    assert loop.input["purpose"] == "audit"
    assert context.table().review(loop.name).purpose == "audit"
    assert "audit sample" in record_of(st, key).reason


def test_confident_image_not_sampled_when_interval_not_reached(st):
    key = "images_for_detection/sm/not-audited.jpg"
    with parameters(st, {ENABLE_SAMPLING: "true", SAMPLING_INTERVAL: "1000000"}):
        execution = upload(st, key, CONFIDENT)
    assert detection_result(execution)["outcome"] == "confident"


def test_no_model_yet_is_recorded_as_pending(st):
    deactivate_model()
    key = "images_for_detection/sm/early bird.png"
    calls = len(detections_asked(st))
    execution = upload(st, key, CONFIDENT)
    assert execution["status"] == "SUCCEEDED"
    assert detection_result(execution)["outcome"] == "pending"
    assert len(detections_asked(st)) == calls  # Rekognition is not asked without a model
    record = record_of(st, key)
    assert record.outcome == "pending" and "no model" in record.reason
    assert [p.key for p in context.table().pending() if p.detection_id == record.detection_id] == [key]


def test_empty_label_list(st):
    key = "images_for_detection/sm/nothing.png"
    execution = upload(st, key, ())
    assert execution["status"] == "SUCCEEDED"
    result = detection_result(execution)
    assert result["outcome"] == "no_label"
    record = record_of(st, key)
    assert record.labels == () and "no label" in record.reason
    # the model could not say: a reviewer is asked
    assert len(loops_for(st, result["detection_id"])) == 1


def test_throttled_twice_then_succeeds(st):
    key = "images_for_detection/sm/throttled.png"
    st.models.faults["DetectCustomLabels"] = ["ThrottlingException", "ThrottlingException"]
    execution = upload(st, key, CONFIDENT)
    assert execution["status"] == "SUCCEEDED"
    assert detection_result(execution)["outcome"] == "confident"
    assert len(st.retry_sleeps) == 2  # the state machine's Retry, not the client, handled it
    assert all(0 <= s <= 60 for s in st.retry_sleeps)
    assert [c["Image"]["S3Object"]["Name"] for c in detections_asked(st)[-3:]] == [key] * 3
    assert record_of(st, key).outcome == "confident"
    assert st.notifications() == []


@pytest.mark.parametrize("code", ["InvalidImageFormatException", "ImageTooLargeException"])
def test_unreadable_image(st, code):
    key = f"images_for_detection/sm/{code}.png"
    st.models.faults["DetectCustomLabels"] = [code]
    execution = upload(st, key, CONFIDENT)
    assert execution["status"] == "SUCCEEDED"
    assert detection_result(execution)["outcome"] == "unreadable"
    record = record_of(st, key)
    assert record.outcome == "unreadable" and code in record.reason
    assert st.retry_sleeps == []  # not retried: it would fail the same way


def test_stopped_model_leaves_the_image_pending(st):
    key = "images_for_detection/sm/model-stopped.png"
    running = [v for v in st.models.versions.values() if v.status == "RUNNING"]
    for version in running:  # stopped as the stand-in reports it: the drain finds nothing to run it on
        version.status = "STOPPED"
    try:
        execution = upload(st, key, CONFIDENT)
    finally:
        for version in running:
            version.status = "RUNNING"
    assert execution["status"] == "SUCCEEDED"
    record = record_of(st, key)
    assert record.outcome == "pending" and "not running" in record.reason
    assert any(p.detection_id == record.detection_id for p in context.table().pending())


def test_failure_after_all_retries_is_recorded_and_notified_once(st):
    first, second = "images_for_detection/sm/fails-1.png", "images_for_detection/sm/fails-2.png"
    st.models.faults["DetectCustomLabels"] = ["ThrottlingException"] * (RETRIES + 1)
    execution = upload(st, first, CONFIDENT)
    assert execution["status"] == "FAILED" and execution.get("error") == "DetectionFailed"
    assert len(st.retry_sleeps) == RETRIES
    record = record_of(st, first)
    assert record.outcome == "failed" and "ThrottlingException" in record.reason
    [message] = st.notifications()
    assert "ThrottlingException" in message["subject"] and first in message["message"]

    st.models.faults["DetectCustomLabels"] = ["ThrottlingException"] * (RETRIES + 1)
    assert upload(st, second, CONFIDENT)["status"] == "FAILED"
    assert record_of(st, second).outcome == "failed"
    assert st.notifications() == []  # the same failure today: counted, not e-mailed again


def test_non_retryable_error_fails_at_once(st):
    key = "images_for_detection/sm/denied.png"
    st.models.faults["DetectCustomLabels"] = ["AccessDeniedException"]
    execution = upload(st, key, CONFIDENT)
    assert execution["status"] == "FAILED"
    assert st.retry_sleeps == []
    assert "AccessDeniedException" in record_of(st, key).reason
    assert len(st.notifications()) == 1


@pytest.mark.parametrize("key, why", [
    ("images_for_detection/sm/folder/", "folder marker"),
    ("images_for_detection/sm/notes.txt", "not a PNG or JPEG"),
    ("images_for_detection/sm/noext", "not a PNG or JPEG"),
])
def test_objects_that_are_not_images_are_recorded_and_skipped(st, key, why):
    calls = len(detections_asked(st))
    execution = upload(st, key, CONFIDENT, body=b"" if key.endswith("/") else b"hello")
    assert execution["status"] == "SUCCEEDED"
    record = record_of(st, key)
    assert record.outcome == "skipped" and why in record.reason
    assert len(detections_asked(st)) == calls


def test_empty_image_is_skipped(st):
    key = "images_for_detection/sm/empty.png"
    execution = upload(st, key, CONFIDENT, body=b"")
    assert execution["status"] == "SUCCEEDED"
    assert record_of(st, key).outcome == "skipped"


def test_threshold_parameter_moves_the_decision(st):
    key = "images_for_detection/sm/strict.png"
    with parameters(st, {MIN_CONFIDENCE: "99.5"}):
        execution = upload(st, key, CONFIDENT)
    assert detection_result(execution)["outcome"] == "to_training"
