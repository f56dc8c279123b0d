"""The stack's two Label Studio routes, served by ``labelloop review --sandbox DIR`` for a run made with
``--review labelstudio``, so that a person labels in Label Studio's own UI: the image route (each view
redirected to the run's bucket, through the review server's stand-in for S3's presigned URLs) and the
webhook route (the ``labelstudio`` function checks the secret header), as API Gateway hands them to
the function. The reconcile runs when the server starts, on the stack's schedule and when it stops.

The run's tasks hold links to the routes' URL the run was made with (``labelloop review``'s default
port); a server on another port points the routes, the tasks' links and the project's webhook at itself
when it starts. The signature of each link is the saved run's signing key's, kept with the run."""

from __future__ import annotations

import time
from http import HTTPStatus
from typing import Any, Callable
from urllib.parse import urlencode, urlsplit

from components.review_backends.labelstudio import ROUTES, parameter
from handlers.labelstudio import backend, labeling, settings
from handlers.labelstudio.client import Refused, Unavailable
from handlers.labelstudio.routes import RECONCILE

from .api_gateway import http_api_event
from .local_aws import LambdaFailed, LocalStack

FUNCTION = "labelstudio"
RECONCILE_SECONDS = 300.0  # the stack's schedule: rate(5 minutes)


class LocalLabelStudioRoutes:
    """The routes of ``stack``'s ``labelstudio`` function at ``base_url``; ``changed(what)`` saves what a
    request or a reconcile changed into the run."""

    def __init__(self, stack: LocalStack, base_url: str, changed: Callable[[str], None],
                 clock: Callable[[], float] = time.monotonic):
        self.stack, self.base_url, self.changed, self.clock = stack, base_url.rstrip("/"), changed, clock
        given = stack.config.review_settings
        self.label_studio, self.project_title = given["url"], given["project"]
        stack.client("ssm").put_parameter(Name=parameter(stack.naming, ROUTES), Value=self.base_url, Type="String",
                                          Overwrite=True)
        backend.reset()  # the settings and clients of the stack as the saved run has it
        self.last_reconcile, self.project = -RECONCILE_SECONDS, None

    def handles(self, path: str) -> bool:
        return path == settings.WEBHOOK_PATH or path.startswith(settings.IMAGE_PATH)

    def invoke(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes, dict]:
        """API Gateway's part: the request as an HTTP API event to the function; its status, body and headers.
        An image's redirect to S3 becomes one to the review server's stand-in for presigned URLs."""
        event = http_api_event(method, path, body=body.decode("utf-8", "replace") if body else None, query=query,
                               headers=headers)
        try:
            response = self.stack.deliver(FUNCTION, event)
        except LambdaFailed:
            return HTTPStatus.INTERNAL_SERVER_ERROR, b'{"message": "Internal Server Error"}', {"Content-Type": "application/json"}
        self.stack.pump()  # what the answer set off (the accepted image's copy and its event)
        reply_headers = dict(response.get("headers") or {})
        if "Location" in reply_headers:
            reply_headers["Location"] = f"/images?{urlencode({'url': reply_headers['Location']})}"
        return int(response.get("statusCode", 200)), (response.get("body") or "").encode(), reply_headers

    def start(self) -> str | None:
        """Point the project's tasks and its webhook at this server, then reconcile. Label Studio down or
        refusing: what to do about it (the server serves all the same; the schedule's reconcile tries again)."""
        try:
            ls = settings.client()
            self.project = ls.project(self.project_title, self.stack.labels, create=False)["id"]
            self._point_here(ls, self.project)
        except (Unavailable, Refused, labeling.ConfigMismatch) as exc:
            return (f"Label Studio cannot be used now ({exc}); its annotations wait there, and the reconcile settles "
                    "them once it answers. Fix: `labelloop labelstudio start`")
        self.reconcile()
        return None

    def instructions(self, folder) -> str:
        """What a person does: label in Label Studio's own UI, with this server behind it."""
        from .label_studio import ADMIN, PASSWORD

        return (f"Label in Label Studio: {self.project_url} (project {self.project_title!r}; its local server, "
                f"`labelloop labelstudio start`, signs in {ADMIN} / {PASSWORD}).\n"
                f"Its images and webhook are served here, at {self.base_url}; each annotation reaches the run by "
                f"the webhook, and the reconcile (now, every 5 minutes and at the stop) settles any it missed — "
                f"saved into {folder} as it is settled. Ctrl-C (or TERM) stops the server.")

    @property
    def project_url(self) -> str:
        return f"{self.label_studio}/projects/{self.project}/data" if self.project else self.label_studio

    def _point_here(self, ls, project: int) -> int:
        moved = 0
        for task in ls.tasks(project):
            link = urlsplit(str(task["data"].get(labeling.IMAGE) or ""))
            if link.path.startswith(settings.IMAGE_PATH) and f"{link.scheme}://{link.netloc}" != self.base_url:
                data = {**task["data"], labeling.IMAGE: f"{self.base_url}{link.path}?{link.query}"}
                ls.request("PATCH", f"/api/tasks/{task['id']}/", {"data": data})
                moved += 1
        for hook in ls.request("GET", "/api/webhooks/", query={"project": project}) or []:
            if hook.get("url", "").endswith(settings.WEBHOOK_PATH) and hook["url"] != settings.webhook_url():
                ls.request("DELETE", f"/api/webhooks/{hook['id']}/")  # the routes are here now
        return moved

    def reconcile(self) -> dict[str, Any]:
        self.last_reconcile = self.clock()
        outcome = self.stack.deliver(FUNCTION, RECONCILE)
        self.stack.pump()
        self.changed("reconcile")
        return outcome

    def tick(self) -> None:
        """The reconcile's schedule, between requests."""
        if self.clock() - self.last_reconcile >= RECONCILE_SECONDS:
            self.reconcile()
