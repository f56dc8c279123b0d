"""The ``labelstudio`` review backend in the sandbox: a real Label Studio on this machine
(:mod:`sandbox.label_studio`, ``labelloop labelstudio start``), the stack's token and signing key in
moto's SSM, and simulated annotators (:mod:`sandbox.labelstudio_reviewers`) annotating through Label
Studio's API. Nothing serves the stack's routes during a run, so Label Studio's webhooks find no one:
after each round of answers the reconcile settles them, as it does for an instance behind a firewall.
The routes' URL is ``labelloop review``'s, which serves them for a saved run (``sandbox.review_server``):
a saved run keeps its signing key, its routes' URL and its Label Studio, so the links its tasks hold
stay valid."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from components.review_backends.labelstudio import ROUTES, SIGNING_KEY, parameter
from components.naming import Naming
from handlers.labelstudio.client import LabelStudio
from handlers.labelstudio.routes import RECONCILE

from ..api_gateway import http_api_event
from ..label_studio import TOKEN
from ..labelstudio_reviewers import LabelStudioTeam
from . import SandboxBackend

FUNCTION = "labelstudio"
LOCAL = "http://127.0.0.1:8081"  # `labelloop labelstudio start`'s
TOKEN_PARAMETER = "labelstudio/token"  # under the stack's parameter path: the local server's known token
ROUTES_URL = "http://127.0.0.1:8080"  # `labelloop review --sandbox DIR`'s (during a run: no one, the reconcile settles)


@dataclass
class Annotators:
    """The project's simulated annotators; each round ends with the reconcile."""

    team: LabelStudioTeam
    stack: Any

    @property
    def wrong(self) -> int:
        return sum(m.wrong for m in self.team.members)

    def answer(self, budget: int | None) -> int:
        given = self.team.answer_open_tasks(budget)
        self.stack.deliver(FUNCTION, RECONCILE)
        self.stack.pump()
        return given


class LabelStudioSandbox(SandboxBackend):
    name = "labelstudio"
    options = frozenset({"review_budget", "leave_reviews_open"})

    def create(self, stack) -> None:
        ssm = stack.client("ssm")
        for name, value, kind in ((SIGNING_KEY, secrets.token_hex(32), "SecureString"),
                                  (TOKEN_PARAMETER, TOKEN, "SecureString"), (ROUTES, ROUTES_URL, "String")):
            ssm.put_parameter(Name=parameter(stack.naming, name), Value=value, Type=kind, Overwrite=True)

    def kept(self, stack) -> dict[str, Any]:
        ssm = stack.client("ssm")
        return {"review_settings": dict(stack.config.review_settings), "parameters": {
            name: ssm.get_parameter(Name=parameter(stack.naming, name), WithDecryption=True)["Parameter"]["Value"]
            for name in (SIGNING_KEY, ROUTES)}}

    def resume(self, stack, kept) -> None:
        ssm = stack.client("ssm")
        for name, value in (kept.get("parameters") or {}).items():
            ssm.put_parameter(Name=parameter(stack.naming, name), Value=value, Overwrite=True,
                              Type="SecureString" if name == SIGNING_KEY else "String")
        if kept.get("review_settings"):
            stack.configure(review_backend=self.name, review_settings=dict(kept["review_settings"]))

    def served(self, stack, base_url: str, changed):
        from ..labelstudio_routes import LocalLabelStudioRoutes  # Label Studio's UI is the page: the routes behind it

        return LocalLabelStudioRoutes(stack, base_url, changed)

    def settings(self, naming: Naming, url: str = LOCAL, project: str | None = None,
                 routes: str | None = None) -> dict[str, Any]:
        return {"review_settings": {
            "url": url, "project": project or naming("review")[:50],
            "token": f"ssm:{parameter(naming, TOKEN_PARAMETER)}", "signing_key": parameter(naming, SIGNING_KEY),
            "routes": routes or parameter(naming, ROUTES), "predictions": False}}

    def reviewers(self, stack, truth, labels, error_rates, seed, mistakes) -> Annotators:
        given = stack.config.review_settings
        ls = LabelStudio(given["url"], TOKEN)

        def show(link: str) -> str:  # the image route, as the function serves it
            parts = urlsplit(link)
            return stack.deliver(FUNCTION, http_api_event("GET", parts.path, query=parts.query))["headers"]["Location"]

        project = ls.project(given["project"], labels)["id"]
        return Annotators(LabelStudioTeam(ls, project, truth, labels, show, error_rates, seed, mistakes), stack)


BACKEND = LabelStudioSandbox()
