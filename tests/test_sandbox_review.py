"""The sandbox reviews in the builtin review app: simulated reviewers with error rates of their own
answer through its API, so consensus runs end to end; and a run can leave its last reviews open for
a person, who answers them through `labelloop review`'s server (signing in as the page does), after
which `labelloop train` trains on those answers."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import threading
from collections import Counter
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from cli.main import main
from handlers.runtime.ids import HUMAN_LOOP_NAME
from sandbox.api_gateway import CLIENT_ID, reviewer_claims
from sandbox.review_server import review_sandbox
from sandbox.runner import SandboxOptions, run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def items_of(folder) -> list[dict]:
    return json.loads((folder / "state.json").read_text())["items"]


def stats_of(items: list[dict], name: str) -> dict:
    sub = reviewer_claims(name, "access", 0, 0)["sub"]
    return next((i for i in items if (i["pk"], i["sk"]) == ("REVIEWERS", sub)), {})


def test_three_reviewers_answer_every_image_and_the_majority_decides(tmp_path):
    result = run(SandboxOptions(out=tmp_path, images=300, holdout=40, rounds=1, seed=3,
                                reviewer_error_rates=(0.0, 0.0, 1.0), parameters={"Reviewers-Per-Image": "3"}))
    items = items_of(tmp_path)
    reviews = [i for i in items if i["sk"] == "HL"]
    assert reviews and all(r["status"] == "accepted" and "2 of 3 reviewers" in r["result"]["reason"]
                           for r in reviews)
    assert all(len(r["result"]["answers"]) == 3 for r in reviews)
    assert result.reviews_accepted == len(reviews) and result.wrong_answers == len(reviews)
    right, wrong = stats_of(items, "reviewer-1"), stats_of(items, "reviewer-3")
    assert (right["answers"], right["agreed"]) == (len(reviews), len(reviews)) and "disagreed" not in right
    assert (wrong["answers"], wrong["disagreed"]) == (len(reviews), len(reviews)) and "agreed" not in wrong


def test_disagreeing_reviewers_are_asked_for_one_more_answer_up_to_the_maximum(tmp_path):
    run(SandboxOptions(out=tmp_path, images=300, holdout=40, rounds=1, seed=3, reviewer_error_rates=(0.0, 1.0, 1.0),
                       parameters={"Reviewers-Per-Image": "2", "Maximum-Reviewers-Per-Image": "3"}))
    statuses = Counter((r["status"], len(r["result"]["answers"])) for r in items_of(tmp_path) if r["sk"] == "HL")
    # Always one right and one wrong answer first; the third (always wrong) rarely agrees with the second.
    assert set(statuses) <= {("unresolved", 3), ("accepted", 3), ("rejected", 3)} and statuses[("unresolved", 3)]


class Browser:
    """What the review page does over HTTP: sign in (code with PKCE), then the API with its token."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.url, self.host, self.port = url, parts.hostname, parts.port
        self.token = None

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        connection.request(method, path, body=body, headers={
            **({"Authorization": f"Bearer {self.token}"} if self.token else {}), **(headers or {})})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()

    def sign_in(self, name: str) -> None:
        verifier = "x" * 64
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        form = {"client_id": CLIENT_ID, "redirect_uri": self.url, "response_type": "code", "state": "st",
                "code_challenge_method": "S256", "code_challenge": challenge, "username": name}
        kind = {"Content-Type": "application/x-www-form-urlencoded"}
        status, headers, _ = self.request("POST", "/oauth2/authorize", urlencode(form).encode(), kind)
        assert status == 302
        code = parse_qs(urlsplit(headers["Location"]).query)["code"][0]
        status, _, body = self.request("POST", "/oauth2/token", urlencode({
            "grant_type": "authorization_code", "client_id": CLIENT_ID, "code": code, "redirect_uri": self.url,
            "code_verifier": verifier}).encode(), kind)
        assert status == 200
        self.token = json.loads(body)["access_token"]

    def api(self, method: str, path: str, document=None) -> tuple[int, dict]:
        body = json.dumps(document).encode() if document is not None else None
        status, _, reply = self.request(method, path, body, {"Content-Type": "application/json"})
        return status, json.loads(reply)


@pytest.fixture(scope="module")
def open_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("open-run")
    run(SandboxOptions(out=folder, images=320, holdout=40, rounds=2, seed=4, leave_reviews_open=True,
                       parameters={"Minimum-Untrained-Images": "5"}))
    return folder


def test_a_run_can_leave_its_last_reviews_open_for_a_person(open_run, tmp_path):
    state = json.loads((open_run / "state.json").read_text())
    waiting = [i for i in state["items"] if i["sk"] == "HL" and i["status"] == "open"]
    assert len(waiting) >= 5 and all(HUMAN_LOOP_NAME.match(i["name"]) for i in waiting)
    assert [i for i in state["items"] if i["pk"] == "OPEN"]
    assert [i for i in state["items"] if i["sk"] == "HL" and i["status"] == "accepted"]  # earlier rounds'


def test_a_person_answers_the_open_reviews_and_the_loop_trains_on_them(open_run, capsys):
    truth = json.loads((open_run / "state.json").read_text())["truth"]
    ready, running = threading.Event(), {}

    def on_ready(server, app):
        running.update(server=server, app=app)
        ready.set()

    thread = threading.Thread(target=review_sandbox, args=(open_run,), kwargs={"port": 0, "on_ready": on_ready})
    thread.start()
    answered = []
    try:
        assert ready.wait(60)
        browser = Browser(running["app"].review_url)
        status, _, page = browser.request("GET", "/")
        assert status == 200 and b"labelloop review" in page
        assert browser.api("GET", "/api/tasks/next")[0] == 401  # not signed in
        browser.sign_in("dana")
        while True:
            status, reply = browser.api("GET", "/api/tasks/next")
            assert status == 200
            task = reply["task"]
            if task is None:
                break
            status, headers, image = browser.request("GET", task["image"])
            assert status == 200 and image.startswith(PNG_MAGIC) and headers["Content-Type"] == "image/png"
            shown = urlsplit(parse_qs(urlsplit(task["image"]).query)["url"][0]).path  # the upload's key
            label = next(v for k, v in truth.items() if k.endswith(shown))  # what the person sees
            assert browser.api("POST", f"/api/tasks/{task['id']}/answer", {"label": label})[0] == 200
            answered.append(label)
        status, me = browser.api("GET", "/api/me")
        assert me["answers"] == len(answered) >= 5 and me["openTasks"] == 0
    finally:
        running["server"].shutdown()
        thread.join(120)
    items = items_of(open_run)
    assert not [i for i in items if i["pk"] == "OPEN"]  # saved back with the answers
    assert main(["train", "--sandbox", str(open_run)]) == 0
    out = capsys.readouterr().out
    assert "new labelled images since the last training (≥ 5)" in out and "SUCCEEDED" in out, out
