"""S3 object events in both formats, identifiers from content, and keys that cannot escape."""

import json

import pytest
from stack_support import eventbridge_event, notification_event

from handlers.runtime import layout
from handlers.runtime.events import UnrecognisedEvent, object_events
from handlers.runtime.ids import HUMAN_LOOP_NAME, detection_id, human_loop_name

AWKWARD = [
    "images_for_detection/my photo.png",
    "images_for_detection/a+b.png",
    "images_for_detection/café ☕/Straße 1.JPG",
    "images_for_detection/100%/x=1&y=2.jpeg",
    "images_for_detection/dir/sub dir/++ %2B.png",
]


@pytest.mark.parametrize("key", AWKWARD)
def test_notification_keys_are_url_decoded(key):
    event = notification_event("b", (key, "abc", 10))
    assert "%" in event["Records"][0]["s3"]["object"]["key"] or "+" in event["Records"][0]["s3"]["object"]["key"]
    [obj] = object_events(event)
    assert obj.key == key
    assert (obj.bucket, obj.etag, obj.size, obj.created) == ("b", "abc", 10, True)


@pytest.mark.parametrize("key", AWKWARD)
def test_eventbridge_keys_are_taken_as_they_are(key):
    [obj] = object_events(eventbridge_event("b", key, '"abc"'))
    assert obj.key == key  # a literal '+' or '%2B' in an EventBridge key is part of the name
    assert obj.etag == "abc"


@pytest.mark.parametrize("key", AWKWARD)
def test_both_formats_name_the_same_content(key):
    """The same object delivered once by each route is one detection."""
    [a] = object_events(notification_event("b", (key, "abc", 10)))
    [b] = object_events(eventbridge_event("b", key, "abc"))
    assert detection_id(a.bucket, a.key, a.content_id) == detection_id(b.bucket, b.key, b.content_id)


@pytest.mark.parametrize("name", ["ObjectCreated:Put", "ObjectCreated:Post", "ObjectCreated:Copy",
                                  "ObjectCreated:CompleteMultipartUpload"])
def test_every_created_event_counts_as_an_upload(name):
    [obj] = object_events(notification_event("b", ("images_for_detection/x.png", "e", 1), event_name=name))
    assert obj.created


def test_deletes_are_not_uploads():
    [obj] = object_events(notification_event("b", ("k.png", "e", 1), event_name="ObjectRemoved:Delete"))
    assert not obj.created
    [obj] = object_events(eventbridge_event("b", "k.png", "e", created=False))
    assert not obj.created


def test_several_records_yield_several_objects():
    event = notification_event("b", ("one.png", "1", 1), ("two words.png", "2", 2))
    assert [o.key for o in object_events(event)] == ["one.png", "two words.png"]


def test_eventbridge_moto_shape_and_null_version():
    """moto (and S3 for unversioned buckets) sends 'eTag' and version-id 'null'."""
    event = eventbridge_event("b", "k.png", "")
    event["detail"]["object"] = {"key": "k.png", "size": 3, "eTag": "e1", "version-id": "null"}
    [obj] = object_events(event)
    assert (obj.etag, obj.version_id, obj.content_id) == ("e1", None, "e1")


def test_version_identifies_content_before_etag():
    [obj] = object_events(eventbridge_event("b", "k.png", "e1", version_id="v7"))
    assert obj.content_id == "v7"


def test_replay_form():
    [obj] = object_events({"bucket": "b", "key": "images_for_detection/a b.png", "etag": "e"})
    assert obj.key == "images_for_detection/a b.png" and obj.created


@pytest.mark.parametrize("event", [{}, {"Records": [{"sns": {}}]}, {"source": "aws.s3", "detail-type": "Object Restore Completed",
                                                                     "detail": {"bucket": {"name": "b"}, "object": {"key": "k"}}}])
def test_unrecognised_events_are_refused(event):
    with pytest.raises(UnrecognisedEvent):
        list(object_events(event))


def test_detection_id_depends_on_content():
    a = detection_id("b", "k.png", "etag-1")
    assert a == detection_id("b", "k.png", "etag-1")
    assert len({a, detection_id("b", "k.png", "etag-2"), detection_id("b", "k2.png", "etag-1"),
                detection_id("c", "k.png", "etag-1")}) == 4


def test_human_loop_names_follow_a2i_rules():
    name = human_loop_name(detection_id("b", "images_for_detection/Ünïcode name+.PNG", '"x"'))
    assert 1 <= len(name) <= 63 and HUMAN_LOOP_NAME.fullmatch(name)


@pytest.mark.parametrize("label", ["..", ".", "", "a/b", "../manifests/x"])
def test_training_key_refuses_labels_that_leave_the_folder(label):
    with pytest.raises(ValueError):
        layout.training_key(label, "a" * 40, "images_for_detection/x.png")


@pytest.mark.parametrize("source", ["images_for_detection/../../manifests/x.png", "images_for_detection/a b.JPEG"])
def test_training_key_name_comes_from_the_detection_id(source):
    key = layout.training_key("tabby cat", "ab" * 20, source)
    assert key.startswith("images_labeled_by_folder/tabby cat/") and key.count("/") == 2
    assert ".." not in key


def test_training_key_refuses_a_forged_detection_id():
    with pytest.raises(ValueError):
        layout.training_key("cat", "../../x", "images_for_detection/a.png")


def test_labels_are_read_from_the_archive_when_the_environment_names_a_file(tmp_path):
    from handlers.runtime.config import LABELS_FILE, RuntimeConfig

    labels = [f"label {i}" for i in range(250)]
    (tmp_path / LABELS_FILE).write_text(json.dumps(labels))
    env = {"LABELLOOP_TABLE": "t", "LABELLOOP_BUCKET": "b", "LABELLOOP_PARAMETER_PATH": "/labelloop/x",
           "LABELLOOP_LABELS_FILE": LABELS_FILE, "LAMBDA_TASK_ROOT": str(tmp_path)}
    config = RuntimeConfig.from_env(env)
    assert config.labels == tuple(labels) and config.parameter_path == "/labelloop/x/"
    assert config.to_env()["LABELLOOP_LABELS_FILE"] == LABELS_FILE and "LABELLOOP_LABELS" not in config.to_env()
