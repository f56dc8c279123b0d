"""The rule engine contract: hook specs, facts, decisions, parameters, loading.

Imports neither boto3 nor pulumi: policies are pure functions of facts.
"""

from .decisions import (
    DeploymentDecision,
    InferenceCapacity,
    LabelDecision,
    ReviewDecision,
    ServingDecision,
    TrainingDecision,
    lowest_confidence_first,
)
from .engine import Engine, NoDecision, PolicyError
from .facts import (
    EVENT_KINDS,
    NONE_OF_THE_ABOVE,
    DatasetStats,
    Detection,
    Evaluation,
    LabelMetrics,
    LabelScore,
    LoopEvent,
    ModelState,
    ReviewResult,
    Serving,
    WorkerAnswer,
)
from .hookspecs import hookimpl, hookspec
from .manager import PolicyLoadError
from .parameters import (
    GATE_SET_MINIMUM,
    GATE_SET_PARAMETER,
    LEASE_MINUTES,
    MAX_REVIEWERS,
    REVIEW_TASK_PARAMETERS,
    REVIEWERS_PER_IMAGE,
    TASK_LIFETIME_HOURS,
    Catalog,
    CatalogError,
    InvalidParameterValue,
    ParameterSpec,
    Settings,
    Switch,
)

__all__ = [
    "GATE_SET_MINIMUM", "GATE_SET_PARAMETER", "LEASE_MINUTES", "MAX_REVIEWERS", "NONE_OF_THE_ABOVE", "REVIEWERS_PER_IMAGE", "REVIEW_TASK_PARAMETERS", "TASK_LIFETIME_HOURS",
    "Catalog", "CatalogError", "DatasetStats", "DeploymentDecision", "Detection", "EVENT_KINDS", "Engine",
    "Evaluation", "InferenceCapacity", "InvalidParameterValue", "LabelDecision", "LabelMetrics", "LabelScore",
    "LoopEvent", "ModelState", "NoDecision", "ParameterSpec", "PolicyError", "PolicyLoadError", "ReviewDecision",
    "ReviewResult", "Serving", "ServingDecision", "Settings", "Switch", "TrainingDecision", "WorkerAnswer", "hookimpl", "hookspec", "lowest_confidence_first",
]
