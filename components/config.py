"""Typed stack configuration (namespace ``labelloop``), validated before anything is created.

Pure: ``parse_stack_config`` takes plain values so it is tested without Pulumi;
``load_stack_config`` reads them from a ``pulumi.Config``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from components.config_values import ConfigError, number
from components.regions import region_problem
from components.review_backends import deployable, every_backend
from handlers.review_backends import DEFAULT as DEFAULT_REVIEW, REGISTRY, registered
from handlers.runtime.ledger import Prices
from policies.names import NONE_OF_THE_ABOVE

MIN_LABELS, MAX_LABELS = 2, 250
LABEL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.,()&+-]{0,99}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ARCHITECTURES = ("arm64", "x86_64")
# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                      2922, 3288, 3653)


@dataclass(frozen=True)
class StackConfig:
    labels: tuple[str, ...]
    notification_email: str | None = None
    reviewer_emails: tuple[str, ...] = ()
    policies: tuple[str, ...] = ()
    parameter_defaults: Mapping[str, Any] = field(default_factory=dict)
    lambda_architecture: str = "arm64"
    log_retention_days: int = 30
    max_training_hours: float = 24.0
    max_start_minutes: int = 60
    tags: Mapping[str, str] = field(default_factory=dict)
    review_backend: str = DEFAULT_REVIEW  # labelloop:review, a name of handlers.review_backends.REGISTRY
    review_settings: Any = None  # what the backend's own keys set (Deployable.settings)
    forgotten_model_hours: float = 24.0  # the alarm: a model running this long without a detection
    prices: Prices = Prices()

    def __getattr__(self, name: str) -> Any:
        """A review backend's setting read as the config's own (``config.reviewer_pool``): the stack's
        backend's value or, for a setting of another backend (not deployed), its default."""
        if not name.startswith("_"):
            for backend in every_backend():
                kind = backend.settings_type
                if kind is not None and name in {f.name for f in fields(kind)}:
                    settings = self.review_settings if backend.name == self.review_backend else kind()
                    return getattr(settings, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


class RegionError(ValueError):
    """The stack's region has no Rekognition Custom Labels."""


def check_region(region: str | None) -> None:
    """Refuse a region without Rekognition Custom Labels (None: the provider has none either and says so)."""
    problem = region and region_problem(region)
    if problem:
        raise RegionError(f"aws:region: {problem}")


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


def _review_backend(raw: Mapping[str, Any]) -> str:
    """``labelloop:review``, one of the registered backends; the keys of another backend are a mistake
    (or a stack upgraded to the builtin default that should say which backend it keeps)."""
    name = raw.get("review", DEFAULT_REVIEW)
    if name not in REGISTRY:
        choices = [f"{r.name!r} ({r.description})" for r in REGISTRY.values()]
        raise ConfigError("review", f"is {name!r}", f"use {', '.join(choices[:-1])} or {choices[-1]}")
    chosen = registered(name)
    for backend in every_backend():
        for key in backend.keys if backend.name != name else ():
            if raw.get(key) is not None and raw.get(key) is not False:
                owner = registered(backend.name)
                raise ConfigError(key, f"is only used with labelloop:review {owner.name}",
                                  f"set labelloop:review {owner.name} to keep reviewing in {owner.title}, or remove "
                                  f"labelloop:{key} to review in {chosen.title}")
    return name


def parse_stack_config(raw: Mapping[str, Any]) -> StackConfig:
    """Validate plain config values (keys as in ``Pulumi.<stack>.yaml`` without the namespace)."""
    labels = _labels(raw.get("labels"))
    backend = _review_backend(raw)
    email = raw.get("notificationEmail")
    if email is not None and not (isinstance(email, str) and EMAIL_PATTERN.match(email)):
        raise ConfigError("notificationEmail", f"{email!r} is not an e-mail address", "set one address, or unset the key")
    reviewers = tuple(raw.get("reviewerEmails") or ())
    bad = [r for r in reviewers if not (isinstance(r, str) and EMAIL_PATTERN.match(r))]
    if bad:
        raise ConfigError("reviewerEmails", f"contains {bad[0]!r}, which is not an e-mail address", "list reviewers' addresses")
    review_settings = deployable(backend).settings(raw, labels, reviewers)
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
    training_hours = number(raw, "maxTrainingHours", 24, 1, 72, "hours a training may take before the run gives "
                                                                 "up on it (Rekognition trainings take minutes to hours)")
    start_minutes = number(raw, "maxStartMinutes", 60, 5, 240, "minutes a model may take to start")
    forgotten = number(raw, "forgottenModelHours", 24, 0.5, 720,
                       "hours a model may run without a detection before the forgotten-model alarm")
    return StackConfig(labels, email, reviewers, policies, dict(overrides), architecture, retention,
                       float(training_hours), int(start_minutes), dict(tags), review_backend=backend,
                       review_settings=review_settings, forgotten_model_hours=float(forgotten), prices=_prices(raw))


def _prices(raw: Mapping[str, Any]) -> Prices:
    prices = raw.get("prices") or {}
    fix = "e.g. {inferenceUnitHour: 4.0, trainingHour: 1.0, review: 0} (USD)"
    if not isinstance(prices, Mapping) or set(prices) - set(Prices().as_config()):
        raise ConfigError("prices", f"must map inferenceUnitHour, trainingHour, review to prices, got {prices!r}", fix)
    for key, value in prices.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError("prices", f"has {key} {value!r}", fix)
    return Prices.of(prices)


# Every stack's keys; each review backend adds its own (Deployable.keys).
CORE_KEYS = ("labels", "review", "notificationEmail", "reviewerEmails", "policies", "parameterDefaults",
             "lambdaArchitecture", "logRetentionDays", "tags", "maxTrainingHours", "maxStartMinutes",
             "forgottenModelHours", "prices")
CORE_STRUCTURED = ("labels", "reviewerEmails", "policies", "parameterDefaults", "tags", "logRetentionDays",
                   "maxTrainingHours", "maxStartMinutes", "forgottenModelHours", "prices")


def config_keys() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Every ``labelloop:`` key a stack may set, and those of them whose values are YAML."""
    backends = every_backend()
    return (CORE_KEYS + tuple(k for b in backends for k in b.keys),
            CORE_STRUCTURED + tuple(k for b in backends for k in b.structured))


KEYS, STRUCTURED = config_keys()


def load_stack_config(config) -> StackConfig:
    """Read every key from a ``pulumi.Config("labelloop")`` and validate it."""
    raw: dict[str, Any] = {}
    keys, structured = config_keys()
    for key in keys:
        try:
            value = config.get_object(key) if key in structured else config.get(key)
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
