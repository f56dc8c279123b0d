"""A2I output processing: accepted answers become training data once; every
other output is a recorded, explained rejection and nothing is copied."""

import uuid

import pytest
import state_support
from stack_support import (
    CONFIDENT,
    answer,
    counts,
    detection_result,
    fresh,
    invocations_of,
    keys_under,
    open_review,
    output_document,
    output_of,
    parameters,
    training_keys,
    upload,
    write_output,
)

from handlers.runtime import context, layout, state
from policies.names import ENABLE_SAMPLING, NONE_OF_THE_ABOVE, SAMPLING_INTERVAL


@pytest.fixture
def st(shared_stack):
    fresh(shared_stack)
    return shared_stack


class Snapshot:
    """The training data before a step, to show afterwards that nothing was copied."""

    def __init__(self, st):
        self.st, self.keys, self.counts = st, training_keys(st), counts()
        self.manifests = keys_under(st, layout.MANIFEST_PREFIX)

    def unchanged(self) -> bool:
        return (training_keys(self.st), counts(), keys_under(self.st, layout.MANIFEST_PREFIX)) == \
            (self.keys, self.counts, self.manifests)


def loop_result(name):
    loop = context.table().review(name)
    return loop.status, loop.result or {}


# -- accepted --------------------------------------------------------------------------------

def test_accepted_answer_becomes_training_data(st):
    source = "images_for_detection/rv/accepted photo é.png"
    detection, name = open_review(st, source)
    before = counts()
    key = write_output(st, name, output_document(st, name, ["dog"]))
    status, result = loop_result(name)
    assert status == "accepted" and result["label"] == "dog" and result["output"] == key
    target = f"images_labeled_by_folder/dog/{detection}.png"
    assert result["training_key"] == target
    assert target in training_keys(st)
    head = st.client("s3").head_object(Bucket=st.bucket, Key=target)
    assert head["Metadata"] == {"labelloop-detection": detection, "labelloop-human-loop": name}
    assert counts().get("dog", 0) == before.get("dog", 0) + 1
    record = context.table().detection(detection)
    assert record.human_label == "dog" and record.review_status == "accepted"
    # the copy's own S3 event reached the counter and found the image counted
    assert any(r["key"] == target and r["reason"] == "already counted"
               for i in invocations_of(st, "training_data") for r in i.result)
    assert context.table().loop().open_reviews >= 0


def test_majority_of_several_reviewers_decides(st):
    detection, name = open_review(st, "images_for_detection/rv/majority.png")
    write_output(st, name, output_document(st, name, ["cat", "dog", "cat"]))
    status, result = loop_result(name)
    assert status == "accepted" and result["label"] == "cat" and "2 of 3" in result["reason"]
    assert f"images_labeled_by_folder/cat/{detection}.png" in training_keys(st)


# -- rejected: the loop's answer -------------------------------------------------------------

@pytest.mark.parametrize("answers, reason", [
    ([], "no human answer"),
    ([answer("bird")], "'bird' is not one of the labels"),
    ([answer(NONE_OF_THE_ABOVE)], f"chose '{NONE_OF_THE_ABOVE}'"),
    ([answer("../manifests/x")], "'../manifests/x' is not one of the labels"),
    ([answer("cat/../../manifests")], "is not one of the labels"),
    ([answer("cat", "w1"), answer("dog", "w2")], "reviewers disagree"),
    ([{"answerContent": {}, "workerId": "w1"}], "names no label"),
    ([{"answerContent": {"crowd-image-classifier": {"label": "  "}}}], "names no label"),
])
def test_rejected_answers(st, answers, reason):
    detection, name = open_review(st, f"images_for_detection/rv/rejected-{uuid.uuid4().hex[:8]}.png")
    snapshot = Snapshot(st)
    write_output(st, name, output_document(st, name, answers=answers))
    status, result = loop_result(name)
    assert status == "rejected" and reason in result["reason"]
    assert context.table().detection(detection).review_status == "rejected"
    assert snapshot.unchanged()


def test_empty_answers_are_reported(st):
    _, name = open_review(st, "images_for_detection/rv/expired.png")
    write_output(st, name, output_document(st, name, answers=[]))
    [message] = st.notifications()
    assert "no human answer" in message["subject"] + message["message"]


@pytest.mark.parametrize("task_object", [
    "s3://{bucket}/manifests/x.png",
    "s3://another-bucket/images_for_detection/rv/task.png",
    "s3://{bucket}/images_for_detection/rv/some other image.png",
    "s3://{bucket}/images_for_detection/../manifests/x.png",
    None,
])
def test_task_object_must_be_this_loops_image(st, task_object):
    _, name = open_review(st, f"images_for_detection/rv/task-{uuid.uuid4().hex[:8]}.png")
    content = dict(st.a2i.loops[name].input)
    if task_object is None:
        del content["taskObject"]
    else:
        content["taskObject"] = task_object.format(bucket=st.bucket)
    snapshot = Snapshot(st)
    write_output(st, name, output_document(st, name, ["cat"], input_content=content))
    status, result = loop_result(name)
    assert status == "rejected" and "taskObject" in result["reason"]
    assert snapshot.unchanged()
    assert len(st.notifications()) == 1


def test_audit_review_is_never_copied(st):
    with parameters(st, {ENABLE_SAMPLING: "true", SAMPLING_INTERVAL: "1"}):
        execution = upload(st, "images_for_detection/rv/audit.png", CONFIDENT)
    assert detection_result(execution)["outcome"] == "to_audit"
    name = output_of(execution)["review"]["value"]["human_loop"]
    snapshot = Snapshot(st)
    write_output(st, name, output_document(st, name, ["cat"]))
    status, result = loop_result(name)
    assert status == "audited" and "never becomes training data" in result["reason"]
    assert snapshot.unchanged()


# -- rejected: the output file itself -------------------------------------------------------

@pytest.mark.parametrize("body, reason", [
    (b'{"humanLoopName": "x", "inputContent": ', "not valid JSON"),
    (b"\xff\xfe not utf-8", "not valid JSON"),
    (b"[]", "not a JSON object"),
    (b'{"inputContent": {}, "humanAnswers": []}', "no humanLoopName"),
    (b'{"humanLoopName": "labelloop-x", "humanAnswers": []}', "no inputContent"),
    (b'{"humanLoopName": "labelloop-x", "inputContent": "{not json", "humanAnswers": []}', "inputContent is not valid JSON"),
    (b'{"humanLoopName": "labelloop-x", "inputContent": {}}', "no humanAnswers list"),
])
def test_malformed_outputs(st, body, reason):
    snapshot = Snapshot(st)
    name = f"labelloop-malformed-{uuid.uuid4().hex[:8]}"
    key = write_output(st, name, body)
    rejected = state_support.item(f"REJECTED#{key}", "OUTPUT")
    assert rejected and reason in rejected["reason"]
    [invocation] = invocations_of(st, "review_output")
    assert invocation.result[0]["status"] == "rejected"
    assert snapshot.unchanged()
    [message] = st.notifications()
    assert reason in message["message"] and key in message["message"]


def test_unknown_human_loop(st):
    snapshot = Snapshot(st)
    document = {"flowDefinitionArn": st.flow_definition_arn, "humanLoopName": "labelloop-not-ours",
                "inputContent": {"taskObject": f"s3://{st.bucket}/images_for_detection/x.png"},
                "humanAnswers": [answer("cat")]}
    key = write_output(st, "labelloop-not-ours", document)
    assert "was not started by this stack" in state_support.item(f"REJECTED#{key}", "OUTPUT")["reason"]
    assert snapshot.unchanged()
    assert len(st.notifications()) == 1
    # the same file delivered again is not reported again
    write_output(st, "labelloop-not-ours", document, key=key)
    assert st.notifications() == []
    assert [i.result[0]["status"] for i in invocations_of(st, "review_output")] == ["rejected", "rejected"]


def test_a_closed_loop_is_not_processed_again(st):
    _, name = open_review(st, "images_for_detection/rv/closed.png")
    write_output(st, name, output_document(st, name, ["bird"]))
    assert loop_result(name)[0] == "rejected"
    snapshot = Snapshot(st)
    write_output(st, name, output_document(st, name, ["cat"]))  # a later, different answer
    assert loop_result(name)[0] == "rejected"
    assert snapshot.unchanged()
    assert invocations_of(st, "review_output")[-1].result[0]["duplicate"] is True


def test_image_deleted_before_the_answer(st):
    source = "images_for_detection/rv/deleted before answer.png"
    detection, name = open_review(st, source)
    st.client("s3").delete_object(Bucket=st.bucket, Key=source)
    snapshot = Snapshot(st)
    write_output(st, name, output_document(st, name, ["cat"]))
    status, result = loop_result(name)
    assert status == "deleted" and "was deleted by its uploader" in result["reason"]
    assert context.table().detection(detection).review_status == "deleted"
    assert context.table().day_stats(state.today()).counts["reviews_deleted"] >= 1
    assert snapshot.unchanged()  # nothing copied, nothing counted
