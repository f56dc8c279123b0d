"""The ``labelstudio`` review backend at deploy time: a team's own Label Studio.

* **Stack config**: ``labelStudioUrl`` (the instance), ``labelStudioProject`` (the project's title:
  found, or created with the stack's labels), ``labelStudioToken`` (where the API token lives: an SSM
  SecureString parameter, ``ssm:/name``, or a Secrets Manager secret, ``secretsmanager:<name or ARN>``
  — the stack reads neither the value nor prints it; its functions read it at run time),
  ``labelStudioTokenKey`` (the KMS key encrypting it, when it is not the account's default key) and
  ``labelStudioPredictions`` (the model's best guess shown as a prediction: off by default).
* **Functions**: ``labelstudio``, behind the stack's HTTP API (the webhook and the image routes) and on
  a schedule (the reconcile); StartReview also pushes the review's task, so it reads the token and the
  stack's signing key too.
* **Secrets**: the stack's signing key, an SSM SecureString parameter the stack creates with a random
  value (kept across deploys), from which the webhook's secret header and the images' signatures come.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlsplit

from components.functions import COPY_REVIEWED, PARAMETERS, PUBLISH, TABLE_RW, FunctionSpec, Grant

FUNCTION = "labelstudio"
RECONCILE_RATE = "rate(5 minutes)"
TOKEN = "labelstudio_token"  # the kinds of resource the grants below name
TOKEN_KEY = "labelstudio_token_key"
SIGNING_KEY = "labelstudio_signing_key"
_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$")


class ConfigError(ValueError):
    """A missing or invalid ``labelloop:labelStudio…`` value; the message names the key and the fix."""

    def __init__(self, key: str, problem: str, fix: str):
        self.key = key
        super().__init__(f"labelloop:{key} {problem}. Fix: {fix}")


@dataclass(frozen=True)
class Settings:
    url: str
    project: str
    token: str  # ssm:/name or secretsmanager:<name or ARN>
    token_key: str | None = None  # a customer managed KMS key encrypting the token
    predictions: bool = False

    @property
    def token_kind(self) -> str:
        return self.token.partition(":")[0]

    @property
    def token_name(self) -> str:
        return self.token.partition(":")[2]


KEYS = ("labelStudioUrl", "labelStudioProject", "labelStudioToken", "labelStudioTokenKey", "labelStudioPredictions")


def settings(raw: Mapping[str, Any]) -> Settings:
    """The stack's Label Studio config, checked: every problem names its key and the fix."""
    url = str(raw.get("labelStudioUrl") or "")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ConfigError("labelStudioUrl", f"is {url!r}" if url else "is required with review: labelstudio",
                          "set your Label Studio's address, e.g. https://labelstudio.example.com")
    if parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1"):
        raise ConfigError("labelStudioUrl", f"is {url!r}: the API token would travel unencrypted",
                          "use https://")
    project = str(raw.get("labelStudioProject") or "")
    if not 3 <= len(project) <= 50:
        raise ConfigError("labelStudioProject", f"is {project!r}" if project else "is required with review: labelstudio",
                          "name the project, 3 to 50 characters (Label Studio's limits); it is created if missing")
    token = str(raw.get("labelStudioToken") or "")
    kind, _, name = token.partition(":")
    if kind == "ssm" and re.fullmatch(r"/[A-Za-z0-9_.\-/]+", name):
        pass
    elif kind == "secretsmanager" and (_SECRET_ARN.match(name) or re.fullmatch(r"[A-Za-z0-9/_+=.@-]+", name)):
        pass
    else:
        raise ConfigError("labelStudioToken", f"is {token!r}" if token else "is required with review: labelstudio",
                          "name where the API token lives, never the token itself: ssm:/path/of/a/SecureString or "
                          "secretsmanager:<secret name or ARN>")
    key = raw.get("labelStudioTokenKey") or None
    if key is not None and not re.fullmatch(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+", str(key)):
        raise ConfigError("labelStudioTokenKey", f"is {key!r}", "give the KMS key's ARN (arn:aws:kms:…:key/…), or leave "
                          "it out for the account's default key")
    predictions = raw.get("labelStudioPredictions", False)
    if not isinstance(predictions, bool):
        raise ConfigError("labelStudioPredictions", f"is {predictions!r}", "set true or false")
    return Settings(url.rstrip("/"), project, token, key, predictions)


def token_arn(settings: Settings, partition: str, region: str, account: str) -> str:
    """The ARN the token grant names: the parameter, or the secret (a name gets AWS's random suffix)."""
    if settings.token_kind == "ssm":
        return f"arn:{partition}:ssm:{region}:{account}:parameter{settings.token_name}"
    if _SECRET_ARN.match(settings.token_name):
        return settings.token_name
    return f"arn:{partition}:secretsmanager:{region}:{account}:secret:{settings.token_name}-??????"


def token_grants(settings: Settings) -> tuple[Grant, ...]:
    """Reading the token (and decrypting it with a customer managed key) and the stack's signing key."""
    action = "ssm:GetParameter" if settings.token_kind == "ssm" else "secretsmanager:GetSecretValue"
    return (Grant((action,), TOKEN), Grant(("ssm:GetParameter",), SIGNING_KEY),
            *((Grant(("kms:Decrypt",), TOKEN_KEY),) if settings.token_key else ()))


def function(settings: Settings) -> FunctionSpec:
    return FunctionSpec(FUNCTION, "handlers.labelstudio.routes.handler",
                        "Settle Label Studio's annotations (webhook, reconcile) and show it the images", (
                            # Presigns the pinned version for Label Studio's viewers, and copies accepted ones.
                            *COPY_REVIEWED, TABLE_RW, PARAMETERS, PUBLISH, *token_grants(settings),
                        ), timeout=120)  # a reconcile reads many pages of tasks
