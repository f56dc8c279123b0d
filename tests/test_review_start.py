"""Opening a review in the builtin review app: a low-confidence detection opens one task — in the
open index, with its priority, the answers it waits for, the pinned image version, the reason and
the model's best guesses, and its expiry — and a repeated start opens nothing more."""

import json
from datetime import timedelta

import pytest
from stack_support import UNSURE, open_review, output_of, review_app_stack, upload

from handlers.runtime import context, state
from handlers.runtime.ids import human_loop_name
from plugins import MAX_REVIEWERS, TASK_LIFETIME_HOURS


@pytest.fixture
def st():
    with review_app_stack() as st:
        yield st


def start_payload(st, key: str) -> dict:
    """What StartReview received for the review of ``key``."""
    execution = next(e for e in st.executions if key in e["input"])
    return output_of(execution)["detection"]["value"]


def test_a_low_confidence_detection_opens_a_task_and_no_human_loop(st):
    detection, name = open_review(st, "images_for_detection/start/unsure.png", UNSURE)
    assert name == human_loop_name(detection) and st.a2i.loops == {}
    task = context.table().review(name)
    record = context.table().detection(detection)
    assert task.builtin and (task.status, task.purpose, task.answers) == ("open", "training", 0)
    assert (task.priority, task.reviewers, task.max_reviewers) == (50.0, 1, 3)  # 100 - the top confidence
    assert task.image_version == record.version_id is not None and task.reason == record.reason
    assert [label["name"] for label in task.model_labels] == ["cat", "dog"]
    lifetime = state.from_iso(task.expires_at) - state.from_iso(task.started_at)
    assert lifetime == timedelta(hours=context.settings()[TASK_LIFETIME_HOURS])
    [entry] = context.table().open_tasks("anyone", state.now_iso(), 10)
    assert (entry.name, entry.image_uri, entry.image_version) == (name, task.image_uri, task.image_version)
    assert (record.human_loop, record.review_status) == (name, "open")
    assert context.table().loop().open_reviews == 1


def test_a_repeated_start_opens_one_task(st):
    detection, name = open_review(st, "images_for_detection/start/twice.png", UNSURE)
    payload = start_payload(st, "twice.png")
    for _ in range(2):
        assert st.deliver("start_review", payload)["started"] is False
    assert len(context.table().open_tasks("anyone", state.now_iso(), 10)) == 1
    assert context.table().loop().open_reviews == 1
    assert context.table().day_stats(state.today()).counts["reviews_started_training"] == 1


def test_the_decisions_priority_and_reviewers_are_kept_within_the_maximum(st):
    upload(st, "images_for_detection/start/urgent.png", UNSURE)
    payload = start_payload(st, "urgent.png") | {"detection_id": "f" * 40, "priority": 90.0, "reviewers": 7}
    assert st.deliver("start_review", payload)["started"] is True
    task = context.table().review(human_loop_name("f" * 40))
    assert (task.priority, task.reviewers) == (90.0, context.settings()[MAX_REVIEWERS])
    served = context.table().open_tasks("anyone", state.now_iso(), 10)
    assert served.entries[0].name == task.name  # before the task of priority 50


def test_a_duplicate_detection_event_opens_one_task(st):
    first = upload(st, "images_for_detection/start/dup.png", UNSURE)
    event = json.loads(first["input"])
    for _ in range(2):
        st.start_execution("detection", event)
    st.wait_for_executions()
    assert all(e["status"] == "SUCCEEDED" for e in st.executions)
    served = [e.name for e in context.table().open_tasks("anyone", state.now_iso(), 10)]
    record = next(r for r in context.table().detections() if r.key == "images_for_detection/start/dup.png")
    assert served == [record.human_loop] and context.table().loop().open_reviews == 1
    assert context.table().day_stats(state.today()).counts["reviews_started_training"] == 1
