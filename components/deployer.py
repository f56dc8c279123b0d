"""What the credentials that run ``pulumi up`` (and ``pulumi destroy``) must allow, derived from
the program's resources: for each Pulumi resource type the program creates, the IAM actions the
AWS provider calls to create, read, update, tag and delete one, on the ARNs this stack's resources
have (pure: no pulumi). ``labelloop deployer-policy`` renders them; the tests run the program under
Pulumi's mocks and hold every resource it registers, and its ARN, to this table, and every action
to IAM's and botocore's lists.

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


def _on(resources: str | tuple[str, ...], *actions: str) -> Access:
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
APIS = ("arn:{p}:apigateway:{r}::/apis", "arn:{p}:apigateway:{r}::/apis/*", "arn:{p}:apigateway:{r}::/tags/*")
FLOW = ("arn:{p}:sagemaker:{r}:{a}:flow-definition/{n}-*", "arn:{p}:sagemaker:{r}:{a}:human-task-ui/{n}-*")
WORKFORCE = ("arn:{p}:sagemaker:{r}:{a}:workforce/{n}-*", "arn:{p}:sagemaker:{r}:{a}:workteam/private-crowd/*")

# Setting up CloudWatch Logs delivery (a state machine's logging, the HTTP API's access logs) is
# authorized on no resource: AWS documents these actions with "Resource": "*".
LOG_DELIVERY = _on(UNSCOPED, "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
                   "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
                   "logs:DescribeResourcePolicies", "logs:DescribeLogGroups")
PASS_ROLE = _on(ROLE, "iam:PassRole")  # a function's, a state machine's, a rule's, the flow definition's role
S3_TAGGED = ("s3:GetBucketTagging", "s3:PutBucketTagging")

RESOURCE_ACCESS: dict[str, tuple[Access, ...]] = {
    # -- storage ---------------------------------------------------------------------------------
    "aws:s3/bucket:Bucket": (_on(BUCKET, "s3:CreateBucket", "s3:DeleteBucket", "s3:ListBucket", "s3:GetBucketLocation",
                                 "s3:GetBucketPolicy", "s3:GetBucketAcl", "s3:GetBucketCORS", "s3:GetBucketWebsite",
                                 "s3:GetBucketVersioning", "s3:GetAccelerateConfiguration",
                                 "s3:GetBucketRequestPayment", "s3:GetBucketLogging", "s3:GetLifecycleConfiguration",
                                 "s3:GetReplicationConfiguration", "s3:GetEncryptionConfiguration",
                                 "s3:GetBucketObjectLockConfiguration", *S3_TAGGED),),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        _on(BUCKET, "s3:PutEncryptionConfiguration", "s3:GetEncryptionConfiguration"),),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": (
        _on(BUCKET, "s3:PutBucketPublicAccessBlock", "s3:GetBucketPublicAccessBlock"),),
    "aws:s3/bucketVersioning:BucketVersioning": (_on(BUCKET, "s3:PutBucketVersioning", "s3:GetBucketVersioning"),),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": (
        _on(BUCKET, "s3:PutLifecycleConfiguration", "s3:GetLifecycleConfiguration"),),
    "aws:s3/bucketPolicy:BucketPolicy": (_on(BUCKET, "s3:PutBucketPolicy", "s3:GetBucketPolicy", "s3:DeleteBucketPolicy"),),
    "aws:s3/bucketCorsConfiguration:BucketCorsConfiguration": (_on(BUCKET, "s3:PutBucketCORS", "s3:GetBucketCORS"),),
    "aws:s3/bucketNotification:BucketNotification": (
        _on(BUCKET, "s3:PutBucketNotification", "s3:GetBucketNotification"),),
    "aws:dynamodb/table:Table": (_on(TABLE, "dynamodb:CreateTable", "dynamodb:DescribeTable", "dynamodb:UpdateTable",
                                     "dynamodb:DeleteTable", "dynamodb:DescribeContinuousBackups",
                                     "dynamodb:UpdateContinuousBackups", "dynamodb:DescribeTimeToLive",
                                     "dynamodb:ListTagsOfResource", "dynamodb:TagResource", "dynamodb:UntagResource"),),
    "aws:kms/key:Key": (_on(UNSCOPED, "kms:CreateKey"),
                        _on(KEYS, "kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy",
                            "kms:GetKeyRotationStatus", "kms:EnableKeyRotation", "kms:UpdateKeyDescription",
                            "kms:ListResourceTags", "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion")),
    "aws:kms/alias:Alias": (_on(UNSCOPED, "kms:ListAliases"),
                            _on((KEY_ALIAS, KEYS), "kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias")),
    "aws:sns/topic:Topic": (_on(TOPIC, "sns:CreateTopic", "sns:GetTopicAttributes", "sns:SetTopicAttributes",
                                "sns:DeleteTopic", "sns:ListTagsForResource", "sns:TagResource", "sns:UntagResource"),
                            # The topic is encrypted with the stack's key: creating it checks the key.
                            _on(KEYS, "kms:GenerateDataKey", "kms:Decrypt")),
    # A subscription's ARN starts with its topic's.
    "aws:sns/topicSubscription:TopicSubscription": (_on(TOPIC, "sns:Subscribe", "sns:Unsubscribe",
                                                        "sns:GetSubscriptionAttributes",
                                                        "sns:SetSubscriptionAttributes"),),
    "aws:sqs/queue:Queue": (_on(QUEUE, "sqs:CreateQueue", "sqs:GetQueueAttributes", "sqs:SetQueueAttributes",
                                "sqs:DeleteQueue", "sqs:ListQueueTags", "sqs:TagQueue", "sqs:UntagQueue"),),
    "aws:sqs/queuePolicy:QueuePolicy": (_on(QUEUE, "sqs:SetQueueAttributes", "sqs:GetQueueAttributes"),),
    "aws:ssm/parameter:Parameter": (_on(PARAMETERS, "ssm:PutParameter", "ssm:GetParameter", "ssm:GetParameters",
                                        "ssm:DeleteParameter", "ssm:AddTagsToResource", "ssm:RemoveTagsFromResource",
                                        "ssm:ListTagsForResource"),
                                    _on(UNSCOPED, "ssm:DescribeParameters")),
    # -- compute and wiring -----------------------------------------------------------------------
    "aws:iam/role:Role": (_on(ROLE, "iam:CreateRole", "iam:GetRole", "iam:UpdateRole", "iam:UpdateAssumeRolePolicy",
                              "iam:DeleteRole", "iam:TagRole", "iam:UntagRole", "iam:ListRolePolicies",
                              "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole"),),
    "aws:iam/rolePolicy:RolePolicy": (_on(ROLE, "iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy"),),
    "aws:lambda/function:Function": (_on(FUNCTION, "lambda:CreateFunction", "lambda:GetFunction",
                                         "lambda:GetFunctionConfiguration", "lambda:UpdateFunctionCode",
                                         "lambda:UpdateFunctionConfiguration", "lambda:DeleteFunction",
                                         "lambda:ListVersionsByFunction", "lambda:GetFunctionCodeSigningConfig",
                                         "lambda:GetRuntimeManagementConfig", "lambda:GetFunctionRecursionConfig",
                                         "lambda:ListTags", "lambda:TagResource", "lambda:UntagResource"),
                                     PASS_ROLE),
    "aws:lambda/permission:Permission": (_on(FUNCTION, "lambda:AddPermission", "lambda:RemovePermission",
                                             "lambda:GetPolicy"),),
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": (
        _on(FUNCTION, "lambda:PutFunctionEventInvokeConfig", "lambda:GetFunctionEventInvokeConfig",
            "lambda:UpdateFunctionEventInvokeConfig", "lambda:DeleteFunctionEventInvokeConfig"),),
    "aws:cloudwatch/logGroup:LogGroup": (_on(LOG_GROUPS, "logs:CreateLogGroup", "logs:DeleteLogGroup",
                                             "logs:PutRetentionPolicy", "logs:ListTagsForResource",
                                             "logs:TagResource", "logs:UntagResource"),
                                         _on(UNSCOPED, "logs:DescribeLogGroups")),
    "aws:sfn/stateMachine:StateMachine": (_on(STATE_MACHINE, "states:CreateStateMachine", "states:DescribeStateMachine",
                                              "states:UpdateStateMachine", "states:DeleteStateMachine",
                                              "states:ListStateMachineVersions", "states:ListTagsForResource",
                                              "states:TagResource", "states:UntagResource"),
                                          PASS_ROLE, LOG_DELIVERY),
    "aws:cloudwatch/eventRule:EventRule": (_on(RULES, "events:PutRule", "events:DescribeRule", "events:DeleteRule",
                                               "events:EnableRule", "events:DisableRule", "events:ListTagsForResource",
                                               "events:TagResource", "events:UntagResource"),),
    "aws:cloudwatch/eventTarget:EventTarget": (_on(RULES, "events:PutTargets", "events:RemoveTargets",
                                                   "events:ListTargetsByRule"), PASS_ROLE),
    "aws:cloudwatch/eventBus:EventBus": (_on(EVENT_BUS, "events:CreateEventBus", "events:DescribeEventBus",
                                             "events:UpdateEventBus", "events:DeleteEventBus",
                                             "events:ListTagsForResource", "events:TagResource",
                                             "events:UntagResource"),),
    "aws:rekognition/project:Project": (_on(UNSCOPED, "rekognition:CreateProject", "rekognition:DescribeProjects"),
                                        _on(PROJECT, "rekognition:DeleteProject", "rekognition:ListTagsForResource",
                                            "rekognition:TagResource", "rekognition:UntagResource")),
    # -- observability ------------------------------------------------------------------------------
    "aws:cloudwatch/metricAlarm:MetricAlarm": (_on(ALARMS, "cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms",
                                                   "cloudwatch:DeleteAlarms", "cloudwatch:ListTagsForResource",
                                                   "cloudwatch:TagResource", "cloudwatch:UntagResource"),),
    "aws:cloudwatch/dashboard:Dashboard": (_on(DASHBOARD, "cloudwatch:PutDashboard", "cloudwatch:GetDashboard",
                                               "cloudwatch:DeleteDashboards"),),
    # -- the review app ---------------------------------------------------------------------------
    "aws:apigatewayv2/api:Api": (_on(APIS, "apigateway:POST", "apigateway:GET", "apigateway:PATCH",
                                     "apigateway:DELETE"),),
    "aws:apigatewayv2/authorizer:Authorizer": (_on(APIS, "apigateway:POST", "apigateway:GET", "apigateway:PATCH",
                                                   "apigateway:DELETE"),),
    "aws:apigatewayv2/integration:Integration": (_on(APIS, "apigateway:POST", "apigateway:GET", "apigateway:PATCH",
                                                     "apigateway:DELETE"),),
    "aws:apigatewayv2/route:Route": (_on(APIS, "apigateway:POST", "apigateway:GET", "apigateway:PATCH",
                                         "apigateway:DELETE"),),
    "aws:apigatewayv2/stage:Stage": (_on(APIS, "apigateway:POST", "apigateway:GET", "apigateway:PATCH",
                                         "apigateway:DELETE"), LOG_DELIVERY),
    "aws:cognito/userPool:UserPool": (_on(UNSCOPED, "cognito-idp:CreateUserPool"),
                                      _on(USER_POOLS, "cognito-idp:DescribeUserPool", "cognito-idp:UpdateUserPool",
                                          "cognito-idp:DeleteUserPool", "cognito-idp:GetUserPoolMfaConfig",
                                          "cognito-idp:SetUserPoolMfaConfig", "cognito-idp:ListTagsForResource",
                                          "cognito-idp:TagResource", "cognito-idp:UntagResource")),
    "aws:cognito/userGroup:UserGroup": (_on(USER_POOLS, "cognito-idp:CreateGroup", "cognito-idp:GetGroup",
                                            "cognito-idp:UpdateGroup", "cognito-idp:DeleteGroup"),),
    "aws:cognito/userPoolClient:UserPoolClient": (_on(USER_POOLS, "cognito-idp:CreateUserPoolClient",
                                                      "cognito-idp:DescribeUserPoolClient",
                                                      "cognito-idp:UpdateUserPoolClient",
                                                      "cognito-idp:DeleteUserPoolClient"),),
    "aws:cognito/userPoolDomain:UserPoolDomain": (_on(UNSCOPED, "cognito-idp:DescribeUserPoolDomain"),
                                                  _on(USER_POOLS, "cognito-idp:CreateUserPoolDomain",
                                                      "cognito-idp:UpdateUserPoolDomain",
                                                      "cognito-idp:DeleteUserPoolDomain")),
    "aws:cognito/managedLoginBranding:ManagedLoginBranding": (
        _on(USER_POOLS, "cognito-idp:CreateManagedLoginBranding", "cognito-idp:DescribeManagedLoginBranding",
            "cognito-idp:UpdateManagedLoginBranding", "cognito-idp:DeleteManagedLoginBranding"),),
    "aws:cognito/user:User": (_on(USER_POOLS, "cognito-idp:AdminCreateUser", "cognito-idp:AdminGetUser",
                                  "cognito-idp:AdminUpdateUserAttributes", "cognito-idp:AdminDeleteUser"),),
    "aws:cognito/userInGroup:UserInGroup": (_on(USER_POOLS, "cognito-idp:AdminAddUserToGroup",
                                                "cognito-idp:AdminRemoveUserFromGroup",
                                                "cognito-idp:AdminListGroupsForUser"),),
    # -- A2I (review: a2i) -----------------------------------------------------------------------------
    "aws:sagemaker/humanTaskUI:HumanTaskUI": (_on(FLOW, "sagemaker:CreateHumanTaskUi", "sagemaker:DescribeHumanTaskUi",
                                                  "sagemaker:DeleteHumanTaskUi", "sagemaker:AddTags",
                                                  "sagemaker:ListTags", "sagemaker:DeleteTags"),),
    "aws:sagemaker/flowDefinition:FlowDefinition": (_on(FLOW, "sagemaker:CreateFlowDefinition",
                                                        "sagemaker:DescribeFlowDefinition",
                                                        "sagemaker:DeleteFlowDefinition", "sagemaker:AddTags",
                                                        "sagemaker:ListTags", "sagemaker:DeleteTags"),
                                                    _on(WORKFORCE, "sagemaker:DescribeWorkteam"), PASS_ROLE),
    "aws:sagemaker/workforce:Workforce": (_on(WORKFORCE, "sagemaker:CreateWorkforce", "sagemaker:DescribeWorkforce",
                                              "sagemaker:UpdateWorkforce", "sagemaker:DeleteWorkforce"),
                                          _on(USER_POOLS, "cognito-idp:DescribeUserPool",
                                              "cognito-idp:DescribeUserPoolClient")),
    "aws:sagemaker/workteam:Workteam": (_on(WORKFORCE, "sagemaker:CreateWorkteam", "sagemaker:DescribeWorkteam",
                                            "sagemaker:UpdateWorkteam", "sagemaker:DeleteWorkteam",
                                            "sagemaker:AddTags", "sagemaker:ListTags", "sagemaker:DeleteTags"),),
}

# The program's own reads (Pulumi invokes): the account it deploys to. The region and partition
# come from the provider's configuration; policy documents are rendered locally.
INVOKE_ACCESS: dict[str, tuple[Access, ...]] = {
    "aws:index/getCallerIdentity:getCallerIdentity": (_on(UNSCOPED, "sts:GetCallerIdentity"),),
    "aws:index/getRegion:getRegion": (),
    "aws:index/getPartition:getPartition": (),
    "aws:iam/getPolicyDocument:getPolicyDocument": (),
}

# Tearing down before `pulumi destroy` (docs/deploying.md): Rekognition deletes no project that still
# has versions, and S3 no bucket that still holds objects (every version of them).
TEARDOWN_ACCESS = (
    _on("arn:{p}:rekognition:{r}:{a}:project/{n}-*/version/*", "rekognition:DeleteProjectVersion"),
    _on(PROJECT, "rekognition:DescribeProjectVersions"),
    _on(BUCKET, "s3:ListBucketVersions"),
    _on("arn:{p}:s3:::{n}-*/*", "s3:DeleteObject", "s3:DeleteObjectVersion"),
)

# The resource types a stack creates only with one review backend (components/loop.py).
A2I_ONLY = ("aws:sagemaker/", "aws:s3/bucketCorsConfiguration:")
BUILTIN_ONLY = ("aws:apigatewayv2/", "aws:cognito/managedLoginBranding:")


def deploy_access(review_backend: str | None = None) -> list[Access]:
    """Everything ``pulumi up`` and ``pulumi destroy`` need (the teardown before it included), for one
    review backend (None: both)."""
    skipped = {"builtin": A2I_ONLY, "a2i": BUILTIN_ONLY}.get(review_backend or "", ())
    found = [access for typ, accesses in RESOURCE_ACCESS.items() if not typ.startswith(skipped) for access in accesses]
    return found + [access for accesses in INVOKE_ACCESS.values() for access in accesses] + list(TEARDOWN_ACCESS)
