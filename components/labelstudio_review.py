"""LabelStudioReview, the ``labelstudio`` review backend's resources (a team's own Label Studio; its
declaration: ``components/review_backends/labelstudio.py``): the ``labelstudio`` function behind an
HTTP API with two routes — Label Studio's webhook and the images its tasks show — and on the reconcile
schedule, the stack's signing key and the routes' URL, both SSM parameters its functions read.

Neither route has an authorizer API Gateway could check for Label Studio: the webhook is authenticated
by a secret header (``X-Labelloop-Secret``, derived from the signing key; the reconcile registers it
with Label Studio), each image link by a signature only its review's link has. No reviewer pool: the
reviewers are the Label Studio project's members.
"""

from __future__ import annotations

import secrets

import pulumi
import pulumi_aws as aws

from components import events
from components.review_backends.labelstudio import FUNCTION, RECONCILE_RATE, ROUTES, SIGNING_KEY, parameter
from components.review_stage import ReviewStage, ReviewStageArgs
from components.triggers import Schedule
from handlers.labelstudio.routes import RECONCILE
from handlers.labelstudio.settings import IMAGE_PATH, WEBHOOK_PATH

API = "labelstudio"
ROUTE_KEYS = (f"POST {WEBHOOK_PATH}", f"GET {IMAGE_PATH}{{review}}")
RECONCILE_SCHEDULE = Schedule("labelstudio-reconcile", "Settle Label Studio's annotations the webhook missed; "
                              "expire reviews; make tasks Label Studio could not take", RECONCILE_RATE, True,
                              FUNCTION, RECONCILE)
THROTTLE = {"throttling_rate_limit": 20.0, "throttling_burst_limit": 40}  # webhooks and image views


class LabelStudioReview(ReviewStage):
    webhook_url: pulumi.Output[str]

    def __init__(self, name: str, args: ReviewStageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("labelloop:index:LabelStudioReview", name, None, opts)
        naming, settings = args.naming, args.settings  # the labelstudio backend's Settings
        child = pulumi.ResourceOptions(parent=self)

        # A random value the first time; kept by later deploys (deleting the parameter makes a new one).
        self.signing_key = aws.ssm.Parameter(
            f"{name}-signing-key", name=parameter(naming, SIGNING_KEY), type="SecureString",
            value=pulumi.Output.secret(secrets.token_hex(32)),
            description="Signs the Label Studio webhook's secret header and the image links",
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["value"]))
        self.api = aws.apigatewayv2.Api(
            f"{name}-api", name=naming(API), protocol_type="HTTP",
            description=f"Label Studio's webhook and images for {naming.prefix}", opts=child)
        self.routes_url = aws.ssm.Parameter(
            f"{name}-routes-url", name=parameter(naming, ROUTES), type="String", value=self.api.api_endpoint,
            description="The URL of the stack's Label Studio routes (webhook, images)", opts=child)

        self.function = args.functions.create(FUNCTION, self, name, asynchronous=True)  # the reconcile's events
        self.deployed = {FUNCTION: self.function}
        target = self.served_by(name, self.api, self.function)
        self.routes = {key: aws.apigatewayv2.Route(
            f"{name}-route-{'webhook' if key.startswith('POST') else 'images'}", api_id=self.api.id, route_key=key,
            target=target, authorization_type="NONE", opts=child) for key in ROUTE_KEYS}
        self.stage = aws.apigatewayv2.Stage(
            f"{name}-stage", api_id=self.api.id, name="$default", auto_deploy=True,
            default_route_settings=aws.apigatewayv2.StageDefaultRouteSettingsArgs(**THROTTLE),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(self.routes.values())))

        self.reconcile_rule = events.schedule_rule(name, naming, RECONCILE_SCHEDULE, parent=self)
        self.reconcile_target, _ = events.function_target(
            self.reconcile_rule, f"{name}-{RECONCILE_SCHEDULE.name}", self.function,
            dead_letter_queue=args.dead_letter_queue_arn, parent=self, input=RECONCILE_SCHEDULE.input)

        self.webhook_url = pulumi.Output.concat(self.api.api_endpoint, WEBHOOK_PATH)
        self.stack_outputs = {"labelStudioUrl": settings.url, "labelStudioProject": settings.project,
                              "labelStudioWebhookUrl": self.webhook_url}
        self.register_outputs({**self.stack_outputs, "apiUrl": self.api.api_endpoint,
                               "functions": {key: fn.name for key, fn in self.deployed.items()}})
