"""The builtin review app's tasks in the state table: the open index serves them by priority, then
age, in one Query; a lease is one conditional update; a reviewer answers or skips a task once;
closing takes the task out of the index in the same transaction; expiry is a counted outcome."""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_state_items import DAY, IMAGE, NEXT_DAY, builtin_task

from handlers.runtime.state import (
    ReviewerStats,
    AlreadyAnswered,
    AlreadyDone,
    Closing,
    TaskAnswer,
    TaskChanged,
    TaskClosed,
    TaskLeased,
    CopyWithdrawn,
    PendingCopy,
    task_cursor,
)

AT = f"{DAY}T03:07:00.000000Z"
LATER = f"{DAY}T03:30:00.000000Z"  # after a ten-minute lease taken at AT
LEASE_END = f"{DAY}T03:17:00.000000Z"
COPY = PendingCopy("labelloop-d1", "d1", IMAGE.key, "v1", "images_labeled_by_folder/cat/d1.png", "cat")


def opened(table, detection_id: str, **fields):
    table.record_detection(replace(IMAGE, detection_id=detection_id, outcome="to_training"))
    task = builtin_task(detection_id, **fields)
    table.record_review_started(task)
    return task


def answer(task, reviewer: str, label: str = "cat", at: str = AT) -> TaskAnswer:
    return TaskAnswer(task.name, reviewer, label, at)


def names(entries) -> list[str]:
    return [e.name for e in entries]


def test_the_cursor_orders_by_priority_then_age():
    assert task_cursor(90, "2026-01-02", "a") < task_cursor(10, "2026-01-01", "b")
    assert task_cursor(50, "2026-01-01", "b") < task_cursor(50, "2026-01-02", "a")
    assert task_cursor(150, "x", "n") == task_cursor(100, "x", "n") and task_cursor(-5, "x", "n").startswith("100000#")


def test_open_tasks_are_served_highest_priority_first_then_oldest(table):
    opened(table, "low", priority=10.0)
    opened(table, "high", priority=90.0, started_at=f"{DAY}T03:06:30.000000Z")
    opened(table, "high-older", priority=90.0, started_at=f"{DAY}T03:05:00.000000Z")
    assert names(table.open_tasks("r1", AT, 10)) == ["labelloop-high-older", "labelloop-high", "labelloop-low"]
    assert names(table.open_tasks("r1", AT, 2)) == ["labelloop-high-older", "labelloop-high"]


def test_a_duplicate_start_opens_nothing(table):
    task = opened(table, "d1")
    with pytest.raises(AlreadyDone):
        table.record_review_started(replace(task, started_at=LATER))
    assert names(table.open_tasks("r1", AT, 10)) == [task.name] and table.loop().open_reviews == 1


def test_a_lease_keeps_a_task_from_other_reviewers_until_it_ends(table):
    task = opened(table, "d1")
    table.lease_task(task, "r1", AT, LEASE_END)
    leased = table.review(task.name)
    assert (leased.lease_reviewer, leased.lease_until) == ("r1", LEASE_END)
    assert leased.leased_to_another("r2", AT) and not leased.leased_to_another("r1", AT)
    assert not leased.leased_to_another("r2", LATER)
    [entry] = table.open_tasks("r2", AT, 10)  # the index shows the lease: r2 passes it over
    assert entry.leased_to_another("r2", AT) and not entry.leased_to_another("r1", AT)
    with pytest.raises(TaskLeased):
        table.lease_task(task, "r2", AT, LEASE_END)
    table.lease_task(task, "r2", LATER, "later still")  # the first lease ended
    assert table.review(task.name).lease_reviewer == "r2"


def test_an_answer_is_recorded_once_and_the_reviewer_is_not_served_the_task_again(table):
    task = opened(table, "d1", reviewers=2)
    table.lease_task(task, "r1", AT, LEASE_END)
    table.record_task_answer(task, answer(task, "r1"), wanted=2)
    assert table.review(task.name).lease_reviewer is None  # let go with the answer
    with pytest.raises(AlreadyAnswered):
        table.record_task_answer(replace(task, answers=1), answer(task, "r1", "dog"), wanted=2)
    read = table.review_with_answers(task.name)
    assert read.task.answers == 1 and [(a.reviewer, a.label) for a in read.answers] == [("r1", "cat")]
    assert read.answered_by("r1") and not read.answered_by("r2")
    assert names(table.open_tasks("r1", AT, 10)) == [] and names(table.open_tasks("r2", AT, 10)) == [task.name]
    assert table.reviewer_stats("r1").answers == 1 and table.day_stats(DAY).counts["review_answers"] == 1


def test_an_answer_to_a_task_read_before_another_answer_is_refused(table):
    task = opened(table, "d1", reviewers=3)
    table.record_task_answer(task, answer(task, "r1"), wanted=3)
    with pytest.raises(TaskChanged):
        table.record_task_answer(task, answer(task, "r2"), wanted=3)  # read with no answer
    assert table.review_with_answers(task.name).task.answers == 1


def test_an_answer_is_refused_while_another_reviewer_holds_the_lease(table):
    task = opened(table, "d1", reviewers=2)
    table.lease_task(task, "r1", AT, LEASE_END)
    with pytest.raises(TaskLeased):
        table.record_task_answer(task, answer(task, "r2"), wanted=2)
    with pytest.raises(TaskLeased):
        table.record_review_finished(task.name, "d1", "accepted", {"label": "cat", "finished_at": AT},
                                     closing=Closing(task, answer(task, "r2")))
    assert table.review(task.name).status == "open"
    table.record_task_answer(task, answer(task, "r2", at=LATER), wanted=2)  # once the lease ended


def test_a_skip_is_recorded_once_and_lets_the_lease_go(table):
    task = opened(table, "d1")
    table.lease_task(task, "r1", AT, LEASE_END)
    table.skip_task(task, "r1", AT)
    with pytest.raises(AlreadyAnswered):
        table.skip_task(task, "r1", AT)
    assert names(table.open_tasks("r1", AT, 10)) == [] and names(table.open_tasks("r2", AT, 10)) == [task.name]
    assert table.review_with_answers(task.name).skipped_by == {"r1"} and table.reviewer_stats("r1").skips == 1
    assert table.review(task.name).lease_reviewer is None


def test_a_skip_while_another_reviewer_holds_the_lease_keeps_their_lease(table):
    task = opened(table, "d1")
    table.lease_task(task, "r1", AT, LEASE_END)
    table.skip_task(task, "r2", AT)
    [entry] = table.open_tasks("r1", AT, 10)
    assert (entry.lease_reviewer, entry.seen, table.review(task.name).lease_reviewer) == ("r1", {"r2"}, "r1")


def test_closing_takes_the_task_out_of_the_index_with_its_answer_counts_and_training_image(table):
    task = opened(table, "d1", reviewers=2)
    table.record_task_answer(task, answer(task, "r1", "dog"), wanted=2)
    task = table.review(task.name)
    table.record_review_finished(task.name, "d1", "accepted", {"label": "cat", "finished_at": AT},
                                 closing=Closing(task, answer(task, "r2"), {"r1": False, "r2": True}),
                                 copy=COPY)
    read = table.review_with_answers(task.name)
    assert (read.task.status, read.task.answers, len(read.answers), read.task.copy) == ("accepted", 2, 2, "pending")
    assert table.pending_copies(10) == [replace(COPY, accepted_at=AT)]
    assert dict(table.loop_and_dataset()[1].images) == {}  # counted once the copy is made
    table.copy_done(COPY)
    assert table.pending_copies(10) == [] and table.review(task.name).copy == "done"
    assert names(table.open_tasks("r3", AT, 10)) == [] and table.loop().open_reviews == 0
    assert (table.reviewer_stats("r1").disagreed, table.reviewer_stats("r2").agreed) == (1, 1)
    assert table.reviewer_stats("r2").answers == 1 and table.reviewer_stats("r1").answers == 1
    assert dict(table.loop_and_dataset()[1].images) == {"cat": 1}
    assert (table.detection("d1").review_status, table.detection("d1").human_label) == ("accepted", "cat")
    with pytest.raises(TaskClosed):
        table.lease_task(task, "r3", AT, LEASE_END)
    with pytest.raises(TaskChanged):  # closed since
        table.record_task_answer(replace(task, answers=2), answer(task, "r3"), wanted=3)


def test_a_training_image_counted_by_its_own_event_first_is_not_counted_again(table):
    task = opened(table, "d1")
    table.record_review_finished(task.name, "d1", "accepted", {"label": "cat", "finished_at": AT},
                                 closing=Closing(task, answer(task, "r1")), copy=COPY)
    table.add_training_image(COPY.target, "cat")  # the copy's S3 event, first
    table.copy_done(COPY)
    assert table.review(task.name).copy == "done" and dict(table.loop_and_dataset()[1].images) == {"cat": 1}


def test_a_copy_withdrawn_before_it_is_made_is_not_counted(table):
    task = opened(table, "d1")
    table.record_review_finished(task.name, "d1", "accepted", {"label": "cat", "finished_at": AT},
                                 closing=Closing(task, answer(task, "r1")), copy=COPY)
    assert table.withdraw_review(table.review(task.name), "deleted by its uploader") == "accepted"
    with pytest.raises(CopyWithdrawn):
        table.copy_done(COPY)
    withdrawn = table.review(task.name)
    assert (withdrawn.status, withdrawn.copy) == ("deleted", None) and "accepted as 'cat' first" in withdrawn.result["reason"]
    assert dict(table.loop_and_dataset()[1].images) == {} and table.pending_copies(10) == []
    assert table.day_stats(DAY).counts["reviews_accepted"] == 0 and table.day_stats(DAY).counts["reviews_deleted"] == 1
    assert table.withdraw_review(withdrawn, "again") is None  # nothing more to withdraw


def test_an_open_task_whose_image_was_deleted_closes_as_deleted(table):
    task = opened(table, "d1")
    assert table.withdraw_review(task, "deleted by its uploader") == "open"
    assert table.review(task.name).status == "deleted" and table.detection("d1").review_status == "deleted"
    assert names(table.open_tasks("r1", AT, 10)) == [] and table.loop().open_reviews == 0
    with pytest.raises(TaskChanged):
        table.record_review_finished(task.name, "d1", "accepted", {"label": "cat", "finished_at": AT},
                                     closing=Closing(task, answer(task, "r1")), copy=COPY)


def test_expired_tasks_are_closed_and_counted_once(table):
    late = opened(table, "late", expires_at=f"{NEXT_DAY}T00:00:00.000000Z")
    opened(table, "fresh", expires_at=f"{NEXT_DAY}T09:00:00.000000Z")
    at = f"{NEXT_DAY}T04:00:00.000000Z"
    assert names(table.open_tasks("r1", at, 10)) == ["labelloop-fresh"]  # an expired task is not served
    entries = table.open_task_overview(at, 1).expired
    assert table.expire_review_tasks(entries, at) == 1
    assert table.expire_review_tasks(entries, at) == 0  # closed already: nothing changes
    assert names(table.open_tasks("r1", at, 10)) == ["labelloop-fresh"]
    assert table.review(late.name).status == "expired" and table.detection("late").review_status == "expired"
    assert table.day_stats(NEXT_DAY).counts == {"reviews_expired": 1} and table.loop().open_reviews == 1


def test_a_reviewers_agreement_is_the_share_of_decided_answers_that_matched_the_label():
    assert ReviewerStats("r", answers=5, agreed=3, disagreed=1).agreement == 0.75
    assert ReviewerStats("r", answers=2).agreement is None  # none of their tasks decided yet
