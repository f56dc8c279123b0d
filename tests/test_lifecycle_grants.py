"""Every AWS call a function makes, and every S3 object a service reads or writes with the
function's own access, is allowed by that function's grants (components.functions, from which
the roles are built), so what passes here does not fail with AccessDenied in an account.

One run of the whole loop exercises every function: an upload before any model (replayed
later), a review and its answer, a failed detection, the daily summary, deployment,
replacement, rollback, a failed start and a parameter change. Each function runs as in
containers of its own: its own parameter reader, state table, notifier and policy engine, so
nothing one function read reaches another through a warm cache (which would hide a function
that reads the parameters without the grant).

What a call needs is derived from the call itself (:func:`needs`): the operation's IAM action;
for S3, the object or the listed prefix; for the Custom Labels calls that use the caller's S3
access, every object the service reads or writes: the manifests, each image a manifest names,
the output prefix, the image to classify.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from lifecycle_support import PNG, lifecycle_stack, seed, wait_for_detections
from stack_support import output_document, write_output

from components.config import A2I
from components.functions import (CUSTOM_LABELS_BUCKET, CUSTOM_LABELS_READS, CUSTOM_LABELS_WRITES, FUNCTIONS,
                                  PARAMETERS, FunctionSpec, Grant, deployed_with)
from handlers.runtime import aws, context
from sandbox.custom_labels import START_FAILS
from sandbox.scripted_trainer import scripted_custom_labels

SERVICES = ("dynamodb", "ssm", "sns", "s3", "rekognition", "stepfunctions", "events", "sagemaker-a2i-runtime")
# S3 operations on one object, by the IAM action they need (for a given version: that action + "Version").
S3_OBJECT_ACTIONS = {"GetObject": "GetObject", "HeadObject": "GetObject", "PutObject": "PutObject",
                     "CreateMultipartUpload": "PutObject", "UploadPart": "PutObject",
                     "CompleteMultipartUpload": "PutObject", "DeleteObject": "DeleteObject"}
S3_LISTINGS = ("ListObjectsV2", "ListObjects")
TRANSACT_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                    "ConditionCheck": "ConditionCheckItem"}
# The per-container singletons of handlers.runtime.context.
SINGLETONS = ("engine", "table", "notifier", "parameters")
UNSURE = (("cat", 50.0), ("dog", 40.0))


@dataclass(frozen=True, order=True)
class Need:
    """An IAM action a call needs, and on what: ``objects:<key>`` (an object of the stack's
    bucket), ``bucket:<prefix>`` (listing it under a prefix), ``bucket`` (the bucket itself),
    ``None`` (whatever resource the grant names), or anything else (not the stack's: never granted)."""

    action: str
    resource: str | None = None

    def __str__(self) -> str:
        return self.action if self.resource is None else f"{self.action} on {self.resource}"


def allows(grant: Grant, need: Need) -> bool:
    if need.action not in grant.actions:
        return False
    if need.resource is None:
        return True
    kind, _, target = need.resource.partition(":")
    granted, _, prefix = grant.resource.partition(":")
    if kind == "objects":
        return granted == "objects" and target.startswith(prefix)
    if need.resource.startswith("bucket:"):  # listing under a prefix: the whole bucket, or a prefix above it
        return grant.resource == "bucket" or (granted == "bucket" and target.startswith(prefix))
    return grant.resource == need.resource


def missing(spec: FunctionSpec, wanted: set[Need]) -> list[str]:
    """What ``spec``'s grants do not allow of ``wanted``."""
    return sorted(str(need) for need in wanted if not any(allows(grant, need) for grant in spec.grants))


# -- what a call needs ------------------------------------------------------------------------
def needs(service: str, operation: str, params: dict, bucket: str, read: Callable[[str, str], bytes]) -> set[Need]:
    """The IAM permissions one call needs; ``service`` is its signing name, ``bucket`` the stack's
    bucket, ``read(bucket, key)`` an object's content (the manifests a training reads)."""
    if service == "s3":
        return _s3(operation, params, bucket)
    if service == "dynamodb" and operation == "TransactWriteItems":
        return {Need(f"dynamodb:{TRANSACT_ACTIONS[kind]}") for item in params["TransactItems"] for kind in item}
    found = {Need(f"{service}:{operation}")}
    if service == "rekognition" and params.get("Tags"):  # IAM authorizes tags on create as TagResource
        found.add(Need("rekognition:TagResource"))
    if (service, operation) == ("rekognition", "CreateProjectVersion"):
        found |= training_reads_and_writes(params, bucket, read)
    if (service, operation) == ("rekognition", "DetectCustomLabels") and "S3Object" in params["Image"]:
        image = params["Image"]["S3Object"]  # read with the caller's access
        found.add(_object("GetObject", image["Bucket"], image["Name"], image.get("Version"), bucket))
    return found


def training_reads_and_writes(params: dict, bucket: str, read: Callable[[str, str], bytes]) -> set[Need]:
    """CreateProjectVersion with the SDK: Custom Labels reads each manifest and every image it
    names, and writes the results, with the caller's access ("Set up SDK permissions")."""
    found = {Need(action, "bucket") for action in CUSTOM_LABELS_BUCKET}
    output = params["OutputConfig"]
    found |= {_resource(action, output["S3Bucket"], output.get("S3KeyPrefix", ""), bucket)
              for action in CUSTOM_LABELS_WRITES}
    for data in (params.get("TrainingData"), params.get("TestingData")):
        for asset in (data or {}).get("Assets", []):
            manifest = asset["GroundTruthManifest"]["S3Object"]
            objects = [(manifest["Bucket"], manifest["Name"])]
            for line in read(manifest["Bucket"], manifest["Name"]).decode().splitlines():
                source = json.loads(line)["source-ref"].removeprefix("s3://")
                objects.append(tuple(source.split("/", 1)))
            found |= {_resource(action, b, key, bucket) for b, key in objects for action in CUSTOM_LABELS_READS}
    return found


def _s3(operation: str, params: dict, bucket: str) -> set[Need]:
    if operation in S3_LISTINGS:
        return {Need("s3:ListBucket", f"bucket:{params.get('Prefix', '')}" if params["Bucket"] == bucket
                     else f"s3://{params['Bucket']}")}
    if operation == "CopyObject":
        source = params["CopySource"]
        return {_object("GetObject", source["Bucket"], source["Key"], source.get("VersionId"), bucket),
                _object("PutObject", params["Bucket"], params["Key"], None, bucket)}
    if operation in S3_OBJECT_ACTIONS:
        return {_object(S3_OBJECT_ACTIONS[operation], params["Bucket"], params["Key"], params.get("VersionId"), bucket)}
    return {Need(f"s3:{operation}")}


def _object(action: str, in_bucket: str, key: str, version: str | None, bucket: str) -> Need:
    """``action`` on one object; on one version of it, the action's ``…Version`` form."""
    return _resource(f"s3:{action}Version" if version else f"s3:{action}", in_bucket, key, bucket)


def _resource(action: str, in_bucket: str, key: str, bucket: str) -> Need:
    return Need(action, f"objects:{key}" if in_bucket == bucket else f"s3://{in_bucket}/{key}")


# -- the checker itself ------------------------------------------------------------------------
def test_a_function_that_reads_the_parameters_needs_the_grant():
    rollback = FUNCTIONS["prepare_rollback"]
    without = dataclasses.replace(rollback, grants=tuple(g for g in rollback.grants if g != PARAMETERS))
    read = needs("ssm", "GetParametersByPath", {"Path": "/labelloop/sandbox/"}, "b", _no_reads)
    assert missing(rollback, read) == []
    assert missing(without, read) == ["ssm:GetParametersByPath"]


def test_a_training_needs_every_object_its_manifest_names_and_the_output_prefix():
    manifest = "\n".join(json.dumps({"source-ref": ref, "class": 1}) for ref in (
        "s3://b/images_labeled_by_folder/cat/1.png", "s3://b/images_for_detection/x.png", "s3://other/y.png"))
    manifest_object = {"S3Object": {"Bucket": "b", "Name": "manifests/v2"}}
    params = {"ProjectArn": "p", "VersionName": "v2", "OutputConfig": {"S3Bucket": "b", "S3KeyPrefix": "evaluation/v2/"},
              "TrainingData": {"Assets": [{"GroundTruthManifest": manifest_object}]},
              "TestingData": {"AutoCreate": True}, "Tags": {"labelloop:stack": "s"}}
    wanted = needs("rekognition", "CreateProjectVersion", params, "b", lambda b, k: manifest.encode())
    outside = [f"{action} on {where}" for where in ("objects:images_for_detection/x.png", "s3://other/y.png")
               for action in CUSTOM_LABELS_READS]
    assert missing(FUNCTIONS["start_training"], wanted) == sorted(outside)
    no_s3 = dataclasses.replace(FUNCTIONS["start_training"], grants=tuple(
        g for g in FUNCTIONS["start_training"].grants if not any(a.startswith("s3:") for a in g.actions)))
    gaps = missing(no_s3, wanted)
    assert "s3:PutObject on objects:evaluation/v2/" in gaps and "s3:GetBucketLocation on bucket" in gaps
    assert "s3:GetObject on objects:manifests/v2" in gaps
    assert "s3:GetObject on objects:images_labeled_by_folder/cat/1.png" in gaps


def test_s3_needs_name_the_key_the_version_and_the_listed_prefix():
    detect, review = FUNCTIONS["detect"], FUNCTIONS["review_output"]
    version = {"Bucket": "b", "Key": "images_for_detection/a.png", "VersionId": "3"}
    get = needs("s3", "GetObject", version, "b", _no_reads)
    assert get == {Need("s3:GetObjectVersion", "objects:images_for_detection/a.png")} and missing(detect, get) == []
    copy = needs("s3", "CopyObject", {"Bucket": "b", "Key": "images_labeled_by_folder/cat/a.png",
                                      "CopySource": {"Bucket": "b", "Key": "images_for_detection/a.png"}}, "b", _no_reads)
    assert missing(review, copy) == []
    assert missing(detect, copy) == ["s3:PutObject on objects:images_labeled_by_folder/cat/a.png"]
    listing = needs("s3", "ListObjectsV2", {"Bucket": "b", "Prefix": "images_labeled_by_folder/"}, "b", _no_reads)
    assert missing(FUNCTIONS["build_manifest"], listing) == [] and missing(review, listing) != []
    image = {"S3Object": {"Bucket": "b", "Name": "images_for_detection/a.png"}}
    classify = needs("rekognition", "DetectCustomLabels", {"ProjectVersionArn": "m", "Image": image}, "b", _no_reads)
    assert missing(detect, classify) == []
    assert missing(FUNCTIONS["evaluate"], classify) == ["rekognition:DetectCustomLabels",
                                                        "s3:GetObject on objects:images_for_detection/a.png"]


def _no_reads(bucket: str, key: str) -> bytes:
    raise AssertionError(f"nothing to read here, asked for {bucket}/{key}")


# -- the whole loop, each function under its own grants ------------------------------------------
def own_containers(monkeypatch, current: threading.local) -> None:
    """Each function gets the per-container singletons of handlers.runtime.context of its own,
    built on its first use, as each Lambda function has its own containers."""
    stores: dict[str | None, dict] = defaultdict(dict)
    for name in SINGLETONS:
        def singleton(_name=name, _build=getattr(context, name).__wrapped__):
            store = stores[getattr(current, "function", None)]
            if _name not in store:
                store.setdefault(_name, _build())
            return store[_name]

        singleton.cache_clear = stores.clear  # context.reset() starts every container afresh
        monkeypatch.setattr(context, name, singleton)


def acting_for(monkeypatch, current: threading.local) -> None:
    """Work a function hands to a thread pool (an S3 transfer's parts) runs for that function."""
    submit = ThreadPoolExecutor.submit

    def submit_for_the_function(self, fn, /, *args, **kwargs):
        function = getattr(current, "function", None)

        def run(*a, **k):
            current.function = function
            try:
                return fn(*a, **k)
            finally:
                current.function = None

        return submit(self, run, *args, **kwargs)

    monkeypatch.setattr(ThreadPoolExecutor, "submit", submit_for_the_function)


def test_every_call_of_every_function_is_granted(monkeypatch):
    current = threading.local()
    used: dict[str, set[Need]] = defaultdict(set)
    models = scripted_custom_labels()
    models.trainer.script("v4", starting=START_FAILS)
    with lifecycle_stack(models) as stack:
        reader = stack.session.client("s3")  # reads manifests unrecorded

        def record(model, params, **_):
            function = getattr(current, "function", None)
            if function:
                used[function] |= needs(model.service_model.signing_name, model.name, params, stack.bucket,
                                        lambda b, k: reader.get_object(Bucket=b, Key=k)["Body"].read())

        def tagged(key, handler):
            def run(event, lambda_context):
                current.function = key
                try:
                    return handler(event, lambda_context)
                finally:
                    current.function = None

            return run

        stack.wrap_handlers(tagged)
        own_containers(monkeypatch, current)
        acting_for(monkeypatch, current)
        for service in SERVICES:
            aws.client(service).meta.events.register("before-parameter-build.*.*", record)

        s3 = stack.client("s3")
        s3.put_object(Bucket=stack.bucket, Key="images_for_detection/early.png", Body=PNG)
        stack.pump()
        seed(stack, {"cat": 6, "dog": 6})
        assert stack.run_lifecycle()["status"] == "SUCCEEDED"  # first deployment, replays early.png
        wait_for_detections(stack)
        # A review and its answer, which becomes training data.
        models.trainer.by_key["images_for_detection/unsure.png"] = UNSURE
        s3.put_object(Bucket=stack.bucket, Key="images_for_detection/unsure.png", Body=PNG + b"unsure")
        stack.pump()
        stack.a2i = stack.standins["sagemaker-a2i-runtime"]
        (loop,) = stack.a2i.loops
        write_output(stack, loop, output_document(stack, loop, ("cat",)))
        # A detection that fails, and the daily summary.
        models.fail_next("DetectCustomLabels", "AccessDeniedException")
        s3.put_object(Bucket=stack.bucket, Key="images_for_detection/denied.png", Body=PNG + b"denied")
        stack.pump()
        stack.deliver("summary", {})
        seed(stack, {"cat": 5, "dog": 5}, start=100)
        assert stack.run_lifecycle()["status"] == "SUCCEEDED"  # replaces v1
        assert stack.run_lifecycle({"action": "rollback"})["status"] == "SUCCEEDED"  # v1 still stopping
        seed(stack, {"cat": 5, "dog": 5}, start=200)
        assert stack.run_lifecycle()["status"] == "FAILED"  # v4 fails to start and is cleaned up
        stack.set_parameter("Automatic-Training-Poll-Frequency", "5")
        stack.pump()

    exercised = set(deployed_with(A2I))  # this run reviews in A2I: every function of an A2I stack
    assert set(used) == exercised, f"not exercised: {sorted(exercised - set(used))}"
    # Cold: the rollback reads the parameters itself, whatever the functions before it read.
    assert Need("ssm:GetParametersByPath") in used["prepare_rollback"]
    def touched(key: str, action: str, prefix: str) -> bool:
        return any(n.action == action and (n.resource or "").startswith(f"objects:{prefix}") for n in used[key])

    assert touched("start_training", "s3:GetObject", "images_labeled_by_folder/")  # what Custom Labels reads
    assert touched("build_manifest", "s3:PutObject", "manifests/")  # written by a transfer's threads
    assert touched("review_output", "s3:PutObject", "images_labeled_by_folder/cat/")  # the answer's copy
    gaps = {key: missing(FUNCTIONS[key], wanted) for key, wanted in used.items()}
    assert {key: gap for key, gap in gaps.items() if gap} == {}
