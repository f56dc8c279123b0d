"""Every function runs cold, under its own role: each invocation in a fresh container of its
function (nothing one function read or built reaches another), and every AWS call it makes —
and every S3 object a service reads or writes with its access — judged by the policy document the
Pulumi program attaches to that function's role, by an IAM policy evaluator (sandbox.access).
What passes here does not fail with AccessDenied in an account.

One run of the whole loop exercises every function: an upload before any model (replayed
later), a review and its answer, a failed detection, the daily summary, deployment,
replacement, rollback, a failed start and a parameter change.
"""

from __future__ import annotations

import copy
import json

import pytest
from botocore.exceptions import ClientError
from deployed_roles import role_policies
import pulumi_mocks
from lifecycle_support import PNG, seed, wait_for_detections
from review_api_support import Clock, Reviewer
from stack_support import output_document, set_parameters, use_review_app, write_output

from components.functions import deployed_with
from components.grants import CUSTOM_LABELS_READS
from handlers import review_api
from handlers.runtime import context
from plugins import REVIEWERS_PER_IMAGE, TASK_LIFETIME_HOURS
from sandbox.a2i import A2I
from sandbox.access import Place, Request, allowed, requests
from sandbox.custom_labels import START_FAILS
from sandbox.local_aws import ACCOUNT, REGION, LambdaFailed, LocalStack
from sandbox.moto_harness import MotoHarness
from sandbox.scripted_trainer import scripted_custom_labels

UNSURE = (("cat", 50.0), ("dog", 40.0))
PLACE = Place(REGION, ACCOUNT)


@pytest.fixture(scope="module")
def deployed():
    """The stack's names, and the deployed policy document of every function's role."""
    with LocalStack(labels=("cat", "dog")) as stack:
        names = {"bucket": stack.bucket, "table": stack.table, "topic": stack.topic_arn,
                 "project": stack.project_arn, "path": stack.parameter_path,
                 "detection": stack.state_machines["detection"], "rule": stack.schedule_rule,
                 "flow": stack.flow_definition_arn}
        policies = role_policies(stack)
    with MotoHarness():  # the condition operators the evaluator needs
        yield names, policies


def _no_reads(bucket: str, key: str) -> bytes:
    raise AssertionError(f"nothing to read here, asked for {bucket}/{key}")


def denied(policy: dict, service: str, operation: str, params: dict, read=_no_reads) -> list[str]:
    return [str(r) for r in requests(service, operation, params, PLACE, read) if not allowed(policy, r)]


def without(policy: dict, sid_start: str) -> dict:
    """The document less the statements whose Sid starts with ``sid_start``."""
    trimmed = copy.deepcopy(policy)
    trimmed["Statement"] = [s for s in trimmed["Statement"] if not s["Sid"].startswith(sid_start)]
    assert len(trimmed["Statement"]) < len(policy["Statement"]), f"no statement {sid_start}"
    return trimmed


# -- the evaluator on the deployed documents ---------------------------------------------------
def test_a_function_that_reads_the_parameters_needs_the_grant(deployed):
    names, policies = deployed
    read = ("ssm", "GetParametersByPath", {"Path": names["path"]})
    assert denied(policies["prepare_rollback"], *read) == []
    [statement] = [s for s in policies["prepare_rollback"]["Statement"] if s["Action"] == "ssm:GetParametersByPath"]
    assert denied(without(policies["prepare_rollback"], statement["Sid"]), *read) != []
    assert denied(policies["switch_model"], *read) != []  # never granted
    assert denied(policies["prepare_rollback"], "ssm", "GetParametersByPath", {"Path": "/labelloop/other/"}) != []


def test_resources_are_scoped_to_this_stack(deployed):
    names, policies = deployed
    detect, replay = policies["detect"], policies["replay_pending"]
    item = {"Key": {"pk": {"S": "LOOP"}, "sk": {"S": "STATE"}}}
    assert denied(detect, "dynamodb", "GetItem", {"TableName": names["table"], **item}) == []
    assert denied(detect, "dynamodb", "GetItem", {"TableName": "labelloop-other-state", **item}) != []
    assert denied(detect, "dynamodb", "Query", {"TableName": names["table"], "IndexName": "byday"}) != []
    assert denied(detect, "sns", "Publish", {"TopicArn": names["topic"], "Message": "m"}) == []
    assert denied(detect, "sns", "Publish", {"TopicArn": names["topic"] + "-other", "Message": "m"}) != []
    start = {"stateMachineArn": names["detection"], "input": "{}"}
    assert denied(replay, "states", "StartExecution", start) == []
    assert denied(replay, "states", "StartExecution", {**start, "stateMachineArn": names["detection"] + "x"}) != []
    version = names["project"].rsplit("/", 1)[0] + "/version/v1/1700000000000"
    classify = {"ProjectVersionArn": version, "Image": {"S3Object": {"Bucket": names["bucket"],
                                                                    "Name": "images_for_detection/a.png"}}}
    assert denied(detect, "rekognition", "DetectCustomLabels", classify) == []
    other = {**classify, "ProjectVersionArn": version.replace("labelloop-sandbox-model", "someone-else")}
    assert denied(detect, "rekognition", "DetectCustomLabels", other) != []
    rule = {"Name": names["rule"]}
    assert denied(policies["parameter_change"], "events", "DescribeRule", rule) == []
    assert denied(policies["parameter_change"], "events", "DescribeRule", {"Name": "another-rule"}) != []
    loop = {"HumanLoopName": "h", "FlowDefinitionArn": names["flow"], "HumanLoopInput": {"InputContent": "{}"}}
    assert denied(policies["start_review"], "sagemaker", "StartHumanLoop", loop) == []
    assert denied(policies["start_review"], "sagemaker", "StartHumanLoop", {**loop, "FlowDefinitionArn": "x"}) != []


def test_s3_is_judged_by_key_version_and_listed_prefix(deployed):
    names, policies = deployed
    bucket, detect, review = names["bucket"], policies["detect"], policies["review_output"]
    version = {"Bucket": bucket, "Key": "images_for_detection/a.png", "VersionId": "3"}
    assert [str(r) for r in requests("s3", "GetObject", version, PLACE, _no_reads)] == [
        f"s3:GetObjectVersion on arn:aws:s3:::{bucket}/images_for_detection/a.png"]
    assert denied(detect, "s3", "GetObject", version) == []
    assert denied(detect, "s3", "GetObject", {**version, "Bucket": "another-bucket"}) != []
    assert denied(detect, "s3", "GetObject", {**version, "Key": "images_labeled_by_folder/cat/a.png"}) != []
    copied = {"Bucket": bucket, "Key": "images_labeled_by_folder/cat/a.png",
              "CopySource": {"Bucket": bucket, "Key": "images_for_detection/a.png", "VersionId": "3"}}
    assert denied(review, "s3", "CopyObject", copied) == []
    assert denied(detect, "s3", "CopyObject", copied) == [
        f"s3:PutObject on arn:aws:s3:::{bucket}/images_labeled_by_folder/cat/a.png"]
    listing = {"Bucket": bucket, "Prefix": "images_for_detection/"}
    assert denied(review, "s3", "ListObjectsV2", listing) == []  # the condition on s3:prefix holds
    assert denied(review, "s3", "ListObjectsV2", {**listing, "Prefix": "images_labeled_by_folder/"}) != []
    assert denied(review, "s3", "ListObjectsV2", {"Bucket": bucket}) != []  # the whole bucket
    assert denied(policies["build_manifest"], "s3", "ListObjectsV2",
                  {"Bucket": bucket, "Prefix": "images_labeled_by_folder/"}) == []


def test_a_training_needs_every_object_its_manifest_names_and_the_output_prefix(deployed):
    names, policies = deployed
    bucket = names["bucket"]
    manifest = "\n".join(json.dumps({"source-ref": ref, "class": 1}) for ref in (
        f"s3://{bucket}/images_labeled_by_folder/cat/1.png", f"s3://{bucket}/images_for_detection/x.png",
        "s3://other/y.png"))
    params = {"ProjectArn": names["project"], "VersionName": "v2",
              "OutputConfig": {"S3Bucket": bucket, "S3KeyPrefix": "evaluation/v2/"},
              "TrainingData": {"Assets": [{"GroundTruthManifest": {"S3Object": {"Bucket": bucket,
                                                                                "Name": "manifests/v2"}}}]},
              "TestingData": {"AutoCreate": True}, "Tags": {"labelloop:stack": "s"}}
    read = lambda b, k: manifest.encode()  # noqa: E731
    training = policies["start_training"]
    outside = sorted(f"{action} on arn:aws:s3:::{where}" for where in (f"{bucket}/images_for_detection/x.png",
                                                                       "other/y.png")
                     for action in CUSTOM_LABELS_READS)
    assert sorted(denied(training, "rekognition", "CreateProjectVersion", params, read)) == outside
    no_s3 = copy.deepcopy(training)
    no_s3["Statement"] = [s for s in no_s3["Statement"] if "s3:" not in json.dumps(s["Action"])]
    gaps = denied(no_s3, "rekognition", "CreateProjectVersion", params, read)
    assert f"s3:PutObject on arn:aws:s3:::{bucket}/evaluation/v2/" in gaps
    assert f"s3:GetBucketLocation on arn:aws:s3:::{bucket}" in gaps
    assert f"s3:GetObject on arn:aws:s3:::{bucket}/manifests/v2" in gaps
    assert f"s3:GetObject on arn:aws:s3:::{bucket}/images_labeled_by_folder/cat/1.png" in gaps


def test_an_explicit_deny_wins_and_an_unknown_call_is_refused():
    policy = {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"},
                            {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::b/keep/*"}]}
    assert allowed(policy, Request("s3:DeleteObject", "arn:aws:s3:::b/tmp/x"))
    assert not allowed(policy, Request("s3:DeleteObject", "arn:aws:s3:::b/keep/x"))
    assert requests("kms", "Decrypt", {"CiphertextBlob": b"x"}, PLACE, _no_reads) == (Request("kms:Decrypt", "*"),)


# -- the whole loop, each function cold under its own role ---------------------------------------
def copies_refused(refusing: list[bool]):
    """A hook on the functions' clients: the A2I output function's copies fail while ``refusing[0]``
    (as if it died between closing the review and copying its image)."""
    def refuse(**_):
        if refusing[0]:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "simulated"}}, "CopyObject")

    def hook(key: str, client) -> None:
        if key == "review_output" and client.meta.service_model.service_name == "s3":
            client.meta.events.register("before-call.s3.CopyObject", refuse)

    return hook


def run_the_loop(remove: dict[str, str] | None = None):
    """Exercise every function with the deployed documents (less the statements ``remove`` names:
    function key -> Sid prefix); returns the access check and the lifecycle runs' statuses."""
    models = scripted_custom_labels()
    models.trainer.script("v4", starting=START_FAILS)
    with LocalStack(labels=("cat", "dog"), containers="per_invocation",
                    standins={"rekognition": models, "sagemaker-a2i-runtime": A2I()}) as stack:
        policies = role_policies(stack)
        for key, sid in (remove or {}).items():
            policies[key] = without(policies[key], sid)
        check = stack.enforce_roles(policies)
        statuses = []
        s3 = stack.client("s3")
        s3.put_object(Bucket=stack.bucket, Key="images_for_detection/early.png", Body=PNG)
        stack.pump()
        seed(stack, {"cat": 6, "dog": 6})
        statuses.append(stack.run_lifecycle()["status"])  # first deployment, replays early.png
        wait_for_detections(stack)
        # A review and its answer, which becomes training data.
        models.trainer.by_key["images_for_detection/unsure.png"] = UNSURE
        s3.put_object(Bucket=stack.bucket, Key="images_for_detection/unsure.png", Body=PNG + b"unsure")
        stack.pump()
        stack.a2i = stack.standins["sagemaker-a2i-runtime"]
        refusing = [True]
        stack.on_function_client(copies_refused(refusing))  # the answer's copy is left pending...
        for loop in stack.a2i.loops:  # none when the detect role cannot read the upload
            with pytest.raises(LambdaFailed):
                write_output(stack, loop, output_document(stack, loop, ("cat",)))
        refusing[0] = False
        stack.deliver("dataset", {"copies": True})  # ...and made by the dataset function
        s3.delete_object(Bucket=stack.bucket, Key="images_for_detection/unsure.png")  # its uploader deletes it:
        stack.pump()  # the dataset function takes its copy out
        # A detection that fails, and the daily summary.
        models.fail_next("DetectCustomLabels", "AccessDeniedException")
        s3.put_object(Bucket=stack.bucket, Key="images_for_detection/denied.png", Body=PNG + b"denied")
        stack.pump()
        try:
            stack.deliver("summary", {})
            statuses.append("SUMMARY SENT")
        except LambdaFailed as exc:
            statuses.append(f"SUMMARY FAILED: {exc.payload['errorType']}")
        seed(stack, {"cat": 5, "dog": 5}, start=100)
        models.faults.pop("DetectCustomLabels", None)  # left over when the detect role refused that call first
        for label in ("cat", "dog"):  # a gate set: the next training is tested on it, side by side with v1
            for i in range(5):  # Minimum-Gate-Set-Images-Per-Label
                key = f"images_for_testing/{label}/gate-{i}.png"
                models.trainer.by_key[key] = ((label, 90.0), ("dog" if label == "cat" else "cat", 10.0))
                s3.put_object(Bucket=stack.bucket, Key=key, Body=PNG + label.encode() + bytes([i]))
        statuses.append(stack.run_lifecycle()["status"])  # replaces v1
        statuses.append(stack.run_lifecycle({"action": "rollback"})["status"])  # v1 still stopping
        seed(stack, {"cat": 5, "dog": 5}, start=200)
        statuses.append(stack.run_lifecycle()["status"])  # v4 fails to start and is cleaned up
        stack.set_parameter("Automatic-Training-Poll-Frequency", "5")
        stack.pump()
        # Serving: the operator stops the model, an image waits and asks the serving function, the
        # operator starts the model, the schedule finds it running and detects the image; teardown.
        statuses.append(stack.serve({"action": "stop"})["outcome"])
        s3.put_object(Bucket=stack.bucket, Key="images_for_detection/waits.png", Body=PNG + b"waits")
        stack.pump()
        statuses.append(stack.serve({"action": "start"})["outcome"])
        stack.serve()  # still starting
        statuses.append(stack.serve()["replayed"])
        wait_for_detections(stack)
        statuses.append(stack.serve({"action": "teardown"})["stopped"])
        started = dict(stack._containers.started)
    return check, statuses, started


def test_every_call_of_every_function_is_allowed_by_its_deployed_role():
    check, statuses, started = run_the_loop()
    assert statuses == ["SUCCEEDED", "SUMMARY SENT", "SUCCEEDED", "SUCCEEDED", "FAILED", "stopped", "starting", 1,
                        ["v1"]]
    exercised = set(deployed_with(pulumi_mocks.A2I))  # this run reviews in A2I: every function of an A2I stack
    assert set(check.requests) == exercised, f"not exercised: {sorted(exercised - set(check.requests))}"
    # Cold: every invocation had a container of its own.
    assert all(started[key] >= 1 for key in exercised) and started["detect"] > 1

    def made(key: str, action: str, resource: str = "") -> bool:
        return any(r.action == action and resource in r.resource for r in check.requests[key])

    # The rollback reads the parameters itself, whatever the functions before it read.
    assert made("prepare_rollback", "ssm:GetParametersByPath")
    assert made("start_training", "s3:GetObject", "/images_labeled_by_folder/")  # what Custom Labels reads
    assert made("build_manifest", "s3:PutObject", "/manifests/")  # written by a transfer's threads
    assert made("dataset", "s3:PutObject", "/images_labeled_by_folder/cat/")  # the answer's copy, left pending
    assert made("dataset", "s3:DeleteObjectVersion", "/images_labeled_by_folder/cat/")  # ...and its upload deleted
    assert made("detect", "events:PutEvents", ":event-bus/labelloop-sandbox-events")  # an image waits: the serving decision now
    assert made("serve", "rekognition:StartProjectVersion") and made("serve", "rekognition:DetectCustomLabels")  # the drain
    assert [str(d) for d in check.denials] == []


def test_the_review_apps_calls_are_allowed_by_their_deployed_roles():
    """A builtin stack, each function cold under its own role: a review task opened, served, skipped,
    answered by two reviewers and closed with its copy; another expired by the sweep."""
    models = scripted_custom_labels()
    with LocalStack(labels=("cat", "dog"), containers="per_invocation", standins={"rekognition": models}) as stack:
        use_review_app(stack)
        check = stack.enforce_roles(role_policies(stack, {**pulumi_mocks.BUILTIN_SMALL, "labels": ["cat", "dog"]}))
        seed(stack, {"cat": 6, "dog": 6})
        assert stack.run_lifecycle()["status"] == "SUCCEEDED"
        s3 = stack.client("s3")
        set_parameters(stack, **{REVIEWERS_PER_IMAGE: 2})
        for name in ("unsure", "late"):
            models.trainer.by_key[f"images_for_detection/{name}.png"] = UNSURE
            s3.put_object(Bucket=stack.bucket, Key=f"images_for_detection/{name}.png", Body=PNG + name.encode())
        stack.pump()
        wait_for_detections(stack)
        ana, bo, cy = (Reviewer(stack, name) for name in ("ana", "bo", "cy"))
        task = ana.next()["id"]
        assert ana.skip(task)[0] == 200
        assert bo.answer(task, "cat")[0] == 200 and cy.answer(task, "cat")[0] == 200
        assert context.table().review(task).status == "accepted"
        with pytest.MonkeyPatch.context() as patch:
            Clock(patch).advance(hours=context.settings()[TASK_LIFETIME_HOURS], minutes=1)
            assert stack.deliver("review_api", review_api.SWEEP)["expired"] == 1  # the other task, by the sweep
            assert ana.next() is None
        assert ana.me()["skips"] == 1
    assert {"start_review", "review_api"} <= set(check.requests)
    assert any(r.action == "s3:PutObject" and "/images_labeled_by_folder/cat/" in r.resource
               for r in check.requests["review_api"])  # the answer's copy
    assert any(r.action == "dynamodb:DeleteItem" for r in check.requests["review_api"])  # out of the open index
    assert [str(d) for d in check.denials] == []


def test_a_statement_missing_from_a_deployed_role_fails_the_run():
    """The same run with a statement taken out of three roles: each call it allowed is refused."""
    taken = {"prepare_rollback": "ssm:GetParametersByPath", "detect": "s3:GetObject", "summary": "sns:Publish"}
    with LocalStack(labels=("cat", "dog")) as stack:
        deployed = role_policies(stack)
    remove = {}
    for key, action in taken.items():
        [sid] = [s["Sid"] for s in deployed[key]["Statement"] if action in json.dumps(s["Action"])]
        remove[key] = sid
    check, statuses, _ = run_the_loop(remove)
    refused = {(d.function, d.request.action.removesuffix("Version")) for d in check.denials}
    assert refused == set(taken.items())
    assert statuses[1] == "SUMMARY FAILED: AccessDeniedException"  # as in an account
    assert statuses[3] == "FAILED"  # the rollback could not read the parameters
