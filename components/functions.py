"""The Lambda functions of the loop: handler, purpose and sizing, as plain descriptions.

The Pulumi program creates one function (and one role) per entry; the sandbox
registers the same handlers in moto.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FunctionSpec:
    key: str
    handler: str  # module.function inside the archive
    description: str
    timeout: int = 30
    memory: int = 256


FUNCTIONS: dict[str, FunctionSpec] = {f.key: f for f in [
    FunctionSpec("detect", "handlers.detect.handler", "Classify an uploaded image and record the review decision"),
    FunctionSpec("start_review", "handlers.start_review.handler", "Start an A2I human loop for a detection"),
    FunctionSpec("detection_failed", "handlers.detection_failed.handler", "Record a detection that failed"),
    FunctionSpec("training_data", "handlers.training_data.handler", "Count training images per label"),
    FunctionSpec("review_output", "handlers.review_output.handler", "Turn an A2I answer into training data"),
    FunctionSpec("summary", "handlers.summary.handler", "Send the daily detection summary"),
]}
