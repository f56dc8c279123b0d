"""The ``a2i`` review backend at deploy time: Amazon A2I, for accounts that are existing A2I customers
(closed to new customers since July 2026). Its resources are :class:`components.a2i_review.A2IReview`'s;
its run time is ``handlers/review_backends/a2i.py`` and the output function ``handlers/review_output.py``.

* **Stack config**: an existing private work team (``workteamName``) or one created with the
  reviewers (``createWorkforce`` with ``reviewerEmails``); at most nine labels, since A2I's
  ``crowd-image-classifier`` shows at most ten choices and "None of the Above" is one.
* **Functions**: ``review_output`` (A2I's output files); StartReview may start human loops of the
  stack's flow definition, whose name — hence its ARN — is known before it exists (it carries a hash
  of what defines it: flow definitions and task UIs cannot change in place).
* **The bucket**: A2I's task pages load the image cross-origin, so the bucket needs a CORS rule;
  the answers arrive as files under ``a2i-human-loop-data/``.
"""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from components.config_values import ConfigError
from components.deploy_access import PASS_ROLE, REVIEWER_POOL, USER_POOLS, on
from components.grants import COPY_REVIEWED, PARAMETERS, PUBLISH, TABLE_RW, FunctionSpec, Grant
from components.naming import Naming
from components.review_backends import Deployable
from components.event_rule import Trigger, bucket_objects
from handlers.runtime import layout
from policies.names import NONE_OF_THE_ABOVE

# crowd-image-classifier shows at most 10 categories, and None of the Above is one of them.
MAX_LABELS = 9
TASK_TITLE = "Classify an image"
TASK_DESCRIPTION = "Choose the label that fits the image best, or None of the Above."
TASK = {"task_count": 1, "task_availability_lifetime_in_seconds": 864_000, "task_time_limit_in_seconds": 3600}
OUTPUT_TRIGGER = "review-output"
# A2I's task pages load the image cross-origin; without this rule on the bucket holding it, review
# tasks fail ("CORS Permission Requirement", A2I permissions and security).
CORS_RULE = {"allowed_headers": [], "allowed_methods": ["GET"], "allowed_origins": ["*"], "expose_headers": []}
FLOW = ("arn:{p}:sagemaker:{r}:{a}:flow-definition/{n}-*", "arn:{p}:sagemaker:{r}:{a}:human-task-ui/{n}-*")
WORKFORCE = ("arn:{p}:sagemaker:{r}:{a}:workforce/{n}-*", "arn:{p}:sagemaker:{r}:{a}:workteam/private-crowd/*")


@dataclass(frozen=True)
class Settings:
    """The work team: an existing one by name, or one the stack creates (with the reviewers)."""

    workteam_name: str | None = None
    create_workforce: bool = False


def categories(labels: Sequence[str]) -> list[str]:
    return [*labels, NONE_OF_THE_ABOVE]


def task_template(labels: Sequence[str]) -> str:
    """The Liquid template of the task UI: a ``crowd-image-classifier`` over the labels."""
    choices = html.escape(json.dumps(categories(labels)), quote=True)
    return f"""<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>
<crowd-form>
  <crowd-image-classifier
    name="crowd-image-classifier"
    src="{{{{ task.input.taskObject | grant_read_access }}}}"
    header="Which label fits this image best?"
    categories="{choices}"
  >
    <full-instructions header="How to classify">
      <p>Choose the one label that fits the image best.</p>
      <p>Choose <strong>{NONE_OF_THE_ABOVE}</strong> when no label fits or the image cannot be made out.</p>
      <p>Answers can become training data for the model: answer only when you are sure.</p>
    </full-instructions>
    <short-instructions>
      <p>Choose the label that fits the image, or <strong>{NONE_OF_THE_ABOVE}</strong>.</p>
      <p>Sent for review because: {{{{ task.input.reason | escape }}}}</p>
    </short-instructions>
  </crowd-image-classifier>
</crowd-form>
"""


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:8]


def task_ui_name(naming: Naming, labels: Sequence[str]) -> str:
    return naming(f"task-ui-{_digest(task_template(labels))}")


def flow_definition_name(naming: Naming, labels: Sequence[str], workteam_name: str | None) -> str:
    """Known before deploying, so the functions can be given the flow definition's ARN."""
    return naming(f"review-{_digest([task_template(labels), workteam_name or 'created', TASK])}")


class A2I(Deployable):
    name = "a2i"
    component = "components.a2i_review:A2IReview"
    keys = ("workteamName", "createWorkforce")
    structured = ("createWorkforce",)
    settings_type = Settings
    functions = (
        FunctionSpec("review_output", "handlers.review_output.handler", "Turn an A2I answer into training data", (
            Grant(("s3:GetObject",), f"objects:{layout.REVIEW_OUTPUT_PREFIX}"),
            *COPY_REVIEWED, TABLE_RW, PARAMETERS, PUBLISH)),
    )
    open_grants = (Grant(("sagemaker:StartHumanLoop",), "flow_definition"),)
    cors_rules = (CORS_RULE,)
    resource_access = {
        "aws:sagemaker/humanTaskUI:HumanTaskUI": (on(FLOW, "sagemaker:CreateHumanTaskUi", "sagemaker:DescribeHumanTaskUi",
                                                     "sagemaker:DeleteHumanTaskUi", "sagemaker:AddTags",
                                                     "sagemaker:ListTags", "sagemaker:DeleteTags"),),
        "aws:sagemaker/flowDefinition:FlowDefinition": (on(FLOW, "sagemaker:CreateFlowDefinition",
                                                           "sagemaker:DescribeFlowDefinition",
                                                           "sagemaker:DeleteFlowDefinition", "sagemaker:AddTags",
                                                           "sagemaker:ListTags", "sagemaker:DeleteTags"),
                                                        on(WORKFORCE, "sagemaker:DescribeWorkteam"), PASS_ROLE),
        "aws:sagemaker/workforce:Workforce": (on(WORKFORCE, "sagemaker:CreateWorkforce", "sagemaker:DescribeWorkforce",
                                                 "sagemaker:UpdateWorkforce", "sagemaker:DeleteWorkforce"),
                                              on(USER_POOLS, "cognito-idp:DescribeUserPool",
                                                 "cognito-idp:DescribeUserPoolClient")),
        "aws:sagemaker/workteam:Workteam": (on(WORKFORCE, "sagemaker:CreateWorkteam", "sagemaker:DescribeWorkteam",
                                               "sagemaker:UpdateWorkteam", "sagemaker:DeleteWorkteam",
                                               "sagemaker:AddTags", "sagemaker:ListTags", "sagemaker:DeleteTags"),),
        **REVIEWER_POOL,  # createWorkforce: its reviewers' pool
    }

    def settings(self, raw: Mapping[str, Any], labels: tuple[str, ...], reviewer_emails: tuple[str, ...]) -> Settings:
        """A2I's work team (existing, or created with the reviewers) and its label limit."""
        if len(labels) > MAX_LABELS:
            raise ConfigError("labels", f"has {len(labels)} labels; A2I's image classification task "
                              f"(crowd-image-classifier) shows at most 10 choices: {MAX_LABELS} labels "
                              f"and {NONE_OF_THE_ABOVE!r} (the builtin review app has no such limit)",
                              f"use at most {MAX_LABELS} labels (merge or drop some)")
        workteam, create = raw.get("workteamName"), raw.get("createWorkforce", False)
        if not isinstance(create, bool):
            raise ConfigError("createWorkforce", f"must be true or false, got {create!r}", "set true or false")
        if workteam and create:
            raise ConfigError("workteamName", "and createWorkforce are both set",
                              "use an existing work team (workteamName) or create one (createWorkforce: true), not both")
        if not workteam and not create:
            raise ConfigError("workteamName", "is required unless createWorkforce is true",
                              "name an existing A2I private work team, or set labelloop:createWorkforce true")
        if reviewer_emails and not create:
            raise ConfigError("reviewerEmails", "is only used when createWorkforce is true",
                              "add reviewers to your existing work team instead, or set createWorkforce: true")
        return Settings(workteam or None, create)

    def environment(self, naming: Naming, settings: Settings, labels: tuple[str, ...], account) -> dict[str, Any]:
        return {"flow_definition_arn": flow_definition_arn(naming, settings, labels, account)}

    def resources(self, naming: Naming, settings: Settings, labels: tuple[str, ...], account) -> dict[str, Any]:
        return {"flow_definition": flow_definition_arn(naming, settings, labels, account)}

    def bucket_triggers(self, bucket: str) -> list[Trigger]:
        return [Trigger(OUTPUT_TRIGGER, "An A2I output file is processed into training data.",
                        bucket_objects(bucket, layout.REVIEW_OUTPUT_PREFIX, "Object Created"), "review_output")]


def flow_definition_arn(naming: Naming, settings: Settings, labels: tuple[str, ...], account):
    """The flow definition's ARN (an ``Output``), before it exists: its name is known."""
    name = flow_definition_name(naming, labels, settings.workteam_name)
    return account.apply(lambda a: a.flow_definition_arn(name))


BACKEND = A2I()
