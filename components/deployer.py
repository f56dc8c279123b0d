"""What the credentials that run ``pulumi up`` (and ``pulumi destroy``) must allow, derived from
the program's resources: for each Pulumi resource type the program creates, the IAM actions the
AWS provider calls to create, read, update, tag and delete one, on the ARNs this stack's resources
have (pure: no pulumi). ``labelloop deployer-policy`` renders them; the tests run the program under
Pulumi's mocks and hold every resource it registers, and its ARN, to this table, and every action
to IAM's and botocore's lists.

The ARN templates and :class:`Access` are in :mod:`components.deploy_access`; each review backend
declares the access its own resource types take (``Deployable.resource_access``).
"""

from __future__ import annotations

from components.deploy_access import (ALARMS, BUCKET, DASHBOARD, EVENT_BUS, FUNCTION, KEY_ALIAS, KEYS, LOG_DELIVERY,
                                      LOG_GROUPS, PARAMETERS, PASS_ROLE, PROJECT, QUEUE, ROLE, RULES, S3_TAGGED,
                                      STATE_MACHINE, TABLE, TOPIC, UNSCOPED, Access, on)
from components.review_backends import Deployable, deployable, every_backend

CORE_ACCESS: dict[str, tuple[Access, ...]] = {
    # -- storage ---------------------------------------------------------------------------------
    "aws:s3/bucket:Bucket": (on(BUCKET, "s3:CreateBucket", "s3:DeleteBucket", "s3:ListBucket", "s3:GetBucketLocation",
                                "s3:GetBucketPolicy", "s3:GetBucketAcl", "s3:GetBucketCORS", "s3:GetBucketWebsite",
                                "s3:GetBucketVersioning", "s3:GetAccelerateConfiguration",
                                "s3:GetBucketRequestPayment", "s3:GetBucketLogging", "s3:GetLifecycleConfiguration",
                                "s3:GetReplicationConfiguration", "s3:GetEncryptionConfiguration",
                                "s3:GetBucketObjectLockConfiguration", *S3_TAGGED),),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        on(BUCKET, "s3:PutEncryptionConfiguration", "s3:GetEncryptionConfiguration"),),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": (
        on(BUCKET, "s3:PutBucketPublicAccessBlock", "s3:GetBucketPublicAccessBlock"),),
    "aws:s3/bucketVersioning:BucketVersioning": (on(BUCKET, "s3:PutBucketVersioning", "s3:GetBucketVersioning"),),
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": (
        on(BUCKET, "s3:PutLifecycleConfiguration", "s3:GetLifecycleConfiguration"),),
    "aws:s3/bucketPolicy:BucketPolicy": (on(BUCKET, "s3:PutBucketPolicy", "s3:GetBucketPolicy", "s3:DeleteBucketPolicy"),),
    "aws:s3/bucketNotification:BucketNotification": (
        on(BUCKET, "s3:PutBucketNotification", "s3:GetBucketNotification"),),
    "aws:dynamodb/table:Table": (on(TABLE, "dynamodb:CreateTable", "dynamodb:DescribeTable", "dynamodb:UpdateTable",
                                    "dynamodb:DeleteTable", "dynamodb:DescribeContinuousBackups",
                                    "dynamodb:UpdateContinuousBackups", "dynamodb:DescribeTimeToLive",
                                    "dynamodb:ListTagsOfResource", "dynamodb:TagResource", "dynamodb:UntagResource"),),
    "aws:kms/key:Key": (on(UNSCOPED, "kms:CreateKey"),
                        on(KEYS, "kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy",
                           "kms:GetKeyRotationStatus", "kms:EnableKeyRotation", "kms:UpdateKeyDescription",
                           "kms:ListResourceTags", "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion")),
    "aws:kms/alias:Alias": (on(UNSCOPED, "kms:ListAliases"),
                            on((KEY_ALIAS, KEYS), "kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias")),
    "aws:sns/topic:Topic": (on(TOPIC, "sns:CreateTopic", "sns:GetTopicAttributes", "sns:SetTopicAttributes",
                               "sns:DeleteTopic", "sns:ListTagsForResource", "sns:TagResource", "sns:UntagResource"),
                            # The topic is encrypted with the stack's key: creating it checks the key.
                            on(KEYS, "kms:GenerateDataKey", "kms:Decrypt")),
    # A subscription's ARN starts with its topic's.
    "aws:sns/topicSubscription:TopicSubscription": (on(TOPIC, "sns:Subscribe", "sns:Unsubscribe",
                                                       "sns:GetSubscriptionAttributes",
                                                       "sns:SetSubscriptionAttributes"),),
    "aws:sqs/queue:Queue": (on(QUEUE, "sqs:CreateQueue", "sqs:GetQueueAttributes", "sqs:SetQueueAttributes",
                               "sqs:DeleteQueue", "sqs:ListQueueTags", "sqs:TagQueue", "sqs:UntagQueue"),),
    "aws:sqs/queuePolicy:QueuePolicy": (on(QUEUE, "sqs:SetQueueAttributes", "sqs:GetQueueAttributes"),),
    "aws:ssm/parameter:Parameter": (on(PARAMETERS, "ssm:PutParameter", "ssm:GetParameter", "ssm:GetParameters",
                                       "ssm:DeleteParameter", "ssm:AddTagsToResource", "ssm:RemoveTagsFromResource",
                                       "ssm:ListTagsForResource"),
                                    on(UNSCOPED, "ssm:DescribeParameters")),
    # -- compute and wiring -----------------------------------------------------------------------
    "aws:iam/role:Role": (on(ROLE, "iam:CreateRole", "iam:GetRole", "iam:UpdateRole", "iam:UpdateAssumeRolePolicy",
                             "iam:DeleteRole", "iam:TagRole", "iam:UntagRole", "iam:ListRolePolicies",
                             "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole"),),
    "aws:iam/rolePolicy:RolePolicy": (on(ROLE, "iam:PutRolePolicy", "iam:GetRolePolicy", "iam:DeleteRolePolicy"),),
    "aws:lambda/function:Function": (on(FUNCTION, "lambda:CreateFunction", "lambda:GetFunction",
                                        "lambda:GetFunctionConfiguration", "lambda:UpdateFunctionCode",
                                        "lambda:UpdateFunctionConfiguration", "lambda:DeleteFunction",
                                        "lambda:ListVersionsByFunction", "lambda:GetFunctionCodeSigningConfig",
                                        "lambda:GetRuntimeManagementConfig", "lambda:GetFunctionRecursionConfig",
                                        "lambda:ListTags", "lambda:TagResource", "lambda:UntagResource"),
                                     PASS_ROLE),
    "aws:lambda/permission:Permission": (on(FUNCTION, "lambda:AddPermission", "lambda:RemovePermission",
                                            "lambda:GetPolicy"),),
    "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig": (
        on(FUNCTION, "lambda:PutFunctionEventInvokeConfig", "lambda:GetFunctionEventInvokeConfig",
           "lambda:UpdateFunctionEventInvokeConfig", "lambda:DeleteFunctionEventInvokeConfig"),),
    "aws:cloudwatch/logGroup:LogGroup": (on(LOG_GROUPS, "logs:CreateLogGroup", "logs:DeleteLogGroup",
                                            "logs:PutRetentionPolicy", "logs:ListTagsForResource",
                                            "logs:TagResource", "logs:UntagResource"),
                                         on(UNSCOPED, "logs:DescribeLogGroups")),
    "aws:sfn/stateMachine:StateMachine": (on(STATE_MACHINE, "states:CreateStateMachine", "states:DescribeStateMachine",
                                             "states:UpdateStateMachine", "states:DeleteStateMachine",
                                             "states:ListStateMachineVersions", "states:ListTagsForResource",
                                             "states:TagResource", "states:UntagResource"),
                                          PASS_ROLE, LOG_DELIVERY),
    "aws:cloudwatch/eventRule:EventRule": (on(RULES, "events:PutRule", "events:DescribeRule", "events:DeleteRule",
                                              "events:EnableRule", "events:DisableRule", "events:ListTagsForResource",
                                              "events:TagResource", "events:UntagResource"),),
    "aws:cloudwatch/eventTarget:EventTarget": (on(RULES, "events:PutTargets", "events:RemoveTargets",
                                                  "events:ListTargetsByRule"), PASS_ROLE),
    "aws:cloudwatch/eventBus:EventBus": (on(EVENT_BUS, "events:CreateEventBus", "events:DescribeEventBus",
                                            "events:UpdateEventBus", "events:DeleteEventBus",
                                            "events:ListTagsForResource", "events:TagResource",
                                            "events:UntagResource"),),
    "aws:rekognition/project:Project": (on(UNSCOPED, "rekognition:CreateProject", "rekognition:DescribeProjects"),
                                        on(PROJECT, "rekognition:DeleteProject", "rekognition:ListTagsForResource",
                                           "rekognition:TagResource", "rekognition:UntagResource")),
    # -- observability ------------------------------------------------------------------------------
    "aws:cloudwatch/metricAlarm:MetricAlarm": (on(ALARMS, "cloudwatch:PutMetricAlarm", "cloudwatch:DescribeAlarms",
                                                  "cloudwatch:DeleteAlarms", "cloudwatch:ListTagsForResource",
                                                  "cloudwatch:TagResource", "cloudwatch:UntagResource"),),
    "aws:cloudwatch/dashboard:Dashboard": (on(DASHBOARD, "cloudwatch:PutDashboard", "cloudwatch:GetDashboard",
                                              "cloudwatch:DeleteDashboards"),),
}

# The program's own reads (Pulumi invokes): the account it deploys to. The region and partition
# come from the provider's configuration; policy documents are rendered locally.
INVOKE_ACCESS: dict[str, tuple[Access, ...]] = {
    "aws:index/getCallerIdentity:getCallerIdentity": (on(UNSCOPED, "sts:GetCallerIdentity"),),
    "aws:index/getRegion:getRegion": (),
    "aws:index/getPartition:getPartition": (),
    "aws:iam/getPolicyDocument:getPolicyDocument": (),
}

# Tearing down before `pulumi destroy` (docs/deploying.md): Rekognition deletes no project that still
# has versions, and S3 no bucket that still holds objects (every version of them).
TEARDOWN_ACCESS = (
    on("arn:{p}:rekognition:{r}:{a}:project/{n}-*/version/*", "rekognition:DeleteProjectVersion"),
    on(PROJECT, "rekognition:DescribeProjectVersions"),
    on(BUCKET, "s3:ListBucketVersions"),
    on("arn:{p}:s3:::{n}-*/*", "s3:DeleteObject", "s3:DeleteObjectVersion"),
)

# The bucket's CORS configuration, created when the stack's review backend asks for CORS rules.
CORS_ACCESS: dict[str, tuple[Access, ...]] = {
    "aws:s3/bucketCorsConfiguration:BucketCorsConfiguration": (on(BUCKET, "s3:PutBucketCORS", "s3:GetBucketCORS"),),
}


def backend_access(backend: Deployable) -> dict[str, tuple[Access, ...]]:
    """What deploying a review backend's own resources takes."""
    return dict(backend.resource_access) | (CORS_ACCESS if backend.cors_rules else {})


# Every resource type any stack may create, with what deploying one takes.
RESOURCE_ACCESS: dict[str, tuple[Access, ...]] = CORE_ACCESS | CORS_ACCESS | {
    typ: accesses for backend in every_backend() for typ, accesses in backend.resource_access.items()}


def deploy_access(review_backend: str | None = None) -> list[Access]:
    """Everything ``pulumi up`` and ``pulumi destroy`` need (the teardown before it included), for one
    review backend (None: every registered one)."""
    backends = every_backend() if review_backend is None else [deployable(review_backend)]
    types = CORE_ACCESS | {typ: accesses for backend in backends for typ, accesses in backend_access(backend).items()}
    found = [access for accesses in types.values() for access in accesses]
    return found + [access for accesses in INVOKE_ACCESS.values() for access in accesses] + list(TEARDOWN_ACCESS)
