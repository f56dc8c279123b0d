"""What a handler knows about its stack, from the function's environment."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Mapping

# The review backend of a stack that names none (labelloop:review); the registry,
# handlers/review_backends/, reads it from here: the runtime sits below the handlers.
DEFAULT_REVIEW_BACKEND = "builtin"


# The labels travel in the function's archive: Lambda's 4 KB of environment cannot hold 250 labels.
LABELS_FILE = "labelloop_labels.json"


class MissingConfiguration(RuntimeError):
    """A required environment variable is not set on the function."""


@dataclass(frozen=True)
class RuntimeConfig:
    table: str
    bucket: str
    parameter_path: str
    labels: tuple[str, ...]
    topic_arn: str | None = None
    project_arn: str | None = None
    flow_definition_arn: str | None = None
    detection_state_machine_arn: str | None = None
    lifecycle_state_machine_arn: str | None = None
    schedule_rule: str | None = None
    event_bus: str | None = None  # the stack's own bus: an image waiting for a model is told there
    parameter_ttl_seconds: int = 60
    stack: str = "dev"
    labels_file: str | None = None  # set: the labels are read from this file of the archive
    # The stack's review backend (labelloop:review; handlers/review_backends/), and the settings a
    # backend without fields of its own below gives its functions.
    review_backend: str = DEFAULT_REVIEW_BACKEND
    review_settings: Mapping[str, str] = field(default_factory=dict)
    # The builtin review app (the review function only): who may review, how the page signs in.
    reviewer_group: str | None = None  # the Cognito group whose members are reviewers
    user_pool_id: str | None = None
    user_pool_client_id: str | None = None  # the page's public app client (the tokens' audience)
    login_url: str | None = None  # the managed-login domain, https://<domain>
    review_url: str | None = None  # the page: the app client's callback and sign-out URL
    image_url_seconds: int | None = None  # how long a presigned image URL stays valid

    @property
    def service(self) -> str:
        """The Powertools service name: the metrics' ``service`` dimension, one per stack."""
        return self.service_of(self.stack)

    @staticmethod
    def service_of(stack: str) -> str:
        return f"labelloop-{stack}"

    @classmethod
    def from_env(cls, environ=None) -> "RuntimeConfig":
        env = os.environ if environ is None else environ

        def need(name: str) -> str:
            value = env.get(name)
            if not value:
                raise MissingConfiguration(f"environment variable {name} is not set on this function; "
                                           "deploy it with the labelloop Pulumi program")
            return value

        labels_file = env.get("LABELLOOP_LABELS_FILE") or None
        if labels_file and "LABELLOOP_LABELS" not in env:
            labels = json.loads((Path(env.get("LAMBDA_TASK_ROOT", ".")) / labels_file).read_text())
        else:
            labels = json.loads(need("LABELLOOP_LABELS"))
        return cls(
            table=need("LABELLOOP_TABLE"),
            bucket=need("LABELLOOP_BUCKET"),
            parameter_path=need("LABELLOOP_PARAMETER_PATH").rstrip("/") + "/",
            labels=tuple(labels),
            topic_arn=env.get("LABELLOOP_TOPIC_ARN") or None,
            project_arn=env.get("LABELLOOP_PROJECT_ARN") or None,
            flow_definition_arn=env.get("LABELLOOP_FLOW_DEFINITION_ARN") or None,
            detection_state_machine_arn=env.get("LABELLOOP_DETECTION_STATE_MACHINE_ARN") or None,
            lifecycle_state_machine_arn=env.get("LABELLOOP_LIFECYCLE_STATE_MACHINE_ARN") or None,
            schedule_rule=env.get("LABELLOOP_SCHEDULE_RULE") or None,
            event_bus=env.get("LABELLOOP_EVENT_BUS") or None,
            parameter_ttl_seconds=int(env.get("LABELLOOP_PARAMETER_TTL", "60")),
            stack=env.get("LABELLOOP_STACK", "dev"),
            labels_file=labels_file,
            review_backend=env.get("LABELLOOP_REVIEW_BACKEND") or DEFAULT_REVIEW_BACKEND,
            review_settings=json.loads(env.get("LABELLOOP_REVIEW_SETTINGS") or "{}"),
            reviewer_group=env.get("LABELLOOP_REVIEWER_GROUP") or None,
            user_pool_id=env.get("LABELLOOP_USER_POOL_ID") or None,
            user_pool_client_id=env.get("LABELLOOP_USER_POOL_CLIENT_ID") or None,
            login_url=env.get("LABELLOOP_LOGIN_URL") or None,
            review_url=env.get("LABELLOOP_REVIEW_URL") or None,
            image_url_seconds=int(env.get("LABELLOOP_IMAGE_URL_SECONDS") or 0) or None,
        )

    def to_env(self) -> dict[str, str]:
        """The environment a function needs for this configuration (used by the Pulumi program and the sandbox)."""
        values = {
            "LABELLOOP_TABLE": self.table,
            "LABELLOOP_BUCKET": self.bucket,
            "LABELLOOP_PARAMETER_PATH": self.parameter_path,
            **({"LABELLOOP_LABELS_FILE": self.labels_file} if self.labels_file
               else {"LABELLOOP_LABELS": json.dumps(list(self.labels))}),
            "LABELLOOP_TOPIC_ARN": self.topic_arn,
            "LABELLOOP_PROJECT_ARN": self.project_arn,
            "LABELLOOP_FLOW_DEFINITION_ARN": self.flow_definition_arn,
            "LABELLOOP_DETECTION_STATE_MACHINE_ARN": self.detection_state_machine_arn,
            "LABELLOOP_LIFECYCLE_STATE_MACHINE_ARN": self.lifecycle_state_machine_arn,
            "LABELLOOP_SCHEDULE_RULE": self.schedule_rule,
            "LABELLOOP_EVENT_BUS": self.event_bus,
            "LABELLOOP_PARAMETER_TTL": str(self.parameter_ttl_seconds),
            "LABELLOOP_STACK": self.stack,
            "POWERTOOLS_SERVICE_NAME": self.service,
            "LABELLOOP_REVIEW_BACKEND": self.review_backend,
            "LABELLOOP_REVIEW_SETTINGS": json.dumps(dict(self.review_settings), sort_keys=True)
            if self.review_settings else None,
            "LABELLOOP_REVIEWER_GROUP": self.reviewer_group,
            "LABELLOOP_USER_POOL_ID": self.user_pool_id,
            "LABELLOOP_USER_POOL_CLIENT_ID": self.user_pool_client_id,
            "LABELLOOP_LOGIN_URL": self.login_url,
            "LABELLOOP_REVIEW_URL": self.review_url,
            "LABELLOOP_IMAGE_URL_SECONDS": str(self.image_url_seconds) if self.image_url_seconds else None,
        }
        return {k: v for k, v in values.items() if v}


@cache
def current() -> RuntimeConfig:
    """This function's configuration, read once per container."""
    return RuntimeConfig.from_env()
