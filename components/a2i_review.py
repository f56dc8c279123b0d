"""A2IReview, the ``a2i`` review backend (Amazon A2I, for accounts that are existing A2I
customers): the task UI generated from the labels, the flow definition
writing to ``a2i-human-loop-data/``, its role, the reviewers (an existing private
work team, or a Cognito user pool with a private workforce and work team), and
the function that turns each answer into training data.

Flow definitions and task UIs cannot be changed in place. Their names carry a
hash of what defines them, so a change (say, a new label) creates the new one
before the old one is removed, and the name — hence the ARN the functions are
given — is known before anything is deployed.
"""

from __future__ import annotations

import hashlib
import html
import json
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from components import events, iam
from components.lambdas import DeployedFunction, FunctionFactory
from components.naming import Account, Naming
from components.reviewers import reviewer_pool
from handlers.runtime import layout
from policies.names import NONE_OF_THE_ABOVE

TASK_TITLE = "Classify an image"
TASK_DESCRIPTION = "Choose the label that fits the image best, or None of the Above."
TASK = {"task_count": 1, "task_availability_lifetime_in_seconds": 864_000, "task_time_limit_in_seconds": 3600}
OUTPUT_TRIGGER = "review-output"
# What SageMaker changes on the app client when it creates the workforce: not ours to put back.
SAGEMAKER_MANAGED_CLIENT_FIELDS = ["allowedOauthFlows", "allowedOauthFlowsUserPoolClient", "allowedOauthScopes",
                                   "callbackUrls", "logoutUrls", "supportedIdentityProviders", "defaultRedirectUri",
                                   "explicitAuthFlows"]


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


@dataclass
class A2IReviewArgs:
    naming: Naming
    account: pulumi.Output[Account]
    labels: tuple[str, ...]
    bucket_name: pulumi.Input[str]
    bucket_arn: pulumi.Input[str]
    functions: FunctionFactory
    dead_letter_queue_arn: pulumi.Input[str]
    workteam_name: str | None = None
    create_workforce: bool = False
    reviewer_emails: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if bool(self.workteam_name) == bool(self.create_workforce):
            raise ValueError("A2IReview needs either workteam_name or create_workforce, not both or neither")


class A2IReview(pulumi.ComponentResource):
    flow_definition_arn: pulumi.Output[str]
    workteam_arn: pulumi.Output[str]
    portal_url: pulumi.Output[str] | None

    def __init__(self, name: str, args: A2IReviewArgs, opts: pulumi.ResourceOptions | None = None):
        # The type keeps its first name: a new one would replace every resource of deployed stacks.
        super().__init__("labelloop:index:HumanReview", name, None, opts)
        naming, tags = args.naming, dict(args.tags)
        child = pulumi.ResourceOptions(parent=self)
        account_id = args.account.apply(lambda a: a.account_id)

        self.portal_url = None
        if args.create_workforce:
            self.workteam_arn = self._create_workforce(name, args, account_id)
        else:
            self.workteam_arn = args.account.apply(lambda a: a.workteam_arn(args.workteam_name))

        self.template = task_template(args.labels)
        self.task_ui = aws.sagemaker.HumanTaskUI(
            f"{name}-task-ui", human_task_ui_name=task_ui_name(naming, args.labels),
            ui_template=aws.sagemaker.HumanTaskUIUiTemplateArgs(content=self.template), tags=tags, opts=child)

        objects = lambda prefix: pulumi.Output.concat(args.bucket_arn, "/", prefix, "*")  # noqa: E731
        self.role, self.role_policy = iam.service_role(
            f"{name}-flow-role", naming("review-flow"), "sagemaker.amazonaws.com", [
                iam.Statement("ShowReviewersTheImage", ("s3:GetObject",), (objects(layout.DETECTION_PREFIX),)),
                iam.Statement("WriteTheAnswers", ("s3:PutObject",), (objects(layout.REVIEW_OUTPUT_PREFIX),)),
            ], parent=self, account_id=account_id, tags=tags, description="A2I reads uploads and writes answers")
        self.flow_definition = aws.sagemaker.FlowDefinition(
            f"{name}-flow", flow_definition_name=flow_definition_name(naming, args.labels, args.workteam_name),
            role_arn=self.role.arn,
            human_loop_config=aws.sagemaker.FlowDefinitionHumanLoopConfigArgs(
                human_task_ui_arn=self.task_ui.arn, workteam_arn=self.workteam_arn, task_title=TASK_TITLE,
                task_description=TASK_DESCRIPTION, **TASK),
            output_config=aws.sagemaker.FlowDefinitionOutputConfigArgs(
                s3_output_path=pulumi.Output.concat("s3://", args.bucket_name, "/",
                                                    layout.REVIEW_OUTPUT_PREFIX.rstrip("/"))),
            tags=tags, opts=pulumi.ResourceOptions(parent=self, depends_on=[self.role_policy]))

        self.deployed: dict[str, DeployedFunction] = {
            "review_output": args.functions.create("review_output", self, name, asynchronous=True)}
        self.output_rule, self.output_target = events.bucket_function_trigger(
            name, naming, args.bucket_name, OUTPUT_TRIGGER, self.deployed["review_output"],
            dead_letter_queue=args.dead_letter_queue_arn, parent=self, tags=tags)

        self.flow_definition_arn = self.flow_definition.arn
        outputs = {"flowDefinitionArn": self.flow_definition_arn, "taskUiArn": self.task_ui.arn,
                   "workteamArn": self.workteam_arn, "outputRule": self.output_rule.name,
                   "functions": {key: fn.name for key, fn in self.deployed.items()}}
        if self.portal_url is not None:
            outputs["portalUrl"] = self.portal_url
        self.register_outputs(outputs)

    def _create_workforce(self, name: str, args: A2IReviewArgs, account_id: pulumi.Output[str]
                          ) -> pulumi.Output[str]:
        """Cognito users → a private workforce → the stack's work team (as the original did without one)."""
        naming, tags = args.naming, dict(args.tags)
        child = pulumi.ResourceOptions(parent=self)
        reviewers = reviewer_pool(name, naming, args.reviewer_emails, group_description="Reviewers of the labelloop "
                                  "work team", parent=self, tags=tags)
        self.user_pool, self.reviewer_group, self.reviewers = reviewers.pool, reviewers.group, reviewers.reviewers
        self.user_pool_client = aws.cognito.UserPoolClient(
            f"{name}-reviewers-client", name=naming("reviewers"), user_pool_id=self.user_pool.id, generate_secret=True,
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=SAGEMAKER_MANAGED_CLIENT_FIELDS))
        # The sign-in domain prefix is global across AWS accounts: the account id makes it unique.
        self.user_pool_domain = aws.cognito.UserPoolDomain(
            f"{name}-reviewers-domain", domain=pulumi.Output.concat(naming.prefix, "-", account_id),
            user_pool_id=self.user_pool.id, opts=child)
        self.workforce = aws.sagemaker.Workforce(
            f"{name}-workforce", workforce_name=naming("workforce"),
            cognito_config=aws.sagemaker.WorkforceCognitoConfigArgs(client_id=self.user_pool_client.id,
                                                                    user_pool=self.user_pool.id),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.user_pool_domain]))
        self.workteam = aws.sagemaker.Workteam(
            f"{name}-workteam", workteam_name=naming("reviewers"), workforce_name=self.workforce.id,
            description=f"Reviewers of {naming.prefix}",
            member_definitions=[aws.sagemaker.WorkteamMemberDefinitionArgs(
                cognito_member_definition=aws.sagemaker.WorkteamMemberDefinitionCognitoMemberDefinitionArgs(
                    client_id=self.user_pool_client.id, user_group=self.reviewer_group.name,
                    user_pool=self.user_pool.id))],
            tags=tags, opts=child)
        self.portal_url = pulumi.Output.concat("https://", self.workteam.subdomain)
        return self.workteam.arn
