"""Typed stack configuration (namespace ``labelloop``), validated before anything is created.

Pure: ``parse_stack_config`` takes plain values so it is tested without Pulumi;
``load_stack_config`` reads them from a ``pulumi.Config``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from policies.names import NONE_OF_THE_ABOVE

MIN_LABELS, MAX_LABELS = 2, 250
A2I = "a2i"  # the review backend: Amazon A2I with a crowd-image-classifier task
# crowd-image-classifier shows at most 10 categories, and None of the Above is one of them.
A2I_MAX_LABELS = 9
LABEL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.,()&+-]{0,99}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ARCHITECTURES = ("arm64", "x86_64")
# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                      2922, 3288, 3653)


class ConfigError(ValueError):
    """A missing or invalid stack config value; the message names the key and the fix."""

    def __init__(self, key: str, problem: str, fix: str):
        self.key = key
        super().__init__(f"labelloop:{key} {problem}. Fix: {fix}")


@dataclass(frozen=True)
class StackConfig:
    labels: tuple[str, ...]
    notification_email: str | None = None
    workteam_name: str | None = None
    create_workforce: bool = False
    reviewer_emails: tuple[str, ...] = ()
    policies: tuple[str, ...] = ()
    parameter_defaults: Mapping[str, Any] = field(default_factory=dict)
    lambda_architecture: str = "arm64"
    log_retention_days: int = 30
    max_training_hours: float = 24.0
    max_start_minutes: int = 60
    tags: Mapping[str, str] = field(default_factory=dict)
    review_backend: str = A2I


def _labels(raw: Any) -> tuple[str, ...]:
    fix = "set a list of 2-250 label names, e.g. `pulumi config set --path 'labelloop:labels[0]' cat`"
    if raw is None:
        raise ConfigError("labels", "is required", fix)
    if not isinstance(raw, (list, tuple)) or not all(isinstance(x, str) for x in raw):
        raise ConfigError("labels", f"must be a list of names, got {raw!r}", fix)
    if not MIN_LABELS <= len(raw) <= MAX_LABELS:
        raise ConfigError("labels", f"has {len(raw)} label(s); Rekognition classification needs 2 to 250", fix)
    seen: dict[str, str] = {}
    for label in raw:
        if label == NONE_OF_THE_ABOVE:
            raise ConfigError("labels", f"must not contain {NONE_OF_THE_ABOVE!r}", "remove it; reviewers always get that choice")
        if not LABEL_PATTERN.match(label):
            raise ConfigError(
                "labels", f"contains {label!r}, which cannot be an S3 folder and review choice",
                "use 1-100 letters, digits, spaces and _ . , ( ) & + -, starting with a letter or digit (no '/')",
            )
        if label.lower() in seen:
            raise ConfigError("labels", f"contains {seen[label.lower()]!r} and {label!r}", "give every label a distinct name")
        seen[label.lower()] = label
    return tuple(raw)


def parse_stack_config(raw: Mapping[str, Any]) -> StackConfig:
    """Validate plain config values (keys as in ``Pulumi.<stack>.yaml`` without the namespace)."""
    labels = _labels(raw.get("labels"))
    if len(labels) > A2I_MAX_LABELS:  # A2I is the only review backend so far
        raise ConfigError("labels", f"has {len(labels)} labels; A2I's image classification task "
                          f"(crowd-image-classifier) shows at most 10 choices: {A2I_MAX_LABELS} labels "
                          f"and {NONE_OF_THE_ABOVE!r}", f"use at most {A2I_MAX_LABELS} labels (merge or drop some)")
    email = raw.get("notificationEmail")
    if email is not None and not (isinstance(email, str) and EMAIL_PATTERN.match(email)):
        raise ConfigError("notificationEmail", f"{email!r} is not an e-mail address", "set one address, or unset the key")
    workteam, create = raw.get("workteamName"), raw.get("createWorkforce", False)
    if not isinstance(create, bool):
        raise ConfigError("createWorkforce", f"must be true or false, got {create!r}", "set true or false")
    if workteam and create:
        raise ConfigError("workteamName", "and createWorkforce are both set",
                          "use an existing work team (workteamName) or create one (createWorkforce: true), not both")
    if not workteam and not create:
        raise ConfigError("workteamName", "is required unless createWorkforce is true",
                          "name an existing A2I private work team, or set labelloop:createWorkforce true")
    reviewers = tuple(raw.get("reviewerEmails") or ())
    bad = [r for r in reviewers if not (isinstance(r, str) and EMAIL_PATTERN.match(r))]
    if bad:
        raise ConfigError("reviewerEmails", f"contains {bad[0]!r}, which is not an e-mail address", "list reviewers' addresses")
    if reviewers and not create:
        raise ConfigError("reviewerEmails", "is only used when createWorkforce is true",
                          "add reviewers to your existing work team instead, or set createWorkforce: true")
    policies = tuple(raw.get("policies") or ())
    if not all(isinstance(p, str) and re.match(r"^[A-Za-z_][\w.]*$", p) for p in policies):
        raise ConfigError("policies", f"must be a list of importable module names, got {list(policies)!r}",
                          "list modules like `acme.labelloop_policy`")
    architecture = raw.get("lambdaArchitecture", "arm64")
    if architecture not in ARCHITECTURES:
        raise ConfigError("lambdaArchitecture", f"is {architecture!r}", f"use one of {', '.join(ARCHITECTURES)}")
    retention = raw.get("logRetentionDays", 30)
    if retention not in LOG_RETENTION_DAYS:
        raise ConfigError("logRetentionDays", f"is {retention!r}, which CloudWatch Logs does not accept",
                          f"use one of {', '.join(map(str, LOG_RETENTION_DAYS))}")
    tags = raw.get("tags") or {}
    if not isinstance(tags, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        raise ConfigError("tags", f"must map strings to strings, got {tags!r}", "e.g. {team: vision, env: dev}")
    overrides = raw.get("parameterDefaults") or {}
    if not isinstance(overrides, Mapping):
        raise ConfigError("parameterDefaults", f"must map parameter names to values, got {overrides!r}",
                          "e.g. {Minimum-F1-Score: 0.9}")
    training_hours = _number(raw, "maxTrainingHours", 24, 1, 72, "hours a training may take before the run gives "
                                                                 "up on it (Rekognition trainings take minutes to hours)")
    start_minutes = _number(raw, "maxStartMinutes", 60, 5, 240, "minutes a model may take to start")
    return StackConfig(labels, email, workteam or None, create, reviewers, policies, dict(overrides),
                       architecture, retention, float(training_hours), int(start_minutes), dict(tags))


def _number(raw: Mapping[str, Any], key: str, default: float, low: float, high: float, what: str) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ConfigError(key, f"is {value!r}", f"set a number from {low:g} to {high:g}: the {what}")
    return value


KEYS = ("labels", "notificationEmail", "workteamName", "createWorkforce", "reviewerEmails", "policies",
        "parameterDefaults", "lambdaArchitecture", "logRetentionDays", "tags", "maxTrainingHours", "maxStartMinutes")
STRUCTURED = ("labels", "reviewerEmails", "policies", "parameterDefaults", "tags", "createWorkforce", "logRetentionDays",
              "maxTrainingHours", "maxStartMinutes")


def load_stack_config(config) -> StackConfig:
    """Read every key from a ``pulumi.Config("labelloop")`` and validate it."""
    raw: dict[str, Any] = {}
    for key in KEYS:
        try:
            value = config.get_object(key) if key in STRUCTURED else config.get(key)
        except Exception as exc:  # not valid JSON/YAML for a structured key
            raise ConfigError(key, f"cannot be read ({exc})", "check its YAML in Pulumi.<stack>.yaml") from exc
        if value is not None:
            raw[key] = value
    return parse_stack_config(raw)


def load_policies(config: StackConfig):
    """The stack's policy engine and the parameter values to create: the configured policy
    modules loaded (entry points aside: only what is bundled runs in the functions) and
    ``parameterDefaults`` checked against the catalog. Problems are ConfigErrors."""
    from plugins import Engine, InvalidParameterValue, PolicyLoadError

    try:
        engine = Engine.load(list(config.policies), entry_points=False)
    except PolicyLoadError as exc:
        raise ConfigError("policies", f"cannot be loaded: {exc}",
                          "name modules importable from the program's virtualenv "
                          "(pip install -e your-policy-package), or remove them") from exc
    unknown = [name for name in config.parameter_defaults if name not in engine.catalog]
    if unknown:
        raise ConfigError("parameterDefaults", f"names {unknown[0]!r}, which no loaded policy defines",
                          f"use one of {', '.join(engine.catalog.specs)}")
    try:
        settings = engine.catalog.defaults(config.parameter_defaults)
    except InvalidParameterValue as exc:
        raise ConfigError("parameterDefaults", f"sets {exc}", f"give {exc.name} {exc.allowed}") from exc
    return engine, settings
