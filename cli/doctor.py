"""The checks of ``labelloop doctor``: before a deploy, what the account and region allow; after it,
whether the deployed stack can run. Each check is one entry of :data:`CHECKS` — its name, what it
needs (an account behind the target, a deployed stack) and a function of the :class:`Doctor`
context that yields findings: ok, warn or fail, each with what was seen and the fix.

A check that cannot look (a call refused, a service moto lacks) says so as a warning naming the
call, rather than passing silently. The checks read only; nothing is changed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import Any, Callable, Iterable, Iterator

from botocore.exceptions import BotoCoreError, ClientError

from components.regions import CUSTOM_LABELS_REGIONS, READ_ON, region_problem
from components.triggers import SERVING_SCHEDULE, bucket_triggers, parameter_trigger, training_schedule, waiting_trigger
from handlers.review_backends import DEFAULT as DEFAULT_REVIEW
from handlers.runtime.ledger import units_running
from handlers.runtime.state import iso
from handlers.serving import IDLE_DAYS, days_back
from policies.names import (ENABLE_TRAINING, IDLE_STOP_MINUTES, MAX_INFERENCE_UNITS, MIN_INFERENCE_UNITS,
                            START_ON_PENDING)

from .labelstudio_check import check_labelstudio
from .params_cmd import parameter_rows

OK, WARN, FAIL = "ok", "warn", "fail"
# Documented defaults (AWS General Reference, Rekognition quotas; Cognito quotas), used when Service
# Quotas cannot be read.
RUNNING_MODELS_QUOTA = 2  # concurrently running Custom Labels models per account and region
UNITS_PER_MODEL_QUOTA = 5  # inference units per started model
COGNITO_DAILY_EMAILS = 50  # e-mails a day per user pool with Cognito's own e-mail (COGNITO_DEFAULT)
LOW_LAMBDA_CONCURRENCY = 100  # accounts below this (new ones start at 10) throttle bursts of uploads
ERROR_WINDOW_HOURS = 24
IDLE_WARN_MINUTES = 60  # a model running this long without a detection, with the idle stop off
LIVE = ("STARTING", "RUNNING")


@dataclass(frozen=True)
class Finding:
    check: str
    status: str  # ok | warn | fail
    what: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"check": self.check, "status": self.status, "what": self.what, "fix": self.fix}


@dataclass
class Doctor:
    """What the checks share: the target, and what they read once."""

    target: Any  # cli.target.Target

    @cached_property
    def stack_config(self) -> dict[str, Any]:
        """The stack's own config (`pulumi config`), which tells what a stack not yet deployed will be."""
        return self.target.stack_settings()

    @cached_property
    def deployed(self):
        return self.target.deployed()

    @cached_property
    def review_backend(self) -> str:
        if self.deployed is not None:
            return self.deployed.review_backend
        return self.stack_config.get("labelloop:review") or DEFAULT_REVIEW

    @cached_property
    def settings(self) -> dict[str, Any]:
        """The parameters the loop runs with; before a deploy, those the stack will start with."""
        catalog = self.target.catalog
        if self.deployed is None:
            starting = self.stack_config.get("labelloop:parameterDefaults") or {}
            raw = {name: str(value) for name, value in starting.items() if name in catalog} if isinstance(
                starting, dict) else {}
        else:
            raw = {name: found["value"] for name, found in self.target.read_parameters().items()}
        return catalog.read(raw)[0]

    @cached_property
    def identity(self) -> dict[str, str]:
        return self.target.client("sts").get_caller_identity()

    def finding(self, check: str, status: str, what: str, fix: str = "") -> Finding:
        return Finding(check, status, what, fix)


@dataclass(frozen=True)
class Check:
    name: str
    title: str
    run: Callable[[Doctor], Iterable[Finding]]
    account: bool = False  # needs an AWS account behind the target (not a sandbox run)
    deployed: bool = False  # needs the deployed stack
    review: str | None = None  # a check of one review backend's (labelloop:review), for its stacks only


# -- before a deploy ------------------------------------------------------------------------------
def check_region(doctor: Doctor) -> Iterator[Finding]:
    region = doctor.target.region
    if not region:
        yield doctor.finding("region", FAIL, "no AWS region", "pass --region, or set the stack's aws:region")
        return
    problem = region_problem(region)
    if problem:
        yield doctor.finding("region", FAIL, problem.split("; ", 1)[0], problem.split("; ", 1)[1])
    else:
        yield doctor.finding("region", OK, f"{region} ({CUSTOM_LABELS_REGIONS[region]}) offers Rekognition Custom "
                             f"Labels (AWS's list as of {READ_ON})")


def principal(caller_arn: str) -> str | None:
    """The IAM principal the policy simulator takes for a caller (an assumed role's session: the role);
    None for the account's root user, whom no policy limits."""
    match = re.fullmatch(r"arn:([\w-]+):sts::(\d+):assumed-role/([\w+=,.@-]+)/.+", caller_arn)
    if match:
        partition, account, role = match.groups()
        return f"arn:{partition}:iam::{account}:role/{role}"
    if caller_arn.endswith(":root"):
        return None
    return re.sub(r"^arn:([\w-]+):sts::", r"arn:\1:iam::", caller_arn)  # a user (moto writes it with sts)


def sample(arn: str) -> str:
    """A resource ARN of a statement, as one resource it names (the simulator takes no wildcards)."""
    return "*" if arn == "*" else arn.replace("*", "x")


def check_permissions(doctor: Doctor) -> Iterator[Finding]:
    from .deployer_policy_cmd import Names, documents

    caller = doctor.identity["Arn"]
    who = principal(caller)
    if who is None:
        yield doctor.finding("permissions", WARN, "the account's root user: every action is allowed",
                             "deploy and operate with an IAM role instead (`labelloop deployer-policy` prints its policies)")
        return
    region, account = doctor.target.region, doctor.identity["Account"]
    names = Names.of(doctor.target.naming.stack, region, account, caller.split(":")[1])
    iam = doctor.target.client("iam")
    for part, pieces in documents(names, doctor.review_backend).items():
        denied: list[str] = []
        for statement in (s for piece in pieces for s in piece["Statement"]):
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            pages = iam.get_paginator("simulate_principal_policy").paginate(
                PolicySourceArn=who, ActionNames=statement["Action"], ResourceArns=[sample(resources[0])])
            denied += [r["EvalActionName"] for page in pages for r in page["EvaluationResults"]
                       if r["EvalDecision"] != "allowed"]
        fix = (f"attach the {part} policies of `labelloop deployer-policy --stack {doctor.target.naming.stack} "
               f"--region {region} --account {account} --part {part}` to {who}")
        if not denied:
            yield doctor.finding("permissions", OK, f"{who} may {'deploy' if part == 'deploy' else 'operate'} the stack "
                                 f"(IAM's policy simulator, {sum(len(s['Action']) for p in pieces for s in p['Statement'])} actions)")
        else:
            shown = ", ".join(sorted(set(denied))[:6]) + (f" and {len(set(denied)) - 6} more" if len(set(denied)) > 6 else "")
            # After a deploy an operator needs no deploy rights: a missing one only matters for the next `pulumi up`.
            status = WARN if part == "deploy" and doctor.deployed is not None else FAIL
            yield doctor.finding("permissions", status, f"{who} may not {shown} ({part})", fix)


def _service_quotas(doctor: Doctor, service: str) -> dict[str, float]:
    """Quota name (lower case) -> value, as Service Quotas applies them; {} when it cannot be read."""
    try:
        pages = doctor.target.client("service-quotas").get_paginator("list_service_quotas").paginate(ServiceCode=service)
        return {q["QuotaName"].lower(): q["Value"] for page in pages for q in page["Quotas"]}
    except (ClientError, BotoCoreError, NotImplementedError):
        return {}


def _quota(quotas: dict[str, float], *words: str) -> float | None:
    return next((value for name, value in quotas.items() if all(w in name for w in words)), None)


def check_quotas(doctor: Doctor) -> Iterator[Finding]:
    quotas = _service_quotas(doctor, "rekognition")
    source = "Service Quotas" if quotas else "AWS's documented default: Service Quotas not readable"
    running_quota = int(_quota(quotas, "running", "model") or RUNNING_MODELS_QUOTA)
    unit_quota = int(_quota(quotas, "inference units") or UNITS_PER_MODEL_QUOTA)
    units = max(int(doctor.settings[MIN_INFERENCE_UNITS]), int(doctor.settings[MAX_INFERENCE_UNITS]))
    if units > unit_quota:
        yield doctor.finding("quotas", FAIL, f"a model may be started with {units} inference units; the account allows "
                             f"{unit_quota} per model ({source})",
                             f"labelloop params set {MIN_INFERENCE_UNITS} {min(units, unit_quota)} (and "
                             f"{MAX_INFERENCE_UNITS}), or request a higher quota in Service Quotas")
    else:
        yield doctor.finding("quotas", OK, f"{units} inference unit(s) per model, within {unit_quota} ({source})")
    try:
        elsewhere, training = _elsewhere(doctor)
    except (ClientError, BotoCoreError) as exc:
        yield doctor.finding("quotas", WARN, f"could not count the running Custom Labels models: {_problem(exc)}",
                             "allow rekognition:DescribeProjects and DescribeProjectVersions (labelloop deployer-policy)")
    else:
        if len(elsewhere) + 2 > running_quota:  # a blue/green switch runs two of this stack's at once
            yield doctor.finding("quotas", WARN, f"{len(elsewhere)} model(s) of other projects run in this account "
                                 f"and region ({', '.join(elsewhere[:3])}); {running_quota} may run at once ({source}) "
                                 "and a blue/green switch needs 2", "stop models you do not need, or request a "
                                 "higher quota for concurrently running models in Service Quotas")
        else:
            yield doctor.finding("quotas", OK, f"{len(elsewhere)} model(s) of other projects running; {running_quota} "
                                 f"may run at once ({source}): room for a blue/green switch")
        trainings = _quota(quotas, "training")
        if trainings is not None and len(training) >= trainings:
            yield doctor.finding("quotas", WARN, f"{len(training)} training(s) of other projects in progress; "
                                 f"{int(trainings)} may run at once (Service Quotas): the stack's next one waits",
                                 "let them finish, or request a higher quota for concurrent trainings")
        else:
            limit = f"{int(trainings)} may run at once" if trainings is not None else \
                "the limit is in Service Quotas > Amazon Rekognition (not readable here)"
            yield doctor.finding("quotas", OK, f"{len(training)} training(s) of other projects in progress; {limit}")
    try:
        limit = doctor.target.client("lambda").get_account_settings()["AccountLimit"]["ConcurrentExecutions"]
    except (ClientError, BotoCoreError, NotImplementedError) as exc:
        yield doctor.finding("quotas", WARN, f"could not read Lambda's concurrency limit: {_problem(exc)}",
                             "allow lambda:GetAccountSettings, or look in Service Quotas > AWS Lambda")
    else:
        status = WARN if limit < LOW_LAMBDA_CONCURRENCY else OK
        yield doctor.finding("quotas", status, f"Lambda runs at most {limit} functions at once in this region",
                             "" if status == OK else "request 1 000 concurrent executions (Service Quotas > AWS "
                             "Lambda): bursts of uploads are throttled and detections retried until then")


def _elsewhere(doctor: Doctor) -> tuple[list[str], list[str]]:
    """Versions of other projects in this account and region: starting or running, and training."""
    rekognition, found, training = doctor.target.client("rekognition"), [], []
    ours = doctor.target.naming.project
    for page in rekognition.get_paginator("describe_projects").paginate():
        for project in page["ProjectDescriptions"]:
            if project["ProjectArn"].split(":project/", 1)[-1].split("/", 1)[0] == ours:
                continue
            for versions in rekognition.get_paginator("describe_project_versions").paginate(
                    ProjectArn=project["ProjectArn"]):
                for d in versions["ProjectVersionDescriptions"]:
                    name = d["ProjectVersionArn"].split("/version/", 1)[-1].split("/", 1)[0]
                    found += [name] if d["Status"] in LIVE else []
                    training += [name] if d["Status"] == "TRAINING_IN_PROGRESS" else []
    return found, training


def check_reviewer_email(doctor: Doctor) -> Iterator[Finding]:
    invited = doctor.stack_config.get("labelloop:reviewerEmails") or []
    if doctor.deployed is not None and doctor.deployed.user_pool_id:
        try:
            pool = doctor.target.client("cognito-idp").describe_user_pool(UserPoolId=doctor.deployed.user_pool_id)
        except (ClientError, BotoCoreError) as exc:
            yield doctor.finding("reviewer-email", WARN, f"could not read the reviewers' user pool: {_problem(exc)}",
                                 "allow cognito-idp:DescribeUserPool (labelloop deployer-policy)")
            return
        sending = (pool["UserPool"].get("EmailConfiguration") or {}).get("EmailSendingAccount", "COGNITO_DEFAULT")
        users = max(len(invited), int(pool["UserPool"].get("EstimatedNumberOfUsers") or 0))
    else:
        sending, users = "COGNITO_DEFAULT", len(invited)
    if sending != "COGNITO_DEFAULT":
        yield doctor.finding("reviewer-email", OK, "the reviewers' user pool sends e-mail through Amazon SES")
    elif users > COGNITO_DAILY_EMAILS:
        days = math.ceil(users / COGNITO_DAILY_EMAILS)
        yield doctor.finding("reviewer-email", WARN, f"{users} reviewers to invite; Cognito's own e-mail sends "
                             f"{COGNITO_DAILY_EMAILS} a day per user pool, so the invitations take {days} days",
                             "configure the pool to send through Amazon SES (EmailSendingAccount DEVELOPER with a "
                             "verified identity), or invite in batches")
    else:
        yield doctor.finding("reviewer-email", OK, f"{users} reviewer(s) to invite, within Cognito's "
                             f"{COGNITO_DAILY_EMAILS} e-mails a day (more: configure Amazon SES)")


def check_a2i(doctor: Doctor) -> Iterator[Finding]:
    if doctor.deployed is None or not doctor.deployed.flow_definition_arn:
        yield doctor.finding("a2i", WARN, "review: a2i — Amazon A2I takes no new customers (maintenance mode since July "
                             "2026): StartHumanLoop fails for an account that is not an existing A2I customer",
                             "keep a2i only for an account that already reviews in A2I; otherwise set "
                             "labelloop:review builtin")
        return
    name = doctor.deployed.flow_definition_arn.rsplit("/", 1)[1]
    try:
        status = doctor.target.client("sagemaker").describe_flow_definition(FlowDefinitionName=name)["FlowDefinitionStatus"]
    except (ClientError, BotoCoreError) as exc:
        yield doctor.finding("a2i", FAIL, f"the flow definition {name} cannot be read: {_problem(exc)}",
                             "check that the account may use A2I (existing A2I customers only) and run `pulumi up`")
        return
    yield doctor.finding("a2i", OK if status == "Active" else FAIL, f"flow definition {name} is {status}",
                         "" if status == "Active" else "run `pulumi up` again, or see the SageMaker console's A2I page")


# -- a deployed stack ---------------------------------------------------------------------------------
def check_functions(doctor: Doctor) -> Iterator[Finding]:
    from components.functions import deployed_with

    names = {doctor.target.naming.function(key): key for key in deployed_with(doctor.review_backend)}
    now = datetime.now(timezone.utc)
    queries = [{"Id": f"e{i}", "ReturnData": True, "MetricStat": {"Period": ERROR_WINDOW_HOURS * 3600, "Stat": "Sum",
                "Metric": {"Namespace": "AWS/Lambda", "MetricName": "Errors",
                           "Dimensions": [{"Name": "FunctionName", "Value": name}]}}} for i, name in enumerate(names)]
    try:
        results = doctor.target.client("cloudwatch").get_metric_data(
            MetricDataQueries=queries, StartTime=now - timedelta(hours=ERROR_WINDOW_HOURS), EndTime=now)["MetricDataResults"]
    except (ClientError, BotoCoreError) as exc:
        yield doctor.finding("functions", WARN, f"could not read the functions' errors: {_problem(exc)}",
                             "allow cloudwatch:GetMetricData (labelloop deployer-policy)")
        return
    by_name = list(names)
    failing = {by_name[int(r["Id"][1:])]: int(sum(r.get("Values") or [0])) for r in results if sum(r.get("Values") or [0])}
    if not failing:
        yield doctor.finding("functions", OK, f"no errors in the last {ERROR_WINDOW_HOURS} h in {len(names)} functions")
    for name, errors in sorted(failing.items()):
        yield doctor.finding("functions", WARN, f"{name} failed {errors} time(s) in the last {ERROR_WINDOW_HOURS} h",
                             f"read its log group /aws/lambda/{name} (a state machine task's failure is also in its "
                             "execution's history)")


def check_rules(doctor: Doctor) -> Iterator[Finding]:
    naming, events = doctor.target.naming, doctor.target.client("events")
    training_on = bool(doctor.settings[ENABLE_TRAINING])
    expected = {naming.rule(t.name): t.event_bus for t in (
        bucket_triggers(doctor.deployed.bucket, doctor.review_backend)
        + [parameter_trigger(naming.parameter_path), waiting_trigger(naming.stack, naming.event_bus)])}
    expected |= {naming.rule(s.name): None for s in (training_schedule(doctor.settings), SERVING_SCHEDULE)}
    found: dict[str, str] = {}
    try:
        for bus in (None, naming.event_bus):
            pages = events.get_paginator("list_rules").paginate(NamePrefix=f"{naming.prefix}-",
                                                               **({"EventBusName": bus} if bus else {}))
            found |= {rule["Name"]: rule["State"] for page in pages for rule in page["Rules"]}
    except (ClientError, BotoCoreError) as exc:
        yield doctor.finding("rules", WARN, f"could not list the stack's rules: {_problem(exc)}",
                             "allow events:ListRules (labelloop deployer-policy)")
        return
    problems = 0
    for name in sorted(set(expected) - set(found)):
        problems += 1
        yield doctor.finding("rules", FAIL, f"rule {name} is missing", "run `pulumi up` to create it again")
    schedule = naming.rule(training_schedule(doctor.settings).name)
    for name, state in sorted(found.items()):
        want = ("ENABLED" if training_on else "DISABLED") if name == schedule else "ENABLED"
        if state == want:
            continue
        problems += 1
        if name == schedule:
            fix = f"labelloop params set {ENABLE_TRAINING} {'true' if training_on else 'false'} (the change sets the schedule)"
            what = f"rule {name} is {state} while {ENABLE_TRAINING} is {str(training_on).lower()}"
        else:
            bus = f" --event-bus-name {naming.event_bus}" if expected.get(name) else ""
            what, fix = f"rule {name} is {state}: what it drives does not happen", f"aws events enable-rule --name {name}{bus}"
        yield doctor.finding("rules", FAIL, what, fix)
    if not problems:
        yield doctor.finding("rules", OK, f"{len(found)} rules, each in the state it should be")


def check_parameters(doctor: Doctor) -> Iterator[Finding]:
    rows = parameter_rows(doctor.target)
    bad = [r for r in rows if r["state"] in ("invalid", "missing")]
    for row in bad:
        fix = (f"labelloop params set {row['name']} VALUE ({row['allowed']}) or labelloop params reset {row['name']}")
        what = (f"{row['name']} is missing: the functions use its default {row['default']}" if row["state"] == "missing"
                else f"{row['name']} = {row['value']!r} is not allowed ({row['allowed']}): the functions use the last "
                     "good value or the default")
        yield doctor.finding("parameters", FAIL, what, fix)
    if not bad:
        yield doctor.finding("parameters", OK, f"all {len(rows)} parameters set and valid")


def check_model(doctor: Doctor) -> Iterator[Finding]:
    table = doctor.target.table()
    loop = table.loop()
    versions = {v["version"]: v for v in doctor.target.model_versions()}
    live = {name: v for name, v in versions.items() if v["status"] in LIVE}
    on_demand = int(doctor.settings[IDLE_STOP_MINUTES]) > 0 or int(doctor.settings[START_ON_PENDING]) > 0
    active = loop.active_version
    if active and active not in versions:
        yield doctor.finding("model", FAIL, f"the active model {active} is not a version of the stack's project",
                             "labelloop rollback --to VERSION (one `labelloop versions` lists)")
    elif active and active not in live and not on_demand:
        yield doctor.finding("model", FAIL, f"the active model {active} is {versions[active]['status']}, and serving "
                             "is not on demand: uploads wait", "labelloop start")
    elif active:
        state = versions[active]["status"]
        yield doctor.finding("model", OK, f"the active model {active} is {state}" + (
            "" if active in live else " (serving on demand starts it when images wait)"))
    else:
        yield doctor.finding("model", OK, "no model deployed yet: uploads wait until the first one is (labelloop train)")
    strays = sorted(set(live) - {active} - {loop.training_version})
    if strays:
        per_hour = sum(live[s]["units"] or 1 for s in strays) * doctor.target.prices.inference_unit_hour
        yield doctor.finding("model", FAIL, f"{', '.join(strays)} run(s) without serving (${per_hour:.2f} an hour)",
                             "labelloop train (its first step stops them), or aws rekognition stop-project-version "
                             "--project-version-arn " + live[strays[0]]["arn"])


def check_idle_model(doctor: Doctor) -> Iterator[Finding]:
    table = doctor.target.table()
    loop = table.loop()
    running = units_running(p for p in table.serving_periods() if p.version == loop.active_version)
    if not loop.active_version or not running:
        yield doctor.finding("idle-model", OK, "no model bills while idle")
        return
    now = doctor.target.now()
    last = max((d.last_detected_at for d in table.days_stats(days_back(now, iso(now - timedelta(days=IDLE_DAYS))))
                if d.last_detected_at), default=None)
    idle = (doctor.target.now() - datetime.fromisoformat(last.replace("Z", "+00:00"))) if last else None
    idle_minutes = None if idle is None else int(idle.total_seconds() // 60)
    stop_after = int(doctor.settings[IDLE_STOP_MINUTES])
    limit = stop_after + 2 * 5 + 20 if stop_after else IDLE_WARN_MINUTES  # the schedule, and a stop's minutes
    per_hour = running * doctor.target.prices.inference_unit_hour
    if idle_minutes is not None and idle_minutes <= limit or table.pending():
        yield doctor.finding("idle-model", OK, f"the model has work: last detection {idle_minutes} min ago")
        return
    since = "never had a detection" if idle_minutes is None else f"has had no detection for {idle_minutes} min"
    if stop_after:
        yield doctor.finding("idle-model", FAIL, f"{loop.active_version} {since}, past {IDLE_STOP_MINUTES} "
                             f"{stop_after}: the idle stop did not happen (${per_hour:.2f} an hour)",
                             f"read the serve function's log group /aws/lambda/{doctor.target.naming.function('serve')}; "
                             "labelloop stop")
    else:
        yield doctor.finding("idle-model", WARN, f"{loop.active_version} runs and {since} (${per_hour:.2f} an hour)",
                             f"labelloop stop, or serve on demand: labelloop params set {IDLE_STOP_MINUTES} 15 and "
                             f"{START_ON_PENDING} 1")


def _problem(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{exc.operation_name}: {error.get('Code')}: {error.get('Message')}"
    return str(exc) or type(exc).__name__


# The checks, in the order they run. A new one is one entry (e.g. the cost ledger against
# CloudWatch's InServiceInferenceUnits, on a deployed stack).
CHECKS: tuple[Check, ...] = (
    Check("region", "the region offers Rekognition Custom Labels", check_region),
    Check("permissions", "the caller may deploy and operate the stack (IAM's policy simulator)", check_permissions,
          account=True),
    Check("quotas", "Custom Labels and Lambda quotas", check_quotas, account=True),
    Check("reviewer-email", "Cognito can e-mail the reviewers' invitations", check_reviewer_email, account=True,
          review="builtin"),
    Check("a2i", "Amazon A2I answers (review: a2i)", check_a2i, account=True, review="a2i"),
    Check("labelstudio", "Label Studio takes the token and has the project the labels need (review: labelstudio)",
          check_labelstudio, account=True, review="labelstudio"),
    Check("functions", "the functions' recent errors", check_functions, account=True, deployed=True),
    Check("rules", "the event rules are in the state they should be", check_rules, account=True, deployed=True),
    Check("parameters", "the operator parameters are valid", check_parameters, deployed=True),
    Check("model", "the model pointer against what runs", check_model, deployed=True),
    # A saved sandbox run's clock stopped at its end, and nothing there bills: an account's check.
    Check("idle-model", "no model runs with nothing to do", check_idle_model, account=True, deployed=True),
)


def applicable(doctor: Doctor, check: Check) -> str | None:
    """Why a check does not apply to this target, or None when it does."""
    if check.account and not doctor.target.account_checks:
        return "not for a sandbox run"
    if check.deployed and doctor.deployed is None:
        return "the stack is not deployed yet"
    if check.review not in (None, doctor.review_backend):
        return f"the stack reviews with {doctor.review_backend}"
    return None


def run_checks(doctor: Doctor, checks: Iterable[Check] = CHECKS) -> Iterator[tuple[Check, list[Finding] | str]]:
    """Each check with its findings, or why it was skipped."""
    for check in checks:
        why = applicable(doctor, check)
        if why:
            yield check, why
            continue
        try:
            yield check, list(check.run(doctor))
        except (ClientError, BotoCoreError) as exc:
            yield check, [doctor.finding(check.name, WARN, f"could not check: {_problem(exc)}",
                                         "check your credentials' permissions (labelloop deployer-policy)")]
