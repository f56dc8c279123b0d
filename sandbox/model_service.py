"""A local stand-in for Rekognition Custom Labels, behind the same boto3 calls.

``CreateProjectVersion`` reads the manifest from the (moto) bucket, trains a
real scikit-learn classifier on its images, evaluates it on a held-out split
(as Rekognition's ``TestingData={"AutoCreate": true}`` does) and writes the
evaluation summary where Rekognition writes it. Statuses walk the real
sequences, one step per ``DescribeProjectVersions``; ``DetectCustomLabels``
returns a probability (0–100) for every label and refuses a model that is not
RUNNING.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, precision_recall_fscore_support
from sklearn.model_selection import train_test_split

from .dataset import decode_features
from .standins import ServiceFault

TEST_SHARE = 0.2


@dataclass
class ModelVersion:
    name: str
    arn: str
    status: str
    pending: list[str] = field(default_factory=list)  # statuses still to come, one per describe
    model: Any = None
    classes: tuple[str, ...] = ()
    f1: float = 0.0
    summary_location: dict | None = None
    message: str = ""
    inference_units: int = 0
    images: int = 0


class LocalCustomLabels:
    """Rekognition Custom Labels for one project, in process."""

    def __init__(self, s3_client, seed: int = 0):
        self._s3 = s3_client  # a callable returning the S3 client (clients are created lazily)
        self.seed = seed
        self.versions: dict[str, ModelVersion] = {}
        self._lock = threading.Lock()
        self.detections = 0
        # Decoded training images by (bucket, key, ETag): each version reads its whole manifest
        # again, as Rekognition does, but an unchanged image is decoded once.
        self._features: dict[tuple[str, str, str], np.ndarray] = {}

    # -- training ------------------------------------------------------------
    def CreateProjectVersion(self, ProjectArn, VersionName, OutputConfig, TrainingData, TestingData=None, **_):
        if VersionName in self.versions:
            raise ServiceFault("ResourceInUseException", f"version {VersionName} already exists")
        arn = f"{ProjectArn.rsplit('/', 1)[0]}/version/{VersionName}/{len(self.versions) + 1}"
        version = ModelVersion(VersionName, arn, "TRAINING_IN_PROGRESS")
        self.versions[VersionName] = version
        try:
            manifest = TrainingData["Assets"][0]["GroundTruthManifest"]["S3Object"]
            self._train(version, manifest, OutputConfig)
            version.pending = ["TRAINING_COMPLETED"]
        except Exception as exc:  # a dataset Rekognition would refuse fails the training, as there
            version.pending, version.message = ["TRAINING_FAILED"], f"training failed: {exc}"
        return {"ProjectVersionArn": arn}

    def _train(self, version: ModelVersion, manifest: dict, output: dict) -> None:
        lines = self._read(manifest["Bucket"], manifest["Name"]).decode().splitlines()
        features, labels = [], []
        for line in lines:
            entry = json.loads(line)
            bucket, _, key = entry["source-ref"][len("s3://"):].partition("/")
            meta = next(v for k, v in entry.items() if k.endswith("-metadata"))
            features.append(self._training_features(bucket, key))
            labels.append(meta["class-name"])
        x, y = np.array(features), np.array(labels)
        classes, counts = np.unique(y, return_counts=True)
        if len(classes) < 2:
            raise ValueError("the manifest needs at least 2 labels")
        splittable = np.isin(y, classes[counts >= 2])
        test_size = max(len(classes[counts >= 2]), int(round(splittable.sum() * TEST_SHARE)))
        seed = self.seed + len(self.versions)
        x_train, x_test, y_train, y_test = train_test_split(
            x[splittable], y[splittable], test_size=test_size, stratify=y[splittable], random_state=seed)
        x_train = np.vstack([x_train, x[~splittable]])
        y_train = np.concatenate([y_train, y[~splittable]])
        model = LogisticRegression(max_iter=2000, C=1.0).fit(x_train / 16.0, y_train)
        predicted = model.predict(x_test / 16.0)
        version.model, version.classes, version.images = model, tuple(model.classes_), len(y)
        version.f1 = float(f1_score(y_test, predicted, average="macro", zero_division=0))
        precision, recall, f1, support = precision_recall_fscore_support(
            y_test, predicted, labels=list(classes), zero_division=0)
        summary = {
            "Version": 1,
            "AggregatedEvaluationResults": {"F1Score": version.f1,
                                            "Precision": float(np.average(precision)),
                                            "Recall": float(np.average(recall))},
            "EvaluationDetails": {"NumberOfTrainingImages": int(len(y_train)),
                                  "NumberOfTestingImages": int(len(y_test))},
            "LabelEvaluationResults": [
                {"Label": str(label), "NumberOfTestingImages": int(n),
                 "Metrics": {"F1Score": float(f), "Precision": float(p), "Recall": float(r), "Threshold": 0.5}}
                for label, p, r, f, n in zip(classes, precision, recall, f1, support)],
        }
        key = f"{output['S3KeyPrefix'].rstrip('/')}/EvaluationResultSummary-{version.name}.json"
        self._s3().put_object(Bucket=output["S3Bucket"], Key=key, Body=json.dumps(summary).encode())
        version.summary_location = {"Bucket": output["S3Bucket"], "Name": key}

    def _training_features(self, bucket: str, key: str) -> np.ndarray:
        etag = self._s3().head_object(Bucket=bucket, Key=key)["ETag"]
        cached = self._features.get((bucket, key, etag))
        if cached is None:
            cached = self._features[(bucket, key, etag)] = decode_features(self._read(bucket, key)).ravel()
        return cached

    def _read(self, bucket: str, key: str) -> bytes:
        return self._s3().get_object(Bucket=bucket, Key=key)["Body"].read()

    # -- status ----------------------------------------------------------------
    def DescribeProjectVersions(self, ProjectArn, VersionNames=None, **_):
        descriptions = []
        for name in VersionNames or list(self.versions):
            version = self.versions.get(name)
            if version is None:
                continue
            if version.pending:
                version.status = version.pending.pop(0)
            description = {"ProjectVersionArn": version.arn, "Status": version.status,
                           "StatusMessage": version.message or version.status.replace("_", " ").lower()}
            if version.status in ("TRAINING_COMPLETED", "STARTING", "RUNNING", "STOPPING", "STOPPED"):
                description["EvaluationResult"] = {"F1Score": version.f1,
                                                   "Summary": {"S3Object": version.summary_location}}
                description["MinInferenceUnits"] = version.inference_units
            descriptions.append(description)
        return {"ProjectVersionDescriptions": descriptions}

    def _version(self, arn: str) -> ModelVersion:
        version = next((v for v in self.versions.values() if v.arn == arn), None)
        if version is None:
            raise ServiceFault("ResourceNotFoundException", f"no model version {arn}")
        return version

    def StartProjectVersion(self, ProjectVersionArn, MinInferenceUnits, MaxInferenceUnits=None, **_):
        version = self._version(ProjectVersionArn)
        if version.status in ("STARTING", "RUNNING") or "RUNNING" in version.pending:
            raise ServiceFault("ResourceInUseException", f"{version.name} is {version.status}")
        if version.model is None:
            raise ServiceFault("ResourceNotReadyException", f"{version.name} is not trained")
        version.status, version.pending, version.inference_units = "STARTING", ["RUNNING"], MinInferenceUnits
        return {"Status": "STARTING"}

    def StopProjectVersion(self, ProjectVersionArn, **_):
        version = self._version(ProjectVersionArn)
        if version.status not in ("STARTING", "RUNNING"):
            raise ServiceFault("ResourceInUseException", f"{version.name} is {version.status}, not running")
        version.status, version.pending, version.inference_units = "STOPPING", ["STOPPED"], 0
        return {"Status": "STOPPING"}

    @property
    def running(self) -> list[str]:
        return [v.name for v in self.versions.values() if v.status in ("STARTING", "RUNNING") or "RUNNING" in v.pending]

    # -- inference ---------------------------------------------------------------
    def DetectCustomLabels(self, ProjectVersionArn, Image, MinConfidence=None, **_):
        version = self._version(ProjectVersionArn)
        if version.status != "RUNNING":
            raise ServiceFault("ResourceNotReadyException", f"{version.name} is {version.status}, not RUNNING")
        location = Image["S3Object"]
        try:
            data = self._read(location["Bucket"], location["Name"])
        except Exception as exc:
            raise ServiceFault("InvalidS3ObjectException",
                               f"cannot read s3://{location['Bucket']}/{location['Name']}: {exc}") from None
        try:
            features = decode_features(data).ravel()
        except ValueError as exc:
            raise ServiceFault("InvalidImageFormatException", str(exc)) from None
        with self._lock:
            self.detections += 1
        probabilities = version.model.predict_proba([features / 16.0])[0]
        # Without MinConfidence Rekognition filters by each label's threshold (0.5 here).
        threshold = 50.0 if MinConfidence is None else float(MinConfidence)
        labels = [{"Name": str(name), "Confidence": round(float(p) * 100, 3)}
                  for name, p in sorted(zip(version.classes, probabilities), key=lambda pair: -pair[1])]
        return {"CustomLabels": [label for label in labels if label["Confidence"] >= threshold]}

    def predict(self, version_name: str, features: np.ndarray) -> np.ndarray:
        """The version's predicted labels for a feature matrix (the sandbox's holdout scoring)."""
        return self.versions[version_name].model.predict(features / 16.0)
