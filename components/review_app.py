"""ReviewApp, the ``builtin`` review backend: labelloop's own serverless review app, which
any AWS account can run (it needs Cognito, API Gateway, Lambda, S3 and DynamoDB only).

* **Reviewers** are the members of a Cognito group: in a user pool the stack creates (users
  from ``reviewerEmails``, invited by e-mail; only administrators add users), or in an
  existing pool (``reviewerUserPoolId`` + ``reviewerGroup``), where the stack adds only
  its app client.
* **Sign-in** is Cognito's managed login with the authorization-code grant and PKCE: a public
  app client (no secret) whose callback and sign-out URL is the page.
* **One function** (``review_api``) serves the page and the JSON API through an HTTP API. The
  page and its sign-in settings are public; every ``/api/`` route needs a token the JWT
  authorizer accepts (issued by the pool, for the app client). The function checks the
  ``cognito:groups`` claim itself. A schedule invokes it every 5 minutes to expire tasks past
  their lifetime and publish the open-task gauges.

Nothing here waits on itself: the API comes first (its URL is the client's callback), then the
pool's invitation that links to it, the client, the function told about both, and the routes.
"""

from __future__ import annotations

import json
import re

import pulumi
import pulumi_aws as aws

from components import events
from components.review_stage import ReviewStage, ReviewStageArgs
from components.reviewers import TEMPORARY_PASSWORD_DAYS, Invitation, reviewer_pool
from components.triggers import Schedule
from handlers.review_api import SWEEP as SWEEP_INPUT
from handlers.review_api import issuer

FUNCTION = "review_api"
API = "review"
# The page and what it needs to sign in: no token yet.
PUBLIC_ROUTES = ("GET /", "GET /config")
# The reviewers' API: each route behind the JWT authorizer.
REVIEWER_ROUTES = ("GET /api/tasks/next", "GET /api/tasks/{id}", "POST /api/tasks/{id}/answer",
                   "POST /api/tasks/{id}/skip", "GET /api/me")
SWEEP = Schedule("review-sweep", "Expire review tasks past their lifetime; publish open tasks and the oldest's age",
                 "rate(5 minutes)", True, FUNCTION, SWEEP_INPUT)
OAUTH_SCOPES = ("openid", "email", "profile")
TOKEN_HOURS = 1  # access and ID tokens
REFRESH_TOKEN_HOURS = 12  # a working day without signing in again
MANAGED_LOGIN = 2  # the domain's managed-login version (1 is the classic hosted UI)
ACCESS_LOG_FORMAT = json.dumps({
    "requestId": "$context.requestId", "ip": "$context.identity.sourceIp", "requestTime": "$context.requestTime",
    "routeKey": "$context.routeKey", "status": "$context.status", "protocol": "$context.protocol",
    "responseLength": "$context.responseLength", "latency": "$context.responseLatency",
    "integrationError": "$context.integrationErrorMessage", "authorizerError": "$context.authorizer.error",
    "reviewer": "$context.authorizer.claims.sub",
}, separators=(",", ":"))


def login_url(domain: str, region: str) -> str:
    """The managed-login base URL of a domain: a custom domain name, or a Cognito prefix."""
    return f"https://{domain}" if "." in domain else f"https://{domain}.auth.{region}.amazoncognito.com"


def route_slug(route_key: str) -> str:
    """``POST /api/tasks/{id}/answer`` → ``post-api-tasks-id-answer`` (for logical names)."""
    return re.sub(r"[^a-z0-9]+", "-", route_key.lower()).strip("-")


class ReviewApp(ReviewStage):
    review_url: pulumi.Output[str]
    api_url: pulumi.Output[str]
    user_pool_id: pulumi.Output[str]
    reviewer_group: pulumi.Output[str]

    def __init__(self, name: str, args: ReviewStageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("labelloop:index:ReviewApp", name, None, opts)
        naming, settings = args.naming, args.settings  # the builtin backend's Settings
        child = pulumi.ResourceOptions(parent=self)
        region = args.account.apply(lambda a: a.region)

        # -- the API, whose URL everything else links to ------------------------------------
        self.api = aws.apigatewayv2.Api(
            f"{name}-api", name=naming(API), protocol_type="HTTP",
            description=f"The {naming.prefix} review page and the reviewers' API", opts=child)
        self.api_url = self.api.api_endpoint
        # The page is the stage's root: the client's callback and sign-out URL, exactly.
        self.review_url = pulumi.Output.concat(self.api.api_endpoint, "/")

        # -- reviewers and sign-in ----------------------------------------------------------
        self.pool = self.group = self.domain = None
        self.reviewers: list = []
        if settings.reviewer_pool is None:
            created = reviewer_pool(
                name, naming, args.config.reviewer_emails, group_description=f"Reviewers of {naming.prefix}",
                parent=self, invitation=Invitation(
                    subject=f"You are invited to review images ({naming.prefix})",
                    message=pulumi.Output.concat(
                        "You are invited to review images for labelloop (", naming.prefix, "). Open ",
                        self.review_url, " and sign in with this e-mail address (user name {username}) and the "
                        "temporary password {####}, then choose your own password. The temporary password "
                        f"expires in {TEMPORARY_PASSWORD_DAYS} days.")),
                deletion_protection="INACTIVE", user_pool_tier="ESSENTIALS")
            self.pool, self.group, self.reviewers = created.pool, created.group, created.reviewers
            self.user_pool_id = self.pool.id
            group_name: pulumi.Input[str] = self.group.name
            self.domain = aws.cognito.UserPoolDomain(
                f"{name}-login-domain", domain=pulumi.Output.concat(
                    naming.login_domain_prefix, "-", args.account.apply(lambda a: a.account_id)),
                user_pool_id=self.user_pool_id, managed_login_version=MANAGED_LOGIN, opts=child)
            self.login_url = pulumi.Output.all(self.domain.domain, region).apply(lambda v: login_url(*v))
        else:
            pool = settings.reviewer_pool
            self.user_pool_id = pulumi.Output.from_input(pool.user_pool_id)
            group_name = pool.group
            self.login_url = pulumi.Output.from_input(login_url(pool.domain, pool.region))

        self.client = aws.cognito.UserPoolClient(
            f"{name}-client", name=naming(API), user_pool_id=self.user_pool_id, generate_secret=False,
            allowed_oauth_flows_user_pool_client=True, allowed_oauth_flows=["code"],
            allowed_oauth_scopes=list(OAUTH_SCOPES), supported_identity_providers=["COGNITO"],
            callback_urls=[self.review_url], logout_urls=[self.review_url],
            # The page signs in through managed login (SRP, refresh). The admin password flow lets
            # `labelloop smoke` sign in its temporary reviewer: it needs AWS credentials allowed
            # cognito-idp:AdminInitiateAuth on the pool, so it opens nothing to the public.
            explicit_auth_flows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_ADMIN_USER_PASSWORD_AUTH"],
            prevent_user_existence_errors="ENABLED", enable_token_revocation=True,
            access_token_validity=TOKEN_HOURS, id_token_validity=TOKEN_HOURS,
            refresh_token_validity=REFRESH_TOKEN_HOURS,
            token_validity_units=aws.cognito.UserPoolClientTokenValidityUnitsArgs(
                access_token="hours", id_token="hours", refresh_token="hours"),
            opts=child)
        self.reviewer_group = pulumi.Output.from_input(group_name)
        # Managed login shows an app client's pages only once the client has a style. In a pool the
        # stack does not own, the pool's domain may be the classic hosted UI, and styles need the
        # Essentials plan: its owner styles the client (docs/deploying.md).
        self.branding = None
        if self.pool is not None:
            self.branding = aws.cognito.ManagedLoginBranding(
                f"{name}-client-branding", user_pool_id=self.user_pool_id, client_id=self.client.id,
                use_cognito_provided_values=True, opts=child)

        # -- the function -------------------------------------------------------------------
        functions = args.functions.told(
            reviewer_group=group_name, user_pool_id=self.user_pool_id, user_pool_client_id=self.client.id,
            login_url=self.login_url, review_url=self.review_url, image_url_seconds=settings.review_image_url_seconds)
        self.function = functions.create(FUNCTION, self, name, asynchronous=True)  # the sweep's events
        self.deployed = {FUNCTION: self.function}

        # -- the sweep: expired tasks closed and the gauges published, every few minutes ------------
        self.sweep_rule = events.schedule_rule(name, naming, SWEEP, parent=self)
        self.sweep_target, _ = events.function_target(
            self.sweep_rule, f"{name}-{SWEEP.name}", self.function, dead_letter_queue=args.dead_letter_queue_arn,
            parent=self, input=SWEEP.input)

        # -- routes, the authorizer and the stage ----------------------------------------------
        self.authorizer = aws.apigatewayv2.Authorizer(
            f"{name}-authorizer", api_id=self.api.id, name=naming("reviewers"), authorizer_type="JWT",
            identity_sources=["$request.header.Authorization"],
            jwt_configuration=aws.apigatewayv2.AuthorizerJwtConfigurationArgs(
                issuer=self.user_pool_id.apply(issuer), audiences=[self.client.id]),
            opts=child)
        target = self.served_by(name, self.api, self.function)
        self.routes = {key: aws.apigatewayv2.Route(
            f"{name}-route-{route_slug(key)}", api_id=self.api.id, route_key=key, target=target,
            authorization_type="NONE", opts=child) for key in PUBLIC_ROUTES}
        self.routes |= {key: aws.apigatewayv2.Route(
            f"{name}-route-{route_slug(key)}", api_id=self.api.id, route_key=key, target=target,
            authorization_type="JWT", authorizer_id=self.authorizer.id, opts=child) for key in REVIEWER_ROUTES}
        self.access_logs = aws.cloudwatch.LogGroup(
            f"{name}-access-logs", name=naming.api_access_log_group(API),
            retention_in_days=args.config.log_retention_days, opts=child)
        self.stage = aws.apigatewayv2.Stage(
            f"{name}-stage", api_id=self.api.id, name="$default", auto_deploy=True,
            default_route_settings=aws.apigatewayv2.StageDefaultRouteSettingsArgs(
                throttling_rate_limit=settings.review_api_throttle.rate,
                throttling_burst_limit=settings.review_api_throttle.burst),
            access_log_settings=aws.apigatewayv2.StageAccessLogSettingsArgs(
                destination_arn=self.access_logs.arn, format=ACCESS_LOG_FORMAT),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(self.routes.values())))

        self.stack_outputs = {"reviewUrl": self.review_url, "reviewApiUrl": self.api_url,
                              "reviewerUserPoolId": self.user_pool_id, "reviewerGroup": self.reviewer_group}
        self.register_outputs({
            "reviewUrl": self.review_url, "apiUrl": self.api_url, "userPoolId": self.user_pool_id,
            "userPoolClientId": self.client.id, "loginUrl": self.login_url,
            "functions": {key: fn.name for key, fn in self.deployed.items()},
        })
