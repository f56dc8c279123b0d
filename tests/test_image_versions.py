"""A versioned bucket, as deployed: the image version is pinned from upload to review task to
training copy, and a delete event uncounts a training image only when the key's current image is
gone — not when lifecycle expiry removes a noncurrent version. Delete events are shaped exactly
like AWS's documented S3 → EventBridge "Object Deleted" examples."""

from __future__ import annotations

import pytest
from stack_support import (
    CONFIDENT,
    UNSURE,
    activate_model,
    counts,
    detection_result,
    local_stack,
    output_document,
    record_of,
    upload,
    write_output,
)

from handlers.runtime import context

TRAINING_KEY = "images_labeled_by_folder/cat/versioned.png"


@pytest.fixture(scope="module")
def st():
    with local_stack() as stack:
        stack.client("s3").put_bucket_versioning(Bucket=stack.bucket, VersioningConfiguration={"Status": "Enabled"})
        activate_model()
        yield stack


def object_deleted(bucket: str, key: str, version_id: str, *, reason: str, deletion_type: str) -> dict:
    """An "Object Deleted" event as AWS documents it (EventBridge event message structure): by
    DeleteObject from an account, or by lifecycle expiration (requested by S3 itself, no source IP)."""
    detail = {"version": "0", "bucket": {"name": bucket},
              "object": {"key": key, "etag": "d41d8cd98f00b204e9800998ecf8427e", "version-id": version_id,
                         "sequencer": "617f0837b476e463"},
              "request-id": "0BH729840619AG5K", "requester": "123456789012", "source-ip-address": "1.2.3.4",
              "reason": reason, "deletion-type": deletion_type}
    if reason == "Lifecycle Expiration":
        detail |= {"request-id": "20EB74C14654DC47", "requester": "s3.amazonaws.com"}
        del detail["source-ip-address"]
    return {"version": "0", "id": "2ee9cc15-d022-99ea-1fb8-1b1bac4850f9", "detail-type": "Object Deleted",
            "source": "aws.s3", "account": "111122223333", "time": "2021-11-12T00:00:00Z", "region": "us-east-1",
            "resources": [f"arn:aws:s3:::{bucket}"], "detail": detail}


def put(st, key: str, body: bytes) -> str:
    return st.client("s3").put_object(Bucket=st.bucket, Key=key, Body=body)["VersionId"]


def test_the_reviewed_version_is_the_one_copied(st):
    key = "images_for_detection/versions/overwritten.png"
    reviewed = b"\x89PNG\r\n\x1a\n the picture the reviewer saw"
    execution = upload(st, key, UNSURE, body=reviewed)
    result = detection_result(execution)
    version = record_of(st, key).version_id
    assert version and result["version_id"] == version
    [loop] = [loop for loop in st.a2i.loops.values() if loop.input["detectionId"] == result["detection_id"]]
    assert loop.input["taskObjectVersion"] == version
    assert context.table().review(loop.name).image_version == version

    # While the review is open, the key is overwritten with another picture (detected on its own).
    upload(st, key, CONFIDENT, body=b"\x89PNG\r\n\x1a\n another picture")
    write_output(st, loop.name, output_document(st, loop.name, ["dog"]))
    review = context.table().review(loop.name)
    assert review.status == "accepted"
    copied = st.client("s3").get_object(Bucket=st.bucket, Key=review.result["training_key"])["Body"].read()
    assert copied == reviewed


def test_a_reviewed_version_deleted_before_the_answer_copies_nothing(st):
    key = "images_for_detection/versions/deleted version.png"
    execution = upload(st, key, UNSURE, body=b"\x89PNG\r\n\x1a\n soon gone")
    name = next(n for n, loop in st.a2i.loops.items()
                if loop.input["detectionId"] == detection_result(execution)["detection_id"])
    version = context.table().review(name).image_version
    st.client("s3").put_object(Bucket=st.bucket, Key=key, Body=b"\x89PNG\r\n\x1a\n newer")
    st.client("s3").delete_object(Bucket=st.bucket, Key=key, VersionId=version)
    st.discard_pending_events()
    write_output(st, name, output_document(st, name, ["cat"]))
    review = context.table().review(name)
    assert review.status == "deleted" and "the reviewed version" in review.result["reason"]


def test_noncurrent_version_expiry_does_not_uncount_a_training_image(st):
    first = put(st, TRAINING_KEY, b"\x89PNG\r\n\x1a\n first")
    st.pump()
    put(st, TRAINING_KEY, b"\x89PNG\r\n\x1a\n second")  # overwritten: the first version is noncurrent
    st.pump()
    assert counts().get("cat") == 1

    st.client("s3").delete_object(Bucket=st.bucket, Key=TRAINING_KEY, VersionId=first)  # the lifecycle rule expires it
    st.discard_pending_events()
    [result] = st.deliver("training_data", object_deleted(st.bucket, TRAINING_KEY, first, reason="Lifecycle Expiration",
                                                          deletion_type="Permanently Deleted"))
    assert result["counted"] is False and "current image is still there" in result["reason"]
    assert counts().get("cat") == 1

    marker = st.client("s3").delete_object(Bucket=st.bucket, Key=TRAINING_KEY)["VersionId"]  # deleted for real
    st.discard_pending_events()
    [result] = st.deliver("training_data", object_deleted(st.bucket, TRAINING_KEY, marker, reason="DeleteObject",
                                                          deletion_type="Delete Marker Created"))
    assert result["counted"] is True and counts().get("cat") == 0


def test_deleting_the_current_version_leaves_the_older_one_counted(st):
    key = "images_labeled_by_folder/dog/two versions.png"
    put(st, key, b"\x89PNG\r\n\x1a\n older")
    current = put(st, key, b"\x89PNG\r\n\x1a\n newer")
    st.pump()
    before = counts().get("dog", 0)
    st.client("s3").delete_object(Bucket=st.bucket, Key=key, VersionId=current)  # the older one is current again
    st.discard_pending_events()
    st.deliver("training_data", object_deleted(st.bucket, key, current, reason="DeleteObject",
                                               deletion_type="Permanently Deleted"))
    assert counts().get("dog", 0) == before  # the manifest still lists the key
