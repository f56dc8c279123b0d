"""The training manifest: what it lists, what it skips, the counters it
reconciles, and Rekognition's rules checked before any training call.

The tests share one stack; each starts from an empty bucket and zero counters."""

from __future__ import annotations

import json
import re

import pytest
import state_support

from lifecycle_support import PNG, lifecycle_stack, loop, output, seed

from handlers.lifecycle import manifest

LABELS = ("cat", "big cat", "dog")
STACK_LABELS = ("cat", "big cat", "dog", "bird")
TREE = {
    "images_labeled_by_folder/": "folder marker",
    "images_labeled_by_folder/cat/": "folder marker",
    "images_labeled_by_folder/cat/a.png": "cat",
    "images_labeled_by_folder/cat/nested/": "folder marker",
    "images_labeled_by_folder/cat/nested/deeper/b.jpg": "cat",
    "images_labeled_by_folder/cat/C.JPEG": "cat",
    "images_labeled_by_folder/cat/readme.txt": "not a PNG or JPEG image",
    "images_labeled_by_folder/cat/.DS_Store": "not a PNG or JPEG image",
    "images_labeled_by_folder/big cat/x 1.png": "big cat",
    "images_labeled_by_folder/dog/d.jpeg": "dog",
    "images_labeled_by_folder/dog/e.png": "dog",
    "images_labeled_by_folder/bird/f.png": "folder 'bird' is not one of the stack's labels",
    "images_labeled_by_folder/loose.png": "not inside a label folder",
    "images_for_detection/cat/z.png": None,  # outside the training folder: never listed
    "manifests/old.manifest": None,
}


@pytest.fixture(scope="module")
def shared():
    with lifecycle_stack(labels=STACK_LABELS) as stack:
        yield stack


@pytest.fixture
def stack(shared):
    s3 = shared.client("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=shared.bucket):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=shared.bucket, Key=obj["Key"])
    shared.pump()  # the training-data rule uncounts what was counted
    for label in STACK_LABELS:
        state_support.set_attributes("LOOP", f"COUNT#{label}", count=0)
    state_support.remove_attributes("LOOP", "STATE", "trained_counts")
    shared.notifications()
    return shared


def _put_tree(stack, tree=TREE) -> None:
    s3 = stack.client("s3")
    for key in tree:
        s3.put_object(Bucket=stack.bucket, Key=key, Body=b"" if key.endswith("/") else PNG)


def _lines(stack, key: str) -> list[dict]:
    body = stack.client("s3").get_object(Bucket=stack.bucket, Key=key)["Body"].read().decode()
    assert body.endswith("\n")
    return [json.loads(line) for line in body.splitlines()]


def _listed_prefixes(stack) -> list[str]:
    prefixes: list[str] = []
    stack.client("s3").meta.events.register(
        "provide-client-params.s3.ListObjectsV2", lambda params, **_: prefixes.append(params.get("Prefix")))
    return prefixes


def test_manifest_lists_every_image_once_with_its_label_and_reconciles_the_counters(stack):
    _put_tree(stack)  # no events delivered: the counters know nothing of these images
    state_support.set_attributes("LOOP", "COUNT#cat", count=99)  # drifted
    state_support.set_attributes("LOOP", "COUNT#dog", count=-4)
    listed = _listed_prefixes(stack)
    result = manifest.build(stack.bucket, "v1", LABELS)

    assert listed == ["images_labeled_by_folder/", "images_for_testing/"]  # the label folders, then the gate set
    assert result["ok"] is True and result["manifest_key"] == "manifests/v1.manifest"
    assert "gate_set" not in result and "testing_manifest_key" not in result  # no gate set: none written
    assert result["counts"] == {"cat": 3, "big cat": 1, "dog": 2} and result["images"] == 6
    expected_skips: dict[str, int] = {}
    for why in TREE.values():
        if why and why not in LABELS:
            expected_skips[why] = expected_skips.get(why, 0) + 1
    assert result["skipped"] == expected_skips

    lines = _lines(stack, "manifests/v1.manifest")
    by_source = {line["source-ref"]: line for line in lines}
    expected = {f"s3://{stack.bucket}/{key}": label for key, label in TREE.items() if label in LABELS}
    assert len(lines) == len(by_source) == 6
    assert {src: line["labelloop-class-metadata"]["class-name"] for src, line in by_source.items()} == expected
    for line in lines:
        assert set(line) == {"source-ref", "labelloop-class", "labelloop-class-metadata"}
        assert line["labelloop-class"] == 1
        meta = line["labelloop-class-metadata"]
        assert meta["confidence"] == 1 and meta["human-annotated"] == "yes"
        assert meta["type"] == "groundtruth/image-classification"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}", meta["creation-date"])
    head = stack.client("s3").head_object(Bucket=stack.bucket, Key="manifests/v1.manifest")
    assert head["ContentType"] == "application/x-ndjson"

    counts = {item["sk"].removeprefix("COUNT#"): item for item in state_support.partition("LOOP")}
    assert {label: counts[label]["count"] for label in LABELS} == result["counts"]
    assert all("reconciled_at" in counts[label] for label in LABELS)


def test_each_version_gets_its_own_manifest(stack, monkeypatch):
    monkeypatch.setattr(manifest, "SPOOL_BYTES", 64)  # spill to disk after the first line
    seed(stack, {"cat": 2, "dog": 2})
    first = manifest.build(stack.bucket, "v1", ("cat", "dog"))
    seed(stack, {"cat": 3}, start=10)
    second = manifest.build(stack.bucket, "v2", ("cat", "dog"))

    assert (first["manifest_key"], second["manifest_key"]) == ("manifests/v1.manifest", "manifests/v2.manifest")
    assert len(_lines(stack, "manifests/v1.manifest")) == 4  # untouched by the later build
    assert len(_lines(stack, "manifests/v2.manifest")) == 7


def test_rekognition_rules_are_a_reason_not_a_manifest(stack):
    seed(stack, {"cat": 4})
    one_label = manifest.build(stack.bucket, "v1", ("cat", "dog"))
    assert one_label["ok"] is False and "manifest_key" not in one_label
    assert one_label["reason"] == "Rekognition needs images of at least 2 labels; found images of 1 (cat)"

    seed(stack, {"dog": 2})
    empty_label = manifest.build(stack.bucket, "v2", ("cat", "dog", "bird"))
    assert empty_label["ok"] is False
    assert empty_label["reason"] == "every label needs at least one image; none for bird"
    assert empty_label["counts"] == {"cat": 4, "dog": 2, "bird": 0}

    assert stack.client("s3").list_objects_v2(Bucket=stack.bucket, Prefix="manifests/")["KeyCount"] == 0


def test_rule_violation_in_a_run_is_recorded_and_no_training_is_started(stack):
    seed(stack, {"cat": 12})
    execution = stack.run_lifecycle()

    assert execution["status"] == "SUCCEEDED"
    assert output(execution)["outcome"]["value"] == "not_trainable"
    assert stack.models.calls == []  # not one Rekognition call
    state = loop()
    assert state.training_owner is None and state.active_version is None
    assert state.last_training_decision["train"] is False
    assert "at least 2 labels" in state.last_training_decision["reason"]
