"""The builtin review app's API through its real handler (HTTP API events, the authorizer's claims):
who may call it, what each route refuses without changing anything, consensus between reviewers,
leases and expiry, the accepted image's copy, and the calls each request makes."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from urllib.parse import parse_qs, urlparse

import pytest
import state_support
from review_api_support import Clock, Reviewer, http_event
from stack_support import (
    PNG,
    UNSURE,
    counts,
    open_review,
    parameters,
    review_app_stack,
    training_keys,
    upload,
)

from handlers import review_api
from handlers.runtime import aws, context, state
from plugins import LEASE_MINUTES, MAX_REVIEWERS, NONE_OF_THE_ABOVE, REVIEWERS_PER_IMAGE, TASK_LIFETIME_HOURS

ROUTES = [("GET", "/api/tasks/next"), ("GET", "/api/tasks/{id}"), ("POST", "/api/tasks/{id}/answer"),
          ("POST", "/api/tasks/{id}/skip"), ("GET", "/api/me")]


@pytest.fixture(scope="module")
def app_stack():
    with review_app_stack() as st:
        yield st


@pytest.fixture
def st(app_stack):
    """The stack with no review task open and no reviewer's counts (earlier tests' left out)."""
    state_support.delete_partition("OPEN")
    state_support.delete_partition("REVIEWERS")
    app_stack.notifications()
    return app_stack


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch)


def task_for(st, key: str, scores=UNSURE) -> str:
    return open_review(st, key, scores)[1]


def table_items() -> list[dict]:
    return sorted(context.table().all_items(), key=lambda i: (i["pk"], i["sk"]))


# -- who may call it ------------------------------------------------------------------------------
def test_the_page_and_its_sign_in_settings_are_public(st):
    page = st.deliver("review_api", http_event("GET", "/"))
    assert page["statusCode"] == 200 and page["headers"]["Content-Type"].startswith("text/html")
    document = page["body"]
    assert document.count("<script>") == document.count("<style>") == 1 and "<html" in document
    # nothing from elsewhere (its icon is an empty data URI: no request for /favicon.ico)
    assert not re.search(r"<script[^>]*\bsrc=|<link\b(?![^>]*href=\"data:)|@import|https?://", document)
    policy = dict(part.strip().split(" ", 1) for part in page["headers"]["Content-Security-Policy"].split(";"))
    for tag in ("script", "style"):
        body = document.split(f"<{tag}>", 1)[1].split(f"</{tag}>", 1)[0]
        assert policy[f"{tag}-src"] == f"'sha256-{base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()}'"
    assert policy["connect-src"] == "'self' https://login.example.com" and policy["default-src"] == "'none'"
    settings = st.deliver("review_api", http_event("GET", "/config"))
    assert settings["statusCode"] == 200
    assert json.loads(settings["body"]) == {
        "region": "us-east-1", "userPoolId": "us-east-1_Reviewers", "clientId": "reviewclient",
        "loginUrl": "https://login.example.com", "redirectUri": "https://review.example.com/",
        "stack": st.stack, "labels": ["cat", "dog"], "noneOfTheAbove": NONE_OF_THE_ABOVE}


@pytest.mark.parametrize("token", [
    None,  # no token (a route left without the authorizer)
    {"groups": "[]"},  # a user outside the reviewer group
    {"groups": "[admins]"},
    {"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Another"},  # another pool's token
    {"iss": "https://evil.example.com/us-east-1_Reviewers"},  # ends with the pool's id, from elsewhere
    {"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Reviewers/"},
    {"client_id": "another-app"},  # a token for another app client
    {"sub": ""},
], ids=["no-token", "no-group", "other-group", "other-pool", "other-issuer-same-pool-id", "trailing-slash",
        "other-client", "no-subject"])
def test_every_api_route_refuses_anyone_but_a_reviewer_and_changes_nothing(st, token):
    task = task_for(st, "images_for_detection/api/refused.png")
    before = table_items()
    intruder = Reviewer(st, "intruder", **(token or {}))
    if token is None:
        intruder.token = None
    for method, path in ROUTES:
        status, body = intruder.call(method, path.replace("{id}", task), {"label": "cat"})
        assert status == 403, (method, path, body)
    assert table_items() == before


def test_a_group_claim_as_a_list_is_read_too(st):
    assert Reviewer(st, "listed", groups=["other", "reviewers"]).me()["reviewer"] == "listed"


# -- what each route refuses -------------------------------------------------------------------------
@pytest.mark.parametrize("task_id", ["labelloop-" + "0" * 40, "labelloop-nope", "../OPEN", "x" * 300])
def test_an_unknown_task_or_another_stacks_is_not_found(st, task_id):
    ana = Reviewer(st, "ana")
    for method, path in ROUTES[1:4]:
        status, _ = ana.call(method, path.replace("{id}", task_id), {"label": "cat"})
        assert status == 404, (method, path)


@pytest.mark.parametrize("body", [
    {"label": ""}, {"label": "   "}, {"label": "horse"}, {"label": "cat/../manifests"}, {"label": "../cat"},
    {"label": 3}, {"label": ["cat"]}, {}, None, "not json", [], {"label": "Cat"}])
def test_an_answer_that_is_not_a_label_is_refused_and_changes_nothing(st, body):
    task = task_for(st, "images_for_detection/api/bad-answer.png")
    before, keys = table_items(), training_keys(st)
    status, reply = Reviewer(st, "ana").call("POST", f"/api/tasks/{task}/answer", body)
    assert status == 400, reply
    assert table_items() == before and training_keys(st) == keys


def test_only_an_open_task_takes_an_answer_and_a_reviewer_answers_once(st):
    task = task_for(st, "images_for_detection/api/once.png")
    ana = Reviewer(st, "ana")
    assert ana.answer(task, "cat")[0] == 200
    status, body = ana.answer(task, "dog")
    assert status == 409 and "closed" in body["message"]
    assert Reviewer(st, "bo").answer(task, "dog")[0] == 409
    assert context.table().review(task).result["label"] == "cat"


def test_a_reviewer_answers_a_task_that_waits_for_others_only_once(st):
    with parameters(st, {REVIEWERS_PER_IMAGE: "2"}):
        task = task_for(st, "images_for_detection/api/twice.png")
        ana = Reviewer(st, "ana")
        assert ana.answer(task, "cat")[0] == 200
        status, body = ana.answer(task, "cat")
        assert status == 409 and "answered" in body["message"]
        assert ana.next() is None  # not served again
        assert context.table().review(task).answers == 1 and ana.me()["answers"] == 1


def test_no_reviewer_is_shown_anothers_answers(st):
    with parameters(st, {REVIEWERS_PER_IMAGE: "2"}):
        task = task_for(st, "images_for_detection/api/private.png")
        Reviewer(st, "ana").answer(task, "dog")
        bo = Reviewer(st, "bo")
        shown = [bo.next(), bo.call("GET", f"/api/tasks/{task}")[1]["task"]]
        assert all(t["id"] == task for t in shown)
        assert not any("dog" in json.dumps({k: v for k, v in t.items() if k != "modelLabels"}) for t in shown)
        assert {"answers", "result", "label"}.isdisjoint(set().union(*shown))
        assert bo.me()["answers"] == 0


# -- a task, its image and its answer ---------------------------------------------------------------
def test_next_task_is_the_most_urgent_with_a_presigned_url_of_the_pinned_version(st):
    task_for(st, "images_for_detection/api/fairly-sure.png", (("cat", 65.0), ("dog", 35.0)))
    urgent = task_for(st, "images_for_detection/api/unsure.png", (("cat", 40.0), ("dog", 30.0)))
    pinned = context.table().review(urgent).image_version
    served = Reviewer(st, "ana").next()
    assert served["id"] == urgent and served["purpose"] == "training" and "below" in served["reason"]
    assert served["modelLabels"] == [{"name": "cat", "confidence": 40.0}, {"name": "dog", "confidence": 30.0}]
    url = urlparse(served["image"])
    query = parse_qs(url.query)
    assert url.path.endswith("/images_for_detection/api/unsure.png") and query["versionId"] == [pinned]
    assert query["X-Amz-Expires"] == ["300"] and served["imageExpiresInSeconds"] == 300
    assert Reviewer(st, "bo").next()["id"] != urgent  # leased to ana


def test_an_accepted_answer_copies_the_reviewed_version_into_its_label_folder(st):
    key = "images_for_detection/api/overwritten.png"
    detection, task = open_review(st, key, UNSURE)
    upload(st, key, UNSURE, body=PNG + b"a later version", pump=False)  # overwritten while in review
    before = counts().get("dog", 0)
    ana = Reviewer(st, "ana")
    assert ana.next()["id"] == task
    assert ana.answer(task, "dog") == (200, {"task": task, "answered": True, "label": "dog"})
    target = f"images_labeled_by_folder/dog/{detection}.png"
    assert target in training_keys(st)
    copied = st.client("s3").get_object(Bucket=st.bucket, Key=target)["Body"].read()
    reviewed = st.client("s3").get_object(Bucket=st.bucket, Key=key,
                                          VersionId=context.table().review(task).image_version)["Body"].read()
    assert copied == reviewed != PNG + b"a later version"
    st.pump()  # the copy's own event finds it counted
    assert counts()["dog"] == before + 1
    record = context.table().detection(detection)
    assert (record.review_status, record.human_label) == ("accepted", "dog")
    assert ana.me() | {"openTasks": None} == {"reviewer": "ana", "email": "ana@example.com", "answers": 1,
                                              "skips": 0, "agreed": 1, "disagreed": 0, "openTasks": None}


def test_none_of_the_above_closes_the_task_without_training_data(st):
    task = task_for(st, "images_for_detection/api/neither.png")
    keys = training_keys(st)
    assert Reviewer(st, "ana").answer(task, NONE_OF_THE_ABOVE)[0] == 200
    assert context.table().review(task).status == "rejected" and training_keys(st) == keys


def test_a_skipped_task_goes_to_the_next_reviewer(st):
    task = task_for(st, "images_for_detection/api/skipped.png")
    ana, bo = Reviewer(st, "ana"), Reviewer(st, "bo")
    assert ana.next()["id"] == task
    assert ana.skip(task) == (200, {"task": task, "skipped": True})
    assert ana.skip(task)[0] == 409 and ana.next() is None
    assert bo.next()["id"] == task and ana.me()["skips"] == 1


# -- consensus ---------------------------------------------------------------------------------------
def test_two_of_three_reviewers_agreeing_is_accepted(st):
    with parameters(st, {REVIEWERS_PER_IMAGE: "3"}):
        detection, task = open_review(st, "images_for_detection/api/two-of-three.png", UNSURE)
        for name, label in (("ana", "cat"), ("bo", "dog"), ("cy", "cat")):
            reviewer = Reviewer(st, name)
            assert reviewer.next()["id"] == task
            assert reviewer.answer(task, label)[0] == 200
        closed = context.table().review(task)
        assert closed.status == "accepted" and closed.result["label"] == "cat"
        assert "2 of 3 reviewers" in closed.result["reason"]
        assert f"images_labeled_by_folder/cat/{detection}.png" in training_keys(st)
        assert (Reviewer(st, "bo").me()["disagreed"], Reviewer(st, "cy").me()["agreed"]) >= (1, 1)


def test_disagreement_asks_for_more_answers_up_to_the_maximum_then_is_unresolved(st):
    with parameters(st, {REVIEWERS_PER_IMAGE: "2", MAX_REVIEWERS: "3"}):
        task = task_for(st, "images_for_detection/api/disputed.png")
        keys = training_keys(st)
        for name, label in (("ana", "cat"), ("bo", "dog")):
            assert Reviewer(st, name).answer(task, label)[0] == 200
        asked = context.table().review(task)
        assert (asked.status, asked.answers, asked.reviewers) == ("open", 2, 3)  # one more answer wanted
        assert Reviewer(st, "cy").next()["id"] == task
        assert Reviewer(st, "cy").answer(task, NONE_OF_THE_ABOVE)[0] == 200
        closed = context.table().review(task)
        assert closed.status == "unresolved" and "reviewers disagree" in closed.result["reason"]
        assert "3 answers, the most" in closed.result["reason"] and training_keys(st) == keys
        assert context.table().detection(closed.detection_id).review_status == "unresolved"
        assert context.table().day_stats(state.today()).counts["reviews_unresolved"] >= 1


def test_a_third_answer_settles_a_disagreement(st):
    with parameters(st, {REVIEWERS_PER_IMAGE: "2"}):
        task = task_for(st, "images_for_detection/api/settled.png")
        for name, label in (("ana", "cat"), ("bo", "dog"), ("cy", "dog")):
            assert Reviewer(st, name).answer(task, label)[0] == 200
        assert context.table().review(task).result["label"] == "dog"


# -- leases and expiry --------------------------------------------------------------------------------
def test_a_lease_keeps_the_task_from_other_reviewers_until_it_expires(st, clock):
    task = task_for(st, "images_for_detection/api/leased.png")
    ana, bo = Reviewer(st, "ana"), Reviewer(st, "bo")
    assert ana.next()["id"] == task
    assert bo.next() is None
    assert bo.call("GET", f"/api/tasks/{task}")[0] == 409
    assert bo.answer(task, "dog")[0] == 409
    clock.advance(minutes=context.settings()[LEASE_MINUTES] + 1)
    assert bo.next()["id"] == task  # ana's lease ended: now bo's
    status, body = ana.answer(task, "cat")
    assert status == 409 and "another reviewer" in body["message"]
    assert bo.answer(task, "dog")[0] == 200
    assert context.table().review(task).result["label"] == "dog"


def test_a_task_not_answered_within_its_lifetime_is_not_served_and_expires(st, clock):
    task = task_for(st, "images_for_detection/api/late.png")
    open_before = context.table().loop().open_reviews
    clock.advance(hours=context.settings()[TASK_LIFETIME_HOURS], minutes=1)
    day = state.today()
    expired_before = context.table().day_stats(day).counts.get("reviews_expired", 0)
    ana = Reviewer(st, "ana")
    assert ana.next() is None
    st.deliver("review_api", review_api.SWEEP)
    expired = context.table().review(task)
    assert expired.status == "expired" and context.table().detection(expired.detection_id).review_status == "expired"
    assert context.table().day_stats(day).counts["reviews_expired"] == expired_before + 1
    assert context.table().loop().open_reviews == open_before - 1
    assert ana.answer(task, "cat")[0] == 409


def test_answering_a_task_past_its_lifetime_expires_it(st, clock):
    task = task_for(st, "images_for_detection/api/too-late.png")
    clock.advance(hours=context.settings()[TASK_LIFETIME_HOURS], minutes=1)
    status, body = Reviewer(st, "ana").answer(task, "cat")
    assert status == 409 and "expired" in body["message"]
    assert context.table().review(task).status == "expired"


# -- what a request costs ------------------------------------------------------------------------------
def test_next_task_makes_two_calls_and_an_accepted_answer_five_however_many_tasks_are_open(st):
    for i in range(30):
        task_for(st, f"images_for_detection/api/many-{i}.png")
    ana = Reviewer(st, "ana")
    ana.me()  # parameters read and cached, as in a warm container
    calls: list[str] = []
    for service in ("dynamodb", "s3", "ssm"):
        aws.client(service).meta.events.register(f"before-call.{service}.*",
                                                 lambda model, **_: calls.append(model.name))
    served = ana.next()
    assert calls == ["Query", "TransactWriteItems"]  # the open index, the lease
    calls.clear()
    assert ana.answer(served["id"], "cat")[0] == 200
    # The task and its answers; the close (the claim); is the upload still there; the copy; the copy done.
    assert calls == ["Query", "TransactWriteItems", "HeadObject", "CopyObject", "TransactWriteItems"]


# -- the sweep -------------------------------------------------------------------------------------
def test_the_sweep_expires_tasks_past_their_lifetime_and_publishes_the_open_tasks_and_the_oldests_age(
        st, clock, monkeypatch, capsys):
    lifetime = context.settings()[TASK_LIFETIME_HOURS]
    old = task_for(st, "images_for_detection/api/sweep-old.png")
    clock.advance(hours=lifetime - 1)
    waiting = task_for(st, "images_for_detection/api/sweep-waiting.png")
    clock.advance(hours=2)  # the first is past its lifetime, the second has waited 2 hours
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    capsys.readouterr()
    day = state.today()
    expired_before = context.table().day_stats(day).counts.get("reviews_expired", 0)
    swept = st.deliver("review_api", review_api.SWEEP)
    assert (swept["open"], swept["expired"], swept["complete"]) == (1, 1, True)
    assert 7200 <= swept["oldestAgeSeconds"] < 7260  # 2 hours, and the seconds the test took
    assert context.table().review(old).status == "expired" and context.table().review(waiting).status == "open"
    (emf,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert emf[review_api.REVIEW_TASKS_OPEN] == [1.0] and emf[review_api.OLDEST_OPEN_TASK_AGE] == [swept["oldestAgeSeconds"]]
    assert emf["Reviews_expired"] == [1.0]
    clock.advance(minutes=5)  # the next sweep: nothing more to expire, the same task older
    assert 7500 <= st.deliver("review_api", review_api.SWEEP)["oldestAgeSeconds"] < 7560
    assert context.table().day_stats(day).counts["reviews_expired"] == expired_before + 1


def test_the_sweep_of_an_empty_queue_publishes_zeros(st):
    assert st.deliver("review_api", review_api.SWEEP) == {"open": 0, "oldestAgeSeconds": 0, "expired": 0,
                                                          "complete": True}
