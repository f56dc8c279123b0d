"""A small client of Label Studio's REST API (urllib only: the Lambda archive stays pure Python).

What labelloop asks of an instance: a project (found by title, or created with the stack's labelling
config — one that disagrees is refused), one task per review (found by the review's name in its data
before one is created, so a repeated start never makes a second), a task's annotations, the tasks
changed since a moment (the reconcile), a task's overlap (more annotators), deleting a task, and the
project's webhook. Both kinds of access token work: a personal access token (a JWT refresh token,
exchanged at ``/api/token/refresh/`` for short-lived access tokens, ``Authorization: Bearer``) and a
legacy token (``Authorization: Token``).

Errors: :class:`Unavailable` when the instance cannot be reached or answers 5xx / 429 (it is down or
busy: the caller leaves the work for later, nothing is lost), :class:`Refused` for any other refusal,
with Label Studio's own reason.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from typing import Any, Iterator, Mapping, Sequence

from . import labeling

TIMEOUT_SECONDS = 10.0
PAGE_SIZE = 100
ACCESS_TOKEN_SECONDS = 240  # Label Studio's access tokens live 5 minutes; a new one is asked for before
WEBHOOK_ACTIONS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED")


class LabelStudioError(Exception):
    """A call to Label Studio failed; ``status`` is its HTTP status (None: no answer)."""

    def __init__(self, message: str, status: int | None = None):
        self.status = status
        super().__init__(message)


class Unavailable(LabelStudioError):
    """Label Studio cannot be reached, or is failing or busy (5xx, 429): try again later."""


class Refused(LabelStudioError):
    """Label Studio refused the request (4xx other than 429): the message has its reason."""


def is_personal_access_token(token: str) -> bool:
    """A personal access token is a JWT (three base64url parts); a legacy token is a plain key."""
    parts = token.split(".")
    return len(parts) == 3 and all(parts) and token.startswith("eyJ")


class LabelStudio:
    """One Label Studio instance, as one user (whose token it has)."""

    def __init__(self, url: str, token: str, *, timeout: float = TIMEOUT_SECONDS):
        self.url = url.rstrip("/")
        self._token = token
        self._timeout = timeout
        self._access: tuple[str, float] | None = None  # a personal access token's current access token
        self._deadline: float | None = None  # time.monotonic() by which every call must have ended

    @contextlib.contextmanager
    def within(self, seconds: float) -> Iterator[None]:
        """Every call made in the block ends within ``seconds`` of its start; one that cannot is Unavailable
        (an instance that accepts connections and answers nothing is down for its caller's budget)."""
        before, self._deadline = self._deadline, time.monotonic() + seconds
        try:
            yield
        finally:
            self._deadline = before

    def _time_left(self, what: str) -> float:
        if self._deadline is None:
            return self._timeout
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise Unavailable(f"Label Studio at {self.url} did not answer in time ({what})")
        return min(self._timeout, left)

    # -- the calls ------------------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None, query: Mapping[str, Any] | None = None) -> Any:
        """One API call; its JSON answer (None for an empty one)."""
        for attempt in (1, 2):
            try:
                return self._send(method, path, body, query)
            except Refused as exc:  # an access token that expired early: one new one, once
                if exc.status != 401 or attempt == 2 or not is_personal_access_token(self._token):
                    raise
                self._access = None
        raise AssertionError("unreachable")

    def _send(self, method: str, path: str, body: Any, query: Mapping[str, Any] | None) -> Any:
        target = f"{self.url}{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": self._authorization(), "Accept": "application/json",
                   **({"Content-Type": "application/json"} if data is not None else {})}
        return _call(urllib.request.Request(target, data=data, method=method, headers=headers),
                     self._time_left(f"{method} {path}"), f"{method} {path}")

    def _authorization(self) -> str:
        if not is_personal_access_token(self._token):
            return f"Token {self._token}"
        if self._access is None or self._access[1] <= time.monotonic():
            request = urllib.request.Request(f"{self.url}/api/token/refresh/", method="POST",
                                             data=json.dumps({"refresh": self._token}).encode(),
                                             headers={"Content-Type": "application/json", "Accept": "application/json"})
            answer = _call(request, self._time_left("POST /api/token/refresh/"), "POST /api/token/refresh/")
            if not isinstance(answer, dict) or not answer.get("access"):
                raise Refused("Label Studio gave no access token for the personal access token")
            self._access = (answer["access"], time.monotonic() + ACCESS_TOKEN_SECONDS)
        return f"Bearer {self._access[0]}"

    # -- projects ---------------------------------------------------------------------------------------
    def project(self, title: str, labels: Sequence[str], *, create: bool = True) -> dict[str, Any]:
        """The project named ``title`` (the oldest, if several), created with the labelling config of
        ``labels`` when there is none; a project whose choices are not the labels raises ConfigMismatch."""
        found = [p for p in self._pages("/api/projects/", {"title": title}, "results") if p.get("title") == title]
        if found:
            project = min(found, key=lambda p: p["id"])
            labeling.check_config(title, project.get("label_config") or "", labels)
            return project
        if not create:
            raise Refused(f"Label Studio has no project {title!r}", 404)
        made = self.request("POST", "/api/projects/", {
            "title": title, "label_config": labeling.label_config(labels),
            "description": "Images labelloop's model is unsure of. Each answer can become training data.",
            "show_skip_button": True, "enable_empty_annotation": False, "maximum_annotations": 1,
            "show_collab_predictions": False, "sampling": "Sequential sampling"})
        # Two functions starting the first reviews at once may both have made one: the oldest is the
        # project, and the other's maker removes its own (it has no task yet).
        oldest = self.project(title, labels, create=False)
        if oldest["id"] != made["id"]:
            self.request("DELETE", f"/api/projects/{made['id']}/")
        return oldest

    # -- tasks ------------------------------------------------------------------------------------------
    def tasks_of_review(self, project: int, review: str) -> list[dict[str, Any]]:
        """The tasks whose data names ``review``, oldest first (one, unless an instance made two)."""
        query = _filters({"filter": f"filter:tasks:data.{labeling.REVIEW_FIELD}", "operator": "equal",
                          "type": "String", "value": review})
        tasks = self._tasks(project, query, fields="all")
        return sorted((t for t in tasks if (t.get("data") or {}).get(labeling.REVIEW_FIELD) == review),
                      key=lambda t: t["id"])

    def create_task(self, project: int, review: str, image_url: str, *, overlap: int = 1,
                    predictions: Sequence[Mapping[str, Any]] = ()) -> tuple[dict[str, Any], bool]:
        """The review's task, created unless one exists already; returns it and whether it was created."""
        existing = self.tasks_of_review(project, review)
        if existing:
            return existing[0], False
        imported = self.request("POST", f"/api/projects/{project}/import", [{
            "data": {labeling.IMAGE: image_url, labeling.REVIEW_FIELD: review},
            "meta": {labeling.REVIEW_FIELD: review},
            **({"predictions": list(predictions)} if predictions else {})}], {"return_task_ids": "true"})
        task_ids = imported.get("task_ids") or [] if isinstance(imported, dict) else []
        if len(task_ids) != 1:
            raise Refused(f"Label Studio imported {len(task_ids)} tasks for review {review}, not 1")
        if overlap > 1:  # an import takes the project's overlap, whatever the task says
            self.set_overlap(task_ids[0], overlap)
        return self.task(task_ids[0]) or {"id": task_ids[0]}, True

    def task(self, task_id: int) -> dict[str, Any] | None:
        """A task with its annotations; None when it does not exist."""
        try:
            return self.request("GET", f"/api/tasks/{int(task_id)}/")
        except Refused as exc:
            if exc.status == 404:
                return None
            raise

    def tasks_changed_since(self, project: int, since: datetime) -> Iterator[dict[str, Any]]:
        """The project's tasks created or changed (an annotation made or edited) after ``since``, with
        their annotations, page by page."""
        moment = since.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # the form the filter takes
        query = _filters({"filter": "filter:tasks:updated_at", "operator": "greater", "type": "Datetime",
                          "value": moment})
        return iter(self._tasks(project, query, fields="all"))

    def tasks(self, project: int) -> list[dict[str, Any]]:
        """Every task of the project with its annotations (a sandbox's or a test's project: small)."""
        return self._tasks(project, _filters(), fields="all")

    def set_overlap(self, task_id: int, annotators: int) -> None:
        """Ask Label Studio for ``annotators`` annotations of the task (its label stream serves it until then)."""
        self.request("PATCH", f"/api/tasks/{int(task_id)}/", {"overlap": int(annotators)})

    def delete_task(self, task_id: int) -> bool:
        """Delete a task (its annotations with it); False when it was gone already."""
        try:
            self.request("DELETE", f"/api/tasks/{int(task_id)}/")
        except Refused as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def annotate(self, task_id: int, label: str | None, *, completed_by: int | None = None) -> dict[str, Any]:
        """Annotate a task with one choice (``None``: skip it), as this user or as ``completed_by``
        (an administrator's token): what an annotator's submit does."""
        body: dict[str, Any] = {"result": labeling.choice_result(label) if label else [], "was_cancelled": label is None}
        if completed_by is not None:
            body["completed_by"] = completed_by
        return self.request("POST", f"/api/tasks/{int(task_id)}/annotations/", body)

    def _tasks(self, project: int, query: str, *, fields: str) -> list[dict[str, Any]]:
        return list(self._pages("/api/tasks/", {"project": project, "fields": fields, "query": query}, "tasks"))

    def _pages(self, path: str, query: Mapping[str, Any], key: str) -> Iterator[dict[str, Any]]:
        page = 1
        while True:
            answer = self.request("GET", path, query={**query, "page": page, "page_size": PAGE_SIZE})
            items = answer if isinstance(answer, list) else answer.get(key) or []
            yield from items
            total = answer.get("total", answer.get("count")) if isinstance(answer, dict) else None
            if len(items) < PAGE_SIZE or (total is not None and page * PAGE_SIZE >= total):
                return
            page += 1

    # -- webhooks and users ------------------------------------------------------------------------------
    def ensure_webhook(self, project: int, url: str, headers: Mapping[str, str]) -> tuple[dict[str, Any], bool]:
        """The project's webhook to ``url`` for annotations created and updated, with ``headers``: created,
        or put right when it differs (a new secret, deactivated by hand); returns it and whether it changed."""
        wanted = {"url": url, "send_payload": True, "send_for_all_actions": False, "headers": dict(headers),
                  "actions": list(WEBHOOK_ACTIONS), "is_active": True}
        hooks = self.request("GET", "/api/webhooks/", query={"project": project}) or []
        for hook in hooks:
            if hook.get("url") != url:
                continue
            same = all(hook.get(k) == v for k, v in wanted.items() if k != "actions") and \
                sorted(hook.get("actions") or ()) == sorted(WEBHOOK_ACTIONS)
            if same:
                return hook, False
            return self.request("PATCH", f"/api/webhooks/{hook['id']}/", wanted), True
        return self.request("POST", "/api/webhooks/", {"project": project, **wanted}), True


def _filters(*items: Mapping[str, Any]) -> str:
    """A Data Manager query: tasks matching every filter."""
    return json.dumps({"filters": {"conjunction": "and", "items": list(items)}})


def _call(request: urllib.request.Request, timeout: float, what: str) -> Any:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310  (the team's own URL)
            raw = response.read()
    except urllib.error.HTTPError as exc:
        detail = _detail(exc)
        if exc.code >= 500 or exc.code == 429:
            raise Unavailable(f"Label Studio answered {exc.code} to {what}: {detail}", exc.code) from None
        raise Refused(f"Label Studio refused {what} ({exc.code}): {detail}", exc.code) from None
    except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Unavailable(f"Label Studio at {request.full_url.split('/api/')[0]} cannot be reached ({what}): {reason}") from None
    return json.loads(raw) if raw.strip() else None


def _detail(exc: urllib.error.HTTPError) -> str:
    try:
        body = exc.read().decode("utf-8", "replace")
    except OSError:
        return exc.reason or ""
    try:
        doc = json.loads(body)
    except json.JSONDecodeError:
        return body[:300]
    if isinstance(doc, dict):
        errors = doc.get("validation_errors")
        return (f"{doc.get('detail') or 'refused'}{f': {errors}' if errors else ''}" if "detail" in doc else str(doc))[:300]
    return str(doc)[:300]
