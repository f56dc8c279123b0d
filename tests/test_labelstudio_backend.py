"""The labelstudio review backend end to end against a real Label Studio (the session's server) and a
stack in moto: a task per review, answers by webhook and by the reconcile, consensus, duplicates,
deletions, expiry, late edits, and Label Studio down at the start of a review and during an answer."""

from __future__ import annotations

import json
import socket
from urllib.parse import parse_qs, urlsplit

import pytest
from labelstudio_support import (
    annotator,
    deliver_webhooks,
    open_in_labelstudio,
    project_id,
    reconcile,
)
from labelstudio_support import labelstudio_stack as stack_of
from review_api_support import Clock
from sandbox.api_gateway import http_api_event
from stack_support import parameters, training_keys

from handlers.labelstudio import backend, client, labeling
from handlers.labelstudio import settings as ls_settings
from handlers.runtime import context

DOWN = "http://127.0.0.1:9"  # nothing listens there: Label Studio "down"


@pytest.fixture
def ls_stack(label_studio):
    with stack_of(label_studio) as opened:
        yield opened


def review_of(name: str):
    return context.table().review(name)


def tasks_of(ls, title: str, name: str) -> list[dict]:
    return ls.tasks_of_review(project_id(ls, title), name)


def labelstudio_at(st, url: str) -> None:
    """Point the functions at another Label Studio URL (as a redeploy would)."""
    st.configure(review_settings={**st.config.review_settings, "url": url})
    backend.reset()


def test_a_review_opens_one_task_in_a_project_with_the_stacks_labels(ls_stack):
    st, _, ls, title = ls_stack
    name, pushed = open_in_labelstudio(st, "images_for_detection/one.png")
    assert pushed["labelstudio"] == "created"
    assert backend.push(review_of(name))["labelstudio"] == "found"  # a duplicate start makes no second task
    [task] = tasks_of(ls, title, name)
    assert task["id"] == pushed["labelstudio_task"]
    project = ls.request("GET", f"/api/projects/{project_id(ls, title)}/")
    assert labeling.config_choices(project["label_config"]) == ("cat", "dog", "None of the Above")
    link = urlsplit(task["data"]["image"])
    assert link.path == f"/labelstudio/images/{name}" and parse_qs(link.query)["sig"] == [ls_settings.image_signature(name)]
    assert task["predictions"] == []  # the model's guesses are not shown unless the stack asks


def test_an_annotation_reaches_the_outcome_by_webhook(ls_stack):
    st, inbox, ls, title = ls_stack
    assert reconcile(st)["webhook"] == "registered"
    name, pushed = open_in_labelstudio(st, "images_for_detection/hooked.png")
    ls.annotate(pushed["labelstudio_task"], "dog")
    [(status, reply)] = deliver_webhooks(st, inbox)
    assert (status, reply["status"], reply["label"], reply["copy"]) == (200, "accepted", "dog", "done")
    assert [k for k in training_keys(st) if k.startswith("images_labeled_by_folder/dog/")] != []
    assert review_of(name).result["labelstudio_task"] == pushed["labelstudio_task"]


def test_the_reconcile_settles_what_a_blocked_webhook_never_delivered(ls_stack):
    st, inbox, ls, title = ls_stack
    reconcile(st)
    inbox.blocked = True
    name, pushed = open_in_labelstudio(st, "images_for_detection/firewalled.png")
    ls.annotate(pushed["labelstudio_task"], "cat")
    assert deliver_webhooks(st, inbox) == [] and review_of(name).status == "open"
    outcome = reconcile(st)
    assert outcome["closed"] == 1 and review_of(name).status == "accepted"
    assert len(training_keys(st)) == 1 and reconcile(st)["closed"] == 0  # settled once


def test_two_annotators_reach_consensus_and_a_disagreement_asks_a_third(ls_stack):
    st, inbox, ls, title = ls_stack
    reconcile(st)
    one, two = annotator(ls, "ana"), annotator(ls, "bo")
    with parameters(st, {"Reviewers-Per-Image": 2}):
        agreed, pushed = open_in_labelstudio(st, "images_for_detection/agreed.png")
        split, split_pushed = open_in_labelstudio(st, "images_for_detection/split.png")
    assert ls.task(pushed["labelstudio_task"])["overlap"] == 2
    ls.annotate(pushed["labelstudio_task"], "cat", completed_by=one)
    [(_, first)] = deliver_webhooks(st, inbox)
    assert (first["status"], first["answers"], first["wanted"]) == ("open", 1, 2)
    ls.annotate(pushed["labelstudio_task"], "cat", completed_by=two)
    [(_, second)] = deliver_webhooks(st, inbox)
    assert (second["status"], second["label"]) == ("accepted", "cat")
    assert sorted(a["worker"] for a in review_of(agreed).result["answers"]) == [f"labelstudio:{one}", f"labelstudio:{two}"]

    ls.annotate(split_pushed["labelstudio_task"], "cat", completed_by=one)
    ls.annotate(split_pushed["labelstudio_task"], "dog", completed_by=two)
    replies = deliver_webhooks(st, inbox)
    assert replies[-1][1]["status"] == "open" and replies[-1][1]["wanted"] == 3
    assert ls.task(split_pushed["labelstudio_task"])["overlap"] == 3  # Label Studio serves it to a third annotator
    assert review_of(split).status == "open"


def test_a_webhook_without_the_secret_is_refused_and_changes_nothing(ls_stack):
    st, inbox, ls, title = ls_stack
    name, pushed = open_in_labelstudio(st, "images_for_detection/forged.png")
    ls.annotate(pushed["labelstudio_task"], "cat")
    body = json.dumps({"action": "ANNOTATION_CREATED", "task": {"id": pushed["labelstudio_task"],
                                                                "data": {labeling.REVIEW_FIELD: name}}})
    for headers in ({}, {"x-labelloop-secret": "guessed"}):
        response = st.deliver("labelstudio", http_api_event("POST", ls_settings.WEBHOOK_PATH, body=body, headers=headers))
        assert response["statusCode"] == 401
    assert review_of(name).status == "open" and training_keys(st) == []


def test_a_deleted_image_is_not_trained_and_its_task_is_removed(ls_stack, label_studio):
    st, inbox, ls, title = ls_stack
    reconcile(st)
    name, _ = open_in_labelstudio(st, "images_for_detection/regretted.png")
    offline, pushed = open_in_labelstudio(st, "images_for_detection/regretted-offline.png")
    s3 = st.client("s3")
    s3.delete_object(Bucket=st.bucket, Key="images_for_detection/regretted.png")
    st.pump()  # the dataset function closes the review as deleted, then removes its task
    assert review_of(name).status == "deleted" and tasks_of(ls, title, name) == []
    labelstudio_at(st, DOWN)  # the next deletion cannot reach Label Studio: its task stays a while
    s3.delete_object(Bucket=st.bucket, Key="images_for_detection/regretted-offline.png")
    st.pump()
    labelstudio_at(st, label_studio.url)
    assert review_of(offline).status == "deleted" and len(tasks_of(ls, title, offline)) == 1
    ls.annotate(pushed["labelstudio_task"], "cat")  # an annotator had it open
    [(status, reply)] = deliver_webhooks(st, inbox)
    assert (status, reply["status"]) == (200, "deleted")
    assert training_keys(st) == [] and tasks_of(ls, title, offline) == []


def test_the_image_route_redirects_to_the_reviewed_version_for_its_link_only(ls_stack):
    st, _, ls, title = ls_stack
    name, pushed = open_in_labelstudio(st, "images_for_detection/shown.png")
    link = urlsplit(ls.task(pushed["labelstudio_task"])["data"]["image"])
    response = st.deliver("labelstudio", http_api_event("GET", link.path, query=link.query))
    assert response["statusCode"] == 302
    location = urlsplit(response["headers"]["Location"])
    assert location.path.endswith("/images_for_detection/shown.png")
    assert parse_qs(location.query)["versionId"] == [review_of(name).image_version]
    wrong = st.deliver("labelstudio", http_api_event("GET", link.path, query="sig=0123"))
    other = st.deliver("labelstudio", http_api_event("GET", f"{ls_settings.IMAGE_PATH}labelloop-{'0' * 40}", query=link.query))
    assert wrong["statusCode"] == other["statusCode"] == 404


def test_labelstudio_down_when_a_review_starts_loses_nothing(ls_stack, label_studio, monkeypatch):
    st, inbox, ls, title = ls_stack
    labelstudio_at(st, DOWN)
    name, pushed = open_in_labelstudio(st, "images_for_detection/waiting.png")
    assert pushed["labelstudio"] == "waiting" and review_of(name).status == "open"
    assert reconcile(st)["labelstudio"] == "unavailable"
    labelstudio_at(st, label_studio.url)
    monkeypatch.setattr(backend, "CREATE_AFTER", backend.CREATE_AFTER * 0)  # as if minutes had passed
    assert reconcile(st)["created"] == 1
    [task] = tasks_of(ls, title, name)
    ls.annotate(task["id"], "dog")
    deliver_webhooks(st, inbox)
    assert review_of(name).status == "accepted" and len(training_keys(st)) == 1


def test_a_label_studio_that_answers_nothing_keeps_a_review_start_within_its_time(ls_stack, monkeypatch):
    st, _, ls, title = ls_stack
    waited, call = [], client._call
    monkeypatch.setattr(client, "_call", lambda request, timeout, what: waited.append(timeout) or call(request, timeout, what))
    silent = socket.create_server(("127.0.0.1", 0))  # takes connections, answers nothing
    try:
        monkeypatch.setattr(backend, "PUSH_SECONDS", 1.0)
        labelstudio_at(st, f"http://127.0.0.1:{silent.getsockname()[1]}")
        name, pushed = open_in_labelstudio(st, "images_for_detection/unanswered.png")
    finally:
        silent.close()
    assert pushed["labelstudio"] == "waiting" and review_of(name).status == "open"
    # A call alone may wait TIMEOUT_SECONDS (10): the push's calls share PUSH_SECONDS, within StartReview's 15.
    assert waited and all(0 < seconds <= 1.0 for seconds in waited)


def test_labelstudio_down_during_an_answer_loses_nothing(ls_stack, label_studio):
    st, inbox, ls, title = ls_stack
    reconcile(st)
    name, pushed = open_in_labelstudio(st, "images_for_detection/interrupted.png")
    ls.annotate(pushed["labelstudio_task"], "cat")
    labelstudio_at(st, DOWN)  # the webhook arrives, but the task cannot be read back
    [(status, _)] = deliver_webhooks(st, inbox)
    assert status == 503 and review_of(name).status == "open"
    labelstudio_at(st, label_studio.url)
    assert reconcile(st)["closed"] == 1
    assert review_of(name).status == "accepted" and len(training_keys(st)) == 1


def test_an_annotation_edited_after_acceptance_is_reported_once_and_not_applied(ls_stack):
    st, inbox, ls, title = ls_stack
    reconcile(st)
    name, pushed = open_in_labelstudio(st, "images_for_detection/edited.png")
    made = ls.annotate(pushed["labelstudio_task"], "cat")
    deliver_webhooks(st, inbox)
    st.notifications()
    ls.request("PATCH", f"/api/annotations/{made['id']}/", {"result": labeling.choice_result("dog")})
    [(status, reply)] = deliver_webhooks(st, inbox)
    assert (status, reply["status"]) == (200, "accepted")
    [told] = [n for n in st.notifications() if "edited after the review closed" in n["message"]]
    assert "accepted as 'cat'" in told["message"] and "'dog'" in told["message"] and "not applied" in told["message"]
    assert [k.split("/")[1] for k in training_keys(st)] == ["cat"]
    reconcile(st)  # the reconcile meets the same edit: not told twice
    assert not [n for n in st.notifications() if "edited after" in n["message"]]


def test_an_expired_review_is_closed_and_its_task_removed(ls_stack, monkeypatch):
    st, _, ls, title = ls_stack
    name, _ = open_in_labelstudio(st, "images_for_detection/forgotten.png")
    Clock(monkeypatch).advance(hours=241)  # past Review-Task-Lifetime-Hours (240)
    assert reconcile(st)["expired"] == 1
    assert review_of(name).status == "expired" and tasks_of(ls, title, name) == []


def test_predictions_show_the_models_guess_only_when_asked(label_studio):
    with stack_of(label_studio, predictions=True) as (st, _, ls, title):
        name, pushed = open_in_labelstudio(st, "images_for_detection/guessed.png")
        [prediction] = ls.task(pushed["labelstudio_task"])["predictions"]
        assert labeling.answer_label(prediction) == "cat" and prediction["score"] == 0.5


def test_simulated_annotators_label_through_label_studio_and_their_answers_train(ls_stack):
    from sandbox.labelstudio_reviewers import LabelStudioTeam

    st, inbox, ls, title = ls_stack
    reconcile(st)
    truth = {"images_for_detection/a-cat.png": "cat", "images_for_detection/a-dog.png": "dog"}
    with parameters(st, {"Reviewers-Per-Image": 2}):
        names = {open_in_labelstudio(st, key)[0]: label for key, label in truth.items()}

    def show(link: str) -> str:
        parts = urlsplit(link)
        return st.deliver("labelstudio", http_api_event("GET", parts.path, query=parts.query))["headers"]["Location"]

    team = LabelStudioTeam(ls, project_id(ls, title), {f"s3://{st.bucket}/{k}": v for k, v in truth.items()},
                           ("cat", "dog"), show, error_rates=(0.0, 0.0))
    assert team.answer_open_tasks() == 4 and team.answer_open_tasks() == 0  # two annotators per task, once each
    deliver_webhooks(st, inbox)
    assert {name: (review_of(name).status, review_of(name).result.get("label")) for name in names} == \
        {name: ("accepted", label) for name, label in names.items()}
    assert sorted(k.split("/")[1] for k in training_keys(st)) == ["cat", "dog"]


def test_a_project_that_does_not_fit_the_labels_makes_reviews_wait_and_is_reported_once(ls_stack):
    st, _, ls, title = ls_stack
    ls.request("POST", "/api/projects/", {"title": title, "label_config": labeling.label_config(("cat", "bird"))})
    first, pushed = open_in_labelstudio(st, "images_for_detection/misfit-1.png")
    second, again = open_in_labelstudio(st, "images_for_detection/misfit-2.png")
    assert pushed["labelstudio"] == again["labelstudio"] == "waiting" and "missing ['dog']" in pushed["reason"]
    assert review_of(first).status == review_of(second).status == "open"
    told = [n for n in st.notifications() if "Label Studio refused" in n["message"]]
    assert len(told) == 1 and "labelloop:labelStudioProject" in told[0]["message"]
    with pytest.raises(Exception, match="differ from the stack's labels"):
        reconcile(st)  # the scheduled run fails loudly (its alarm) until the project is fixed
