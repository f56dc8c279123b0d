"""``labelloop doctor``'s check of a ``labelstudio`` stack, before a deploy as after: the API token
read where the stack config says it lives (with the caller's credentials; never printed), the
instance reached with it, and the project — when it exists — offering exactly the stack's labels and
None of the Above, so a wrong project is an error before any review waits on it."""

from __future__ import annotations

from typing import Iterator

from botocore.exceptions import BotoCoreError, ClientError

from handlers.labelstudio.client import LabelStudio, Refused, Unavailable
from handlers.labelstudio.labeling import ConfigMismatch

NAME = "labelstudio"


def read_token(client, location: str) -> str:
    """The token at ``ssm:/name`` or ``secretsmanager:<name or ARN>``, with the caller's credentials."""
    kind, _, name = location.partition(":")
    if kind == "ssm":
        return client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"].strip()
    return client("secretsmanager").get_secret_value(SecretId=name)["SecretString"].strip()


def check_labelstudio(doctor) -> Iterator:
    config = doctor.stack_config
    url, title = config.get("labelloop:labelStudioUrl"), config.get("labelloop:labelStudioProject")
    location, labels = config.get("labelloop:labelStudioToken") or "", tuple(config.get("labelloop:labels") or ())
    try:
        token = read_token(doctor.target.client, location)
    except (ClientError, BotoCoreError, KeyError) as exc:
        yield doctor.finding(NAME, "fail", f"the API token at {location} cannot be read: {exc}",
                             "put the token there (a SecureString parameter or a secret) and let your credentials "
                             "read it, or correct labelloop:labelStudioToken")
        return
    try:
        project = LabelStudio(url, token).project(title, labels, create=False)
    except Unavailable as exc:
        yield doctor.finding(NAME, "fail", f"Label Studio cannot be reached: {exc}",
                             "check labelloop:labelStudioUrl and that the instance is up; reviews wait until it is")
    except ConfigMismatch as exc:
        what, _, fix = str(exc).partition(". Fix: ")
        yield doctor.finding(NAME, "fail", what, fix)
    except Refused as exc:
        if exc.status == 404:
            yield doctor.finding(NAME, "ok", f"{url} accepts the token; project {title!r} does not exist yet: the "
                                 f"first review creates it with the stack's {len(labels)} labels")
        else:
            yield doctor.finding(NAME, "fail", f"Label Studio refused the token: {exc}",
                                 "give labelloop:labelStudioToken a valid token of a user who may manage the project")
    else:
        yield doctor.finding(NAME, "ok", f"project {title!r} (#{project['id']}) at {url} offers the stack's "
                             f"{len(labels)} labels and None of the Above")
