"""The sandbox's Custom Labels trainer: a real scikit-learn classifier.

Training reads the manifest from the (moto) bucket, fits a logistic
regression on its images and evaluates it on the testing manifest (the gate
set) when there is one, else on a held-out split, as Rekognition's
``TestingData={"AutoCreate": true}`` does; a dataset Rekognition would refuse
(fewer than two labels) fails the training. A model answers a
probability (0–100) for every label, most likely first.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, precision_recall_fscore_support
from sklearn.model_selection import train_test_split

from handlers.lifecycle.manifest import parse_line

from .custom_labels import TRAINING_FAILS, Evaluation, LabelResult, ModelVersion, Training, TrainingJob
from .dataset import decode_features
from .standins import ServiceFault

TEST_SHARE = 0.2


class DigitsTrainer:
    """``side``: the pixels per side the model reads an image at (8: the digits; 28: MNIST)."""

    def __init__(self, seed: int = 0, side: int = 8):
        self.seed, self.side = seed, side
        # Decoded training images by (bucket, key, ETag): each version reads its whole manifest
        # again, as Rekognition does, but an unchanged image is decoded once.
        self._features: dict[tuple[str, str, str], np.ndarray] = {}

    def train(self, job: TrainingJob) -> Training:
        try:
            return self._train(job)
        except Exception as exc:  # a dataset Rekognition would refuse fails the training, as there
            return Training(message=f"training failed: {exc}", training=TRAINING_FAILS)

    def _train(self, job: TrainingJob) -> Training:
        x, y = self._manifest_images(job.s3, job.manifest)
        classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError("the manifest needs at least 2 labels")
        if job.testing:
            (x_train, y_train), (x_test, y_test) = (x, y), self._manifest_images(job.s3, job.testing)
            classes = np.unique(np.concatenate([y, y_test]))
        else:
            x_train, x_test, y_train, y_test = self._auto_split(x, y, job.number)
        model = fit(x_train, y_train)
        predicted = model.predict(x_test / 16.0)
        precision, recall, f1, support = precision_recall_fscore_support(
            y_test, predicted, labels=list(classes), zero_division=0)
        evaluation = Evaluation(
            float(f1_score(y_test, predicted, average="macro", zero_division=0)),
            float(np.average(precision)), float(np.average(recall)),
            tuple(LabelResult(str(label), float(f), float(p), float(r), testing_images=int(n))
                  for label, p, r, f, n in zip(classes, precision, recall, f1, support)),
            training_images=int(len(y_train)), testing_images=int(len(y_test)))
        return Training(evaluation, model)

    def _manifest_images(self, s3, manifest: dict) -> tuple[np.ndarray, np.ndarray]:
        """The features and labels of every image a manifest names."""
        lines = _read(s3, manifest["Bucket"], manifest["Name"]).decode().splitlines()
        entries = [parse_line(line) for line in lines if line.strip()]
        return (np.array([self._training_features(s3, bucket, key) for bucket, key, _ in entries]),
                np.array([label for _, _, label in entries]))

    def _auto_split(self, x: np.ndarray, y: np.ndarray, number: int):
        """Rekognition's AutoCreate: a test split drawn for this version alone."""
        classes, counts = np.unique(y, return_counts=True)
        splittable = np.isin(y, classes[counts >= 2])
        test_size = max(len(classes[counts >= 2]), int(round(splittable.sum() * TEST_SHARE)))
        x_train, x_test, y_train, y_test = train_test_split(
            x[splittable], y[splittable], test_size=test_size, stratify=y[splittable],
            random_state=self.seed + number)
        return np.vstack([x_train, x[~splittable]]), x_test, np.concatenate([y_train, y[~splittable]]), y_test

    def _training_features(self, s3, bucket: str, key: str) -> np.ndarray:
        etag = s3.head_object(Bucket=bucket, Key=key)["ETag"]
        cached = self._features.get((bucket, key, etag))
        if cached is None:
            cached = self._features[(bucket, key, etag)] = decode_features(_read(s3, bucket, key), self.side).ravel()
        return cached

    def detect(self, version: ModelVersion, image: dict, s3) -> list[tuple[str, float]]:
        try:
            data = _read(s3, image["Bucket"], image["Name"])
        except Exception as exc:
            raise ServiceFault("InvalidS3ObjectException",
                               f"cannot read s3://{image['Bucket']}/{image['Name']}: {exc}") from None
        try:
            features = decode_features(data, self.side).ravel()
        except ValueError as exc:
            raise ServiceFault("InvalidImageFormatException", str(exc)) from None
        return scores(version.model, features)

    def predict(self, version: ModelVersion, features: np.ndarray) -> np.ndarray:
        """The version's predicted labels for a feature matrix (the sandbox's holdout scoring)."""
        return version.model.predict(features / 16.0)


def fit(x: np.ndarray, y: np.ndarray) -> LogisticRegression:
    """The classifier of a training: a logistic regression on the images' intensities (0–16)."""
    return LogisticRegression(max_iter=2000, C=1.0).fit(x / 16.0, y)


def scores(model: LogisticRegression, features: np.ndarray) -> list[tuple[str, float]]:
    """Every label with its confidence (0–100, as DetectCustomLabels rounds it), most likely first."""
    probabilities = model.predict_proba([features / 16.0])[0]
    return [(str(name), round(float(p) * 100, 3))
            for name, p in sorted(zip(model.classes_, probabilities), key=lambda pair: -pair[1])]


def _read(s3, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
