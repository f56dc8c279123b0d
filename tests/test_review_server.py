"""``labelloop review --sandbox``'s local server: the review function behind local stand-ins for the
managed login (authorization code with PKCE), the JWT authorizer and S3's presigned URLs — a
reviewer signs in, is served a task, sees its image and answers it, as on AWS."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import urllib.request
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from stack_support import PNG, UNSURE, activate_model, local_stack, open_review, training_keys

from handlers.runtime import context
from sandbox.local_aws import LambdaFailed
from sandbox.review_server import CLIENT_ID, LocalReviewApp, LocalSignIn, bind, serve, url_of

BASE = "http://127.0.0.1:8123"
VERIFIER = "v" * 50
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
FORM = {"content-type": "application/x-www-form-urlencoded"}


class Clock:
    def __init__(self):
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def stack():
    with local_stack() as st:
        activate_model()
        yield st


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def app(stack, clock):
    return LocalReviewApp(stack, BASE, clock)


def authorize_query(**changes) -> dict[str, str]:
    return {"client_id": CLIENT_ID, "redirect_uri": f"{BASE}/", "response_type": "code", "state": "s1",
            "code_challenge_method": "S256", "code_challenge": CHALLENGE, "scope": "openid email profile", **changes}


def sign_in(app, name: str = "ana") -> dict:
    reply = app.handle("POST", "/oauth2/authorize", FORM, urlencode(authorize_query(username=name)).encode())
    assert reply.status == 302, reply.body
    back = urlsplit(reply.headers["Location"])
    code = parse_qs(back.query)
    assert f"{back.scheme}://{back.netloc}{back.path}" == f"{BASE}/" and code["state"] == ["s1"]
    reply = app.handle("POST", "/oauth2/token", FORM, urlencode({
        "grant_type": "authorization_code", "client_id": CLIENT_ID, "code": code["code"][0],
        "redirect_uri": f"{BASE}/", "code_verifier": VERIFIER}).encode())
    assert reply.status == 200, reply.body
    return json.loads(reply.body)


def api(app, method: str, path: str, token: str | None, body=None):
    headers = {"authorization": f"Bearer {token}"} if token else {}
    reply = app.handle(method, path, headers | {"content-type": "application/json"},
                       json.dumps(body).encode() if body is not None else b"")
    return reply.status, json.loads(reply.body) if reply.body else None


def test_the_page_and_its_settings_point_at_the_local_sign_in(app):
    page = app.handle("GET", "/", {}, b"")
    assert page.status == 200 and b"labelloop review" in page.body
    assert "connect-src 'self' http://127.0.0.1:8123" in page.headers["Content-Security-Policy"]
    settings = json.loads(app.handle("GET", "/config", {}, b"").body)
    assert (settings["loginUrl"], settings["redirectUri"], settings["clientId"]) == (BASE, f"{BASE}/", CLIENT_ID)


@pytest.mark.parametrize("changes", [{"client_id": "other"}, {"redirect_uri": "https://evil.example/"},
                                     {"code_challenge_method": "plain"}, {"code_challenge": ""},
                                     {"response_type": "token"}])
def test_the_sign_in_refuses_what_cognito_would(app, changes):
    assert app.handle("GET", "/oauth2/authorize?" + urlencode(authorize_query(**changes)), {}, b"").status == 400
    form = app.handle("GET", "/oauth2/authorize?" + urlencode(authorize_query()), {}, b"")
    assert form.status == 200 and b'name="username"' in form.body


def test_a_code_is_exchanged_once_and_only_with_its_verifier(app):
    reply = app.handle("POST", "/oauth2/authorize", FORM, urlencode(authorize_query(username="ana")).encode())
    code = parse_qs(urlsplit(reply.headers["Location"]).query)["code"][0]
    exchange = {"grant_type": "authorization_code", "client_id": CLIENT_ID, "code": code, "redirect_uri": f"{BASE}/"}
    wrong = app.handle("POST", "/oauth2/token", FORM, urlencode(exchange | {"code_verifier": "w" * 50}).encode())
    assert wrong.status == 400  # the code is spent
    again = app.handle("POST", "/oauth2/token", FORM, urlencode(exchange | {"code_verifier": VERIFIER}).encode())
    assert again.status == 400
    bad_name = app.handle("POST", "/oauth2/authorize", FORM, urlencode(authorize_query(username="Ana B")).encode())
    assert bad_name.status == 200 and b"A reviewer name is" in bad_name.body


def test_the_api_needs_a_valid_unexpired_token_of_this_server(app, clock, stack):
    tokens = sign_in(app)
    assert api(app, "GET", "/api/me", None)[0] == 401
    assert api(app, "GET", "/api/me", tokens["id_token"])[0] == 401  # an ID token is not an access token
    assert api(app, "GET", "/api/me", LocalSignIn(f"{BASE}/", clock).sign("ana", "access"))[0] == 401  # another key
    assert api(app, "GET", "/api/me", tokens["access_token"])[0] == 200
    clock.now += 3601
    assert api(app, "GET", "/api/me", tokens["access_token"])[0] == 401  # expired
    refreshed = json.loads(app.handle("POST", "/oauth2/token", FORM, urlencode({
        "grant_type": "refresh_token", "client_id": CLIENT_ID, "refresh_token": tokens["refresh_token"]}).encode()).body)
    status, me = api(app, "GET", "/api/me", refreshed["access_token"])
    assert status == 200 and me["email"] == "ana@sandbox.invalid"
    assert app.handle("GET", "/nope", {}, b"").status == 404


def test_a_reviewer_signs_in_sees_the_image_and_answers(app, stack):
    detection, task = open_review(stack, "images_for_detection/local/unsure.png", UNSURE)
    token = sign_in(app, "bo")["access_token"]
    status, reply = api(app, "GET", "/api/tasks/next", token)
    assert status == 200 and reply["task"]["id"] == task
    image = reply["task"]["image"]
    assert image.startswith("/images?url=")
    shown = app.handle("GET", image, {}, b"")
    assert shown.status == 200 and shown.body == PNG and shown.headers["Content-Type"] == "image/png"
    assert api(app, "POST", f"/api/tasks/{task}/answer", token, {"label": "dog"}) == (
        200, {"task": task, "answered": True, "label": "dog"})
    assert f"images_labeled_by_folder/dog/{detection}.png" in training_keys(stack)
    assert context.table().review(task).result["answers"][0]["label"] == "dog"


def test_an_image_url_is_served_only_while_valid_and_only_for_uploads(app, stack):
    _, task = open_review(stack, "images_for_detection/local/later.png", UNSURE)
    token = sign_in(app)["access_token"]
    image = api(app, "GET", f"/api/tasks/{task}", token)[1]["task"]["image"]
    presigned = parse_qs(urlsplit(image).query)["url"][0]
    expired = presigned.replace("X-Amz-Expires=300", "X-Amz-Expires=0")
    expired = expired.replace(parse_qs(urlsplit(presigned).query)["X-Amz-Date"][0], "20200101T000000Z")
    assert app.handle("GET", "/images?" + urlencode({"url": expired}), {}, b"").status == 403
    other = presigned.replace("images_for_detection/local/later.png", "manifests/x.json")
    assert app.handle("GET", "/images?" + urlencode({"url": other}), {}, b"").status == 403


def test_a_change_that_cannot_be_saved_is_not_acknowledged(app, stack):
    _, task = open_review(stack, "images_for_detection/local/unsaved.png", UNSURE)
    token = sign_in(app, "cy")["access_token"]

    def disk_full(method, path, status):
        raise OSError(28, "No space left on device")

    app.after_request = disk_full
    status, reply = api(app, "POST", f"/api/tasks/{task}/answer", token, {"label": "cat"})
    assert status == 500 and "could not be saved into the run" in reply["message"]
    assert "No space left on device" in reply["message"]


def test_a_function_that_fails_is_answered_as_api_gateway_does(app, monkeypatch):
    token = sign_in(app)["access_token"]

    def fails(target, event):
        raise LambdaFailed(target, {"errorType": "KeyError", "errorMessage": "boom"})

    monkeypatch.setattr(app.stack, "deliver", fails)
    assert api(app, "GET", "/api/me", token) == (500, {"message": "Internal Server Error"})


def test_the_server_answers_over_http_on_the_port_it_was_bound_to(stack):
    server = bind("127.0.0.1", 0)  # bound before the app exists: a request waits for it
    url = f"{url_of(server)}/"
    assert url == f"http://127.0.0.1:{server.server_port}/"
    thread = threading.Thread(target=serve, args=(server, LocalReviewApp(stack, url_of(server))))
    thread.start()
    try:
        with urllib.request.urlopen(f"{url}config", timeout=10) as response:
            assert json.loads(response.read())["redirectUri"] == url
    finally:
        server.shutdown()
        thread.join(10)
    assert not thread.is_alive()
