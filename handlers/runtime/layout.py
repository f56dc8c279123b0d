"""The bucket layout (kept from the original) and the rules for keys in it."""

from __future__ import annotations

import posixpath
import re

DETECTION_PREFIX = "images_for_detection/"
TRAINING_PREFIX = "images_labeled_by_folder/"
REVIEW_OUTPUT_PREFIX = "a2i-human-loop-data/"
MANIFEST_PREFIX = "manifests/"
EVALUATION_PREFIX = "evaluation/"
TESTING_PREFIX = "images_for_testing/"  # the gate set: one folder per label, the TestingData of every training
PREFIXES = (DETECTION_PREFIX, TRAINING_PREFIX, REVIEW_OUTPUT_PREFIX, MANIFEST_PREFIX, EVALUATION_PREFIX)

# Rekognition Custom Labels reads PNG and JPEG only.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
MAX_IMAGE_BYTES = 15 * 1024 * 1024  # DetectCustomLabels limit for an image in S3


def is_folder_marker(key: str) -> bool:
    return key.endswith("/")


def is_image(key: str) -> bool:
    return key.lower().endswith(IMAGE_EXTENSIONS)


def extension(key: str) -> str:
    ext = posixpath.splitext(key)[1].lower()
    return ".jpg" if ext == ".jpeg" else ext


def label_of_training_key(key: str, prefix: str = TRAINING_PREFIX) -> str | None:
    """The label folder of ``images_labeled_by_folder/<label>/…`` (or of another folder per label, such as
    the gate set's ``images_for_testing/<label>/…``); None outside it or for the prefix itself."""
    if not key.startswith(prefix):
        return None
    rest = key[len(prefix):]
    label, sep, _ = rest.partition("/")
    return label if sep and label else None


def human_loop_of_output(key: str) -> str | None:
    """The human loop named by an A2I output's key, ``…/<flow>/YYYY/MM/DD/hh/mm/ss/<loop>/output.json``."""
    parts = key.split("/")
    return parts[-2] if len(parts) >= 3 and parts[-1] == "output.json" and parts[-2] else None


def is_detection_id(value: str) -> bool:
    """A detection id (a content hash, ``ids.detection_id``)."""
    return bool(re.fullmatch(r"[0-9a-f]{16,64}", value))


def detection_of_copy(key: str) -> str | None:
    """The detection a training or gate-set copy was made from (its file name, see :func:`training_key`)."""
    stem = posixpath.splitext(posixpath.basename(key))[0]
    return stem if is_detection_id(stem) else None


def training_key(label: str, detection_id: str, source_key: str, prefix: str = TRAINING_PREFIX) -> str:
    """Where an accepted review's image is copied (``prefix``: the training folders, or the gate set's).
    The label comes from the label set and the file name from the detection id, so the key cannot
    leave the label's folder whatever the reviewer typed or the upload was called."""
    if not label or "/" in label or label in (".", ".."):
        raise ValueError(f"label {label!r} cannot name a training folder")
    if not is_detection_id(detection_id):
        raise ValueError(f"detection id {detection_id!r} is not a content hash")
    return f"{prefix}{label}/{detection_id}{extension(source_key)}"
