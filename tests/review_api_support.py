"""Calling the review API as API Gateway does: HTTP API (payload 2.0) events, with the claims the
JWT authorizer passes on for a token of the stack's user pool (``requestContext.authorizer.jwt``),
delivered to the deployed function of a LocalStack; and a clock the tests move."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from stack_support import REVIEWER_GROUP

from handlers.runtime import clock
from sandbox.api_gateway import http_api_event

POOL = "us-east-1_Reviewers"  # stack_support.use_review_app's pool and client
CLIENT = "reviewclient"
ISSUER = f"https://cognito-idp.us-east-1.amazonaws.com/{POOL}"


def claims(reviewer: str, *, groups: str = f"[{REVIEWER_GROUP}]", **changes: Any) -> dict[str, Any]:
    """An access token's claims as the authorizer passes them (arrays become ``[a b]`` strings)."""
    return {"sub": reviewer, "cognito:groups": groups, "iss": ISSUER, "client_id": CLIENT, "token_use": "access",
            "email": f"{reviewer}@example.com", "exp": "4102444800", **changes}


def http_event(method: str, path: str, *, token: dict[str, Any] | None = None, body: Any = None) -> dict[str, Any]:
    """The event API Gateway sends the function for one request (``token``: the authorizer's claims)."""
    path, _, query = path.partition("?")
    return http_api_event(method, path, claims=token, query=query,
                          body=None if body is None else body if isinstance(body, str) else json.dumps(body))


class Reviewer:
    """One reviewer calling the API of a LocalStack's review function."""

    def __init__(self, st, name: str, **token: Any):
        self.st, self.name, self.token = st, name, claims(name, **token)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        response = self.st.deliver("review_api", http_event(method, path, token=self.token, body=body))
        text = response.get("body") or ""
        kind = (response.get("headers") or {}).get("Content-Type", "")
        return response["statusCode"], json.loads(text) if "json" in kind and text else text

    def next(self) -> dict | None:
        status, body = self.call("GET", "/api/tasks/next")
        assert status == 200, body
        return body["task"]

    def answer(self, task_id: str, label: Any) -> tuple[int, Any]:
        return self.call("POST", f"/api/tasks/{task_id}/answer", {"label": label})

    def skip(self, task_id: str) -> tuple[int, Any]:
        return self.call("POST", f"/api/tasks/{task_id}/skip")

    def me(self) -> dict:
        status, body = self.call("GET", "/api/me")
        assert status == 200, body
        return body


class Clock:
    """The time the handlers stamp records with, moved forward by the tests."""

    def __init__(self, monkeypatch):
        self.offset = timedelta()
        real = clock.source
        monkeypatch.setattr(clock, "source", lambda: real() + self.offset)

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)
