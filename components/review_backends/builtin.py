"""The ``builtin`` review backend at deploy time: labelloop's own review app, which any AWS account
can run. Its resources are :class:`components.review_app.ReviewApp`'s; its run time is
``handlers/review_backends/builtin.py`` and the review function ``handlers/review_api.py``.

* **Stack config**: reviewers in a user pool the stack creates (``reviewerEmails`` invited), or in an
  existing pool (``reviewerUserPoolId`` + ``reviewerGroup`` + ``reviewerUserPoolDomain``, all three);
  the API's throttling, the image links' lifetime and the oldest-task alarm's hours. Every label
  Rekognition takes (250) is one the page shows.
* **Functions**: ``review_api`` (the page, the reviewers' API and the sweep); StartReview needs no
  more than the table.
* **Alarms and dashboard**: the oldest open task's age, open tasks and answers per hour.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from components.config_values import ConfigError, number
from components.deploy_access import LOG_DELIVERY, REVIEWER_POOL, USER_POOLS, on
from components.grants import COPY_REVIEWED, PARAMETERS, PUBLISH, TABLE_RW, FunctionSpec
from components.review_backends import Deployable, GaugeAlarm, Widgets
from handlers.review_api import OLDEST_OPEN_TASK_AGE, REVIEW_ANSWERS, REVIEW_TASKS_OPEN

USER_POOL_ID_PATTERN = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d_[0-9a-zA-Z]+$")  # <region>_<id>
GROUP_PATTERN = re.compile(r"^\S{1,128}$")
# A prefix domain (<prefix>.auth.<region>.amazoncognito.com) or a custom one (auth.example.com).
DOMAIN_PREFIX_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
CUSTOM_DOMAIN_PATTERN = re.compile(r"^(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
APIS = ("arn:{p}:apigateway:{r}::/apis", "arn:{p}:apigateway:{r}::/apis/*", "arn:{p}:apigateway:{r}::/tags/*")
# API Gateway authorizes by HTTP method on the resource path: the API and everything in it.
API_ACCESS = on(APIS, "apigateway:POST", "apigateway:GET", "apigateway:PATCH", "apigateway:DELETE")
REVIEW_TASK_ALARM = "oldest-review-task"
HOUR = 3600


@dataclass(frozen=True)
class ExistingReviewerPool:
    """Reviewers kept in a user pool the stack does not own: the members of ``group``."""

    user_pool_id: str
    group: str
    domain: str  # the pool's sign-in domain: a prefix, or a custom domain name

    @property
    def region(self) -> str:
        """A user pool id starts with its region: ``eu-west-1_AbC123`` → ``eu-west-1``."""
        return self.user_pool_id.split("_", 1)[0]


@dataclass(frozen=True)
class Throttle:
    """The review API stage's default route throttling."""

    rate: float = 20.0  # requests per second, steady
    burst: int = 40


@dataclass(frozen=True)
class Settings:
    reviewer_pool: ExistingReviewerPool | None = None  # None: the stack creates the pool
    review_api_throttle: Throttle = field(default_factory=Throttle)
    review_image_url_seconds: int = 300
    review_alarm_hours: float = 24.0


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


class Builtin(Deployable):
    name = "builtin"
    component = "components.review_app:ReviewApp"
    keys = ("reviewerUserPoolId", "reviewerGroup", "reviewerUserPoolDomain", "reviewApiThrottle",
            "reviewImageUrlSeconds", "reviewAlarmHours")
    structured = ("reviewApiThrottle", "reviewImageUrlSeconds", "reviewAlarmHours")
    settings_type = Settings
    functions = (
        FunctionSpec("review_api", "handlers.review_api.handler", "Serve the review page and the reviewers' API", (
            # Presigns the pinned version of an upload for the page (and copies it, below).
            *COPY_REVIEWED, TABLE_RW, PARAMETERS, PUBLISH,
        ), timeout=20),  # the sweep's retries of a transient error fit in a third of it
    )
    resource_access = {
        **{f"aws:apigatewayv2/{kind}": (API_ACCESS,)
           for kind in ("api:Api", "authorizer:Authorizer", "integration:Integration", "route:Route")},
        "aws:apigatewayv2/stage:Stage": (API_ACCESS, LOG_DELIVERY),  # its access logs
        "aws:cognito/managedLoginBranding:ManagedLoginBranding": (
            on(USER_POOLS, "cognito-idp:CreateManagedLoginBranding", "cognito-idp:DescribeManagedLoginBranding",
               "cognito-idp:UpdateManagedLoginBranding", "cognito-idp:DeleteManagedLoginBranding"),),
        **REVIEWER_POOL,
    }

    def settings(self, raw: Mapping[str, Any], labels: tuple[str, ...], reviewer_emails: tuple[str, ...]) -> Settings:
        url_seconds = number(raw, "reviewImageUrlSeconds", 300, 60, 3600,
                             "seconds a reviewer's link to an image stays valid")
        alarm_hours = number(raw, "reviewAlarmHours", 24, 1, 240,
                             "hours the oldest open review task may wait before the alarm tells the topic")
        return Settings(_existing_pool(raw, reviewer_emails), _throttle(raw), int(url_seconds), float(alarm_hours))

    def alarms(self, settings: Settings) -> tuple[GaugeAlarm, ...]:
        hours = settings.review_alarm_hours
        return (GaugeAlarm(REVIEW_TASK_ALARM, OLDEST_OPEN_TASK_AGE, hours * HOUR,
                           f"A review task has waited more than {hours:g} hours for a reviewer (reviewAlarmHours)."),)

    def dashboard(self, widgets: Widgets) -> list[dict]:
        """Waiting tasks, how long the oldest has waited (hours) and answers per hour."""
        age = widgets.loop_metric(OLDEST_OPEN_TASK_AGE, "Maximum", "oldest task")
        return [
            widgets.metric("Review tasks open", [widgets.loop_metric(REVIEW_TASKS_OPEN, "Maximum", "open")], 0),
            widgets.metric("Oldest open review task (hours)", widgets.divided(age, "age", HOUR, "hours", "oldest task"),
                           8),
            widgets.metric("Review answers per hour", [widgets.loop_metric(REVIEW_ANSWERS, "Sum", "answers")], 16,
                           period=HOUR),
        ]


BACKEND = Builtin()
