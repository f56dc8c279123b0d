"""Names of the operator parameters the default policy reads (kept from the original)."""

from plugins import GATE_SET_MINIMUM, NONE_OF_THE_ABOVE  # noqa: F401  (the gate set's rule; the reviewers' choice when no label fits)

ENABLE_TRAINING = "Enable-Automatic-Training"
POLL_FREQUENCY = "Automatic-Training-Poll-Frequency"
MIN_UNTRAINED = "Minimum-Untrained-Images"
MIN_F1 = "Minimum-F1-Score"
MIN_INFERENCE_UNITS = "Minimum-Inference-Units"
MIN_CONFIDENCE = "Minimum-Label-Detection-Confidence"
ENABLE_REVIEW = "Enable-A2I-Workflow"
ENABLE_SAMPLING = "Enable-Automatic-Human-Sampling"
SAMPLING_INTERVAL = "Human-Sampling-Interval"
IDLE_STOP_MINUTES = "Idle-Stop-Minutes"
START_ON_PENDING = "Start-On-Pending-Images"
MAX_START_DELAY = "Maximum-Start-Delay-Minutes"
MAX_INFERENCE_UNITS = "Maximum-Inference-Units"
