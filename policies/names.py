"""Names of the operator parameters the default policy reads (kept from the original)."""

ENABLE_TRAINING = "Enable-Automatic-Training"
POLL_FREQUENCY = "Automatic-Training-Poll-Frequency"
MIN_UNTRAINED = "Minimum-Untrained-Images"
MIN_F1 = "Minimum-F1-Score"
MIN_INFERENCE_UNITS = "Minimum-Inference-Units"
MIN_CONFIDENCE = "Minimum-Label-Detection-Confidence"
ENABLE_REVIEW = "Enable-A2I-Workflow"
ENABLE_SAMPLING = "Enable-Automatic-Human-Sampling"
SAMPLING_INTERVAL = "Human-Sampling-Interval"

NONE_OF_THE_ABOVE = "None of the Above"
