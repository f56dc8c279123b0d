"""Stand-ins for Rekognition Custom Labels and A2I used by the runtime tests
(attached with sandbox.standins.attach, behind the real boto3 calls)."""

from __future__ import annotations

from collections import defaultdict

from sandbox.standins import ServiceFault


class FakeRekognition:
    """DetectCustomLabels answers from a table of key → labels; queued faults are raised first."""

    def __init__(self, default=(("cat", 95.0), ("dog", 5.0))):
        self.default = default
        self.by_key: dict[str, tuple] = {}
        self.faults: list[str] = []
        self.calls: list[dict] = []

    def DetectCustomLabels(self, **params):
        self.calls.append(params)
        if self.faults:
            code = self.faults.pop(0)
            raise ServiceFault(code, f"simulated {code}")
        labels = self.by_key.get(params["Image"]["S3Object"]["Name"], self.default)
        return {"CustomLabels": [{"Name": n, "Confidence": c} for n, c in labels]}


class FakeA2I:
    """StartHumanLoop with A2I's name rule: a repeated name is a ConflictException."""

    def __init__(self):
        self.loops: dict[str, dict] = {}
        self.attempts = defaultdict(int)

    def StartHumanLoop(self, HumanLoopName, FlowDefinitionArn, HumanLoopInput, **_):
        self.attempts[HumanLoopName] += 1
        if HumanLoopName in self.loops:
            raise ServiceFault("ConflictException", f"human loop {HumanLoopName} already exists", 409)
        self.loops[HumanLoopName] = {"flow": FlowDefinitionArn, "input": HumanLoopInput["InputContent"]}
        return {"HumanLoopArn": f"arn:aws:sagemaker:us-east-1:123456789012:human-loop/{HumanLoopName}"}


class FakeCustomLabels:
    """Rekognition Custom Labels model versions with scriptable, realistic status sequences.

    A version walks the sequence of its current phase one step per
    DescribeProjectVersions that names it (the first describe shows the first
    status, the last status stays): training after CreateProjectVersion
    (``TRAINING_IN_PROGRESS → TRAINING_COMPLETED | TRAINING_FAILED``), starting
    after StartProjectVersion (``STARTING → RUNNING | FAILED``), stopping after
    StopProjectVersion (``STOPPING → STOPPED``). When training completes, the
    evaluation summary JSON is written to the version's output location in the
    bucket, as Rekognition does. ``running`` is every version that is starting
    or running (billing, or about to).

    Script a version before it is created with ``script("v2", f1=0.5, ...)``;
    unscripted versions use the constructor's defaults.
    """

    TRAINED = ("TRAINING_IN_PROGRESS", "TRAINING_COMPLETED")
    TRAINING_FAILS = ("TRAINING_IN_PROGRESS", "TRAINING_FAILED")
    STARTS = ("STARTING", "RUNNING")
    START_FAILS = ("STARTING", "FAILED")
    STOPS = ("STOPPING", "STOPPED")
    LIVE = ("STARTING", "RUNNING")

    def __init__(self, *, f1=0.9, training=TRAINED, starting=STARTS, stopping=STOPS, per_label=None,
                 labels=("cat", "dog"), default_labels=(("cat", 95.0), ("dog", 5.0)), s3=None):
        self.defaults = {"f1": f1, "training": tuple(training), "starting": tuple(starting),
                         "stopping": tuple(stopping), "per_label": per_label, "message": ""}
        self.scripts: dict[str, dict] = {}
        self.versions: dict[str, dict] = {}  # version name -> state
        self.calls: list[tuple[str, dict]] = []
        self.faults: dict[str, list[str]] = defaultdict(list)  # operation -> error codes raised next
        self.labels = tuple(labels)
        self.default_labels = default_labels
        self.by_key: dict[str, tuple] = {}
        self.on_status: dict[tuple[str, str], object] = {}  # (version, status) -> called once when reached
        self._s3 = s3

    # -- scripting and inspection ---------------------------------------------
    def script(self, version: str, **overrides) -> None:
        """Override f1, training, starting, stopping, per_label or message for one version."""
        unknown = set(overrides) - set(self.defaults)
        if unknown:
            raise TypeError(f"unknown script fields: {sorted(unknown)}")
        self.scripts[version] = overrides

    def fail_next(self, operation: str, *codes: str) -> None:
        """The next calls of ``operation`` raise these AWS error codes, in order."""
        self.faults[operation].extend(codes)

    @property
    def running(self) -> set[str]:
        return {name for name, v in self.versions.items() if v["status"] in self.LIVE}

    def status(self, version: str) -> str:
        return self.versions[version]["status"]

    def arn(self, version: str) -> str:
        return self.versions[version]["arn"]

    def operations(self, name: str) -> list[dict]:
        return [params for op, params in self.calls if op == name]

    def settle(self) -> None:
        """Let time pass: every version reaches the end of its current sequence."""
        for v in self.versions.values():
            while v["queue"]:
                self._advance(v)

    def _record(self, operation: str, params: dict) -> None:
        self.calls.append((operation, params))
        if self.faults[operation]:
            code = self.faults[operation].pop(0)
            raise ServiceFault(code, f"simulated {code}")

    def _by_arn(self, arn: str) -> dict:
        for v in self.versions.values():
            if v["arn"] == arn:
                return v
        raise ServiceFault("ResourceNotFoundException", f"model version {arn} does not exist")

    def _advance(self, v: dict) -> None:
        if v["queue"]:
            before, v["status"] = v["status"], v["queue"].pop(0)
            if v["status"] == "TRAINING_COMPLETED" and before != "TRAINING_COMPLETED":
                self._write_evaluation(v)
            hook = self.on_status.pop((v["name"], v["status"]), None)
            if hook:
                hook()

    def _write_evaluation(self, v: dict) -> None:
        import json

        import boto3

        script = v["script"]
        labels = script["per_label"] or {name: {"F1Score": script["f1"], "Precision": script["f1"],
                                                "Recall": script["f1"], "Threshold": 0.5}
                                         for name in self.labels}
        summary = {
            "Version": 1,
            "AggregatedEvaluationResults": {"F1Score": script["f1"], "Precision": script["f1"],
                                            "Recall": script["f1"]},
            "EvaluationDetails": {"NumberOfTestingImages": 20, "NumberOfTrainingImages": 80},
            "LabelEvaluationResults": [{"Label": name, "NumberOfTestingImages": 10, "Metrics": dict(metrics)}
                                       for name, metrics in labels.items()],
        }
        output = v["output"]
        key = f"{output.get('S3KeyPrefix', '')}EvaluationResultSummary-{v['project']}-{v['name']}.json"
        s3 = self._s3 or boto3.client("s3", region_name="us-east-1")
        s3.put_object(Bucket=output["S3Bucket"], Key=key, Body=json.dumps(summary).encode())
        v["evaluation"] = {"F1Score": script["f1"], "Summary": {"S3Object": {"Bucket": output["S3Bucket"], "Name": key}}}

    # -- the API ----------------------------------------------------------------
    def CreateProjectVersion(self, ProjectArn, VersionName, OutputConfig, TrainingData=None, TestingData=None, **rest):
        from datetime import datetime, timezone

        self._record("CreateProjectVersion", dict(ProjectArn=ProjectArn, VersionName=VersionName,
                                                  OutputConfig=OutputConfig, TrainingData=TrainingData,
                                                  TestingData=TestingData, **rest))
        if VersionName in self.versions:
            raise ServiceFault("ResourceInUseException", f"version {VersionName} already exists")
        if not TrainingData or not TestingData:
            raise ServiceFault("InvalidParameterException", "TrainingData and TestingData are both required")
        project = ProjectArn.split("project/", 1)[1].split("/")[0]
        arn = f"{ProjectArn.split('project/', 1)[0]}project/{project}/version/{VersionName}/{1700000000000 + len(self.versions)}"
        script = self.defaults | self.scripts.get(VersionName, {})
        self.versions[VersionName] = {
            "name": VersionName, "arn": arn, "project": project, "status": "TRAINING_IN_PROGRESS",
            "queue": list(script["training"]), "script": script, "output": OutputConfig,
            "training_data": TrainingData, "created": datetime.now(timezone.utc), "evaluation": None,
            "min_units": None, "max_units": None,
        }
        return {"ProjectVersionArn": arn}

    def DescribeProjectVersions(self, ProjectArn, VersionNames=None, **rest):
        self._record("DescribeProjectVersions", dict(ProjectArn=ProjectArn, VersionNames=VersionNames, **rest))
        descriptions = []
        for name in VersionNames or list(self.versions):
            v = self.versions.get(name)
            if v is None or not v["arn"].startswith(ProjectArn.rsplit("/", 1)[0] + "/version/"):
                continue
            self._advance(v)
            description = {"ProjectVersionArn": v["arn"], "CreationTimestamp": v["created"], "Status": v["status"],
                           "StatusMessage": self._message(v), "OutputConfig": v["output"]}
            if v["evaluation"] and v["status"] != "TRAINING_FAILED":
                description["EvaluationResult"] = v["evaluation"]
            if v["min_units"]:
                description["MinInferenceUnits"] = v["min_units"]
            if v["max_units"]:
                description["MaxInferenceUnits"] = v["max_units"]
            descriptions.append(description)
        return {"ProjectVersionDescriptions": descriptions}

    @staticmethod
    def _message(v: dict) -> str:
        if v["script"]["message"] and v["status"] in ("TRAINING_FAILED", "FAILED"):
            return v["script"]["message"]
        return {"TRAINING_FAILED": "The manifest file contains too many invalid data objects.",
                "FAILED": "The model failed to start.", "RUNNING": "The model is running.",
                "STOPPED": "The model is stopped."}.get(v["status"], "")

    def StartProjectVersion(self, ProjectVersionArn, MinInferenceUnits, MaxInferenceUnits=None):
        self._record("StartProjectVersion", dict(ProjectVersionArn=ProjectVersionArn,
                                                 MinInferenceUnits=MinInferenceUnits,
                                                 MaxInferenceUnits=MaxInferenceUnits))
        v = self._by_arn(ProjectVersionArn)
        if v["status"] in ("STARTING", "RUNNING", "STOPPING"):
            raise ServiceFault("ResourceInUseException", f"model {v['name']} is {v['status']}")
        if v["status"] not in ("TRAINING_COMPLETED", "STOPPED", "FAILED"):
            raise ServiceFault("InvalidParameterException", f"model {v['name']} is {v['status']} and cannot start")
        v.update(status="STARTING", queue=list(v["script"]["starting"]), min_units=MinInferenceUnits,
                 max_units=MaxInferenceUnits)
        return {"Status": "STARTING"}

    def StopProjectVersion(self, ProjectVersionArn):
        self._record("StopProjectVersion", dict(ProjectVersionArn=ProjectVersionArn))
        v = self._by_arn(ProjectVersionArn)
        if v["status"] not in self.LIVE:
            raise ServiceFault("ResourceInUseException", f"model {v['name']} is {v['status']}, not running")
        v.update(status="STOPPING", queue=list(v["script"]["stopping"]))
        return {"Status": "STOPPING"}

    def DetectCustomLabels(self, ProjectVersionArn, Image, **rest):
        self._record("DetectCustomLabels", dict(ProjectVersionArn=ProjectVersionArn, Image=Image, **rest))
        v = self._by_arn(ProjectVersionArn)
        if v["status"] != "RUNNING":
            raise ServiceFault("ResourceNotReadyException", f"model {v['name']} is {v['status']}")
        labels = self.by_key.get(Image["S3Object"]["Name"], self.default_labels)
        return {"CustomLabels": [{"Name": n, "Confidence": c} for n, c in labels]}
