"""Storage: the data bucket, the state table, the notification topic and the
dead-letter queue every asynchronous path ends in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import pulumi
import pulumi_aws as aws

from components import iam
from components.naming import Account, Naming
from handlers.runtime import layout
from handlers.runtime.state import KEY_SCHEMA

# Uploads for detection and A2I output are working data: kept long enough for a review
# (a task stays available up to 10 days) and for images waiting for a first model.
WORKING_DATA_DAYS = 90
NONCURRENT_WORKING_DAYS = 7
NONCURRENT_DAYS = 30  # an overwritten or deleted training image can be restored for this long
ABORT_MULTIPART_DAYS = 7
DEAD_LETTER_RETENTION_SECONDS = 14 * 24 * 3600
# What administering the topic's key takes (no "kms:*": using the key is granted separately).
KEY_ADMINISTRATION = (
    "kms:CancelKeyDeletion", "kms:CreateAlias", "kms:DeleteAlias", "kms:DescribeKey", "kms:DisableKey",
    "kms:DisableKeyRotation", "kms:EnableKey", "kms:EnableKeyRotation", "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus", "kms:ListResourceTags", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion",
    "kms:TagResource", "kms:UntagResource", "kms:UpdateAlias", "kms:UpdateKeyDescription",
)
KEY_USE = ("kms:Decrypt", "kms:GenerateDataKey")


@dataclass
class StorageArgs:
    naming: Naming
    account: pulumi.Output[Account]
    notification_email: str | None = None
    cors_rules: tuple[Mapping[str, Any], ...] = ()  # what the review backend needs (aws.s3 CORS rule arguments)


class Storage(pulumi.ComponentResource):
    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    table_name: pulumi.Output[str]
    table_arn: pulumi.Output[str]
    topic_arn: pulumi.Output[str]
    dead_letter_queue_arn: pulumi.Output[str]
    dead_letter_queue_name: pulumi.Output[str]

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("labelloop:index:Storage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        # -- the bucket ----------------------------------------------------------------
        self.bucket = aws.s3.Bucket(f"{name}-data", force_destroy=False, opts=child)
        self.encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-data-encryption", bucket=self.bucket.id,
            rules=[aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=aws.s3
                .BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                    sse_algorithm="AES256"))],  # S3-managed keys: Rekognition and A2I read without key grants
            opts=child)
        self.public_access_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-data-public-access", bucket=self.bucket.id, block_public_acls=True, block_public_policy=True,
            ignore_public_acls=True, restrict_public_buckets=True, opts=child)
        self.versioning = aws.s3.BucketVersioning(
            f"{name}-data-versioning", bucket=self.bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=child)
        self.lifecycle = aws.s3.BucketLifecycleConfiguration(
            f"{name}-data-lifecycle", bucket=self.bucket.id, rules=self._lifecycle_rules(),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.versioning]))
        # Only the TLS rule: Rekognition Custom Labels reads and writes with the calling function's
        # role, so it needs no statement for rekognition.amazonaws.com ("Set up SDK permissions"),
        # and A2I uses its flow definition's role.
        self.bucket_policy = aws.s3.BucketPolicy(
            f"{name}-data-policy", bucket=self.bucket.id,
            policy=iam.document(self._bucket_statements(self.bucket.arn), self),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.public_access_block]))
        self.cors = None
        if args.cors_rules:
            self.cors = aws.s3.BucketCorsConfiguration(
                f"{name}-data-cors", bucket=self.bucket.id,
                cors_rules=[aws.s3.BucketCorsConfigurationCorsRuleArgs(**rule) for rule in args.cors_rules], opts=child)
        # Object events go to EventBridge, where the rules of components.triggers pick them up.
        self.notification = aws.s3.BucketNotification(f"{name}-data-events", bucket=self.bucket.id,
                                                      eventbridge=True, opts=child)

        # -- state -----------------------------------------------------------------------
        hash_key = next(n for n, _, k in KEY_SCHEMA if k == "HASH")
        range_key = next(n for n, _, k in KEY_SCHEMA if k == "RANGE")
        self.table = aws.dynamodb.Table(
            f"{name}-state", name=args.naming.table, billing_mode="PAY_PER_REQUEST", hash_key=hash_key,
            range_key=range_key, attributes=[aws.dynamodb.TableAttributeArgs(name=n, type=t) for n, t, _ in KEY_SCHEMA],
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True), opts=child)

        # -- notifications -----------------------------------------------------------------
        self.topic_key = aws.kms.Key(
            f"{name}-notifications-key", description=f"Encrypts the {args.naming.prefix} notification topic",
            enable_key_rotation=True, deletion_window_in_days=7,
            policy=iam.document(self._key_statements(args.account), self), opts=child)
        self.topic_key_alias = aws.kms.Alias(f"{name}-notifications-key-alias",
                                             name=f"alias/{args.naming('notifications')}",
                                             target_key_id=self.topic_key.key_id, opts=child)
        self.topic = aws.sns.Topic(f"{name}-notifications", name=args.naming("notifications"),
                                   kms_master_key_id=self.topic_key.arn, opts=child)
        self.subscription = None
        if args.notification_email:
            self.subscription = aws.sns.TopicSubscription(
                f"{name}-notifications-email", topic=self.topic.arn, protocol="email",
                endpoint=args.notification_email, opts=child)

        # -- dead letters ---------------------------------------------------------------------
        self.dead_letter_queue = aws.sqs.Queue(
            f"{name}-dead-letters", name=args.naming("dead-letters"), sqs_managed_sse_enabled=True,
            message_retention_seconds=DEAD_LETTER_RETENTION_SECONDS, opts=child)
        rules = args.account.apply(lambda a: a.rule_arn(f"{args.naming.prefix}-*"))
        self.dead_letter_queue_policy = aws.sqs.QueuePolicy(
            f"{name}-dead-letters-policy", queue_url=self.dead_letter_queue.url,
            policy=iam.document([iam.Statement(
                "EventBridgeRulesOfThisStack", ("sqs:SendMessage",), (self.dead_letter_queue.arn,),
                principals={"Service": ["events.amazonaws.com"]},
                conditions=(iam.Condition("ArnLike", "aws:SourceArn", (rules,)),))], self),
            opts=child)

        self.bucket_name = self.bucket.bucket
        self.bucket_arn = self.bucket.arn
        self.table_name = self.table.name
        self.table_arn = self.table.arn
        self.topic_arn = self.topic.arn
        self.dead_letter_queue_arn = self.dead_letter_queue.arn
        self.dead_letter_queue_name = self.dead_letter_queue.name
        self.register_outputs({
            "bucketName": self.bucket_name, "bucketArn": self.bucket_arn, "tableName": self.table_name,
            "tableArn": self.table_arn, "topicArn": self.topic_arn,
            "deadLetterQueueArn": self.dead_letter_queue_arn,
        })

    @staticmethod
    def _lifecycle_rules() -> list[aws.s3.BucketLifecycleConfigurationRuleArgs]:
        working = [
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id=f"expire-{prefix.rstrip('/')}", status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=prefix),
                expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=WORKING_DATA_DAYS),
                noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                    noncurrent_days=NONCURRENT_WORKING_DAYS))
            for prefix in (layout.DETECTION_PREFIX, layout.REVIEW_OUTPUT_PREFIX)
        ]
        return working + [aws.s3.BucketLifecycleConfigurationRuleArgs(
            id="old-versions-and-unfinished-uploads", status="Enabled",
            filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
            expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(expired_object_delete_marker=True),
            noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                noncurrent_days=NONCURRENT_DAYS),
            abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                days_after_initiation=ABORT_MULTIPART_DAYS))]

    @staticmethod
    def _bucket_statements(bucket_arn: pulumi.Output[str]) -> list[iam.Statement]:
        return [iam.Statement("DenyInsecureTransport", ("s3:*",), (bucket_arn, pulumi.Output.concat(bucket_arn, "/*")),
                              effect="Deny", principals={"*": ["*"]},
                              conditions=(iam.Condition("Bool", "aws:SecureTransport", ("false",)),))]

    @staticmethod
    def _key_statements(account: pulumi.Output[Account]) -> list[iam.Statement]:
        """The topic key: administered by the account; used only through SNS in this
        account (as the AWS managed SNS key is) and by CloudWatch alarms, which cannot
        publish to a topic encrypted with the AWS managed key."""
        account_id = account.apply(lambda a: a.account_id)
        return [
            iam.Statement("AccountAdministersKey", KEY_ADMINISTRATION, ("*",),
                          principals={"AWS": [account.apply(lambda a: f"arn:{a.partition}:iam::{a.account_id}:root")]}),
            iam.Statement("PublishThroughSnsInThisAccount", KEY_USE, ("*",), principals={"AWS": ["*"]},
                          conditions=(iam.Condition("StringEquals", "kms:CallerAccount", (account_id,)),
                                      iam.Condition("StringEquals", "kms:ViaService",
                                                    (account.apply(lambda a: f"sns.{a.region}.amazonaws.com"),)))),
            iam.Statement("CloudWatchAlarmsPublish", KEY_USE, ("*",), principals={"Service": ["cloudwatch.amazonaws.com"]},
                          conditions=(iam.Condition("StringEquals", "aws:SourceAccount", (account_id,)),)),
        ]
