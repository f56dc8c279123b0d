"""Per-label training image counters, kept current from S3 events on the label folders."""

import pytest
from stack_support import (
    PNG,
    clear_training_data,
    counts,
    etag_of,
    eventbridge_event,
    invocations_of,
    local_stack,
    notification_event,
)

LABELS = ("cat", "dog", "tabby cat")


@pytest.fixture(scope="module")
def module_stack():
    with local_stack(labels=LABELS) as st:
        yield st


@pytest.fixture
def st(module_stack):
    clear_training_data(module_stack)
    return module_stack


def put(st, *keys, body=PNG):
    for key in keys:
        st.client("s3").put_object(Bucket=st.bucket, Key=key, Body=body)
    st.pump()


def delete(st, *keys):
    for key in keys:
        st.client("s3").delete_object(Bucket=st.bucket, Key=key)
    st.pump()


def results(st):
    return [r for i in invocations_of(st, "training_data") for r in i.result]


def test_created_images_count_and_deleted_ones_uncount(st):
    put(st, "images_labeled_by_folder/cat/1.png", "images_labeled_by_folder/cat/2.jpg",
        "images_labeled_by_folder/dog/1.jpeg")
    assert counts() == {"cat": 2, "dog": 1}
    delete(st, "images_labeled_by_folder/cat/1.png")
    assert counts() == {"cat": 1, "dog": 1}


def test_duplicate_create_events_count_once(st):
    key = "images_labeled_by_folder/dog/dup.png"
    put(st, key)
    event = eventbridge_event(st.bucket, key, etag_of(st, key))
    for _ in range(3):
        st.deliver("training_data", event)
    put(st, key)  # the same key written again is the same training image
    assert counts() == {"dog": 1}
    assert [r["reason"] for r in results(st)[1:]] == ["already counted"] * 4


def test_duplicate_delete_events_uncount_once(st):
    key = "images_labeled_by_folder/cat/gone.png"
    put(st, key, "images_labeled_by_folder/cat/stays.png")
    event = eventbridge_event(st.bucket, key, etag_of(st, key), created=False)
    delete(st, key)
    for _ in range(2):
        st.deliver("training_data", event)
    assert counts() == {"cat": 1}


def test_deleting_an_uncounted_image_changes_nothing(st):
    put(st, "images_labeled_by_folder/cat/a.png")
    st.deliver("training_data", eventbridge_event(st.bucket, "images_labeled_by_folder/cat/never.png", "x",
                                                  created=False))
    assert counts() == {"cat": 1}
    assert results(st)[-1] == {"key": "images_labeled_by_folder/cat/never.png", "label": "cat", "counted": False,
                               "reason": "was not counted"}


@pytest.mark.parametrize("key, reason", [
    ("images_labeled_by_folder/bird/x.png", "not one of the stack's labels"),
    ("images_labeled_by_folder/Cat/x.png", "not one of the stack's labels"),
    ("images_labeled_by_folder/cat/notes.txt", "not a PNG or JPEG"),
    ("images_labeled_by_folder/cat/", "folder marker"),
    ("images_labeled_by_folder/", "folder marker"),
    ("images_labeled_by_folder/loose.png", "not inside a label folder"),
])
def test_objects_that_are_not_training_images_are_skipped(st, key, reason):
    put(st, key, body=b"" if key.endswith("/") else PNG)
    assert counts() == {}
    [result] = results(st)
    assert result["counted"] is False and reason in result["reason"]


def test_multipart_uploads_and_copies_count(st):
    s3 = st.client("s3")
    key = "images_labeled_by_folder/dog/multi.png"
    upload_id = s3.create_multipart_upload(Bucket=st.bucket, Key=key)["UploadId"]
    part = s3.upload_part(Bucket=st.bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=PNG)
    s3.complete_multipart_upload(Bucket=st.bucket, Key=key, UploadId=upload_id,
                                 MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]})
    s3.copy_object(Bucket=st.bucket, Key="images_labeled_by_folder/cat/copied.png",
                   CopySource={"Bucket": st.bucket, "Key": key})
    st.pump()
    assert counts() == {"dog": 1, "cat": 1}


def test_labels_with_spaces_and_encoded_notification_keys(st):
    plain = "images_labeled_by_folder/tabby cat/Straße+1 é.png"
    put(st, plain)  # EventBridge: the key as it is
    assert counts() == {"tabby cat": 1}
    other = "images_labeled_by_folder/tabby cat/second one.png"
    event = notification_event(st.bucket, (plain, "e1", 10), (other, "e2", 10))
    assert "tabby+cat" in event["Records"][0]["s3"]["object"]["key"]
    st.deliver("training_data", event)  # S3 notification: URL-encoded keys, decoded once
    assert counts() == {"tabby cat": 2}
    st.deliver("training_data", notification_event(st.bucket, (other, "e2", 10), event_name="ObjectRemoved:Delete"))
    assert counts() == {"tabby cat": 1}


def test_nested_folders_count_for_their_label(st):
    put(st, "images_labeled_by_folder/cat/batch 1/a.png", "images_labeled_by_folder/cat/batch 1/deep/b.png")
    assert counts() == {"cat": 2}
