"""The event rules that drive the loop, as plain descriptions.

Uploads reach the loop through S3 → EventBridge rather than S3 notifications:
one bucket may carry only one notification configuration (a second stack or
tool on the same bucket would overwrite it), EventBridge keys are not
URL-encoded, rules filter by prefix and event type without code, and the
detection state machine is a direct target (no router function in the path).
The Pulumi program and the sandbox both build their rules from this list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.event_rule import Trigger, bucket_objects
from components.review_backends import deployable, every_backend
from handlers.dataset import SWEEP as DATASET_SWEEP_INPUT
from handlers.parameter_change import rate_expression
from handlers.serving import SCHEDULE as SERVING_RATE
from handlers.runtime import layout
from handlers.runtime.events import waiting_pattern
from handlers.runtime.workflow import lifecycle_input
from policies.names import ENABLE_TRAINING, POLL_FREQUENCY


def bucket_triggers(bucket: str, review_backend: str | None = None) -> list[Trigger]:
    """The bucket's event rules: every stack's, then those of its review backend (None: of every
    registered backend, as the sandbox creates them)."""
    backends = every_backend() if review_backend is None else [deployable(review_backend)]
    return [
        Trigger("detection-upload", "An image uploaded for detection starts the detection state machine.",
                bucket_objects(bucket, layout.DETECTION_PREFIX, "Object Created"), "detection"),
        Trigger("training-data", "Images added to or deleted from a label folder move the per-label counters.",
                bucket_objects(bucket, layout.TRAINING_PREFIX, "Object Created", "Object Deleted"), "training_data"),
        Trigger("upload-deleted", "An upload deleted by its uploader is taken out of the dataset: its open reviews "
                "close, its training and gate-set copies are deleted.",
                bucket_objects(bucket, layout.DETECTION_PREFIX, "Object Deleted"), "dataset"),
    ] + [trigger for backend in backends for trigger in backend.bucket_triggers(bucket)]


def parameter_trigger(parameter_path: str) -> Trigger:
    return Trigger(
        "parameter-change", "A change to an operator parameter is applied (training schedule) and recorded.",
        {"source": ["aws.ssm"], "detail-type": ["Parameter Store Change"],
         "detail": {"name": [{"prefix": parameter_path.rstrip("/") + "/"}]}},
        "parameter_change",
    )


def waiting_trigger(stack: str, bus: str) -> Trigger:
    """detect's event on the stack's own bus: an image waits for a model that does not run; the serving
    decision is asked now."""
    return Trigger("image-waiting", "An image waits for a model that does not run: the serving decision is asked "
                   "at once.", waiting_pattern(stack), "serve", bus)


@dataclass(frozen=True)
class Schedule:
    name: str
    description: str
    expression: str
    enabled: bool
    target: str
    input: dict[str, Any]


def training_schedule(settings) -> Schedule:
    """The training check schedule, from the parameter values (defaults at deploy time)."""
    return Schedule("training-schedule", "Scheduled training check (Automatic-Training-Poll-Frequency)",
                    rate_expression(int(settings[POLL_FREQUENCY])), bool(settings[ENABLE_TRAINING]), "lifecycle",
                    lifecycle_input("schedule"))


# The copies accepted reviews licensed that a crash or a throttle left unmade, made every few minutes.
DATASET_SWEEP = Schedule("dataset-sweep", "Make the training copies accepted reviews licensed and a failure left "
                         "unmade", "rate(5 minutes)", True, "dataset", DATASET_SWEEP_INPUT)

# The serving decision, every few minutes: also what the forgotten-model alarm and the dashboard's
# inference-unit hours read (the function's metrics).
SERVING_SCHEDULE = Schedule("serving-schedule", "The serving decision: start or stop the active model on demand",
                            SERVING_RATE, True, "serve", {"trigger": "schedule"})
