"""The stack's two Label Studio routes (HTTP API → this function, Powertools' resolver), and the
reconcile's entry point (the schedule's event).

* ``POST /labelstudio/webhook``: Label Studio's webhook for annotations created and updated. It must
  carry the shared secret header (``X-Labelloop-Secret``; 401 otherwise, nothing read). The task it
  names is read back from Label Studio and settled. Label Studio sends each webhook once and waits a
  second for it: a webhook that finds Label Studio unreachable answers 503 and the reconcile settles
  the task later; one the stack never received is the reconcile's too.
* ``GET /labelstudio/images/{review}?sig=…``: the review's image, for a link with the review's
  signature — a redirect (302) to a presigned URL of the exact version detected, valid five minutes;
  404 for a wrong link or a deleted image.
"""

from __future__ import annotations

import hmac
import json
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from ..runtime import context
from ..runtime.lambda_entry import entry_point
from . import backend, labeling, settings
from .client import WEBHOOK_ACTIONS, Unavailable

app = APIGatewayHttpResolver()
RECONCILE = {"reconcile": True}  # the schedule's event


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(status_code=status, content_type="application/json", body=json.dumps(body))


@app.post(settings.WEBHOOK_PATH)
def webhook() -> Response:
    given = app.current_event.headers.get(settings.SECRET_HEADER) or ""
    if not hmac.compare_digest(given.encode(), settings.webhook_secret().encode()):
        return _json(HTTPStatus.UNAUTHORIZED, {"message": f"missing or wrong {settings.SECRET_HEADER} header"})
    try:
        payload = json.loads(app.current_event.body or "")
    except json.JSONDecodeError:
        return _json(HTTPStatus.BAD_REQUEST, {"message": "the body is not JSON"})
    task = payload.get("task") if isinstance(payload, dict) else None
    if payload.get("action") not in WEBHOOK_ACTIONS or not isinstance(task, dict) or not isinstance(task.get("id"), int):
        return _json(HTTPStatus.OK, {"status": "ignored", "reason": "not an annotation of a task"})
    review = (task.get("data") or {}).get(labeling.REVIEW_FIELD)
    if not isinstance(review, str):
        return _json(HTTPStatus.OK, {"status": "ignored", "reason": "not a labelloop task"})
    try:
        current = backend.task_of(task["id"], review)
        outcome = backend.settle(current) if current else {"status": "ignored", "reason": "the task is gone"}
    except Unavailable as exc:
        context.logger.warning("webhook: Label Studio unavailable; the reconcile settles the task",
                               extra={"labelstudio_task": task["id"], "error": str(exc)})
        return _json(HTTPStatus.SERVICE_UNAVAILABLE, {"message": "Label Studio cannot be reached; the reconcile "
                                                                 "settles this task later"})
    return _json(HTTPStatus.OK, {k: v for k, v in outcome.items() if k in ("human_loop", "status", "label", "copy",
                                                                            "answers", "wanted", "duplicate")})


@app.get(f"{settings.IMAGE_PATH}<review>")
def image(review: str) -> Response:
    url = backend.presigned_image(review, app.current_event.get_query_string_value("sig", "") or "")
    if url is None:
        return _json(HTTPStatus.NOT_FOUND, {"message": "no such image: a wrong link, or its image was deleted"})
    return Response(status_code=HTTPStatus.FOUND, headers={"Location": url, "Cache-Control": "no-store"}, body="")


@entry_point
def api_handler(event: dict) -> dict:
    return app.resolve(event, None)


@entry_point  # EventBridge invokes it asynchronously (and retries it)
def reconcile_handler(event: dict) -> dict:
    return backend.reconcile()


def handler(event: dict, lambda_context: Any) -> dict:
    """Two callers: API Gateway's requests and the reconcile schedule's event."""
    return (reconcile_handler if event == RECONCILE else api_handler)(event, lambda_context)
