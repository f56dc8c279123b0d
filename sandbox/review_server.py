"""``labelloop review --sandbox DIR``: the builtin review app of a saved sandbox run, served on this
machine — the same function, routes and page as on AWS — with local stand-ins for what the stack's
AWS services do in front of it:

* **Cognito's managed login** (:class:`LocalSignIn`): ``/oauth2/authorize`` asks for a reviewer's
  name (no password: this is one person's machine) and answers with an authorization code,
  ``/oauth2/token`` exchanges it — checking the PKCE verifier — or a refresh token for tokens it
  signs itself, ``/logout`` returns to the page. Every reviewer signed in here is in the reviewer
  group.
* **API Gateway's JWT authorizer**: an ``/api/`` request needs a valid, unexpired token of this
  server for the page's client (401 otherwise, before the function runs); its claims reach the
  function as the authorizer passes them (``requestContext.authorizer.jwt.claims``, arrays as
  ``[a b]`` strings), in an HTTP API (payload 2.0) event.
* **S3's presigned URLs**: the image URLs the function presigns point at S3, which a browser cannot
  reach here; they are shown as ``/images?url=…`` and served from the run's bucket until the URL
  expires.

Requests are handled one at a time (the run's moto serves one request at a time anyway); what an
answer sets off (the copy's S3 event) is delivered before it is answered. What a request changed —
table items, objects — is written to the run's journal and synced to disk before the response is
sent (:mod:`sandbox.journal`), so a stop by any signal, ``kill -9`` or a crash loses no answer that
was acknowledged; INT, TERM and HUP stop the server cleanly (:class:`StopSignals`), and the journal
is then folded into the saved run.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import mimetypes
import re
import secrets
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from botocore.exceptions import ClientError

from handlers.runtime import layout
from handlers.runtime.clock import from_iso
from handlers.runtime.state import Snapshot

from . import journal
from .api_gateway import http_api_event, reviewer_claims
from .identifiers import CLIENT_ID, ISSUER
from .local_aws import LambdaFailed, LocalStack
from .review_backends import sandbox_backend

TOKEN_SECONDS = 3600
CODE_SECONDS = 300
REVIEWER_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")
SIGN_IN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · labelloop sandbox</title><link rel="icon" href="data:,"></head>
<body style="font-family: system-ui, sans-serif; max-width: 28rem; margin: 3rem auto; padding: 0 1rem">
<h1>Sign in to review</h1>
<p>This is the sandbox's stand-in for the stack's sign-in: choose a reviewer name (lower-case letters,
digits, <code>.</code> <code>_</code> <code>-</code>). Each name answers a task once.</p>
<form method="post" action="/oauth2/authorize">
{hidden}
<p><label>Reviewer <input name="username" required autofocus pattern="[a-z0-9][a-z0-9._\\-]{{0,31}}"
 value="{name}"></label></p>
<p style="color: #b3261e">{problem}</p>
<p><button type="submit">Sign in</button></p>
</form></body></html>
"""


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, document: Any) -> "Reply":
        return cls(status, json.dumps(document).encode(), {"Content-Type": "application/json"})

    @classmethod
    def redirect(cls, location: str) -> "Reply":
        return cls(HTTPStatus.FOUND, b"", {"Location": location})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LocalSignIn:
    """The stand-in for the user pool's managed login: authorization codes with PKCE, and tokens
    signed with a key of this server (HS256), valid for an hour."""

    def __init__(self, review_url: str, clock: Callable[[], float] = time.time):
        self.review_url, self.clock = review_url, clock
        self._key = secrets.token_bytes(32)
        self._codes: dict[str, dict[str, Any]] = {}

    # -- the login page and the code ----------------------------------------------------
    def authorize_page(self, query: dict[str, str], problem: str = "") -> Reply:
        refused = self._refused(query)
        if refused:
            return Reply.json(HTTPStatus.BAD_REQUEST, {"error": "invalid_request", "error_description": refused})
        hidden = "\n".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                           for k, v in query.items() if k != "username")
        page = SIGN_IN_PAGE.format(hidden=hidden, name=html.escape(query.get("username", "")),
                                   problem=html.escape(problem))
        return Reply(HTTPStatus.OK, page.encode(), {
            "Content-Type": "text/html; charset=utf-8",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'"})

    def authorize(self, form: dict[str, str]) -> Reply:
        """The form's answer: back to the page with a code (or the form again, saying what is wrong)."""
        refused = self._refused(form)
        if refused:
            return Reply.json(HTTPStatus.BAD_REQUEST, {"error": "invalid_request", "error_description": refused})
        name = form.get("username", "").strip().lower()
        if not REVIEWER_NAME.match(name):
            return self.authorize_page(form, "A reviewer name is 1-32 lower-case letters, digits, '.', '_' or '-'.")
        code = secrets.token_urlsafe(24)
        self._codes[code] = {"name": name, "challenge": form["code_challenge"], "until": self.clock() + CODE_SECONDS}
        return Reply.redirect(f"{self.review_url}?{urlencode({'code': code, 'state': form.get('state', '')})}")

    def _refused(self, query: dict[str, str]) -> str | None:
        if query.get("client_id") != CLIENT_ID:
            return "unknown client_id"
        if query.get("redirect_uri") != self.review_url:
            return f"redirect_uri must be {self.review_url}"
        if query.get("response_type") != "code" or query.get("code_challenge_method") != "S256" \
                or not query.get("code_challenge"):
            return "only the authorization code grant with PKCE (S256) is allowed"
        return None

    # -- tokens -----------------------------------------------------------------------------
    def token(self, form: dict[str, str]) -> Reply:
        if form.get("client_id") != CLIENT_ID:
            return Reply.json(HTTPStatus.BAD_REQUEST, {"error": "invalid_client"})
        grant = form.get("grant_type")
        if grant == "authorization_code":
            entry = self._codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            if entry is None or entry["until"] < self.clock() or form.get("redirect_uri") != self.review_url \
                    or _b64(hashlib.sha256(verifier.encode()).digest()) != entry["challenge"]:
                return Reply.json(HTTPStatus.BAD_REQUEST, {"error": "invalid_grant"})
            return Reply.json(HTTPStatus.OK, self._tokens(entry["name"], refresh=True))
        if grant == "refresh_token":
            claims = self.verify(form.get("refresh_token", ""), use="refresh")
            if claims is None:
                return Reply.json(HTTPStatus.BAD_REQUEST, {"error": "invalid_grant"})
            return Reply.json(HTTPStatus.OK, self._tokens(claims["username"], refresh=False))
        return Reply.json(HTTPStatus.BAD_REQUEST, {"error": "unsupported_grant_type"})

    def _tokens(self, name: str, *, refresh: bool) -> dict[str, Any]:
        tokens = {"access_token": self.sign(name, "access"), "id_token": self.sign(name, "id"),
                  "token_type": "Bearer", "expires_in": TOKEN_SECONDS}
        if refresh:
            tokens["refresh_token"] = self.sign(name, "refresh", seconds=12 * 3600)
        return tokens

    def sign(self, name: str, use: str, *, seconds: int = TOKEN_SECONDS) -> str:
        claims = reviewer_claims(name, use, int(self.clock()), seconds)
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64(json.dumps(claims).encode())
        return f"{head}.{body}.{_b64(hmac.new(self._key, f'{head}.{body}'.encode(), hashlib.sha256).digest())}"

    def verify(self, token: str, *, use: str = "access") -> dict[str, Any] | None:
        """A token's claims when this server signed it for its client and it has not expired (what
        the JWT authorizer checks: signature, issuer, audience, expiry)."""
        try:
            head, body, signature = token.split(".")
            expected = hmac.new(self._key, f"{head}.{body}".encode(), hashlib.sha256).digest()
            claims = json.loads(_unb64(body))
            if not hmac.compare_digest(_unb64(signature), expected):
                return None
        except (ValueError, TypeError):
            return None
        audience = claims.get("aud") if use == "id" else claims.get("client_id")
        valid = claims.get("iss") == ISSUER and audience == CLIENT_ID and claims.get("token_use") == use \
            and int(claims.get("exp", 0)) > self.clock()
        return claims if valid else None


class LocalReviewApp:
    """The review function of ``stack`` behind the stand-ins; :meth:`handle` answers one request."""

    def __init__(self, stack: LocalStack, base_url: str, clock: Callable[[], float] = time.time,
                 after_request: Callable[[str, str, int], None] = lambda *_: None):
        self.stack, self.base_url = stack, base_url.rstrip("/")
        self.review_url = self.base_url + "/"
        self.sign_in = LocalSignIn(self.review_url, clock)
        self.after_request = after_request
        # A backend with a UI of its own (Label Studio) gets its routes served; any other, the review app.
        self.own_routes = sandbox_backend(stack.review).served(
            stack, self.base_url, lambda what: after_request("RECONCILE", what, HTTPStatus.OK))
        if self.own_routes is None:
            stack.use_review("builtin", base_url=self.base_url)

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        """Answer one request, once ``after_request(method, path, status)`` has saved what it changed (a
        change that cannot be saved is not acknowledged: 500)."""
        reply = self._route(method, target, headers, body)
        try:
            self.after_request(method, urlsplit(target).path, reply.status)
        except OSError as exc:
            return Reply.json(HTTPStatus.INTERNAL_SERVER_ERROR, {
                "message": f"the change could not be saved into the run ({exc}); it is saved with the next request "
                           "that can be"})
        return reply

    def _route(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        url = urlsplit(target)
        path, query = url.path, {k: v[-1] for k, v in parse_qs(url.query).items()}
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()} \
            if "form-urlencoded" in headers.get("content-type", "") else {}
        if path == "/oauth2/authorize":
            return self.sign_in.authorize(form) if method == "POST" else self.sign_in.authorize_page(query)
        if (method, path) == ("POST", "/oauth2/token"):
            return self.sign_in.token(form)
        if (method, path) == ("GET", "/logout"):
            return Reply.redirect(self.review_url)
        if (method, path) == ("GET", "/images"):
            return self.image(query.get("url", ""))
        if self.own_routes is not None and self.own_routes.handles(path):
            return Reply(*self.own_routes.invoke(method, path, url.query, headers, body))
        if path in ("/", "/config") and method == "GET":
            return self.invoke(method, path, url.query, headers, body, claims=None)
        if path.startswith("/api/"):
            scheme, _, token = headers.get("authorization", "").partition(" ")
            claims = self.sign_in.verify(token) if scheme.lower() == "bearer" else None
            if claims is None:
                return Reply.json(HTTPStatus.UNAUTHORIZED, {"message": "Unauthorized"})
            return self.invoke(method, path, url.query, headers, body, claims=claims)
        return Reply.json(HTTPStatus.NOT_FOUND, {"message": "Not Found"})

    # -- API Gateway's part ----------------------------------------------------------------
    def invoke(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes,
               claims: dict[str, Any] | None) -> Reply:
        event = http_api_event(method, path, claims=claims, body=body.decode("utf-8", "replace") if body else None,
                               query=query, headers=headers)
        try:
            response = self.stack.deliver("review_api", event)
        except LambdaFailed:  # the function failed: API Gateway answers this
            response = {"statusCode": HTTPStatus.INTERNAL_SERVER_ERROR, "headers": {"Content-Type": "application/json"},
                        "body": json.dumps({"message": "Internal Server Error"})}
        self.stack.pump()  # what the request set off (an accepted answer's copy and its event)
        payload = response.get("body") or ""
        raw = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode()
        reply_headers = dict(response.get("headers") or {})
        if "json" in reply_headers.get("Content-Type", "") and raw:
            raw = json.dumps(self._local_images(json.loads(raw))).encode()
        return Reply(int(response.get("statusCode", 200)), raw, reply_headers)

    def _local_images(self, document: Any) -> Any:
        """The function's presigned S3 URLs, as this server's image URLs."""
        if isinstance(document, dict):
            return {k: (f"/images?{urlencode({'url': v})}" if k == "image" and isinstance(v, str) else
                        self._local_images(v)) for k, v in document.items()}
        return document

    # -- S3's part --------------------------------------------------------------------------
    def image(self, presigned: str) -> Reply:
        """The object a presigned URL names, while it is valid, from the run's bucket (uploads only)."""
        url = urlsplit(presigned)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        bucket, key = self.stack.bucket, url.path.lstrip("/")
        if not url.netloc.startswith(f"{bucket}.") and key.startswith(f"{bucket}/"):
            key = key[len(bucket) + 1:]  # path-style
        try:
            signed = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
            expires = signed + timedelta(seconds=int(query["X-Amz-Expires"]))
        except (KeyError, ValueError):
            return Reply.json(HTTPStatus.FORBIDDEN, {"message": "not a presigned URL"})
        if expires < datetime.now(timezone.utc):
            return Reply.json(HTTPStatus.FORBIDDEN, {"message": "the URL has expired"})
        key = unquote(key)
        if not key.startswith(layout.DETECTION_PREFIX) or ".." in key.split("/"):
            return Reply.json(HTTPStatus.FORBIDDEN, {"message": "not an upload"})
        version = {"VersionId": query["versionId"]} if query.get("versionId") else {}
        try:
            body = self.stack.client("s3").get_object(Bucket=bucket, Key=key, **version)["Body"].read()
        except ClientError:  # a key or version that is gone
            return Reply.json(HTTPStatus.NOT_FOUND, {"message": "no such image"})
        kind = mimetypes.guess_type(key)[0] or "application/octet-stream"
        return Reply(HTTPStatus.OK, body, {"Content-Type": kind, "Cache-Control": "private, max-age=300",
                                           "Access-Control-Allow-Origin": "*"})  # Label Studio's page shows it too


def bind(host: str, port: int) -> HTTPServer:
    """The server's socket, bound at once (``port`` 0: any free port): a port in use is known before
    the run loads, and a request made while it loads waits for :func:`serve`."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "labelloop-review"

        def _reply(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            reply = self.server.app.handle(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                           body)
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        do_GET = do_POST = _reply

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (the base class's name)
            pass  # the function logs every request, and the app each change it saves

    class Server(HTTPServer):
        def service_actions(self) -> None:  # between requests: the reconcile's schedule
            own = getattr(getattr(self, "app", None), "own_routes", None)
            if own is not None:
                own.tick()

    return Server((host, port), Handler)


def url_of(server: HTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"


def serve(server: HTTPServer, app: LocalReviewApp,
          on_ready: Callable[[HTTPServer, LocalReviewApp], None] | None = None) -> None:
    """Answer ``server``'s requests with ``app``, one at a time, until ``server.shutdown()`` (from another
    thread, or a signal: :class:`StopSignals`); the request being answered is finished first."""
    server.app = app
    try:
        if on_ready:
            on_ready(server, app)
        server.serve_forever()
    finally:
        server.server_close()


class StopSignals:
    """INT, TERM and HUP stop ``labelloop review`` alike, whatever the process inherited (a script's
    background job starts with SIGINT ignored, and Python then leaves Ctrl-C unhandled): once it
    serves (:attr:`server` set), the request being answered finishes and the server stops; before,
    the start is abandoned (KeyboardInterrupt). Use it in the main thread."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.received: str | None = None  # the first signal's name
        self.server: HTTPServer | None = None
        self._before: dict[int, Any] = {}

    def __enter__(self) -> "StopSignals":
        for number in self.SIGNALS:
            self._before[number] = signal.signal(number, self._stop)
        return self

    def __exit__(self, *exc: Any) -> None:
        for number, handler in self._before.items():
            signal.signal(number, handler)

    def _stop(self, number: int, _frame: Any) -> None:
        first = self.received is None
        self.received = self.received or signal.Signals(number).name
        if self.server is None:
            raise KeyboardInterrupt(self.received)
        if first:  # shutdown() waits for the serving loop: from a thread of its own, not this handler
            threading.Thread(target=self.server.shutdown, daemon=True).start()


def reviewable(state: dict, now: datetime) -> tuple[int, int]:
    """A saved run's review app tasks: how many a reviewer can be served (open, within their lifetime),
    and how many are open past their lifetime (expired when they are met)."""
    tasks = [r for r in Snapshot.of(state.get("items", [])).reviews if r.status == "open" and r.builtin]
    lapsed = sum(1 for r in tasks if r.expires_at and from_iso(r.expires_at) <= now)
    return len(tasks) - lapsed, lapsed


def review_sandbox(folder: Path, host: str = "127.0.0.1", port: int = 8080,
                   on_ready: Callable[[HTTPServer, LocalReviewApp], None] | None = None, *,
                   server: HTTPServer | None = None, say: Callable[[str], None] = lambda _: None,
                   stop: StopSignals | None = None) -> int:
    """Serve the review app of the saved run in ``folder`` on ``server`` (default: one bound to ``host``
    and ``port``) until it is shut down. What each request changes is journaled into the run before it
    is answered, and the journal is folded into the saved run when the server stops. Returns how many
    requests changed the run. Another command must not change the run meanwhile (``labelloop review``
    holds its lock)."""
    from .saved import reviewing

    folder, saved = Path(folder), 0
    server = bind(host, port) if server is None else server
    with reviewing(folder, say) as (stack, recorder):
        def journal_changes(method: str, path: str, status: int) -> None:
            nonlocal saved
            change = recorder.take()
            if change:
                journal.append(folder, change)
                recorder.clear()
                saved += 1
                say(f"{method} {path} {status}: saved into {folder} ({change.describe()})")

        app = LocalReviewApp(stack, url_of(server), after_request=journal_changes)
        if app.own_routes is not None:
            problem = app.own_routes.start()
            if problem:
                say(f"  {problem}")
        if stop is not None:
            stop.server = server
        try:
            serve(server, app, on_ready)
        finally:
            if app.own_routes is not None:
                app.own_routes.reconcile()  # what the webhook missed, before the run is saved
        if stop is not None and stop.received:
            say(f"Stopping ({stop.received}): the last request was answered.")
    return saved
