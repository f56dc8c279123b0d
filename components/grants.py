"""What a function may do, as plain descriptions: :class:`Grant` (actions on one kind of this stack's
resources), :class:`FunctionSpec` (a function: handler, purpose, sizing, grants) and the grants
several functions share. The core functions are in :mod:`components.functions`; a review backend
declares its own (``components/review_backends/``).
"""

from __future__ import annotations

from dataclasses import dataclass

from handlers.runtime import layout


@dataclass(frozen=True)
class Grant:
    """Actions on one kind of this stack's resources.

    ``resource`` is one of: ``objects:<prefix>`` (objects under a bucket
    prefix), ``bucket:<prefix>`` (ListBucket limited to a prefix), ``bucket``
    (the bucket itself: its location, its ACL, listing all of it), ``table``,
    ``topic``, ``parameters``, ``project`` (the Rekognition project),
    ``project_versions`` (its model versions), ``state_machine:<name>``, ``event_bus`` (the stack's own
    bus, for labelloop's own events), ``schedule_rule``, or a kind the stack's review backend names
    (``Deployable.resources``: A2I's ``flow_definition``).
    """

    actions: tuple[str, ...]
    resource: str


@dataclass(frozen=True)
class FunctionSpec:
    key: str
    handler: str  # module.function inside the archive
    description: str
    grants: tuple[Grant, ...]
    timeout: int = 30
    memory: int = 256


TABLE_RW = Grant(("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"), "table")
DAY_COUNTS = Grant(("dynamodb:BatchGetItem",), "table")  # a day's counters: its item and every shard of it
PARAMETERS = Grant(("ssm:GetParametersByPath",), "parameters")
PUBLISH = Grant(("sns:Publish",), "topic")
DESCRIBE_VERSIONS = Grant(("rekognition:DescribeProjectVersions",), "project")
# Rekognition Custom Labels reads the training manifest and every image it names, and writes the
# training results, with the S3 access of whoever calls CreateProjectVersion (a bucket policy for
# rekognition.amazonaws.com is no longer used: "Set up SDK permissions"). These are the actions AWS
# documents for a bucket of one's own ("Accessing external Amazon S3 buckets"); the bucket-level
# ones cannot be narrowed to a prefix, since which prefix the service lists is not documented.
CUSTOM_LABELS_BUCKET = ("s3:GetBucketAcl", "s3:GetBucketLocation", "s3:ListBucket")
CUSTOM_LABELS_READS = ("s3:GetObject", "s3:GetObjectAcl", "s3:GetObjectTagging", "s3:GetObjectVersion")
CUSTOM_LABELS_WRITES = ("s3:PutObject",)
# Making the copy an accepted review licenses (review_outcome.complete_copy), in any function that does:
COPY_REVIEWED = (
    # Is the upload still there (without ListBucket a deleted key reads as AccessDenied, not NotFound)?
    # Then the reviewed version is read (a copy reads its source)...
    Grant(("s3:GetObject", "s3:GetObjectVersion"), f"objects:{layout.DETECTION_PREFIX}"),
    Grant(("s3:ListBucket",), f"bucket:{layout.DETECTION_PREFIX}"),
    # ...and written into its label folder or the gate set; a copy withdrawn meanwhile is deleted again.
    Grant(("s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"), f"objects:{layout.TRAINING_PREFIX}"),
    Grant(("s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"), f"objects:{layout.TESTING_PREFIX}"),
    # The claim notes the copy as pending, which its completion deletes (in transactions).
    Grant(("dynamodb:DeleteItem",), "table"),
)
