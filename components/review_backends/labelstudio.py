"""The ``labelstudio`` review backend at deploy time: a team's own Label Studio. Its resources are
:class:`components.labelstudio_review.LabelStudioReview`'s; its run time is
``handlers/review_backends/labelstudio.py`` and the ``labelstudio`` function (``handlers/labelstudio/``).

* **Stack config**: ``labelStudioUrl`` (the instance), ``labelStudioProject`` (the project's title:
  found, or created with the stack's labels), ``labelStudioToken`` (where the API token lives: an SSM
  SecureString parameter, ``ssm:/name``, or a Secrets Manager secret, ``secretsmanager:<name or ARN>``
  — the stack reads neither the value nor prints it; its functions read it at run time),
  ``labelStudioTokenKey`` (the KMS key encrypting it, when it is not the account's default key) and
  ``labelStudioPredictions`` (the model's best guess shown as a prediction: off by default).
* **Functions**: ``labelstudio``, behind the stack's HTTP API (the webhook and the image routes) and on
  a schedule (the reconcile). StartReview pushes each review's task, and the dataset function removes
  the task of a review whose image was forgotten: both read the token, StartReview the stack's
  signing key and its routes' URL too.
* **Parameters** the component creates under the stack's parameter path (``labelstudio/``): the
  signing key (a SecureString with a random value, kept across deploys), from which the webhook's
  secret header and the images' signatures come, and the routes' URL (the HTTP API's, known once it
  exists: the functions read it rather than being told it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlsplit

from components.config_values import ConfigError
from components.grants import COPY_REVIEWED, PARAMETERS, PUBLISH, TABLE_RW, FunctionSpec, Grant
from components.naming import Naming
from components.review_backends import Deployable
from components.review_backends.builtin import API_ACCESS

FUNCTION = "labelstudio"
RECONCILE_RATE = "rate(5 minutes)"
SIGNING_KEY = "labelstudio/signing-key"  # under the stack's parameter path
ROUTES = "labelstudio/routes-url"
TOKEN = "labelstudio_token"  # the kinds of resource the grants below name (Deployable.resources)
TOKEN_KEY = "labelstudio_token_key"
OWN_PARAMETERS = "labelstudio_parameters"
_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$")
_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")


@dataclass(frozen=True)
class Settings:
    url: str = ""
    project: str = ""
    token: str = ""  # ssm:/name or secretsmanager:<name or ARN>
    token_key: str | None = None  # a customer managed KMS key encrypting the token
    predictions: bool = False

    @property
    def token_kind(self) -> str:
        return self.token.partition(":")[0]

    @property
    def token_name(self) -> str:
        return self.token.partition(":")[2]


def parameter(naming: Naming, name: str) -> str:
    """One of the backend's own parameters, under the stack's parameter path."""
    return f"{naming.parameter_path}{name}"


def token_arn(settings: Settings, partition: str, region: str, account: str) -> str:
    """The ARN the token grant names: the parameter, or the secret (a name gets AWS's random suffix)."""
    if settings.token_kind == "ssm":
        return f"arn:{partition}:ssm:{region}:{account}:parameter{settings.token_name}"
    if _SECRET_ARN.match(settings.token_name):
        return settings.token_name
    return f"arn:{partition}:secretsmanager:{region}:{account}:secret:{settings.token_name}-??????"


def _settings(raw: Mapping[str, Any]) -> Settings:
    url = str(raw.get("labelStudioUrl") or "")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ConfigError("labelStudioUrl", f"is {url!r}" if url else "is required with review: labelstudio",
                          "set your Label Studio's address, e.g. https://labelstudio.example.com")
    if parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1"):
        raise ConfigError("labelStudioUrl", f"is {url!r}: the API token would travel unencrypted", "use https://")
    project = str(raw.get("labelStudioProject") or "")
    if not 3 <= len(project) <= 50:
        raise ConfigError("labelStudioProject", f"is {project!r}" if project else "is required with review: labelstudio",
                          "name the project, 3 to 50 characters (Label Studio's limits); it is created if missing")
    token = str(raw.get("labelStudioToken") or "")
    kind, _, name = token.partition(":")
    if not ((kind == "ssm" and re.fullmatch(r"/[A-Za-z0-9_.\-/]+", name)) or
            (kind == "secretsmanager" and (_SECRET_ARN.match(name) or re.fullmatch(r"[A-Za-z0-9/_+=.@-]+", name)))):
        raise ConfigError("labelStudioToken", f"is {token!r}" if token else "is required with review: labelstudio",
                          "name where the API token lives, never the token itself: ssm:/path/of/a/SecureString or "
                          "secretsmanager:<secret name or ARN>")
    key = raw.get("labelStudioTokenKey") or None
    if key is not None and not _KEY_ARN.match(str(key)):
        raise ConfigError("labelStudioTokenKey", f"is {key!r}", "give the KMS key's ARN (arn:aws:kms:…:key/…), or leave "
                          "it out for the account's default key")
    predictions = raw.get("labelStudioPredictions", False)
    if not isinstance(predictions, bool):
        raise ConfigError("labelStudioPredictions", f"is {predictions!r}", "set true or false")
    return Settings(url.rstrip("/"), project, token, key, predictions)


READ_TOKEN = (Grant(("ssm:GetParameter", "secretsmanager:GetSecretValue"), TOKEN), Grant(("kms:Decrypt",), TOKEN_KEY))
READ_OWN = Grant(("ssm:GetParameter",), OWN_PARAMETERS)  # the signing key and the routes' URL


class LabelStudioBackend(Deployable):
    name = "labelstudio"
    component = "components.labelstudio_review:LabelStudioReview"
    keys = ("labelStudioUrl", "labelStudioProject", "labelStudioToken", "labelStudioTokenKey", "labelStudioPredictions")
    structured = ("labelStudioPredictions",)
    settings_type = Settings
    functions = (
        FunctionSpec(FUNCTION, "handlers.labelstudio.routes.handler",
                     "Settle Label Studio's annotations (webhook, reconcile) and show it the images", (
                         # Presigns the pinned version for Label Studio's viewers, and copies accepted ones.
                         *COPY_REVIEWED, TABLE_RW, PARAMETERS, PUBLISH, *READ_TOKEN, READ_OWN,
                     ), timeout=120),  # a reconcile reads many pages of tasks
    )
    open_grants = (*READ_TOKEN, READ_OWN)  # StartReview pushes the review's task
    withdraw_grants = READ_TOKEN  # the dataset function removes a forgotten image's task
    resource_access = {f"aws:apigatewayv2/{kind}": (API_ACCESS,)
                       for kind in ("api:Api", "integration:Integration", "route:Route", "stage:Stage")}

    def settings(self, raw: Mapping[str, Any], labels: tuple[str, ...], reviewer_emails: tuple[str, ...]) -> Settings:
        if reviewer_emails:
            raise ConfigError("reviewerEmails", "is not used with review: labelstudio",
                              "add annotators to the Label Studio project instead (its Members), and remove "
                              "labelloop:reviewerEmails")
        return _settings(raw)

    def environment(self, naming: Naming, settings: Settings, labels: tuple[str, ...], account) -> dict[str, Any]:
        return {"review_settings": {
            "url": settings.url, "project": settings.project, "token": settings.token,
            "signing_key": parameter(naming, SIGNING_KEY), "routes": parameter(naming, ROUTES),
            "predictions": settings.predictions}}

    def resources(self, naming: Naming, settings: Settings, labels: tuple[str, ...], account) -> dict[str, Any]:
        """The token (the grant names it by kind: an SSM action on a secret, or the reverse, matches
        nothing), its key, and the backend's parameters. A token under the account's default key needs
        no grant of it (its key policy lets the service decrypt for whoever may read the token): the
        grant then names that key's alias, which authorizes nothing."""
        own = naming.parameter_path.strip("/") + "/labelstudio/*"
        return {TOKEN: account.apply(lambda a: token_arn(settings, a.partition, a.region, a.account_id)),
                TOKEN_KEY: settings.token_key or account.apply(lambda a: f"arn:{a.partition}:kms:{a.region}:"
                                                                         f"{a.account_id}:alias/aws/{settings.token_kind}"),
                OWN_PARAMETERS: account.apply(lambda a: a.arn("ssm", f"parameter/{own}"))}


BACKEND = LabelStudioBackend()
