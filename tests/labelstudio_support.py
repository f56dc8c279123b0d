"""Helpers for the tests of the labelstudio review backend: a stack in moto whose reviews go to the
session's real Label Studio (a project of its own per stack), the webhook's inbox on this machine, and
Label Studio's annotators."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import threading
import uuid
from unittest import mock
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from stack_support import UNSURE, open_review, review_app_stack

from handlers.labelstudio import backend
from handlers.labelstudio.client import LabelStudio
from sandbox.api_gateway import http_api_event
from sandbox.review_backends import sandbox_backend

def require_label_studio() -> None:
    """Skip the test when Label Studio's virtualenv is missing here — never in CI, which makes it."""
    from sandbox.label_studio import LabelStudioNotInstalled, executable

    try:
        executable()
    except LabelStudioNotInstalled as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))


FUNCTION = "labelstudio"


class WebhookInbox:
    """Where Label Studio's webhook posts (127.0.0.1): each request kept, as API Gateway would hand it
    to the function; ``blocked``: requests are refused and kept nowhere (a firewall, a lost webhook)."""

    def __init__(self) -> None:
        self.received: queue.Queue = queue.Queue()
        self.blocked = False
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  (the base class's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if inbox.blocked:
                    self.send_response(503)
                else:
                    inbox.received.put((self.path, {k.lower(): v for k, v in self.headers.items()}, body.decode()))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def take(self) -> list[tuple[str, dict, str]]:
        taken = []
        while not self.received.empty():
            taken.append(self.received.get_nowait())
        return taken

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def labelstudio_stack(label_studio, *, predictions: bool = False):
    """A stack reviewing in the session's Label Studio (a project of its own): its token and signing key
    in SSM, its routes' URL the webhook inbox's. Yields (stack, inbox, admin client, project title)."""
    inbox = WebhookInbox()
    try:
        with review_app_stack() as st:
            project = f"labelloop-{uuid.uuid4().hex[:10]}"
            given = sandbox_backend("labelstudio").settings(st.naming, url=label_studio.url, project=project)
            given["review_settings"]["predictions"] = predictions
            st.configure(review_backend="labelstudio", **given)
            ssm = st.client("ssm")
            for name, value in ((given["review_settings"]["routes"], inbox.url),
                                (given["review_settings"]["token"].removeprefix("ssm:"), label_studio.token)):
                ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True)
            backend.reset()
            try:
                yield st, inbox, LabelStudio(label_studio.url, label_studio.token), project
            finally:
                backend.reset()
    finally:
        inbox.close()


def project_id(ls: LabelStudio, title: str) -> int:
    return next(p["id"] for p in ls.request("GET", "/api/projects/", query={"title": title})["results"]
                if p["title"] == title)


def open_in_labelstudio(st, key: str, scores=UNSURE) -> tuple[str, dict]:
    """An unsure upload, its review opened by StartReview; returns the review's name and what its push
    to Label Studio did."""
    pushed, push = [], backend.push
    with mock.patch.object(backend, "push", lambda *args: pushed.append(push(*args)) or pushed[-1]):
        _, name = open_review(st, key, scores)
    return name, pushed[-1]


def deliver_webhooks(st, inbox: WebhookInbox) -> list[tuple[int, dict]]:
    """Hand every request the inbox received to the function, as API Gateway would: (status, body) each."""
    replies = []
    for path, headers, body in inbox.take():
        response = st.deliver(FUNCTION, http_api_event("POST", path, body=body, headers=headers))
        replies.append((response["statusCode"], json.loads(response.get("body") or "{}")))
    return replies


def reconcile(st) -> dict:
    return st.deliver(FUNCTION, {"reconcile": True})


def annotator(ls: LabelStudio, name: str) -> int:
    """A Label Studio user (an annotator) of that name: its id."""
    email = f"{name}@labelloop.invalid"
    for user in ls.request("GET", "/api/users/") or []:
        if user.get("email") == email:
            return user["id"]
    return ls.request("POST", "/api/users/", {"email": email, "username": name, "first_name": name})["id"]
