"""Rekognition Custom Labels, in process, behind the same boto3 calls: one set
of API rules, and a pluggable trainer that makes the models.

The rules (one project, the operations labelloop calls):

- ``CreateProjectVersion`` needs both TrainingData and TestingData (``AutoCreate``
  or a manifest: the gate set) and a new version name; the trainer makes the
  model at once (reading the manifests, as Rekognition reads them when training
  starts).
- ``DescribeProjectVersions`` moves each version it names one step along the
  status sequence of its current phase (the first describe shows the first
  status, the last status stays): training ``TRAINING_IN_PROGRESS →
  TRAINING_COMPLETED | TRAINING_FAILED``, starting ``STARTING → RUNNING |
  FAILED``, stopping ``STOPPING → STOPPED``. On reaching
  ``TRAINING_COMPLETED`` the evaluation summary is written where Rekognition
  writes it, ``<S3KeyPrefix>EvaluationResultSummary-<project>-<version>.json``.
- ``StartProjectVersion`` starts a version that is ``TRAINING_COMPLETED``,
  ``STOPPED`` or ``FAILED``; one that is starting, running or stopping is in
  use (``ResourceInUseException``), any other cannot start
  (``InvalidParameterException``).
- ``StopProjectVersion`` stops a version that is starting or running;
  otherwise ``ResourceInUseException``.
- ``DetectCustomLabels`` answers only from a ``RUNNING`` version
  (``ResourceNotReadyException``); without ``MinConfidence`` each label's
  threshold from the evaluation filters, as Rekognition's assumed threshold does.
- Capacity (with ``throughput``, transactions a second per inference unit): a
  running version answers at most its units × ``throughput`` calls a second, with
  one second of them as a burst (a token bucket on the clock), and refuses the
  rest with ``ProvisionedThroughputExceededException``, as Rekognition does
  "if the number of calls exceeds the maximum TPS the total inference units
  support". AWS publishes no rate per unit (it depends on the model, the image
  size and whether it is read from S3): :data:`DEFAULT_THROUGHPUT` is this
  stand-in's assumption, to be replaced by what a stack measured (the drain
  records it). Without ``throughput`` (the tests' default) a model never refuses
  for throughput. The units are ``MinInferenceUnits``: AWS's autoscaling up to
  ``MaxInferenceUnits`` is not modelled.
- Billing: a version bills per inference unit per hour from ``RUNNING`` until
  ``STOPPED``, idle or not (:attr:`CustomLabels.bills`, :meth:`CustomLabels.iu_hours`).
- Usage: as time passes, each minute a version was in service is published to CloudWatch as the
  metric AWS publishes, ``InServiceInferenceUnits`` (namespace ``AWS/Rekognition``, dimensions
  ``ProjectName`` and ``VersionName``, unit Count): the units in service, averaged over the minute
  (:attr:`CustomLabels.published`). AWS documents the metric for models trained and started after
  August 2022, with ``Average`` as its statistic; whole minutes only, as CloudWatch lags too.

With a ``clock`` (a callable returning the simulated time), starting and stopping
take time as they do on AWS: a version stays ``STARTING`` for ``start_minutes``
(AWS: typically 5 to 20 minutes) and ``STOPPING`` for ``stop_minutes``, however
often it is described, and reaches the next status by the clock alone.

A trainer (:class:`Trainer`) decides what a model is and how it answers:
:class:`sandbox.scripted_trainer.ScriptedTrainer` (tests, benchmarks) or
:class:`sandbox.digits_trainer.DigitsTrainer` (scikit-learn, the sandbox).
Every call is recorded (:meth:`CustomLabels.operations`) and any operation can
be made to fail next (:meth:`CustomLabels.fail_next`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Protocol

import boto3

from .standins import ServiceFault

TRAINED = ("TRAINING_IN_PROGRESS", "TRAINING_COMPLETED")
TRAINING_FAILS = ("TRAINING_IN_PROGRESS", "TRAINING_FAILED")
STARTS = ("STARTING", "RUNNING")
START_FAILS = ("STARTING", "FAILED")
STOPS = ("STOPPING", "STOPPED")
LIVE = ("STARTING", "RUNNING")  # billing, or about to
IN_USE = ("STARTING", "RUNNING", "STOPPING")
STARTABLE = ("TRAINING_COMPLETED", "STOPPED", "FAILED")
DEFAULT_THRESHOLD = 0.5
MESSAGES = {"TRAINING_FAILED": "The manifest file contains too many invalid data objects.",
            "FAILED": "The model failed to start.", "RUNNING": "The model is running.",
            "STOPPED": "The model is stopped."}
FIRST_CREATED = 1700000000000  # version ARNs end in their creation time (ms); versions count up from here
NAMESPACE, IN_SERVICE = "AWS/Rekognition", "InServiceInferenceUnits"
# Detections a second one inference unit answers, when capacity is modelled: an assumption (AWS publishes
# no figure; a small classification model reading small images from S3); override it with what you measured.
DEFAULT_THROUGHPUT = 5.0
BURST_SECONDS = 1.0  # calls beyond the rate a version absorbs after a quiet second
PUT_LIMIT = 1000  # metric data per PutMetricData


@dataclass(frozen=True)
class LabelResult:
    label: str
    f1: float
    precision: float
    recall: float
    threshold: float = DEFAULT_THRESHOLD
    testing_images: int = 0


@dataclass(frozen=True)
class Evaluation:
    """A trained model's scores on its testing data: what the evaluation summary holds."""

    f1: float
    precision: float
    recall: float
    labels: tuple[LabelResult, ...]
    training_images: int
    testing_images: int

    def summary(self) -> dict:
        return {
            "Version": 1,
            "AggregatedEvaluationResults": {"F1Score": self.f1, "Precision": self.precision, "Recall": self.recall},
            "EvaluationDetails": {"NumberOfTrainingImages": self.training_images,
                                  "NumberOfTestingImages": self.testing_images},
            "LabelEvaluationResults": [
                {"Label": r.label, "NumberOfTestingImages": r.testing_images,
                 "Metrics": {"F1Score": r.f1, "Precision": r.precision, "Recall": r.recall, "Threshold": r.threshold}}
                for r in self.labels],
        }


@dataclass
class Training:
    """What a trainer made of one CreateProjectVersion, and how the version's phases go."""

    evaluation: Evaluation | None = None  # None: nothing to evaluate (the training fails)
    model: Any = None  # whatever the trainer's detect needs
    message: str = ""  # the status message of a failed phase
    training: tuple[str, ...] = TRAINED
    starting: tuple[str, ...] = STARTS
    stopping: tuple[str, ...] = STOPS


@dataclass(frozen=True)
class TrainingJob:
    version: str
    number: int  # 1 for the project's first version
    manifest: dict  # {"Bucket", "Name"}
    s3: Any  # an S3 client
    testing: dict | None = None  # the testing manifest {"Bucket", "Name"}; None: AutoCreate


class Trainer(Protocol):
    def train(self, job: TrainingJob) -> Training: ...

    def detect(self, version: "ModelVersion", image: dict, s3) -> list[tuple[str, float]]:
        """Every label with its confidence (0–100) for the image ``{"Bucket", "Name"}``; a ServiceFault
        for an image Rekognition would refuse."""


@dataclass
class Bill:
    """One period a version ran: from RUNNING until STOPPED (``until`` None: it still runs)."""

    version: str
    units: int
    running_from: datetime
    until: datetime | None = None

    def hours(self, now: datetime) -> float:
        return self.units * max(0.0, ((self.until or now) - self.running_from).total_seconds()) / 3600


@dataclass
class ModelVersion:
    name: str
    arn: str
    project: str
    status: str
    training: Training
    output: dict  # OutputConfig
    created: datetime
    queue: list[str] = field(default_factory=list)  # statuses still to come, one per describe
    evaluation: dict | None = None  # EvaluationResult, once the summary is written
    min_units: int | None = None
    max_units: int | None = None
    phase_started: datetime | None = None  # when it was last asked to start or stop

    @property
    def model(self) -> Any:
        return self.training.model

    @property
    def f1(self) -> float | None:
        return self.training.evaluation.f1 if self.training.evaluation else None

    def threshold(self, label: str) -> float:
        evaluation = self.training.evaluation
        scores = {r.label: r.threshold for r in evaluation.labels} if evaluation else {}
        return scores.get(label, DEFAULT_THRESHOLD)


def _manifest(data: dict) -> dict:
    """The S3 object of a TrainingData or TestingData manifest; {} without one."""
    assets = data.get("Assets") or [{}]
    return (assets[0].get("GroundTruthManifest") or {}).get("S3Object", {})


class CustomLabels:
    """Rekognition Custom Labels for one account, in process (see the module docstring)."""

    TRAINED, TRAINING_FAILS, STARTS, START_FAILS, STOPS = TRAINED, TRAINING_FAILS, STARTS, START_FAILS, STOPS

    def __init__(self, trainer: Trainer, s3: Callable[[], Any] | None = None, *,
                 clock: Callable[[], datetime] | None = None, start_minutes: float = 10.0,
                 stop_minutes: float = 2.0, cloudwatch: Callable[[], Any] | None = None,
                 throughput: float | None = None):
        self.trainer = trainer
        self.throughput = throughput  # calls a second per inference unit; None: never refuses for throughput
        self._buckets: dict[str, tuple[float, datetime]] = {}  # version -> (tokens, when counted)
        self.clock, self.start_minutes, self.stop_minutes = clock, start_minutes, stop_minutes
        self.bills: list[Bill] = []
        self.published: list[dict] = []  # every InServiceInferenceUnits datapoint, oldest minute first
        self._published_until: datetime | None = None
        self._cloudwatch_factory = cloudwatch  # a callable returning a CloudWatch client; None: nothing published
        self._cloudwatch_client = None
        self._s3_factory = s3  # a callable returning an S3 client; by default a client of its own
        self._s3_client = None
        self.versions: dict[str, ModelVersion] = {}
        self.calls: list[tuple[str, dict]] = []
        self.faults: dict[str, list[str]] = defaultdict(list)  # operation -> error codes raised next
        self.on_status: dict[tuple[str, str], Callable[[], None]] = {}  # (version, status) -> called once reached

    # -- scripting and inspection ---------------------------------------------
    def fail_next(self, operation: str, *codes: str) -> None:
        """The next calls of ``operation`` raise these AWS error codes, in order."""
        self.faults[operation].extend(codes)

    @property
    def running(self) -> set[str]:
        return {name for name, v in self.versions.items() if v.status in LIVE}

    def status(self, version: str) -> str:
        return self.versions[version].status

    def arn(self, version: str) -> str:
        return self.versions[version].arn

    def operations(self, name: str) -> list[dict]:
        """The parameters of every call of one operation, oldest first."""
        return [params for op, params in self.calls if op == name]

    def now(self) -> datetime:
        return self.clock() if self.clock else datetime.now(timezone.utc)

    def iu_hours(self, until: datetime | None = None) -> float:
        """Inference-unit hours billed so far (running periods until ``until``, default now)."""
        self._tick()
        end = until or self.now()
        return sum(bill.hours(end) for bill in self.bills)

    def settle(self) -> None:
        """Let time pass: every version reaches the end of its current sequence."""
        for version in self.versions.values():
            while version.queue:
                self._advance(version)

    def add_running(self, arn: str, units: int = 1) -> ModelVersion:
        """A version that is already RUNNING on ``units`` inference units, named by its ARN
        (``…:project/<p>/version/<v>/<n>``), as a stack that has been serving has one; it answers as the
        trainer answers for an untrained model."""
        project, _, name = arn.split("project/", 1)[1].split("/")[:3]
        version = self.versions[name] = ModelVersion(name, arn, project, "RUNNING", Training(), {}, self.now(),
                                                     min_units=units)
        self.bills.append(Bill(name, units, self.now()))
        return version

    # -- the API ----------------------------------------------------------------
    def CreateProjectVersion(self, ProjectArn, VersionName, OutputConfig, TrainingData=None, TestingData=None,
                             **rest):
        self._record("CreateProjectVersion", dict(ProjectArn=ProjectArn, VersionName=VersionName,
                                                  OutputConfig=OutputConfig, TrainingData=TrainingData,
                                                  TestingData=TestingData, **rest))
        if VersionName in self.versions:
            raise ServiceFault("ResourceInUseException", f"version {VersionName} already exists")
        if not TrainingData or not TestingData:
            raise ServiceFault("InvalidParameterException", "TrainingData and TestingData are both required")
        base, _, rest_of_arn = ProjectArn.partition("project/")
        project = rest_of_arn.split("/")[0]
        number = len(self.versions) + 1
        arn = f"{base}project/{project}/version/{VersionName}/{FIRST_CREATED + number - 1}"
        manifest, testing = _manifest(TrainingData), _manifest(TestingData)
        if not TestingData.get("AutoCreate") and not testing:
            raise ServiceFault("InvalidParameterException", "TestingData needs AutoCreate or a manifest")
        training = self.trainer.train(TrainingJob(VersionName, number, manifest, self._s3(), testing or None))
        self.versions[VersionName] = ModelVersion(
            VersionName, arn, project, "TRAINING_IN_PROGRESS", training, OutputConfig, datetime.now(timezone.utc),
            queue=list(training.training))
        return {"ProjectVersionArn": arn}

    def DescribeProjects(self, **rest):
        """The projects this service holds versions of (a project without versions is not known here; its
        ARN ends in a version's creation time, not its own)."""
        self._record("DescribeProjects", dict(rest))
        projects = {v.arn.split("/version/", 1)[0]: v.arn.rsplit("/", 1)[1] for v in self.versions.values()}
        return {"ProjectDescriptions": [{"ProjectArn": f"{prefix}/{created}", "Status": "CREATED"}
                                        for prefix, created in sorted(projects.items())]}

    def DescribeProjectVersions(self, ProjectArn, VersionNames=None, **rest):
        self._record("DescribeProjectVersions", dict(ProjectArn=ProjectArn, VersionNames=VersionNames, **rest))
        of_project = ProjectArn.rsplit("/", 1)[0] + "/version/"
        descriptions = []
        for name in VersionNames or list(self.versions):
            version = self.versions.get(name)
            if version is None or not version.arn.startswith(of_project):
                continue
            self._advance(version)
            description = {"ProjectVersionArn": version.arn, "CreationTimestamp": version.created,
                           "Status": version.status, "StatusMessage": self._message(version),
                           "OutputConfig": version.output}
            if version.evaluation and version.status != "TRAINING_FAILED":
                description["EvaluationResult"] = version.evaluation
            if version.min_units:
                description["MinInferenceUnits"] = version.min_units
            if version.max_units:
                description["MaxInferenceUnits"] = version.max_units
            descriptions.append(description)
        return {"ProjectVersionDescriptions": descriptions}

    def StartProjectVersion(self, ProjectVersionArn, MinInferenceUnits, MaxInferenceUnits=None, **rest):
        self._record("StartProjectVersion", dict(ProjectVersionArn=ProjectVersionArn,
                                                 MinInferenceUnits=MinInferenceUnits,
                                                 MaxInferenceUnits=MaxInferenceUnits, **rest))
        version = self._by_arn(ProjectVersionArn)
        if version.status in IN_USE:
            raise ServiceFault("ResourceInUseException", f"model {version.name} is {version.status}")
        if version.status not in STARTABLE:
            raise ServiceFault("InvalidParameterException",
                               f"model {version.name} is {version.status} and cannot start")
        version.status, version.queue = "STARTING", list(version.training.starting)
        version.min_units, version.max_units = MinInferenceUnits, MaxInferenceUnits
        version.phase_started = self.now()
        return {"Status": "STARTING"}

    def StopProjectVersion(self, ProjectVersionArn, **rest):
        self._record("StopProjectVersion", dict(ProjectVersionArn=ProjectVersionArn, **rest))
        version = self._by_arn(ProjectVersionArn)
        if version.status not in LIVE:
            raise ServiceFault("ResourceInUseException", f"model {version.name} is {version.status}, not running")
        version.status, version.queue = "STOPPING", list(version.training.stopping)
        version.phase_started = self.now()
        return {"Status": "STOPPING"}

    def DetectCustomLabels(self, ProjectVersionArn, Image, MinConfidence=None, **rest):
        self._record("DetectCustomLabels", dict(ProjectVersionArn=ProjectVersionArn, Image=Image,
                                                **({} if MinConfidence is None else {"MinConfidence": MinConfidence}),
                                                **rest))
        version = self._by_arn(ProjectVersionArn)
        if version.status != "RUNNING":
            raise ServiceFault("ResourceNotReadyException", f"model {version.name} is {version.status}, not RUNNING")
        if not self._take_token(version):
            raise ServiceFault("ProvisionedThroughputExceededException",
                               f"model {version.name} answers {self._rate(version):g} calls a second on "
                               f"{version.min_units or 1} inference unit(s)")
        labels = self.trainer.detect(version, Image["S3Object"], self._s3())
        return {"CustomLabels": [
            {"Name": name, "Confidence": confidence} for name, confidence in labels
            if confidence >= (version.threshold(name) * 100 if MinConfidence is None else float(MinConfidence))]}

    # -- the rules' machinery -------------------------------------------------------
    def _rate(self, version: ModelVersion) -> float:
        return (version.min_units or 1) * self.throughput

    def _take_token(self, version: ModelVersion) -> bool:
        """One call within the version's capacity (always, when capacity is not modelled)."""
        if self.throughput is None:
            return True
        rate, now = self._rate(version), self.now()
        tokens, counted = self._buckets.get(version.name, (rate * BURST_SECONDS, now))
        tokens = min(rate * BURST_SECONDS, tokens + rate * max(0.0, (now - counted).total_seconds()))
        if tokens < 1.0:
            self._buckets[version.name] = (tokens, now)
            return False
        self._buckets[version.name] = (tokens - 1.0, now)
        return True

    def _record(self, operation: str, params: dict) -> None:
        self.calls.append((operation, params))
        self._tick()
        if self.faults[operation]:
            code = self.faults[operation].pop(0)
            raise ServiceFault(code, f"simulated {code}")

    def _by_arn(self, arn: str) -> ModelVersion:
        for version in self.versions.values():
            if version.arn == arn:
                return version
        raise ServiceFault("ResourceNotFoundException", f"model version {arn} does not exist")

    def _tick(self) -> None:
        """With a clock, every version that has started or stopped for long enough moves on; the minutes
        that have passed are published."""
        if self.clock:
            for version in self.versions.values():
                while version.queue and version.status in ("STARTING", "STOPPING") and not self._waits(version):
                    self._advance(version)
        self._publish()

    def publish(self) -> None:
        """Let the clock's time pass, and publish InServiceInferenceUnits for every whole minute since the
        last publication (with a CloudWatch client to publish to)."""
        self._tick()

    def flush(self) -> None:
        """Publish up to now, the minute under way too: the service's last word (a saved run's)."""
        self._tick()
        self._publish(self.now())

    def _publish(self, until: datetime | None = None) -> None:
        if not self.bills or self._cloudwatch_factory is None:
            return
        end = until or self.now().replace(second=0, microsecond=0)
        start = self._published_until or min(b.running_from for b in self.bills).replace(second=0, microsecond=0)
        if end <= start:
            return
        units: dict[tuple[str, datetime], float] = defaultdict(float)
        for bill in self.bills:
            begin, until = max(start, bill.running_from), min(end, bill.until or end)
            minute = begin.replace(second=0, microsecond=0)
            while minute < until:
                following = minute + timedelta(minutes=1)
                seconds = (min(following, until) - max(minute, begin)).total_seconds()
                units[(bill.version, minute)] += bill.units * seconds / 60
                minute = following
        data = [{"MetricName": IN_SERVICE, "Timestamp": minute, "Value": round(value, 6), "Unit": "Count",
                 "Dimensions": [{"Name": "ProjectName", "Value": self.versions[version].project},
                                {"Name": "VersionName", "Value": version}]}
                for (version, minute), value in sorted(units.items(), key=lambda item: item[0][1]) if value > 0]
        for chunk in range(0, len(data), PUT_LIMIT):
            self._cloudwatch().put_metric_data(Namespace=NAMESPACE, MetricData=data[chunk:chunk + PUT_LIMIT])
        self.published += data
        self._published_until = end

    def _waits(self, version: ModelVersion) -> bool:
        """With a clock, a starting or stopping version reaches its next status only after its minutes."""
        if not self.clock or not version.queue or version.queue[0] == version.status:
            return False
        minutes = self.start_minutes if version.status == "STARTING" else self.stop_minutes
        return version.status in ("STARTING", "STOPPING") and \
            (self.now() - (version.phase_started or self.now())).total_seconds() < minutes * 60

    def _reached(self, version: ModelVersion, minutes: float) -> datetime:
        """When the version reached its status: with a clock, its minutes after it was asked."""
        if not self.clock or version.phase_started is None:
            return self.now()
        return min(self.now(), version.phase_started + timedelta(minutes=minutes))

    def _advance(self, version: ModelVersion) -> None:
        if not version.queue or self._waits(version):
            return
        before, version.status = version.status, version.queue.pop(0)
        if version.status == "RUNNING" and before != "RUNNING":
            self.bills.append(Bill(version.name, version.min_units or 1, self._reached(version, self.start_minutes)))
        if version.status == "STOPPED" and before != "STOPPED":
            for bill in self.bills:
                if bill.version == version.name and bill.until is None:
                    bill.until = self._reached(version, self.stop_minutes)
        if version.status == "TRAINING_COMPLETED" and before != "TRAINING_COMPLETED":
            self._write_evaluation(version)
        hook = self.on_status.pop((version.name, version.status), None)
        if hook:
            hook()

    def _write_evaluation(self, version: ModelVersion) -> None:
        evaluation = version.training.evaluation
        if evaluation is None:
            return
        output = version.output
        key = f"{output.get('S3KeyPrefix', '')}EvaluationResultSummary-{version.project}-{version.name}.json"
        self._s3().put_object(Bucket=output["S3Bucket"], Key=key, Body=json.dumps(evaluation.summary()).encode())
        version.evaluation = {"F1Score": evaluation.f1,
                              "Summary": {"S3Object": {"Bucket": output["S3Bucket"], "Name": key}}}

    @staticmethod
    def _message(version: ModelVersion) -> str:
        if version.training.message and version.status in ("TRAINING_FAILED", "FAILED"):
            return version.training.message
        return MESSAGES.get(version.status, "")

    def _cloudwatch(self):
        if self._cloudwatch_client is None:
            self._cloudwatch_client = self._cloudwatch_factory()
        return self._cloudwatch_client

    def _s3(self):
        if self._s3_client is None:
            self._s3_client = self._s3_factory() if self._s3_factory else boto3.client("s3")
        return self._s3_client
