"""The builtin review app's function, behind an API Gateway HTTP API (Powertools'
``APIGatewayHttpResolver``): the review page (``GET /``: ``review_page.html``, one document with
its script and styles, nothing else allowed to run), its public sign-in settings (``GET /config``)
and the reviewers' JSON API under ``/api/``, each route of which API Gateway's JWT authorizer
guards (a token of the stack's user pool, for its app client).

* Every ``/api/`` request must come from a member of the reviewer group (the token's
  ``cognito:groups``): else 403, before anything is read (:func:`reviewers_only`, a Powertools
  middleware of every route, so no route of the API can do without it).
* ``GET /api/tasks/next``: the waiting task to review now — one Query of the open index (highest
  priority, then oldest; none leased to another reviewer, none this reviewer answered or skipped),
  then its lease (one transaction). Tasks past their lifetime met on the way are expired at once (one
  transaction). At most 3 calls, however many tasks are open.
* ``GET /api/tasks/{id}``: a task, leased to this reviewer. ``POST /api/tasks/{id}/answer``
  (``{"label": …}``): one Query (the task and its answers), then one transaction that records the
  answer — or, when the task has the answers it waits for, the label decision
  (``handlers/review_outcome.py``, as for an A2I output), the copy of an accepted image version and
  one transaction that closes the task: at most 3 calls. ``POST /api/tasks/{id}/skip``. ``GET
  /api/me``: this reviewer's own counts and how many tasks are open.
* Every few minutes the stack's schedule invokes the function with ``{"sweep": true}``
  (:func:`sweep`): tasks past their lifetime are expired, and the gauges ``ReviewTasksOpen`` and
  ``OldestOpenTaskAgeSeconds`` are published (the dashboard and the oldest-task alarm read them).
* An unknown task, or another stack's, is 404; a task that is not open, answered or skipped by this
  reviewer, or leased to another is 409; an answer that is not one of the labels (or "None of the
  Above") is 400 — and nothing changes. A task is shown with a presigned URL of its pinned image
  version that expires after ``image_url_seconds``; no reviewer is ever shown another's answers.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
import re
from datetime import timedelta
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.exceptions import BadRequestError, ForbiddenError, NotFoundError, ServiceError

from plugins import LEASE_MINUTES, NONE_OF_THE_ABOVE, WorkerAnswer

from . import review_outcome
from .review_backends.builtin import closing
from .runtime import aws, config, context, state
from .runtime.lambda_entry import entry_point
from .runtime.state import (
    AlreadyAnswered,
    OpenTask,
    ReviewTask,
    TaskAnswer,
    TaskChanged,
    TaskClosed,
    TaskLeased,
    TaskWithAnswers,
)

GROUPS_CLAIM = "cognito:groups"
# A reviewer's key in the table: the token's subject (a Cognito user's UUID).
REVIEWER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:+-]{0,127}$")
TASK_ID = re.compile(r"^labelloop-[0-9a-f]{40}$")
# Open entries one Query reads for "next task"; past a page all leased to others or seen by this
# reviewer, the next is read: at most MAX_READS Queries and LEASE_ATTEMPTS leases a request.
NEXT_PAGE = 50
MAX_READS, LEASE_ATTEMPTS = 3, 3
# Tasks a page may ask "next task" to pass over (answers it holds back for their correction window).
MAX_EXCLUDED = 10
DEFAULT_IMAGE_URL_SECONDS = 300
# The metrics the dashboard shows (EMF, namespace labelloop, dimension service).
REVIEW_TASKS_OPEN, OLDEST_OPEN_TASK_AGE, REVIEW_ANSWERS = "ReviewTasksOpen", "OldestOpenTaskAgeSeconds", "ReviewAnswers"
SWEEP = {"sweep": True}
# The sweep reads this many pages of the open index at most (about 5 000 tasks a page).
SWEEP_PAGES = 20
PAGE = (Path(__file__).parent / "review_page.html").read_text()


def content_security_policy(page: str, login_url: str | None) -> str:
    """Only the page's own script and styles (by their hashes) run; it talks to this API and the
    sign-in domain only, and shows images from S3 (presigned URLs) or this origin."""
    def digest(tag: str) -> str:
        body = page.split(f"<{tag}>", 1)[1].split(f"</{tag}>", 1)[0]
        return "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"

    login = urlsplit(login_url or "")
    login_origin = f" {login.scheme}://{login.netloc}" if login.netloc else ""
    return (f"default-src 'none'; script-src {digest('script')}; style-src {digest('style')}; "
            f"img-src 'self' https: data:; connect-src 'self'{login_origin}; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'")


app = APIGatewayHttpResolver()
API = "/api/"  # the reviewers' routes; the page and its sign-in settings are public


class Conflict(ServiceError):
    """The task cannot take this request now (409)."""

    def __init__(self, message: str):
        super().__init__(HTTPStatus.CONFLICT, message)


# -- who is asking --------------------------------------------------------------------------
def reviewers_only(resolver: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
    """The reviewers' API answers the stack's reviewers only (403 before anything is read); its routes
    read who asks from ``app.context["reviewer"]``."""
    if resolver.current_event.path.startswith(API):
        resolver.append_context(reviewer=reviewer(resolver))
    return next_middleware(resolver)


app.use(middlewares=[reviewers_only])


def reviewer(resolver: APIGatewayHttpResolver = app) -> str:
    """The reviewer this request comes from: a member of the stack's reviewer group, by the claims
    API Gateway's JWT authorizer checked (403 otherwise)."""
    cfg = config.current()
    claims = resolver.current_event.request_context.authorizer.jwt_claim or {}
    if not cfg.reviewer_group or cfg.reviewer_group not in groups(claims.get(GROUPS_CLAIM)):
        raise ForbiddenError("only the stack's reviewers may review")
    if cfg.user_pool_id and claims.get("iss") != issuer(cfg.user_pool_id):
        raise ForbiddenError("the token is not from the stack's user pool")
    if cfg.user_pool_client_id and cfg.user_pool_client_id not in (claims.get("client_id"), claims.get("aud")):
        raise ForbiddenError("the token is not for the review app")
    subject = str(claims.get("sub", ""))
    if not REVIEWER_ID.match(subject):
        raise ForbiddenError("the token names no reviewer")
    return subject


def issuer(user_pool_id: str) -> str:
    """The ``iss`` of a user pool's tokens, exactly (a pool id starts with its region)."""
    return f"https://cognito-idp.{user_pool_id.split('_', 1)[0]}.amazonaws.com/{user_pool_id}"


def signed_in_as() -> str | None:
    """The e-mail address (or user name) the reviewer signed in with, from the token."""
    claims = app.current_event.request_context.authorizer.jwt_claim or {}
    return claims.get("email") or claims.get("username")


def groups(claim: Any) -> set[str]:
    """The groups of a ``cognito:groups`` claim: a list, or the ``[a b]`` string HTTP APIs pass it as."""
    if isinstance(claim, (list, tuple)):
        return {str(g) for g in claim}
    return set(str(claim or "").strip("[]").replace(",", " ").split())


# -- what a reviewer is shown -------------------------------------------------------------------
def task_view(task: ReviewTask | OpenTask, lease_until: str) -> dict[str, Any]:
    """A task as the page shows it: the pinned image version (a presigned URL), why it is asked, the
    model's best guesses. Never the answers."""
    cfg = config.current()
    seconds = cfg.image_url_seconds or DEFAULT_IMAGE_URL_SECONDS
    key = task.image_uri[len(f"s3://{cfg.bucket}/"):]
    params = {"Bucket": cfg.bucket, "Key": key, **({"VersionId": task.image_version} if task.image_version else {})}
    return {"id": task.name, "purpose": task.purpose, "reason": task.reason,
            "modelLabels": [{"name": s["name"], "confidence": s["confidence"]} for s in task.model_labels],
            "image": aws.client("s3").generate_presigned_url("get_object", Params=params, ExpiresIn=seconds),
            "imageExpiresInSeconds": seconds, "leaseUntil": lease_until, "expiresAt": task.expires_at}


def lease_end(now) -> str:
    return state.iso(now + timedelta(minutes=context.settings()[LEASE_MINUTES]))


# -- the page and its settings ----------------------------------------------------------------------
@app.get("/")
def page() -> Response:
    """The review page: one document with its script and styles, nothing from elsewhere."""
    headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
               "Content-Security-Policy": content_security_policy(PAGE, config.current().login_url)}
    return Response(HTTPStatus.OK, "text/html; charset=utf-8", PAGE, headers=headers)


@app.get("/config")
def sign_in_settings() -> dict[str, Any]:
    """What the page needs to sign in (public: nothing here is a secret)."""
    cfg = config.current()
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    return {"region": region, "userPoolId": cfg.user_pool_id, "clientId": cfg.user_pool_client_id,
            "loginUrl": cfg.login_url, "redirectUri": cfg.review_url, "stack": cfg.stack,
            "labels": list(cfg.labels), "noneOfTheAbove": NONE_OF_THE_ABOVE}


# -- the reviewers' API --------------------------------------------------------------------------
@app.get("/api/tasks/next")
def next_task() -> dict[str, Any]:
    me, now = app.context["reviewer"], state.utcnow()
    query = app.current_event.get_query_string_value
    search = TaskSearch(me, state.iso(now), lease_end(now), _task_list(query("exclude", "") or ""))
    resume = _cursor(query("resume", "") or "")
    head = search.read(None)
    if search.task is None and head.last:
        # Everything at the head is leased to others or was seen by this reviewer. Beyond ``resume`` —
        # the furthest task this reviewer was served — they saw nothing: read there, then between the
        # head and it (tasks opened or let go since).
        segments = [(resume, None), (head.last, resume)] if resume and resume > head.last else [(head.last, None)]
        for after, stop in segments:
            while after and search.task is None and search.reads < MAX_READS and search.leases < LEASE_ATTEMPTS:
                after = search.read(after).last
                if stop and after and after >= stop:
                    after = None  # the rest was read in the segment before
            if after and search.task is None:
                return {"task": None, "retry": True}  # more than one request reads: ask again
    if search.task is None:
        return {"task": None, "retry": False}
    return {"task": task_view(search.task, search.until), "resume": max(search.task.cursor, resume or "")}


class TaskSearch:
    """Finding a task to lease to ``me``, one page of the open index at a time, within a bounded
    number of calls."""

    def __init__(self, me: str, at: str, until: str, exclude: tuple[str, ...]):
        self.me, self.at, self.until, self.exclude = me, at, until, exclude
        self.reads, self.leases, self.task = 0, 0, None

    def read(self, after: str | None) -> state.OpenTaskPage:
        page = context.table().open_tasks(self.me, self.at, NEXT_PAGE, after, self.exclude)
        self.reads += 1
        self.task = self._lease_one(page)
        return page

    def _lease_one(self, page: state.OpenTaskPage) -> OpenTask | None:
        """The task this reviewer holds already, else one of the first few free ones: twice as many as
        other reviewers hold leases on here (reviewers at work now), so reviewers asking at the same
        moment spread over the most urgent tasks instead of all reaching for the first — over the whole
        page once another took the one chosen a moment before; alone, the first."""
        free = [e for e in page if not e.leased_to_another(self.me, self.at)]
        held = [e for e in free if e.lease_reviewer == self.me and (e.lease_until or "") > self.at]
        width, tried = 2 * (len(page) - len(free)) + 1, set()
        while self.leases < LEASE_ATTEMPTS:
            untried = [e for e in free if e.name not in tried]
            if not untried:
                return None
            entry = held[0] if held and not tried else random.choice(untried[:width])
            tried.add(entry.name)
            self.leases += 1
            try:
                context.table().lease_task(entry, self.me, self.at, self.until)
            except TaskLeased:  # others are asking at this very moment: spread over the whole page
                width = len(free)
                continue
            except TaskClosed:
                continue
            return entry
        return None


@app.get("/api/tasks/<task_id>")
def get_task(task_id: str) -> dict[str, Any]:
    me, now = app.context["reviewer"], state.utcnow()
    read = _open_task(task_id, me, state.iso(now))
    until = lease_end(now)
    try:
        context.table().lease_task(read.task, me, state.iso(now), until)
    except TaskLeased:
        raise Conflict("another reviewer is reviewing this task") from None
    except TaskClosed:
        raise Conflict("the task is closed") from None
    return {"task": task_view(read.task, until)}


@app.post("/api/tasks/<task_id>/answer")
def answer(task_id: str) -> dict[str, Any]:
    me = app.context["reviewer"]
    try:
        body = app.current_event.json_body if app.current_event.body else None
    except ValueError:
        raise BadRequestError("the answer is not JSON") from None
    label = _label(body)
    for _ in range(2):
        try:
            return _answer(task_id, me, label)
        except TaskChanged:  # another answer came in between: decide again with it
            continue
    raise Conflict("the task is changing: try again")


@app.post("/api/tasks/<task_id>/skip")
def skip(task_id: str) -> dict[str, Any]:
    me, at = app.context["reviewer"], state.now_iso()
    read = _open_task(task_id, me, at)
    try:
        context.table().skip_task(read.task, me, at)
    except AlreadyAnswered:
        raise Conflict("you skipped this task before") from None
    except TaskClosed:
        raise Conflict("the task is closed") from None
    return {"task": task_id, "skipped": True}


@app.get("/api/me")
def me() -> dict[str, Any]:
    who = app.context["reviewer"]
    stats, loop = context.table().reviewer_stats(who), context.table().loop()
    return {"reviewer": who, "email": signed_in_as(), "answers": stats.answers, "skips": stats.skips,
            "agreed": stats.agreed, "disagreed": stats.disagreed, "openTasks": max(0, loop.open_reviews)}


# -- the work behind the routes ---------------------------------------------------------------------
def _label(body: Any) -> str:
    """The answer's label: one of the stack's labels, or None of the Above (400 otherwise)."""
    label = body.get("label") if isinstance(body, dict) else None
    if not isinstance(label, str) or not label.strip():
        raise BadRequestError('the answer needs a "label"')
    if label not in config.current().labels and label != NONE_OF_THE_ABOVE:
        raise BadRequestError(f"{label[:100]!r} is not one of the labels")
    return label


def _task_list(text: str) -> tuple[str, ...]:
    """The ``exclude`` query parameter: task ids, comma-separated (400 when it is not that)."""
    names = tuple(n for n in text.split(",") if n)
    if len(names) > MAX_EXCLUDED or not all(TASK_ID.match(n) for n in names):
        raise BadRequestError(f"exclude takes at most {MAX_EXCLUDED} task ids, comma-separated")
    return names


def _cursor(text: str) -> str | None:
    """The ``resume`` query parameter: a cursor "next task" answered with (400 when it is not one)."""
    if text and not state.TASK_CURSOR.match(text):
        raise BadRequestError("resume is not a cursor this API answered with; leave it out to start from the head")
    return text or None


def _open_task(task_id: str, me: str, at: str) -> TaskWithAnswers:
    """The open task ``task_id`` with its answers, for ``me`` (404, 409 otherwise); one that outlived
    its lifetime is expired now."""
    if not TASK_ID.match(task_id):
        raise NotFoundError("no such task")
    read = context.table().review_with_answers(task_id)
    if read is None or not read.task.builtin:
        raise NotFoundError("no such task")
    task = read.task
    if task.status == "deleted":
        raise Conflict("the image was deleted by its uploader: the task is closed")
    if task.status != "open":
        raise Conflict("the task is closed")
    if task.expires_at <= at:
        _expire([task], at)
        raise Conflict("the task expired")
    if read.answered_by(me):
        raise Conflict("you answered this task before")
    if me in read.skipped_by:
        raise Conflict("you skipped this task")
    if task.leased_to_another(me, at):
        raise Conflict("another reviewer is reviewing this task")
    return read


def _answer(task_id: str, me: str, label: str) -> dict[str, Any]:
    at = state.now_iso()
    read = _open_task(task_id, me, at)
    task, given = read.task, read.answers
    new = TaskAnswer(task.name, me, label, at, reviewer_name=signed_in_as())
    answers = tuple(WorkerAnswer(a.reviewer, a.label, a.answered_at) for a in (*given, new))
    try:
        if len(answers) < (task.reviewers or 1):
            context.table().record_task_answer(task, new, wanted=task.reviewers or 1)
        else:
            verdict = review_outcome.decide(task, answers, maximum=task.max_reviewers)
            if verdict.status == review_outcome.MORE:
                context.table().record_task_answer(task, new, wanted=verdict.wants)
            else:
                review_outcome.conclude(task, verdict, closing=closing(task, verdict, new), defer_copy=True)
    except AlreadyAnswered:
        raise Conflict("you answered this task before") from None
    except TaskLeased:
        raise Conflict("another reviewer is reviewing this task") from None
    except TaskClosed:
        raise Conflict("the task is closed") from None
    context.metrics.add_metric(name=REVIEW_ANSWERS, unit="Count", value=1)
    return {"task": task.name, "answered": True, "label": label}


def _expire(tasks: list, at: str) -> None:
    expired = context.table().expire_review_tasks(tasks, at)
    if expired:
        context.metrics.add_metric(name="Reviews_expired", unit="Count", value=expired)
        context.logger.info("review tasks expired", extra={"expired": expired})


def sweep() -> dict[str, Any]:
    """Expire the tasks past their lifetime and publish how many wait and how long the oldest has."""
    now = state.utcnow()
    at, table = state.iso(now), context.table()
    view = table.open_task_overview(at, SWEEP_PAGES)
    for start in range(0, len(view.expired), state.MAX_EXPIRED_PER_CALL):
        _expire(list(view.expired[start:start + state.MAX_EXPIRED_PER_CALL]), at)
    age = round((now - state.from_iso(view.oldest_opened_at)).total_seconds()) if view.oldest_opened_at else 0
    context.metrics.add_metric(name=REVIEW_TASKS_OPEN, unit="Count", value=view.count)
    context.metrics.add_metric(name=OLDEST_OPEN_TASK_AGE, unit="Seconds", value=max(0, age))
    if not view.complete:
        context.logger.warning("the open index is longer than the sweep reads: figures cover its first pages",
                               extra={"pages": SWEEP_PAGES, "counted": view.count})
    return {"open": view.count, "oldestAgeSeconds": max(0, age), "expired": len(view.expired),
            "complete": view.complete}


@entry_point
def api_handler(event: dict, lambda_context: Any) -> dict:
    return app.resolve(event, lambda_context)


@entry_point
def sweep_handler(event: dict) -> dict:
    return sweep()


def handler(event: dict, lambda_context: Any) -> dict:
    """One function, two callers: API Gateway's requests and the sweep schedule's event."""
    return (sweep_handler if event == SWEEP else api_handler)(event, lambda_context)
