"""A2IReview, the ``a2i`` review backend's resources (Amazon A2I, for accounts that are existing A2I
customers; its declaration: ``components/review_backends/a2i.py``): the task UI generated from the
labels, the flow definition writing to ``a2i-human-loop-data/``, its role, the reviewers (an existing
private work team, or a Cognito user pool with a private workforce and work team), and the function
that turns each answer into training data.

Flow definitions and task UIs cannot be changed in place. Their names carry a hash of what defines
them, so a change (say, a new label) creates the new one before the old one is removed, and the
name — hence the ARN the functions are given — is known before anything is deployed.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components import events, iam
from components.review_backends.a2i import (OUTPUT_TRIGGER, TASK, TASK_DESCRIPTION, TASK_TITLE, flow_definition_name,
                                            task_template, task_ui_name)
from components.review_stage import ReviewStage, ReviewStageArgs
from components.reviewers import reviewer_pool
from handlers.runtime import layout

TYPE = "labelloop:index:A2IReview"
# The type this component had before it was named for what it is: deployed stacks know it by that
# name, and the alias keeps their resources (the component's and, through it, its children's).
FORMER_TYPE = "labelloop:index:HumanReview"
# What SageMaker changes on the app client when it creates the workforce: not ours to put back.
SAGEMAKER_MANAGED_CLIENT_FIELDS = ["allowedOauthFlows", "allowedOauthFlowsUserPoolClient", "allowedOauthScopes",
                                   "callbackUrls", "logoutUrls", "supportedIdentityProviders", "defaultRedirectUri",
                                   "explicitAuthFlows"]


class A2IReview(ReviewStage):
    flow_definition_arn: pulumi.Output[str]
    workteam_arn: pulumi.Output[str]
    portal_url: pulumi.Output[str] | None

    def __init__(self, name: str, args: ReviewStageArgs, opts: pulumi.ResourceOptions | None = None):
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(aliases=[pulumi.Alias(type_=FORMER_TYPE)]))
        super().__init__(TYPE, name, None, opts)
        naming, settings, labels = args.naming, args.settings, args.config.labels  # the a2i backend's Settings
        child = pulumi.ResourceOptions(parent=self)
        account_id = args.account.apply(lambda a: a.account_id)

        self.portal_url = None
        if settings.create_workforce:
            self.workteam_arn = self._create_workforce(name, args, account_id)
        else:
            self.workteam_arn = args.account.apply(lambda a: a.workteam_arn(settings.workteam_name))

        self.template = task_template(labels)
        self.task_ui = aws.sagemaker.HumanTaskUI(
            f"{name}-task-ui", human_task_ui_name=task_ui_name(naming, labels),
            ui_template=aws.sagemaker.HumanTaskUIUiTemplateArgs(content=self.template), opts=child)

        objects = lambda prefix: pulumi.Output.concat(args.bucket_arn, "/", prefix, "*")  # noqa: E731
        self.role, self.role_policy = iam.service_role(
            f"{name}-flow-role", naming("review-flow"), "sagemaker.amazonaws.com", [
                iam.Statement("ShowReviewersTheImage", ("s3:GetObject",), (objects(layout.DETECTION_PREFIX),)),
                iam.Statement("WriteTheAnswers", ("s3:PutObject",), (objects(layout.REVIEW_OUTPUT_PREFIX),)),
            ], parent=self, account_id=account_id, description="A2I reads uploads and writes answers")
        self.flow_definition = aws.sagemaker.FlowDefinition(
            f"{name}-flow", flow_definition_name=flow_definition_name(naming, labels, settings.workteam_name),
            role_arn=self.role.arn,
            human_loop_config=aws.sagemaker.FlowDefinitionHumanLoopConfigArgs(
                human_task_ui_arn=self.task_ui.arn, workteam_arn=self.workteam_arn, task_title=TASK_TITLE,
                task_description=TASK_DESCRIPTION, **TASK),
            output_config=aws.sagemaker.FlowDefinitionOutputConfigArgs(
                s3_output_path=pulumi.Output.concat("s3://", args.bucket_name, "/",
                                                    layout.REVIEW_OUTPUT_PREFIX.rstrip("/"))),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.role_policy]))

        self.deployed = {
            "review_output": args.functions.create("review_output", self, name, asynchronous=True)}
        self.output_rule, self.output_target = events.bucket_function_trigger(
            name, naming, args.bucket_name, OUTPUT_TRIGGER, self.deployed["review_output"],
            dead_letter_queue=args.dead_letter_queue_arn, parent=self)

        self.flow_definition_arn = self.flow_definition.arn
        outputs = {"flowDefinitionArn": self.flow_definition_arn, "taskUiArn": self.task_ui.arn,
                   "workteamArn": self.workteam_arn, "outputRule": self.output_rule.name,
                   "functions": {key: fn.name for key, fn in self.deployed.items()}}
        self.stack_outputs = {"flowDefinitionArn": self.flow_definition_arn, "workteamArn": self.workteam_arn}
        if self.portal_url is not None:
            outputs["portalUrl"] = self.stack_outputs["reviewerPortalUrl"] = self.portal_url
        self.register_outputs(outputs)

    def _create_workforce(self, name: str, args: ReviewStageArgs, account_id: pulumi.Output[str]
                          ) -> pulumi.Output[str]:
        """Cognito users → a private workforce → the stack's work team (as the original did without one)."""
        naming = args.naming
        child = pulumi.ResourceOptions(parent=self)
        reviewers = reviewer_pool(name, naming, args.config.reviewer_emails,
                                  group_description="Reviewers of the labelloop work team", parent=self)
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
            opts=child)
        self.portal_url = pulumi.Output.concat("https://", self.workteam.subdomain)
        return self.workteam.arn
