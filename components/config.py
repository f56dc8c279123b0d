"""Typed stack configuration (namespace ``labelloop``), validated before anything is created.

Pure: ``parse_stack_config`` takes plain values so it is tested without Pulumi;
``load_stack_config`` reads them from a ``pulumi.Config``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from components.regions import region_problem
from handlers.runtime.ledger import Prices
from policies.names import NONE_OF_THE_ABOVE

MIN_LABELS, MAX_LABELS = 2, 250
# The review backends: labelloop's own review app (any account), or Amazon A2I with a
# crowd-image-classifier task (closed to new customers since July 2026).
BUILTIN, A2I = "builtin", "a2i"
REVIEW_BACKENDS = (BUILTIN, A2I)
# crowd-image-classifier shows at most 10 categories, and None of the Above is one of them.
A2I_MAX_LABELS = 9
LABEL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.,()&+-]{0,99}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
USER_POOL_ID_PATTERN = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d_[0-9a-zA-Z]+$")  # <region>_<id>
GROUP_PATTERN = re.compile(r"^\S{1,128}$")
# A prefix domain (<prefix>.auth.<region>.amazoncognito.com) or a custom one (auth.example.com).
DOMAIN_PREFIX_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
CUSTOM_DOMAIN_PATTERN = re.compile(r"^(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
# Keys only one review backend uses: set for the other, they are a mistake (or a stack being
# upgraded to the builtin default that should say `review: a2i` to keep its A2I setup).
A2I_KEYS = ("workteamName", "createWorkforce")
BUILTIN_KEYS = ("reviewerUserPoolId", "reviewerGroup", "reviewerUserPoolDomain", "reviewApiThrottle",
                "reviewImageUrlSeconds", "reviewAlarmHours")
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
class ExistingReviewerPool:
    """Reviewers kept in a user pool the stack does not own: the members of ``group``."""

    user_pool_id: str
    group: str
    domain: str  # the pool's sign-in domain: a prefix, or a custom domain name

    @property
    def region(self) -> str:
        return region_of_pool(self.user_pool_id)


@dataclass(frozen=True)
class Throttle:
    """The review API stage's default route throttling."""

    rate: float = 20.0  # requests per second, steady
    burst: int = 40


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
    review_backend: str = BUILTIN
    reviewer_pool: ExistingReviewerPool | None = None  # builtin: None = the stack creates the pool
    review_api_throttle: Throttle = Throttle()
    review_image_url_seconds: int = 300
    review_alarm_hours: float = 24.0
    forgotten_model_hours: float = 24.0  # the alarm: a model running this long without a detection
    prices: Prices = Prices()


class RegionError(ValueError):
    """The stack's region has no Rekognition Custom Labels."""


def check_region(region: str | None) -> None:
    """Refuse a region without Rekognition Custom Labels (None: the provider has none either and says so)."""
    problem = region and region_problem(region)
    if problem:
        raise RegionError(f"aws:region: {problem}")


def region_of_pool(user_pool_id: str) -> str:
    """A user pool id starts with its region: ``eu-west-1_AbC123`` → ``eu-west-1``."""
    return user_pool_id.split("_", 1)[0]


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
    backend = raw.get("review", BUILTIN)
    if backend not in REVIEW_BACKENDS:
        raise ConfigError("review", f"is {backend!r}",
                          f"use {BUILTIN!r} (labelloop's own review app, the default) or {A2I!r} "
                          "(Amazon A2I, for accounts that are existing A2I customers)")
    others = A2I_KEYS if backend == BUILTIN else BUILTIN_KEYS
    for key in others:
        if raw.get(key) is not None and raw.get(key) is not False:
            if backend == BUILTIN:
                raise ConfigError(key, f"is only used with labelloop:review {A2I}",
                                  f"set labelloop:review {A2I} to keep reviewing in Amazon A2I, or remove "
                                  f"labelloop:{key} to review in the builtin review app")
            raise ConfigError(key, f"is only used with labelloop:review {BUILTIN}",
                              f"remove labelloop:{key}, or set labelloop:review {BUILTIN}")
    return backend


def _a2i_reviewers(raw: Mapping[str, Any], labels: tuple[str, ...],
                   reviewers: tuple[str, ...]) -> tuple[str | None, bool]:
    """A2I's work team (existing, or created with the reviewers) and its label limit."""
    if len(labels) > A2I_MAX_LABELS:
        raise ConfigError("labels", f"has {len(labels)} labels; A2I's image classification task "
                          f"(crowd-image-classifier) shows at most 10 choices: {A2I_MAX_LABELS} labels "
                          f"and {NONE_OF_THE_ABOVE!r} (the builtin review app has no such limit)",
                          f"use at most {A2I_MAX_LABELS} labels (merge or drop some)")
    workteam, create = raw.get("workteamName"), raw.get("createWorkforce", False)
    if not isinstance(create, bool):
        raise ConfigError("createWorkforce", f"must be true or false, got {create!r}", "set true or false")
    if workteam and create:
        raise ConfigError("workteamName", "and createWorkforce are both set",
                          "use an existing work team (workteamName) or create one (createWorkforce: true), not both")
    if not workteam and not create:
        raise ConfigError("workteamName", "is required unless createWorkforce is true",
                          "name an existing A2I private work team, or set labelloop:createWorkforce true")
    if reviewers and not create:
        raise ConfigError("reviewerEmails", "is only used when createWorkforce is true",
                          "add reviewers to your existing work team instead, or set createWorkforce: true")
    return workteam or None, create


def _existing_pool(raw: Mapping[str, Any], reviewers: tuple[str, ...]) -> ExistingReviewerPool | None:
    """``reviewerUserPoolId`` + ``reviewerGroup`` + ``reviewerUserPoolDomain``, all three or none."""
    keys = ("reviewerUserPoolId", "reviewerGroup", "reviewerUserPoolDomain")
    values = {key: raw.get(key) for key in keys}
    if all(v is None for v in values.values()):
        return None
    missing = [key for key, v in values.items() if v is None]
    if missing:
        raise ConfigError(missing[0], "is required with an existing user pool",
                          "set labelloop:reviewerUserPoolId (the pool), labelloop:reviewerGroup (its group of "
                          "reviewers) and labelloop:reviewerUserPoolDomain (its sign-in domain) together, "
                          "or none of them to let the stack create the pool")
    pool, group, domain = (values[key] for key in keys)
    if not (isinstance(pool, str) and USER_POOL_ID_PATTERN.match(pool)):
        raise ConfigError("reviewerUserPoolId", f"is {pool!r}, which is not a user pool id",
                          "use the pool's id as Cognito shows it, e.g. eu-west-1_AbC123xyz")
    if not (isinstance(group, str) and GROUP_PATTERN.match(group)):
        raise ConfigError("reviewerGroup", f"is {group!r}", "name the pool's group of reviewers (1-128 characters, "
                                                             "no spaces)")
    if not (isinstance(domain, str) and (DOMAIN_PREFIX_PATTERN.match(domain) or CUSTOM_DOMAIN_PATTERN.match(domain))):
        raise ConfigError("reviewerUserPoolDomain", f"is {domain!r}",
                          "give the pool's domain prefix (`my-prefix` of my-prefix.auth.<region>.amazoncognito.com) "
                          "or its custom domain (auth.example.com): Cognito > User pools > the pool > Domain")
    if reviewers:
        raise ConfigError("reviewerEmails", "is only used with the stack's own user pool",
                          f"add reviewers to the group {group!r} of {pool} yourself (docs/deploying.md: managing "
                          "reviewers), or remove reviewerUserPoolId, reviewerGroup and reviewerUserPoolDomain")
    return ExistingReviewerPool(pool, group, domain)


def _throttle(raw: Mapping[str, Any]) -> Throttle:
    value = raw.get("reviewApiThrottle")
    if value is None:
        return Throttle()
    fix = "set {rate: <requests per second, 1-10000>, burst: <requests, 1-5000>}, e.g. {rate: 20, burst: 40}"
    if not isinstance(value, Mapping) or set(value) - {"rate", "burst"}:
        raise ConfigError("reviewApiThrottle", f"is {value!r}", fix)
    rate, burst = value.get("rate", Throttle.rate), value.get("burst", Throttle.burst)
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 1 <= rate <= 10_000:
        raise ConfigError("reviewApiThrottle", f"has rate {rate!r}", fix)
    if isinstance(burst, bool) or not isinstance(burst, int) or not 1 <= burst <= 5_000:
        raise ConfigError("reviewApiThrottle", f"has burst {burst!r}", fix)
    return Throttle(float(rate), burst)


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
    workteam, create, pool = None, False, None
    if backend == A2I:
        workteam, create = _a2i_reviewers(raw, labels, reviewers)
    else:
        pool = _existing_pool(raw, reviewers)
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
    url_seconds = _number(raw, "reviewImageUrlSeconds", 300, 60, 3600,
                          "seconds a reviewer's link to an image stays valid")
    alarm_hours = _number(raw, "reviewAlarmHours", 24, 1, 240,
                          "hours the oldest open review task may wait before the alarm tells the topic")
    forgotten = _number(raw, "forgottenModelHours", 24, 0.5, 720,
                        "hours a model may run without a detection before the forgotten-model alarm")
    return StackConfig(labels, email, workteam, create, reviewers, policies, dict(overrides),
                       architecture, retention, float(training_hours), int(start_minutes), dict(tags),
                       review_backend=backend, reviewer_pool=pool, review_api_throttle=_throttle(raw),
                       review_image_url_seconds=int(url_seconds), review_alarm_hours=float(alarm_hours),
                       forgotten_model_hours=float(forgotten), prices=_prices(raw))


def _prices(raw: Mapping[str, Any]) -> Prices:
    prices = raw.get("prices") or {}
    fix = "e.g. {inferenceUnitHour: 4.0, trainingHour: 1.0, review: 0} (USD)"
    if not isinstance(prices, Mapping) or set(prices) - set(Prices().as_config()):
        raise ConfigError("prices", f"must map inferenceUnitHour, trainingHour, review to prices, got {prices!r}", fix)
    for key, value in prices.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError("prices", f"has {key} {value!r}", fix)
    return Prices.of(prices)


def _number(raw: Mapping[str, Any], key: str, default: float, low: float, high: float, what: str) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ConfigError(key, f"is {value!r}", f"set a number from {low:g} to {high:g}: the {what}")
    return value


KEYS = ("labels", "review", "notificationEmail", "workteamName", "createWorkforce", "reviewerEmails",
        "reviewerUserPoolId", "reviewerGroup", "reviewerUserPoolDomain", "reviewApiThrottle", "reviewImageUrlSeconds",
        "reviewAlarmHours", "policies", "parameterDefaults", "lambdaArchitecture", "logRetentionDays", "tags",
        "maxTrainingHours", "maxStartMinutes", "forgottenModelHours", "prices")
STRUCTURED = ("labels", "reviewerEmails", "policies", "parameterDefaults", "tags", "createWorkforce", "logRetentionDays",
              "maxTrainingHours", "maxStartMinutes", "reviewApiThrottle", "reviewImageUrlSeconds", "reviewAlarmHours",
              "forgottenModelHours", "prices")


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
