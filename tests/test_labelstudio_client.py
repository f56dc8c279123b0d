"""The Label Studio client against a real Label Studio (the session's server, `make label-studio`):
the project and its labelling config, one task per review, annotations, the webhook, both kinds of
access token, and the errors that say whether to try again."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from handlers.labelstudio import labeling
from handlers.labelstudio.client import LabelStudio, Refused, Unavailable, is_personal_access_token
from plugins import NONE_OF_THE_ABOVE

LABELS = ("cat", "dog")


@pytest.fixture
def ls(label_studio) -> LabelStudio:
    return LabelStudio(label_studio.url, label_studio.token)


def title() -> str:
    return f"labelloop-test-{uuid.uuid4().hex[:8]}"


def test_a_project_is_created_with_one_choice_per_label_and_none_of_the_above(ls):
    name = title()
    project = ls.project(name, LABELS)
    assert labeling.config_choices(project["label_config"]) == ("cat", "dog", NONE_OF_THE_ABOVE)
    assert ls.project(name, LABELS)["id"] == project["id"]  # found again, not made twice
    assert [p["id"] for p in ls.request("GET", "/api/projects/", query={"title": name})["results"]] == [project["id"]]


def test_two_functions_making_the_project_at_once_leave_one(ls, monkeypatch):
    name, send = title(), ls.request

    def racing(method, path, body=None, query=None):  # another function makes it just before this one
        if (method, path) == ("POST", "/api/projects/"):
            monkeypatch.setattr(ls, "request", send)
            send(method, path, body, query)
        return send(method, path, body, query)

    monkeypatch.setattr(ls, "request", racing)
    project = ls.project(name, LABELS)
    assert [p["id"] for p in ls.request("GET", "/api/projects/", query={"title": name})["results"]] == [project["id"]]


def test_a_project_whose_choices_differ_from_the_labels_is_refused_with_the_difference(ls):
    name = title()
    ls.project(name, LABELS)
    with pytest.raises(labeling.ConfigMismatch) as refused:
        ls.project(name, ("cat", "bird"))
    message = str(refused.value)
    assert name in message and "missing ['bird']" in message and "not labels of the stack ['dog']" in message
    assert "labelloop:labelStudioProject" in message  # the fix


def test_a_review_has_one_task_however_often_it_is_created(ls):
    project = ls.project(title(), LABELS)["id"]
    first, created = ls.create_task(project, "labelloop-aaa", "https://images.example/a.png", overlap=2)
    again, created_again = ls.create_task(project, "labelloop-aaa", "https://images.example/a.png")
    other, _ = ls.create_task(project, "labelloop-bbb", "https://images.example/b.png")
    assert (created, created_again) == (True, False)
    assert again["id"] == first["id"] != other["id"]
    assert first["overlap"] == 2 and first["data"][labeling.REVIEW_FIELD] == "labelloop-aaa"
    assert [t["id"] for t in ls.tasks_of_review(project, "labelloop-aaa")] == [first["id"]]


def test_annotations_are_read_back_and_a_deleted_task_is_gone(ls):
    project = ls.project(title(), LABELS)["id"]
    task, _ = ls.create_task(project, "labelloop-ccc", "https://images.example/c.png")
    ls.annotate(task["id"], "dog")
    ls.annotate(task["id"], None)  # a skip
    annotations = ls.task(task["id"])["annotations"]
    assert sorted(map(str, (labeling.answer_label(a) for a in annotations))) == ["None", "dog"]
    changed = [t["id"] for t in ls.tasks_changed_since(project, datetime.now(UTC) - timedelta(minutes=5))]
    assert changed == [task["id"]]
    assert ls.delete_task(task["id"]) is True and ls.delete_task(task["id"]) is False
    assert ls.task(task["id"]) is None and ls.tasks_of_review(project, "labelloop-ccc") == []


def test_the_webhook_is_registered_once_and_put_right_when_its_secret_changes(ls):
    project = ls.project(title(), LABELS)["id"]
    url = "https://api.example/labelstudio/webhook"
    hook, changed = ls.ensure_webhook(project, url, {"X-Labelloop-Secret": "one"})
    assert changed and hook["headers"] == {"X-Labelloop-Secret": "one"}
    assert ls.ensure_webhook(project, url, {"X-Labelloop-Secret": "one"})[1] is False
    rotated, changed = ls.ensure_webhook(project, url, {"X-Labelloop-Secret": "two"})
    assert changed and rotated["id"] == hook["id"] and rotated["headers"] == {"X-Labelloop-Secret": "two"}
    hooks = ls.request("GET", "/api/webhooks/", query={"project": project})
    assert [(h["url"], sorted(h["actions"])) for h in hooks] == [(url, ["ANNOTATION_CREATED", "ANNOTATION_UPDATED"])]


def test_a_personal_access_token_is_exchanged_for_access_tokens(ls, label_studio):
    personal = ls.request("POST", "/api/token/")["token"]
    assert is_personal_access_token(personal) and not is_personal_access_token(label_studio.token)
    with_pat = LabelStudio(label_studio.url, personal)
    assert with_pat.request("GET", "/api/current-user/whoami")["email"] == "admin@labelloop.invalid"
    assert with_pat._access is not None  # a Bearer access token was asked for and kept


def test_a_wrong_token_is_refused_and_an_unreachable_instance_is_unavailable(label_studio):
    with pytest.raises(Refused) as refused:
        LabelStudio(label_studio.url, "not-a-token").project(title(), LABELS)
    assert refused.value.status == 401
    with pytest.raises(Unavailable, match="cannot be reached"):
        LabelStudio("http://127.0.0.1:9", "x").project(title(), LABELS)
