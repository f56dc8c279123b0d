"""Every reviewed label right and counted once, for a whole review team: racing answers, an answer
racing the expiry sweep or another reviewer's lease, a double submit, an image deleted while (or after)
it is reviewed, and "next task" serving past the tasks a reviewer saw — each race driven
deterministically: the threads meet just before the AWS call that decides it.

The invariant checked after each: a training copy exists if and only if its review closed accepted
with that label, and the label's counter moved once."""

from __future__ import annotations

import threading
from contextlib import contextmanager

import pytest
from moto.s3 import models as moto_s3_models
import state_support
from review_api_support import Clock, Reviewer
from stack_support import UNSURE, counts, keys_under, open_review, parameters, review_app_stack, upload

from handlers import dataset, review_api
from handlers.runtime import aws, context, layout, state
from plugins import REVIEWERS_PER_IMAGE, TASK_LIFETIME_HOURS

WAIT = 30  # seconds a thread waits at a meeting point before the test fails


@pytest.fixture(scope="module")
def app_stack():
    with review_app_stack() as st:
        yield st


@pytest.fixture
def st(app_stack):
    for partition in ("OPEN", "REVIEWERS", "COPY"):
        state_support.delete_partition(partition)
    app_stack.discard_pending_events()
    return app_stack


@contextmanager
def meeting(operation: str, parties: int, service: str = "dynamodb"):
    """Threads named ``party-*`` wait for each other just before their first ``operation`` call (the
    call that decides the race), then all go on at once."""
    barrier, met = threading.Barrier(parties, timeout=WAIT), set()

    def before(model, **_):
        me = threading.current_thread()
        if model.name == operation and me.name.startswith("party-") and me.name not in met:
            met.add(me.name)
            barrier.wait()

    events = aws.client(service).meta.events
    events.register(f"before-call.{service}.{operation}", before)
    try:
        yield
    finally:
        events.unregister(f"before-call.{service}.{operation}", before)


@contextmanager
def held(thread_name: str, operation: str, service: str = "dynamodb"):
    """The thread ``thread_name`` stops just before its first ``operation`` call until the block's
    ``release()`` is called; ``reached`` is set once it waits there."""
    reached, go, done = threading.Event(), threading.Event(), []

    def before(model, **_):
        if model.name == operation and threading.current_thread().name == thread_name and not done:
            done.append(True)
            reached.set()
            assert go.wait(WAIT), "never released"

    events = aws.client(service).meta.events
    events.register(f"before-call.{service}.{operation}", before)
    try:
        yield reached, go.set
    finally:
        go.set()
        events.unregister(f"before-call.{service}.{operation}", before)


def in_parallel(*calls) -> list:
    """Run each call in a thread named ``party-<i>``; their results in order."""
    results: list = [None] * len(calls)

    def run(i, call):
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i, c), name=f"party-{i}") for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT * 2)
    assert not any(t.is_alive() for t in threads)
    return results


def copies_of(st, detection: str) -> list[str]:
    return [k for prefix in (layout.TRAINING_PREFIX, layout.TESTING_PREFIX) for k in keys_under(st, prefix)
            if layout.detection_of_copy(k) == detection]


def assert_copied_iff_accepted(st, task: str, detection: str) -> None:
    review = context.table().review(task)
    copies = copies_of(st, detection)
    if review.status == "accepted":
        assert copies == [review.result["training_key"]] and review.copy == "done", (review, copies)
        assert f"/{review.result['label']}/" in copies[0]
    else:
        assert copies == [], (review.status, copies)


# -- racing answers -----------------------------------------------------------------------------
def test_two_answers_racing_for_the_last_place_make_one_copy_of_the_winners_label(st):
    detection, task = open_review(st, "images_for_detection/race/two.png")
    before = counts()
    ana, bo = Reviewer(st, "ana"), Reviewer(st, "bo")
    with meeting("TransactWriteItems", 2):  # both have read the task and decided: who closes it?
        replies = in_parallel(lambda: ana.answer(task, "cat"), lambda: bo.answer(task, "dog"))
    assert sorted(status for status, _ in replies) == [200, 409], replies
    winner = "cat" if replies[0][0] == 200 else "dog"
    review = context.table().review(task)
    assert (review.status, review.result["label"]) == ("accepted", winner)
    assert_copied_iff_accepted(st, task, detection)
    st.pump()  # the copy's own event counts nothing more
    assert counts().get(winner, 0) == before.get(winner, 0) + 1
    assert counts().get({"cat": "dog", "dog": "cat"}[winner], 0) == before.get({"cat": "dog", "dog": "cat"}[winner], 0)


def test_a_double_submit_of_one_reviewer_with_two_labels_makes_one_copy(st):
    detection, task = open_review(st, "images_for_detection/race/double.png")
    ana = Reviewer(st, "ana")
    with meeting("TransactWriteItems", 2):
        replies = in_parallel(lambda: ana.answer(task, "cat"), lambda: ana.answer(task, "dog"))
    assert sorted(status for status, _ in replies) == [200, 409], replies
    assert_copied_iff_accepted(st, task, detection)
    assert Reviewer(st, "ana").me()["answers"] == 1


def test_an_answer_racing_the_expiry_sweep_is_either_accepted_with_its_copy_or_expired_without(st, monkeypatch):
    clock = Clock(monkeypatch)
    detection, task = open_review(st, "images_for_detection/race/expiring.png")
    ana = Reviewer(st, "ana")
    assert ana.next()["id"] == task
    clock.advance(hours=context.settings()[TASK_LIFETIME_HOURS], seconds=-1)  # a second of its lifetime left
    with held("party-0", "TransactWriteItems") as (reached, release):
        thread = threading.Thread(target=lambda: results.append(ana.answer(task, "cat")), name="party-0")
        results: list = []
        thread.start()
        assert reached.wait(WAIT)  # the answer has read the task and decided; it has not closed it
        clock.advance(seconds=2)  # now past its lifetime: the sweep expires it first
        assert st.deliver("review_api", review_api.SWEEP)["expired"] == 1
        release()
        thread.join(WAIT)
    [(status, body)] = results
    assert status == 409 and "closed" in body["message"]
    assert context.table().review(task).status == "expired"
    assert_copied_iff_accepted(st, task, detection)


def test_an_answer_whose_close_is_refused_for_another_reviewers_lease_copies_nothing(st):
    detection, task = open_review(st, "images_for_detection/race/leased.png")
    ana, bo = Reviewer(st, "ana"), Reviewer(st, "bo")
    with held("party-0", "TransactWriteItems") as (reached, release):
        results: list = []
        thread = threading.Thread(target=lambda: results.append(bo.answer(task, "dog")), name="party-0")
        thread.start()
        assert reached.wait(WAIT)  # bo read the task (free) and decided
        assert ana.call("GET", f"/api/tasks/{task}")[0] == 200  # ana leases it meanwhile
        release()
        thread.join(WAIT)
    [(status, body)] = results
    assert status == 409 and "another reviewer" in body["message"]
    assert context.table().review(task).status == "open"
    assert_copied_iff_accepted(st, task, detection)
    assert ana.answer(task, "cat")[0] == 200
    assert_copied_iff_accepted(st, task, detection)


def test_a_crash_between_the_claim_and_the_copy_is_completed_by_the_sweep_never_undone(st, monkeypatch):
    detection, task = open_review(st, "images_for_detection/race/crash.png")
    before = counts().get("cat", 0)
    real = aws.client("s3").copy_object

    def dies(**_):
        raise RuntimeError("the function died here")

    monkeypatch.setattr(aws.client("s3"), "copy_object", dies)
    status, body = Reviewer(st, "ana").answer(task, "cat")
    assert status == 200 and body["answered"] is True  # the answer is safe: the review closed accepted
    review = context.table().review(task)
    assert (review.status, review.copy, copies_of(st, detection)) == ("accepted", "pending", [])
    monkeypatch.setattr(aws.client("s3"), "copy_object", real)
    assert st.deliver("dataset", dataset.SWEEP)["done"] == 0  # younger than the grace: the answer may be copying
    done = st.deliver("dataset", dataset.COPIES)  # `labelloop replay --copies`, or the sweep later
    assert done["done"] == 1 and st.deliver("dataset", dataset.COPIES)["copies"] == []
    assert_copied_iff_accepted(st, task, detection)
    st.pump()
    assert counts().get("cat", 0) == before + 1


# -- deleted images ---------------------------------------------------------------------------------
def test_an_image_deleted_while_it_waits_for_review_closes_its_task_and_is_never_trained(st):
    key = "images_for_detection/deleted/waiting.png"
    detection, task = open_review(st, key)
    st.client("s3").delete_object(Bucket=st.bucket, Key=key)  # its uploader deletes it: a delete marker
    st.pump()  # the deletion reaches the dataset function
    review = context.table().review(task)
    assert review.status == "deleted" and "deleted by its uploader" in review.result["reason"]
    assert Reviewer(st, "ana").next() is None
    status, body = Reviewer(st, "ana").answer(task, "cat")
    assert status == 409 and "deleted" in body["message"]
    assert copies_of(st, detection) == [] and context.table().detection(detection).review_status == "deleted"


def test_an_answer_arriving_before_the_deletion_event_makes_no_copy(st):
    key = "images_for_detection/deleted/racing.png"
    detection, task = open_review(st, key)
    before = context.table().day_stats(state.today()).counts.get("reviews_deleted", 0)
    st.client("s3").delete_object(Bucket=st.bucket, Key=key)  # its event is still on its way
    assert Reviewer(st, "ana").answer(task, "cat")[0] == 200
    review = context.table().review(task)
    assert review.status == "deleted" and "accepted as 'cat' first" in review.result["reason"]
    assert copies_of(st, detection) == []
    assert context.table().day_stats(state.today()).counts["reviews_deleted"] == before + 1
    st.pump()  # the deletion event comes late: nothing more to do
    assert copies_of(st, detection) == [] and context.table().review(task).status == "deleted"


def test_deleting_a_reviewed_image_later_takes_its_copy_out_and_uncounts_it(st):
    key = "images_for_detection/deleted/later.png"
    detection, task = open_review(st, key)
    assert Reviewer(st, "ana").answer(task, "dog")[0] == 200
    st.pump()
    [copy] = copies_of(st, detection)
    counted = counts()["dog"]
    st.client("s3").delete_object(Bucket=st.bucket, Key=key)
    st.pump()
    assert copies_of(st, detection) == []
    versions = st.client("s3").list_object_versions(Bucket=st.bucket, Prefix=copy)
    assert not versions.get("Versions") and not versions.get("DeleteMarkers")  # its bytes are gone, not hidden
    assert counts()["dog"] == counted - 1
    review = context.table().review(task)
    assert (review.status, review.copy) == ("accepted", "removed") and "deleted by its uploader" in review.removed_reason


@pytest.mark.parametrize("same_second", [False, True], ids=["clock", "in-the-marker's-second"])
def test_an_upload_again_after_its_deletion_is_a_new_image_and_keeps_its_copy(st, monkeypatch, same_second):
    if same_second:  # S3 stamps versions and markers to the second: here every one ties
        monkeypatch.setattr(moto_s3_models, "iso_8601_datetime_without_milliseconds_s3",
                            lambda _: "2026-12-07T10:00:00.000Z")
    key = f"images_for_detection/deleted/again-{same_second}.png"
    first, task = open_review(st, key)
    assert Reviewer(st, "ana").answer(task, "cat")[0] == 200
    marker = st.client("s3").delete_object(Bucket=st.bucket, Key=key)["VersionId"]
    st.discard_pending_events()  # its deletion arrives late: after the same key is uploaded again
    second, again = open_review(st, key, UNSURE)
    assert second != first
    event = {"version": "0", "detail-type": "Object Deleted", "source": "aws.s3", "account": "123456789012",
             "detail": {"bucket": {"name": st.bucket}, "object": {"key": key, "version-id": marker},
                        "reason": "DeleteObject", "deletion-type": "Delete Marker Created"}}
    [result] = st.deliver("dataset", event)["deleted"]
    assert [f["detection_id"] for f in result["forgotten"]] == [first]  # not the upload after it
    assert Reviewer(st, "ana").answer(again, "dog")[0] == 200
    st.pump()
    assert copies_of(st, first) == [] and len(copies_of(st, second)) == 1


def test_an_expired_version_is_housekeeping_and_forgets_nothing(st):
    key = "images_for_detection/deleted/expired.png"
    detection, task = open_review(st, key)
    assert Reviewer(st, "ana").answer(task, "cat")[0] == 200
    version = context.table().review(task).image_version
    event = {"version": "0", "detail-type": "Object Deleted", "source": "aws.s3", "account": "123456789012",
             "detail": {"bucket": {"name": st.bucket}, "object": {"key": key, "version-id": version},
                        "reason": "Lifecycle Expiration", "deletion-type": "Permanently Deleted"}}
    [result] = st.deliver("dataset", event)["deleted"]
    assert result["forgotten"] == [] and "lifecycle" in result["reason"]
    assert len(copies_of(st, detection)) == 1


def test_forget_takes_an_image_out_of_the_dataset_and_says_what_it_removed(st):
    key = "images_for_detection/forget/me.png"
    detection, task = open_review(st, key)
    assert Reviewer(st, "ana").answer(task, "cat")[0] == 200
    [copy] = copies_of(st, detection)
    answer = st.deliver("dataset", {"forget": f"s3://{st.bucket}/{key}"})
    [forgotten] = answer["forgotten"]
    assert forgotten["detection_id"] == detection and forgotten["removed"] == [copy]
    assert (forgotten["was"], forgotten["now"], forgotten["uncounted"]) == ("accepted", "accepted", "cat")
    assert copies_of(st, detection) == []
    assert st.deliver("dataset", {"forget": detection})["forgotten"][0]["removed"] == []  # done already: idempotent
    assert st.client("s3").head_object(Bucket=st.bucket, Key=key)  # the upload itself stays


@pytest.mark.parametrize("image", ["", "images_labeled_by_folder/cat/notanid.png", "s3://another-bucket/x.png",
                                   "../images_for_detection/x.png"])
def test_forget_refuses_what_is_not_an_image_of_this_stack(st, image):
    from sandbox.local_aws import LambdaFailed

    with pytest.raises(LambdaFailed) as failed:
        st.deliver("dataset", {"forget": image})
    assert failed.value.payload["errorType"] == "UnrecognisedEvent"


def test_a_late_deletion_notification_is_not_detected_as_a_new_image(st):
    key = "images_for_detection/deleted/notified.png"
    upload(st, key, UNSURE)
    records = len(context.table().all_items())
    event = {"Records": [{"eventName": "ObjectRemoved:DeleteMarkerCreated", "eventSource": "aws:s3",
                          "s3": {"bucket": {"name": st.bucket}, "object": {"key": key, "versionId": "marker-1"}}}]}
    result = st.deliver("detect", event)
    assert result["outcome"] == "ignored" and "deletion" in result["reason"]
    assert len(context.table().all_items()) == records


# -- next task --------------------------------------------------------------------------------------
def test_next_task_serves_a_free_task_past_hundreds_this_reviewer_saw_in_few_calls(st):
    with parameters(st, {REVIEWERS_PER_IMAGE: "3"}):
        for i in range(260):
            upload(st, f"images_for_detection/queue/{i:03d}.png", ((("cat", 20 + i / 10), ("dog", 10.0))), pump=False)
        st.pump()
        ana = Reviewer(st, "ana")
        resume = None
        for _ in range(230):  # the most urgent 230 wait for two more answers each
            status, body = ana.call("GET", "/api/tasks/next" + (f"?resume={resume}" if resume else ""))
            task, resume = body["task"]["id"], body["resume"]
            assert (ana.answer(task, "cat") if _ % 10 else ana.skip(task))[0] == 200
        calls: list[str] = []
        aws.client("dynamodb").meta.events.register("before-call.dynamodb.*",
                                                    lambda model, **_: calls.append(model.name))
        status, body = ana.call("GET", f"/api/tasks/next?resume={resume}")
        assert status == 200 and body["task"] is not None, body
        assert calls == ["Query", "Query", "TransactWriteItems"]  # the head, then past what ana saw; the lease
        calls.clear()
        assert Reviewer(st, "bo").next() is not None and calls == ["Query", "TransactWriteItems"]


def test_a_malformed_resume_or_exclude_is_refused(st):
    ana = Reviewer(st, "ana")
    for query in ("resume=DROP", "exclude=nope", "exclude=" + ",".join(["labelloop-" + "a" * 40] * 11)):
        status, body = ana.call("GET", f"/api/tasks/next?{query}")
        assert status == 400, (query, body)


def test_next_task_passes_over_the_tasks_the_page_holds_answers_for(st):
    first = open_review(st, "images_for_detection/queue/held-1.png", (("cat", 30.0), ("dog", 20.0)))[1]
    second = open_review(st, "images_for_detection/queue/held-2.png", (("cat", 60.0), ("dog", 20.0)))[1]
    ana = Reviewer(st, "ana")
    assert ana.next()["id"] == first
    status, body = ana.call("GET", f"/api/tasks/next?exclude={first}")
    assert status == 200 and body["task"]["id"] == second
