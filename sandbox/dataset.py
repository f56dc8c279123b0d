"""The sandbox's data: scikit-learn's bundled handwritten digits (1 797 images
of 8×8 pixels, no download), written as 64×64 PNG images — the smallest size
Rekognition Custom Labels accepts."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

SIDE = 64  # Rekognition's minimum image side
LABELS = tuple(f"digit-{d}" for d in range(10))


@dataclass(frozen=True)
class Sample:
    index: int
    label: str
    pixels: np.ndarray  # 8×8, values 0–16

    @property
    def name(self) -> str:
        return f"digit-{self.index:04d}.png"

    def png(self) -> bytes:
        return encode_png(self.pixels)


def load_digits_samples() -> list[Sample]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    return [Sample(i, LABELS[int(t)], img) for i, (img, t) in enumerate(zip(digits.images, digits.target))]


def encode_png(pixels: np.ndarray) -> bytes:
    """8×8 intensities (0–16) → a 64×64 greyscale PNG (dark ink on white, as scanned)."""
    grey = (255 - np.clip(pixels, 0, 16) * (255 / 16)).astype(np.uint8)
    image = Image.fromarray(grey, mode="L").resize((SIDE, SIDE), Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def decode_features(data: bytes) -> np.ndarray:
    """A PNG or JPEG → the 64 features the model reads (8×8 intensities 0–16). Raises ValueError if unreadable."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as exc:
        raise ValueError(f"not a readable image: {exc}") from None
    if image.format not in ("PNG", "JPEG"):
        raise ValueError(f"{image.format} images are not supported (PNG or JPEG only)")
    small = image.convert("L").resize((8, 8), Image.BOX)
    return (255 - np.asarray(small, dtype=np.float64)) * (16 / 255)


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
