"""The pieces of the deploy policy (pure): :class:`Access` (actions on ARN templates), the ARN
templates of a stack's resources, and the access the reviewers' Cognito user pool takes — shared by
the core table (:mod:`components.deployer`) and the review backends' own resource types
(``Deployable.resource_access``, ``components/review_backends/``).

ARN templates: ``{p}`` partition, ``{r}`` region, ``{a}`` account, ``{n}`` the stack's name prefix
(``labelloop-<stack>``), ``{path}`` its parameter path without slashes (``labelloop/<stack>``).
Where AWS names a resource with an id it picks (user pools, HTTP APIs, KMS keys), or an action
takes no resource, the resource is as narrow as IAM allows: every one of its kind in the account
and region, or ``*`` (:data:`UNSCOPED`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Access:
    """Actions on resources (ARN templates)."""

    actions: tuple[str, ...]
    resources: tuple[str, ...]


def on(resources: str | tuple[str, ...], *actions: str) -> Access:
    return Access(tuple(actions), (resources,) if isinstance(resources, str) else resources)


UNSCOPED = "*"
BUCKET = "arn:{p}:s3:::{n}-*"
ROLE = "arn:{p}:iam::{a}:role/{n}-*"
FUNCTION = "arn:{p}:lambda:{r}:{a}:function:{n}-*"
LOG_GROUPS = ("arn:{p}:logs:{r}:{a}:log-group:/aws/lambda/{n}-*",
              "arn:{p}:logs:{r}:{a}:log-group:/aws/vendedlogs/states/{n}-*",
              "arn:{p}:logs:{r}:{a}:log-group:/aws/vendedlogs/apigateway/{n}-*")
STATE_MACHINE = "arn:{p}:states:{r}:{a}:stateMachine:{n}-*"
RULES = ("arn:{p}:events:{r}:{a}:rule/{n}-*", "arn:{p}:events:{r}:{a}:rule/{n}-events/*")
EVENT_BUS = "arn:{p}:events:{r}:{a}:event-bus/{n}-*"
TABLE = "arn:{p}:dynamodb:{r}:{a}:table/{n}-*"
TOPIC = "arn:{p}:sns:{r}:{a}:{n}-*"
QUEUE = "arn:{p}:sqs:{r}:{a}:{n}-*"
KEYS = "arn:{p}:kms:{r}:{a}:key/*"  # a key's id is AWS's choice
KEY_ALIAS = "arn:{p}:kms:{r}:{a}:alias/{n}-*"
PARAMETERS = "arn:{p}:ssm:{r}:{a}:parameter/{path}/*"
PROJECT = "arn:{p}:rekognition:{r}:{a}:project/{n}-*"
ALARMS = "arn:{p}:cloudwatch:{r}:{a}:alarm:{n}-*"
DASHBOARD = "arn:{p}:cloudwatch::{a}:dashboard/{n}*"
USER_POOLS = "arn:{p}:cognito-idp:{r}:{a}:userpool/*"  # a pool's id is AWS's choice

# Setting up CloudWatch Logs delivery (a state machine's logging, the HTTP API's access logs) is
# authorized on no resource: AWS documents these actions with "Resource": "*".
LOG_DELIVERY = on(UNSCOPED, "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
                  "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
                  "logs:DescribeResourcePolicies", "logs:DescribeLogGroups")
PASS_ROLE = on(ROLE, "iam:PassRole")  # a function's, a state machine's, a rule's, the flow definition's role
S3_TAGGED = ("s3:GetBucketTagging", "s3:PutBucketTagging")

# The reviewers in a Cognito user pool the stack creates (components/reviewers.py), for any backend
# that has one.
REVIEWER_POOL: dict[str, tuple[Access, ...]] = {
    "aws:cognito/userPool:UserPool": (on(UNSCOPED, "cognito-idp:CreateUserPool"),
                                      on(USER_POOLS, "cognito-idp:DescribeUserPool", "cognito-idp:UpdateUserPool",
                                         "cognito-idp:DeleteUserPool", "cognito-idp:GetUserPoolMfaConfig",
                                         "cognito-idp:SetUserPoolMfaConfig", "cognito-idp:ListTagsForResource",
                                         "cognito-idp:TagResource", "cognito-idp:UntagResource")),
    "aws:cognito/userGroup:UserGroup": (on(USER_POOLS, "cognito-idp:CreateGroup", "cognito-idp:GetGroup",
                                           "cognito-idp:UpdateGroup", "cognito-idp:DeleteGroup"),),
    "aws:cognito/userPoolClient:UserPoolClient": (on(USER_POOLS, "cognito-idp:CreateUserPoolClient",
                                                     "cognito-idp:DescribeUserPoolClient",
                                                     "cognito-idp:UpdateUserPoolClient",
                                                     "cognito-idp:DeleteUserPoolClient"),),
    "aws:cognito/userPoolDomain:UserPoolDomain": (on(UNSCOPED, "cognito-idp:DescribeUserPoolDomain"),
                                                  on(USER_POOLS, "cognito-idp:CreateUserPoolDomain",
                                                     "cognito-idp:UpdateUserPoolDomain",
                                                     "cognito-idp:DeleteUserPoolDomain")),
    "aws:cognito/user:User": (on(USER_POOLS, "cognito-idp:AdminCreateUser", "cognito-idp:AdminGetUser",
                                 "cognito-idp:AdminUpdateUserAttributes", "cognito-idp:AdminDeleteUser"),),
    "aws:cognito/userInGroup:UserInGroup": (on(USER_POOLS, "cognito-idp:AdminAddUserToGroup",
                                               "cognito-idp:AdminRemoveUserFromGroup",
                                               "cognito-idp:AdminListGroupsForUser"),),
}
