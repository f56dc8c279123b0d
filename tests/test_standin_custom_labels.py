"""The Custom Labels stand-in's API rules, the same whichever trainer makes the
models: status sequences, which states a version starts and stops from, where
the evaluation summary is written, what DetectCustomLabels answers."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from sandbox.custom_labels import START_FAILS, CustomLabels
from sandbox.dataset import load_digits_samples
from sandbox.digits_trainer import DigitsTrainer
from sandbox.scripted_trainer import scripted_custom_labels
from sandbox.standins import attach

PROJECT = "arn:aws:rekognition:us-east-1:123456789012:project/labelloop-test-model/1700000000000"
BUCKET = "labelloop-test-data"
OUTPUT = {"S3Bucket": BUCKET, "S3KeyPrefix": "evaluation/v1/"}
MANIFEST = {"Assets": [{"GroundTruthManifest": {"S3Object": {"Bucket": BUCKET, "Name": "manifests/v1.manifest"}}}]}


@pytest.fixture
def aws(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        session.client("s3").create_bucket(Bucket=BUCKET)
        yield session


def client_for(session, models):
    attach(session, "rekognition", models)
    return session.client("rekognition")


def create(rekognition, version="v1", **overrides):
    params = dict(ProjectArn=PROJECT, VersionName=version, OutputConfig=OUTPUT, TrainingData=MANIFEST,
                  TestingData={"AutoCreate": True}) | overrides
    return rekognition.create_project_version(**params)["ProjectVersionArn"]


def status(rekognition, version="v1") -> dict:
    [description] = rekognition.describe_project_versions(ProjectArn=PROJECT, VersionNames=[version])[
        "ProjectVersionDescriptions"]
    return description


def error_code(call) -> str:
    with pytest.raises(ClientError) as failed:
        call()
    return failed.value.response["Error"]["Code"]


def test_training_walks_its_sequence_and_writes_the_summary_where_rekognition_does(aws):
    models = scripted_custom_labels(per_label={
        "cat": {"F1Score": 0.95, "Precision": 0.97, "Recall": 0.93, "Threshold": 0.41},
        "dog": {"F1Score": 0.81, "Precision": 0.78, "Recall": 0.84, "Threshold": 0.55}})
    rekognition = client_for(aws, models)
    arn = create(rekognition)

    assert arn == "arn:aws:rekognition:us-east-1:123456789012:project/labelloop-test-model/version/v1/1700000000000"
    first = status(rekognition)
    assert first["Status"] == "TRAINING_IN_PROGRESS" and "EvaluationResult" not in first
    done = status(rekognition)
    assert done["Status"] == "TRAINING_COMPLETED" and done["EvaluationResult"]["F1Score"] == 0.9
    key = "evaluation/v1/EvaluationResultSummary-labelloop-test-model-v1.json"
    assert done["EvaluationResult"]["Summary"]["S3Object"] == {"Bucket": BUCKET, "Name": key}
    summary = json.loads(aws.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert summary["LabelEvaluationResults"][1] == {
        "Label": "dog", "NumberOfTestingImages": 10,
        "Metrics": {"F1Score": 0.81, "Precision": 0.78, "Recall": 0.84, "Threshold": 0.55}}
    assert status(rekognition)["Status"] == "TRAINING_COMPLETED"  # the last status stays


def test_a_version_needs_both_datasets_and_a_new_name(aws):
    rekognition = client_for(aws, scripted_custom_labels())
    assert error_code(lambda: create(rekognition, TestingData={})) == "InvalidParameterException"
    create(rekognition)
    assert error_code(lambda: create(rekognition)) == "ResourceInUseException"


# What StartProjectVersion / StopProjectVersion do from each state: the status it returns and the
# statuses the next describes show, or the error.
WALKS = {"STARTING": ["STARTING", "RUNNING", "RUNNING"], "STOPPING": ["STOPPING", "STOPPED", "STOPPED"]}


@pytest.mark.parametrize("operation, current, outcome", [
    ("start", "TRAINING_IN_PROGRESS", "InvalidParameterException"),
    ("start", "TRAINING_FAILED", "InvalidParameterException"),
    ("start", "TRAINING_COMPLETED", "STARTING"),
    ("start", "STOPPED", "STARTING"),
    ("start", "FAILED", "STARTING"),
    ("start", "STARTING", "ResourceInUseException"),
    ("start", "RUNNING", "ResourceInUseException"),
    ("start", "STOPPING", "ResourceInUseException"),
    ("stop", "STARTING", "STOPPING"),
    ("stop", "RUNNING", "STOPPING"),
    ("stop", "TRAINING_COMPLETED", "ResourceInUseException"),
    ("stop", "STOPPING", "ResourceInUseException"),
    ("stop", "STOPPED", "ResourceInUseException"),
    ("stop", "FAILED", "ResourceInUseException"),
])
def test_which_states_a_version_starts_and_stops_from(aws, operation, current, outcome):
    models = scripted_custom_labels()
    rekognition = client_for(aws, models)
    arn = create(rekognition)
    models.versions["v1"].status, models.versions["v1"].queue = current, []
    call = {"start": lambda: rekognition.start_project_version(ProjectVersionArn=arn, MinInferenceUnits=2),
            "stop": lambda: rekognition.stop_project_version(ProjectVersionArn=arn)}[operation]

    if outcome not in WALKS:
        assert error_code(call) == outcome
        assert models.status("v1") == current
        return
    assert call()["Status"] == outcome
    assert [status(rekognition)["Status"] for _ in range(3)] == WALKS[outcome]
    assert models.running == ({"v1"} if outcome == "STARTING" else set())
    if operation == "start":
        assert status(rekognition)["MinInferenceUnits"] == 2


def test_a_scripted_start_fails_with_its_message(aws):
    models = scripted_custom_labels()
    models.trainer.script("v1", starting=START_FAILS, message="Not enough capacity.")
    rekognition = client_for(aws, models)
    arn = create(rekognition)
    models.settle()
    rekognition.start_project_version(ProjectVersionArn=arn, MinInferenceUnits=1)
    models.settle()
    assert (status(rekognition)["Status"], status(rekognition)["StatusMessage"]) == ("FAILED", "Not enough capacity.")


def test_detection_needs_a_running_version_and_filters_by_threshold_without_min_confidence(aws):
    models = scripted_custom_labels(per_label={
        "cat": {"F1Score": 0.9, "Precision": 0.9, "Recall": 0.9, "Threshold": 0.30},
        "dog": {"F1Score": 0.9, "Precision": 0.9, "Recall": 0.9, "Threshold": 0.60}})
    models.trainer.by_key["a.png"] = (("cat", 55.0), ("dog", 45.0))
    rekognition = client_for(aws, models)
    arn = create(rekognition)
    image = {"S3Object": {"Bucket": BUCKET, "Name": "a.png"}}
    assert error_code(lambda: rekognition.detect_custom_labels(ProjectVersionArn=arn, Image=image)) == \
        "ResourceNotReadyException"
    assert error_code(lambda: rekognition.detect_custom_labels(ProjectVersionArn=arn + "0", Image=image)) == \
        "ResourceNotFoundException"
    models.settle()
    rekognition.start_project_version(ProjectVersionArn=arn, MinInferenceUnits=1)
    models.settle()

    def names(**params):
        answer = rekognition.detect_custom_labels(ProjectVersionArn=arn, Image=image, **params)
        return [label["Name"] for label in answer["CustomLabels"]]

    assert names() == ["cat"]  # dog's 45 is under its threshold of 60
    assert names(MinConfidence=0) == ["cat", "dog"]
    assert names(MinConfidence=50) == ["cat"]


def test_any_operation_fails_next_as_scripted_and_every_call_is_recorded(aws):
    models = scripted_custom_labels()
    rekognition = client_for(aws, models)
    models.fail_next("CreateProjectVersion", "ThrottlingException")
    assert error_code(lambda: create(rekognition)) == "ThrottlingException"
    create(rekognition)
    assert [call["VersionName"] for call in models.operations("CreateProjectVersion")] == ["v1", "v1"]
    assert list(models.versions) == ["v1"]


def _put_manifest(s3, samples) -> None:
    lines = []
    for sample in samples:
        key = f"images_labeled_by_folder/{sample.label}/{sample.name}"
        s3.put_object(Bucket=BUCKET, Key=key, Body=sample.png())
        lines.append(json.dumps({"source-ref": f"s3://{BUCKET}/{key}", "labelloop-class": 1,
                                 "labelloop-class-metadata": {"class-name": sample.label}}))
    s3.put_object(Bucket=BUCKET, Key="manifests/v1.manifest", Body="\n".join(lines).encode())


def test_the_digits_trainer_trains_a_real_model_and_refuses_a_single_label(aws):
    s3 = aws.client("s3")
    samples = load_digits_samples()
    two_labels = [s for s in samples if s.label in ("digit-0", "digit-1")][:40]
    _put_manifest(s3, two_labels)
    models = CustomLabels(DigitsTrainer(seed=3))
    rekognition = client_for(aws, models)
    arn = create(rekognition)
    models.settle()
    assert status(rekognition)["Status"] == "TRAINING_COMPLETED" and models.versions["v1"].f1 > 0.8
    rekognition.start_project_version(ProjectVersionArn=arn, MinInferenceUnits=1)
    models.settle()
    key = f"images_labeled_by_folder/{two_labels[0].label}/{two_labels[0].name}"
    image = {"S3Object": {"Bucket": BUCKET, "Name": key}}
    answer = rekognition.detect_custom_labels(ProjectVersionArn=arn, Image=image, MinConfidence=0)["CustomLabels"]
    assert [label["Name"] for label in answer][0] == two_labels[0].label

    _put_manifest(s3, [s for s in samples if s.label == "digit-0"][:5])
    create(rekognition, "v2")
    models.settle()
    failed = status(rekognition, "v2")
    assert failed["Status"] == "TRAINING_FAILED"
    assert failed["StatusMessage"] == "training failed: the manifest needs at least 2 labels"


def test_a_running_version_publishes_in_service_inference_units_every_minute(aws):
    from datetime import datetime, timedelta, timezone

    from handlers.runtime.usage import in_service
    from sandbox.clock import SimulatedClock

    clock = SimulatedClock(datetime(2026, 3, 2, 9, 0, 30, tzinfo=timezone.utc))
    models = scripted_custom_labels(cloudwatch=lambda: aws.client("cloudwatch"))
    models.clock, models.start_minutes, models.stop_minutes = clock.now, 5.0, 2.0
    rekognition = client_for(aws, models)
    arn = create(rekognition)
    status(rekognition), status(rekognition)  # trained
    rekognition.start_project_version(ProjectVersionArn=arn, MinInferenceUnits=2)  # RUNNING from 09:05:30
    clock.advance(minutes=95)
    rekognition.stop_project_version(ProjectVersionArn=arn)  # at 10:35:30: STOPPED at 10:37:30
    clock.advance(minutes=30)
    models.publish()

    published = {(d["Timestamp"].strftime("%H:%M"), d["Value"]) for d in models.published}
    assert ("09:05", 1.0) in published and ("09:06", 2.0) in published and ("10:37", 1.0) in published
    assert all(d["Dimensions"] == [{"Name": "ProjectName", "Value": "labelloop-test-model"},
                                   {"Name": "VersionName", "Value": "v1"}] for d in models.published)
    usage = in_service(aws.client("cloudwatch"), {"v1": "labelloop-test-model"}, clock.start, clock.now())
    assert usage.iu_hours == {"v1": pytest.approx(models.iu_hours(), abs=1e-6)}  # 92 minutes × 2 units
    assert usage.iu_hours["v1"] == pytest.approx(92 * 2 / 60, abs=1e-6)
    assert usage.end == datetime(2026, 3, 2, 10, 38, tzinfo=timezone.utc)  # the last minute with data, not now
    assert in_service(aws.client("cloudwatch"), {"v1": "labelloop-test-model"}, clock.now() - timedelta(minutes=5),
                      clock.now()).iu_hours == {}


@pytest.mark.parametrize("units", [1, 4])
def test_a_running_model_refuses_calls_beyond_its_units_capacity(aws, units):
    """With ``throughput`` (calls a second per unit) the model absorbs a second's worth as a burst, then
    answers at its rate and refuses the rest as Rekognition does."""
    from datetime import datetime, timedelta, timezone

    now = [datetime(2026, 3, 2, tzinfo=timezone.utc)]
    models = scripted_custom_labels(throughput=5.0)
    models.clock = lambda: now[0]
    arn = PROJECT.rsplit("/", 1)[0] + "/version/v1/1700000000000"
    models.add_running(arn, units)
    rekognition = client_for(aws, models)
    image = {"S3Object": {"Bucket": BUCKET, "Name": "images_for_detection/x.png"}}

    def burst(calls: int) -> list[str]:
        answers = []
        for _ in range(calls):
            try:
                rekognition.detect_custom_labels(ProjectVersionArn=arn, Image=image)
                answers.append("ok")
            except ClientError as exc:
                answers.append(exc.response["Error"]["Code"])
        return answers

    capacity = 5 * units
    assert burst(capacity + 3) == ["ok"] * capacity + ["ProvisionedThroughputExceededException"] * 3
    now[0] += timedelta(seconds=0.4)  # two calls' worth per unit come back
    assert burst(2 * units + 1).count("ok") == 2 * units
    now[0] += timedelta(seconds=60)  # a quiet minute refills one second's worth, no more
    assert burst(capacity + 1).count("ok") == capacity
    assert scripted_custom_labels().throughput is None  # by default a model never refuses for throughput
