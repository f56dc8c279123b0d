"""A simulated private workforce for the A2I stand-in (:mod:`sandbox.a2i`).

The workforce answers open loops with the image's true label — or, at
``error_rate``, a wrong one or "None of the Above" — and writes A2I's
``output.json`` into the bucket, where the real review processing picks it up.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from handlers.runtime import layout
from policies.names import NONE_OF_THE_ABOVE

from .a2i import A2I, HumanLoop


@dataclass
class Workforce:
    """Reviewers who know the truth, and make mistakes at ``error_rate``."""

    a2i: A2I
    truth: dict[str, str]  # s3 uri -> true label
    labels: tuple[str, ...]
    error_rate: float = 0.0
    seed: int = 0
    answered: int = 0
    wrong: int = 0

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed + 7919)

    def answer_open_loops(self, s3, bucket: str) -> int:
        """Answer every open loop; returns how many output files were written."""
        written = 0
        for loop in sorted(self.a2i.open, key=lambda l: l.name):
            uri = loop.input["taskObject"]
            label = self.truth.get(uri, NONE_OF_THE_ABOVE)
            if self.rng.random() < self.error_rate:
                choices = [l for l in self.labels if l != label] + [NONE_OF_THE_ABOVE]
                label = choices[int(self.rng.integers(len(choices)))]
                self.wrong += 1
            s3.put_object(Bucket=bucket, Key=output_key(loop), Body=json.dumps(output_document(loop, label)).encode())
            loop.status, loop.answer = "Completed", label
            self.answered += 1
            written += 1
        return written


def output_key(loop: HumanLoop) -> str:
    flow = loop.flow_definition_arn.rsplit("/", 1)[-1]
    stamp = datetime.now(timezone.utc).strftime("%Y/%m/%d/%H/%M/%S")
    return f"{layout.REVIEW_OUTPUT_PREFIX}{flow}/{stamp}/{loop.name}/output.json"


def output_document(loop: HumanLoop, label: str) -> dict:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "flowDefinitionArn": loop.flow_definition_arn,
        "humanLoopName": loop.name,
        "inputContent": loop.input,
        "humanAnswers": [{
            "answerContent": {"crowd-image-classifier": {"label": label}},
            "submissionTime": now, "acceptanceTime": now, "timeSpentInSeconds": 4.2,
            "workerId": "sandbox-reviewer-1",
            "workerMetadata": {"identityData": {"identityProviderType": "Cognito", "issuer": "sandbox", "sub": "reviewer-1"}},
        }],
    }
