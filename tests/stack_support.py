"""Helpers for the tests that run the runtime against a LocalStack (moto):
stacks with the Custom Labels and A2I stand-ins attached, uploads, A2I outputs, events
in both S3 formats, and reads of the state table and the bucket. The fixtures that open such
stacks (``stack``, ``shared_stack``) are in conftest.py.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from urllib.parse import quote_plus

import state_support

from handlers.runtime import context, layout
from handlers.runtime.ids import detection_id
from handlers.runtime.state import DetectionRecord
from sandbox.a2i import A2I, HumanLoop
from sandbox.local_aws import LocalStack
from sandbox.scripted_trainer import scripted_custom_labels

LABELS = ("cat", "dog")
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 24
CONFIDENT = (("cat", 95.0), ("dog", 5.0))
UNSURE = (("cat", 50.0), ("dog", 40.0))


@contextlib.contextmanager
def local_stack(labels=LABELS, **kwargs):
    """A LocalStack with a scripted Custom Labels (``st.models``, serving ``model_arn("v1")``) and an
    A2I stand-in (``st.a2i``) attached."""
    models, a2i = scripted_custom_labels(labels=labels), A2I()
    models.add_running(model_arn("v1"))
    with LocalStack(labels=tuple(labels), standins={"rekognition": models, "sagemaker-a2i-runtime": a2i},
                    **kwargs) as st:
        st.models, st.a2i = models, a2i
        yield st


REVIEWER_GROUP = "reviewers"


def use_review_app(st) -> None:
    """Review in the builtin review app instead of A2I (a stack deployed with ``review: builtin``)."""
    st.use_review("builtin")
    st.configure(reviewer_group=REVIEWER_GROUP, user_pool_id="us-east-1_Reviewers",
                 user_pool_client_id="reviewclient", login_url="https://login.example.com",
                 review_url="https://review.example.com/", image_url_seconds=300)


@contextlib.contextmanager
def review_app_stack():
    """A builtin stack with an active model and a versioned bucket (as deployed): uploads are pinned."""
    with local_stack() as st:
        activate_model()
        use_review_app(st)
        st.client("s3").put_bucket_versioning(Bucket=st.bucket, VersioningConfiguration={"Status": "Enabled"})
        yield st


def fresh(st) -> None:
    """Forget what earlier tests of a shared stack left behind that a test asserts on."""
    st.models.faults.clear()
    st.models.trainer.by_key.clear()
    st.retry_sleeps.clear()
    st.notifications()
    st.invocations.clear()


# -- the model and the parameters ------------------------------------------------------

def model_arn(version: str) -> str:
    return f"arn:aws:rekognition:us-east-1:123456789012:project/labelloop-sandbox-model/version/{version}/1"


def activate_model(version: str = "v1") -> None:
    state_support.set_loop(active_version=version, active_arn=model_arn(version))


def deactivate_model() -> None:
    state_support.remove_attributes("LOOP", "STATE", "active_version", "active_arn")


def set_parameters(st, **values) -> None:
    """Write parameters (name with '-' as '_' not needed: pass a dict) and drop the cached ones."""
    for name, value in values.items():
        st.client("ssm").put_parameter(Name=st.parameter_path + name, Value=str(value), Type="String",
                                       Overwrite=True)
    context.reset()


@contextlib.contextmanager
def parameters(st, values: dict):
    """Parameters changed for the duration of a block, then restored to what they were."""
    ssm = st.client("ssm")
    saved = {name: ssm.get_parameter(Name=st.parameter_path + name)["Parameter"]["Value"] for name in values}
    set_parameters(st, **values)
    try:
        yield
    finally:
        set_parameters(st, **saved)


# -- uploads and detections -----------------------------------------------------------

def upload(st, key: str, scores=None, body: bytes = PNG, *, pump: bool = True) -> dict | None:
    """Put an object (the model answers ``scores`` for it), deliver the events, and return the
    detection state machine's execution for it (None if no detection ran)."""
    if scores is not None:
        st.models.trainer.by_key[key] = tuple(scores)
    st.client("s3").put_object(Bucket=st.bucket, Key=key, Body=body)
    if not pump:
        return None
    st.pump()
    return execution_for(st, key)


def execution_for(st, key: str) -> dict | None:
    """The latest detection execution whose input names ``key``."""
    for description in reversed(st.executions):
        payload = json.loads(description["input"])
        keys = [payload.get("key"), (payload.get("detail") or {}).get("object", {}).get("key")]
        if key in keys:
            return description
    return None


def output_of(execution: dict) -> dict:
    return json.loads(execution.get("output") or "{}")


def detection_result(execution: dict) -> dict:
    """What the Detect task returned in an execution."""
    return output_of(execution)["detection"]["value"]


def det_id(st, key: str) -> str:
    head = st.client("s3").head_object(Bucket=st.bucket, Key=key)
    return detection_id(st.bucket, key, head.get("VersionId") or head["ETag"].strip('"'))


def record_of(st, key: str) -> DetectionRecord | None:
    return context.table().detection(det_id(st, key))


def records_for(key: str) -> list[DetectionRecord]:
    return [r for r in context.table().detections() if r.key == key]


def loops_for(st, detection: str) -> list[HumanLoop]:
    """The A2I loops started for one detection."""
    return [loop for loop in st.a2i.loops.values() if loop.input["detectionId"] == detection]


def detections_asked(st) -> list[dict]:
    """The parameters of every DetectCustomLabels call so far, oldest first."""
    return st.models.operations("DetectCustomLabels")


# -- events in both formats ----------------------------------------------------------------

def eventbridge_event(bucket: str, key: str, etag: str, *, created: bool = True, size: int = 40,
                      version_id: str | None = None) -> dict:
    """An S3 → EventBridge event (keys are not URL-encoded there)."""
    return {
        "version": "0", "id": "0b1e4f0d-0000-0000-0000-000000000000",
        "detail-type": "Object Created" if created else "Object Deleted", "source": "aws.s3",
        "account": "123456789012", "time": "2026-01-01T00:00:00Z", "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {"version": "0", "bucket": {"name": bucket},
                   "object": {"key": key, "size": size, "etag": etag,
                              **({"version-id": version_id} if version_id else {})},
                   "reason": "PutObject" if created else "DeleteObject"},
    }


def notification_event(bucket: str, *objects, event_name: str = "ObjectCreated:Put") -> dict:
    """An S3 event notification with one record per (key, etag, size); keys URL-encoded as S3 sends them."""
    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-01-01T00:00:00.000Z", "eventName": event_name,
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
               "object": {"key": quote_plus(key, safe="/"), "size": size, "eTag": etag, "sequencer": "0A1B2C"}},
    } for key, etag, size in objects]}


def etag_of(st, key: str) -> str:
    return st.client("s3").head_object(Bucket=st.bucket, Key=key)["ETag"].strip('"')


# -- A2I outputs ---------------------------------------------------------------------------

def output_key(st, loop_name: str, when: datetime | None = None) -> str:
    """Where A2I writes a loop's output: <prefix><flow definition>/YYYY/MM/DD/hh/mm/ss/<loop>/output.json."""
    when = when or datetime.now(UTC)
    flow = st.flow_definition_arn.rsplit("/", 1)[1]
    return f"{layout.REVIEW_OUTPUT_PREFIX}{flow}/{when:%Y/%m/%d/%H/%M/%S}/{loop_name}/output.json"


def answer(label, worker: str = "worker-1") -> dict:
    return {"answerContent": {"crowd-image-classifier": {"label": label}},
            "submissionTime": "2026-01-01T00:00:00.000Z", "acceptanceTime": "2026-01-01T00:00:00.000Z",
            "timeSpentInSeconds": 4.2, "workerId": worker,
            "workerMetadata": {"identityData": {"identityProviderType": "Cognito",
                                                "issuer": "https://cognito-idp.us-east-1.amazonaws.com/x",
                                                "sub": worker}}}


def output_document(st, loop_name: str, labels=("cat",), *, input_content: dict | None = None,
                    answers: list | None = None) -> dict:
    """The output.json A2I writes for a loop the stand-in started (its input content, the answers)."""
    if input_content is None:
        input_content = st.a2i.loops[loop_name].input
    return {"flowDefinitionArn": st.flow_definition_arn, "humanLoopName": loop_name,
            "inputContent": input_content,
            "humanAnswers": answers if answers is not None else [answer(l, f"worker-{i}") for i, l in enumerate(labels)]}


def write_output(st, loop_name: str, document, *, pump: bool = True, key: str | None = None) -> str:
    """Write an output.json (a dict, or raw bytes) where A2I would (or at ``key``), and deliver its event."""
    key = key or output_key(st, loop_name)
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    st.client("s3").put_object(Bucket=st.bucket, Key=key, Body=body)
    if pump:
        st.pump()
    return key


def open_review(st, key: str, scores=UNSURE) -> tuple[str, str]:
    """Upload a low-confidence image so a training review starts; returns (detection id, loop name)."""
    execution = upload(st, key, scores)
    assert execution["status"] == "SUCCEEDED", execution
    result = detection_result(execution)
    assert result["review"] is True, result
    name = output_of(execution)["review"]["value"]["human_loop"]
    return result["detection_id"], name


# -- the bucket and the counters --------------------------------------------------------------

def keys_under(st, prefix: str) -> list[str]:
    pages = st.client("s3").get_paginator("list_objects_v2").paginate(Bucket=st.bucket, Prefix=prefix)
    return [obj["Key"] for page in pages for obj in page.get("Contents", [])]


def training_keys(st) -> list[str]:
    return keys_under(st, layout.TRAINING_PREFIX)


def counts() -> dict[str, int]:
    return dict(context.table().loop_and_dataset()[1].images)


def invocations_of(st, function_key: str) -> list:
    return [i for i in st.invocations if i.key == function_key]


def clear_training_data(st) -> None:
    """Empty the label folders, the per-image items and the per-label counters (between tests of a shared stack)."""
    s3, ddb = st.client("s3"), st.client("dynamodb")
    for key in training_keys(st):
        s3.delete_object(Bucket=st.bucket, Key=key)
    pages = ddb.get_paginator("scan").paginate(TableName=st.table, ProjectionExpression="pk, sk")
    for item in (i for page in pages for i in page.get("Items", [])):
        if item["pk"]["S"].startswith("IMG#") or item["sk"]["S"].startswith("COUNT#"):
            ddb.delete_item(TableName=st.table, Key=item)
    st.discard_pending_events()  # the deletes' own events are not part of the next test
    st.invocations.clear()
