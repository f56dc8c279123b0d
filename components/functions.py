"""The Lambda functions of the loop, as plain descriptions: handler, purpose,
sizing and exactly the AWS actions the handler calls.

The Pulumi program creates one function and one role per entry (the role gets
``grants``, scoped to this stack's resources); the sandbox registers the same
handlers in moto. :data:`CORE` are every stack's; a review backend declares its
own and what the core functions calling it need (``components/review_backends/``):
a stack deploys :func:`deployed_functions`, and :data:`FUNCTIONS` is every
function of every registered backend, with every grant any of them adds.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable

from components.grants import (COPY_REVIEWED, CUSTOM_LABELS_BUCKET, CUSTOM_LABELS_READS, CUSTOM_LABELS_WRITES,
                               DAY_COUNTS, DESCRIBE_VERSIONS, PARAMETERS, PUBLISH, TABLE_RW, FunctionSpec, Grant)
from components.review_backends import Deployable, deployable, every_backend
from handlers.runtime import layout


# Detecting an image (the detect function; the serving function's drain of the waiting images):
DETECT_GRANTS = (
    # DetectCustomLabels reads the image (the uploaded version) with this role's S3 access.
    Grant(("s3:GetObject", "s3:GetObjectVersion"), f"objects:{layout.DETECTION_PREFIX}"),
    Grant(("rekognition:DetectCustomLabels",), "project_versions"),
    # The review decision's parameters, by name: one call for up to ten (the whole path takes a page per ten).
    TABLE_RW, Grant(("ssm:GetParameters",), "parameters"), PUBLISH,
    # A replayed detection removes its pending item; one done at last, its failure.
    Grant(("dynamodb:DeleteItem",), "table"),
    # An image waits (no model runs, or it is at capacity): an event asks the serving function at once.
    Grant(("events:PutEvents",), "event_bus"),
)
# Opening a review (the start_review function; the drain, for the images it detects), besides what the
# review backend's own call needs (OPENS below):
START_REVIEW_GRANTS = (
    TABLE_RW,
    Grant(("dynamodb:DeleteItem",), "table"),  # a start that failed before, done at last: not failed any more
    PARAMETERS,  # a review app task's reviewers and lifetime
)

CORE: dict[str, FunctionSpec] = {f.key: f for f in [
    # -- detection and review ---------------------------------------------------
    # The detection workflow's three functions: their timeouts bound its Express run (five minutes).
    FunctionSpec("detect", "handlers.detect.handler", "Classify an uploaded image and record the review decision", (
        *DETECT_GRANTS,
        # An event with several records: each gets a detection of its own.
        Grant(("states:StartExecution",), "state_machine:detection"),
    ), timeout=20),
    FunctionSpec("start_review", "handlers.start_review.handler",
                 "Open the review of a detection with the stack's review backend", START_REVIEW_GRANTS,
                 timeout=15),
    FunctionSpec("detection_failed", "handlers.detection_failed.handler", "Record a detection that failed", (
        TABLE_RW, PUBLISH), timeout=15),
    FunctionSpec("training_data", "handlers.training_data.handler", "Count training images per label", (
        Grant(("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"), "table"),
        # A delete event: is the key's current image still there (only an older version deleted)?
        # Without ListBucket a missing key reads as AccessDenied instead of NotFound.
        Grant(("s3:GetObject",), f"objects:{layout.TRAINING_PREFIX}"),
        Grant(("s3:ListBucket",), f"bucket:{layout.TRAINING_PREFIX}"))),
    FunctionSpec("dataset", "handlers.dataset.handler",
                 "Forget the images their uploaders deleted; make the copies accepted reviews left unmade", (
        *COPY_REVIEWED, TABLE_RW, PUBLISH,
        # The versions of a deleted upload (which detections it had), and of a copy, to delete them all.
        Grant(("s3:ListBucketVersions",), f"bucket:{layout.DETECTION_PREFIX}"),
        Grant(("s3:ListBucketVersions",), f"bucket:{layout.TRAINING_PREFIX}"),
        Grant(("s3:ListBucketVersions",), f"bucket:{layout.TESTING_PREFIX}"),
    ), timeout=120),
    FunctionSpec("summary", "handlers.summary.handler", "Send the daily detection summary", (
        TABLE_RW, DAY_COUNTS, PUBLISH, PARAMETERS)),  # the parameters: whether the loop is stuck
    # -- model lifecycle ----------------------------------------------------------
    FunctionSpec("training_check", "handlers.lifecycle.check.handler",
                 "Decide whether to train now and take the training lock", (TABLE_RW, PARAMETERS, PUBLISH)),
    FunctionSpec("build_manifest", "handlers.lifecycle.manifest.handler",
                 "Write the training manifest from the label folders, and the gate set's", (
                     Grant(("s3:ListBucket",), f"bucket:{layout.TRAINING_PREFIX}"),
                     Grant(("s3:ListBucket",), f"bucket:{layout.TESTING_PREFIX}"),
                     Grant(("s3:PutObject",), f"objects:{layout.MANIFEST_PREFIX}"),
                     TABLE_RW, PUBLISH), timeout=900, memory=512),
    FunctionSpec("start_training", "handlers.lifecycle.training.start_handler", "Create a new model version", (
        Grant(("rekognition:CreateProjectVersion",), "project"),
        Grant(("rekognition:CreateProjectVersion",), "project_versions"),
        # The version is created with tags: IAM authorizes those as rekognition:TagResource on it.
        Grant(("rekognition:TagResource",), "project_versions"),
        Grant(CUSTOM_LABELS_BUCKET, "bucket"),
        Grant(CUSTOM_LABELS_READS, f"objects:{layout.MANIFEST_PREFIX}"),
        Grant(CUSTOM_LABELS_READS, f"objects:{layout.TRAINING_PREFIX}"),
        Grant(CUSTOM_LABELS_READS, f"objects:{layout.TESTING_PREFIX}"),  # the gate set, as TestingData
        Grant(CUSTOM_LABELS_WRITES, f"objects:{layout.EVALUATION_PREFIX}"), TABLE_RW)),
    FunctionSpec("model_status", "handlers.lifecycle.training.status_handler",
                 "Poll a model version's training or start status", (DESCRIBE_VERSIONS, TABLE_RW)),
    FunctionSpec("evaluate", "handlers.lifecycle.evaluate.handler",
                 "Read a version's evaluation and decide whether to deploy it", (
                     DESCRIBE_VERSIONS, Grant(("s3:GetObject",), f"objects:{layout.EVALUATION_PREFIX}"),
                     TABLE_RW, PARAMETERS, PUBLISH)),
    FunctionSpec("start_model", "handlers.lifecycle.deploy.start_handler", "Start a model version", (
        Grant(("rekognition:StartProjectVersion",), "project_versions"), DESCRIBE_VERSIONS, TABLE_RW, PARAMETERS)),
    # Both models classify every gate-set image: one DetectCustomLabels call per image and model.
    FunctionSpec("compare_models", "handlers.lifecycle.compare.handler",
                 "Score the candidate and the running model on the same gate-set images and decide again", (
                     Grant(("s3:GetObject",), f"objects:{layout.MANIFEST_PREFIX}"),
                     # DetectCustomLabels reads each image with this role's S3 access; the listing gives their ETags.
                     Grant(("s3:GetObject", "s3:GetObjectVersion"), f"objects:{layout.TESTING_PREFIX}"),
                     Grant(("s3:ListBucket",), f"bucket:{layout.TESTING_PREFIX}"),
                     Grant(("rekognition:DetectCustomLabels",), "project_versions"),
                     # Every model's answer per gate-set image, kept to compare it later on the same images.
                     Grant(("s3:GetObject", "s3:PutObject"), f"objects:{layout.EVALUATION_PREFIX}answers/"),
                     # A stopped running model never scored on these images is started for the comparison.
                     Grant(("rekognition:StartProjectVersion",), "project_versions"), DESCRIBE_VERSIONS,
                     TABLE_RW, PARAMETERS, PUBLISH), timeout=900),
    FunctionSpec("switch_model", "handlers.lifecycle.deploy.switch_handler", "Point detection at the new version", (
        TABLE_RW, PUBLISH)),
    FunctionSpec("stop_model", "handlers.lifecycle.deploy.stop_handler", "Stop a model version", (
        Grant(("rekognition:StopProjectVersion",), "project_versions"), DESCRIBE_VERSIONS, TABLE_RW)),
    FunctionSpec("replay_pending", "handlers.lifecycle.replay.handler", "Detect images that waited for a model", (
        Grant(("dynamodb:Query",), "table"),
        Grant(("states:StartExecution",), "state_machine:detection"))),
    # Stopping a model is retried within the function's timeout (a throttled stop leaves it billing).
    FunctionSpec("finish_run", "handlers.lifecycle.finish.handler", "Close a lifecycle run: lock, counters, report", (
        Grant(("rekognition:StopProjectVersion",), "project_versions"), DESCRIBE_VERSIONS, TABLE_RW, PUBLISH),
        timeout=60),
    FunctionSpec("stop_strays", "handlers.lifecycle.strays.handler",
                 "Stop any model running that is neither the active one nor a run's candidate", (
                     Grant(("rekognition:StopProjectVersion",), "project_versions"), DESCRIBE_VERSIONS,
                     TABLE_RW, PUBLISH), timeout=60),
    FunctionSpec("prepare_rollback", "handlers.lifecycle.rollback.handler",
                 "Choose the previous version to roll back to", (TABLE_RW, PARAMETERS, PUBLISH)),
    # -- serving ---------------------------------------------------------------------
    FunctionSpec("serve", "handlers.serving.handler",
                 "Start or stop the active model on demand; the operator's start, stop and teardown", (
                     DESCRIBE_VERSIONS,
                     Grant(("rekognition:StartProjectVersion", "rekognition:StopProjectVersion"), "project_versions"),
                     TABLE_RW, DAY_COUNTS, PARAMETERS, PUBLISH,
                     # Once the model runs, the images that waited are detected here (handlers.drain), as the
                     # detection workflow's Detect and StartReview do: what those two functions are granted.
                     *DETECT_GRANTS, *START_REVIEW_GRANTS), timeout=300),
    FunctionSpec("parameter_change", "handlers.parameter_change.handler",
                 "Apply an operator parameter change to the training schedule", (
                     Grant(("events:DescribeRule", "events:PutRule", "events:EnableRule", "events:DisableRule"),
                           "schedule_rule"),
                     Grant(("ssm:GetParameter",), "parameters"), PARAMETERS, TABLE_RW, PUBLISH)),
]}


# -- review backends ----------------------------------------------------------------------
# The core functions that call the review backend's run-time side (handlers/review_backends/interface.py):
OPENS = ("start_review", "serve")  # ReviewBackend.open (the serving function: the drain starts reviews)
WITHDRAWS = ("dataset",)  # ReviewBackend.withdrawn (review_outcome.withdraw of an open review: a deleted upload)


def _with_grants(spec: FunctionSpec, backends: Iterable[Deployable]) -> FunctionSpec:
    """A core function with what the review backends' calls in it need (theirs first)."""
    added = tuple(grant for backend in backends
                  for grant in (backend.open_grants if spec.key in OPENS else ())
                  + (backend.withdraw_grants if spec.key in WITHDRAWS else ()))
    return replace(spec, grants=added + spec.grants) if added else spec


def _functions(backends: list[Deployable]) -> dict[str, FunctionSpec]:
    return {key: _with_grants(spec, backends) for key, spec in CORE.items()} | {
        spec.key: spec for backend in backends for spec in backend.functions}


def deployed_functions(review_backend: str) -> dict[str, FunctionSpec]:
    """The functions a stack with this review backend deploys: the core ones with the grants the
    backend adds to them, then its own."""
    return _functions([deployable(review_backend)])


def deployed_with(review_backend: str) -> tuple[str, ...]:
    """The keys of the functions a stack with this review backend deploys."""
    return tuple(deployed_functions(review_backend))


def every_function() -> dict[str, FunctionSpec]:
    """Every function of every registered review backend, each with every grant any backend adds to it
    (the sandbox creates them all, so that a stack in moto can switch backends)."""
    return _functions(every_backend())


FUNCTIONS: dict[str, FunctionSpec] = every_function()
