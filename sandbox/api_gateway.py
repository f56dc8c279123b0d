"""The stand-in for the review app's HTTP API on this machine: the event API Gateway hands the
review function for one request (HTTP API, payload 2.0), with the claims its JWT authorizer passes
on for a valid token (``requestContext.authorizer.jwt.claims``: array claims as ``[a b]``
strings), and the claims of a sandbox reviewer's token — what the local sign-in signs and what the
simulated reviewers present."""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import parse_qs

from components.naming import REVIEWER_GROUP

from .identifiers import CLIENT_ID, ISSUER


def reviewer_claims(name: str, use: str, issued_at: int, seconds: int) -> dict[str, Any]:
    """The claims of a sandbox reviewer's token (``use``: access, id or refresh), as Cognito writes
    them for a member of the reviewer group."""
    return {"sub": str(uuid.uuid5(uuid.NAMESPACE_URL, f"labelloop-sandbox/{name}")), "username": name,
            "cognito:groups": [REVIEWER_GROUP], "iss": ISSUER, "token_use": use, "iat": issued_at,
            "exp": issued_at + seconds, "email": f"{name}@sandbox.invalid",
            **({"aud": CLIENT_ID} if use == "id" else {"client_id": CLIENT_ID})}


def http_api_event(method: str, path: str, *, claims: dict[str, Any] | None = None, body: str | None = None,
                   query: str = "", headers: dict[str, str] | None = None) -> dict[str, Any]:
    """The event of one request; ``claims``: a valid token's, None for a public route."""
    context: dict[str, Any] = {
        "accountId": "123456789012", "apiId": "sandbox", "domainName": "127.0.0.1", "stage": "$default",
        "requestId": uuid.uuid4().hex, "routeKey": f"{method} {path}", "timeEpoch": int(time.time() * 1000),
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                 "userAgent": (headers or {}).get("user-agent", "labelloop-sandbox")}}
    if claims is not None:
        passed = {k: (f"[{' '.join(map(str, v))}]" if isinstance(v, list) else str(v)) for k, v in claims.items()}
        context["authorizer"] = {"jwt": {"claims": passed, "scopes": None}}
    event: dict[str, Any] = {"version": "2.0", "routeKey": f"{method} {path}", "rawPath": path,
                             "rawQueryString": query, "headers": {"content-type": "application/json",
                                                                  **(headers or {})},
                             "requestContext": context, "isBase64Encoded": False}
    if query:  # as API Gateway parses it: a repeated parameter's values joined by commas
        event["queryStringParameters"] = {k: ",".join(v) for k, v in parse_qs(query, keep_blank_values=True).items()}
    if body is not None:
        event["body"] = body
    return event
