"""A deployed stack as a command's target: names given explicitly first, then the stack's Pulumi
outputs; AWS clients from the usual credentials and region."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from typing import Any, Callable, Iterator

from components.naming import PROJECT, Naming, StackNameError
from handlers.runtime.config import MissingConfiguration, RuntimeConfig
from handlers.runtime.ledger import Prices

from .errors import UsageError
from .pulumi_stack import OUTPUTS, expected, output_policies, selected_stack, stack_config, stack_outputs, stack_settings
from .target import NO_TARGET, OPTIONS, FunctionFailed, Target

WHAT = {"parameter_path": "parameter path", "table": "state table", "lifecycle_arn": "lifecycle state machine"}


@dataclass
class AwsTarget(Target):
    """A stack on AWS (or in moto, for the tests)."""

    description: str
    names: dict[str, str | None]
    policies: tuple[str, ...]
    clients: Callable[[str], Any]
    missing: dict[str, str] = field(default_factory=dict)  # name -> why it is not known and how to fix it
    stack_prices: Prices = field(default_factory=Prices)  # the stack output prices, else the defaults
    stack: str | None = None  # the Pulumi stack, when named (--stack, or the selected one)

    policy_fix = "; a team policy's parameter is known once its module is: pass --stack-policies MODULE[,MODULE…]"

    def require(self, *names: str) -> None:
        for name in names:
            if not self.names.get(name):
                raise UsageError(self.missing.get(name) or
                                 f"no {WHAT[name]} given: pass {OPTIONS[name]} or --stack NAME")

    def knows(self, name: str) -> bool:
        return bool(self.names.get(name))

    @property
    def parameter_path(self) -> str:
        self.require("parameter_path")
        return self.names["parameter_path"].rstrip("/") + "/"

    @property
    def table_name(self) -> str:
        self.require("table")
        return self.names["table"]

    @property
    def lifecycle_arn(self) -> str:
        self.require("lifecycle_arn")
        return self.names["lifecycle_arn"]

    @property
    def account_checks(self) -> bool:
        return True

    def stack_settings(self) -> dict[str, Any]:
        return stack_settings(self.stack) if self.stack else {}

    @property
    def labels(self) -> tuple[str, ...]:
        """The label set of the stack's Pulumi config (``labelloop:labels``); () when not known."""
        labels = self.stack_settings().get("labelloop:labels")
        return tuple(str(label) for label in labels) if isinstance(labels, list) else ()

    @cached_property
    def naming(self) -> Naming:
        """From the stack's name, else from the parameter path (``/labelloop/<stack>/``) or the table."""
        stack = self.stack
        if not stack and self.names.get("parameter_path"):
            stack = self.parameter_path.strip("/").removeprefix(f"{PROJECT}/")
        if not stack and self.names.get("table"):
            stack = self.table_name.removeprefix(f"{PROJECT}-").removesuffix("-state")
        try:
            return Naming(stack or "")
        except StackNameError:
            raise UsageError("no stack name to find its resources by: pass --stack NAME or --parameter-path "
                             "/labelloop/<stack>/") from None

    @property
    def region(self) -> str | None:
        return self.client("sts").meta.region_name

    def deployed(self) -> RuntimeConfig | None:
        """The environment of the review function (it has the review app's settings too) or, without
        one (A2I), of the detection function; None when neither exists."""
        from botocore.exceptions import ClientError

        functions = self.client("lambda")
        for key in ("review_api", "detect"):
            try:
                found = functions.get_function_configuration(FunctionName=self.naming.function(key))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                    continue
                raise
            env = (found.get("Environment") or {}).get("Variables") or {}
            # The labels travel in the function's archive, not its environment.
            return RuntimeConfig.from_env({"LABELLOOP_LABELS": "[]", **env})
        return None

    def model_versions(self) -> list[dict]:
        try:
            config = self.deployed()
        except MissingConfiguration:  # a function not deployed by the program: no project to describe
            return []
        if config is None or not config.project_arn:
            return []
        pages = self.client("rekognition").get_paginator("describe_project_versions").paginate(
            ProjectArn=config.project_arn)
        return [{"version": d["ProjectVersionArn"].split("/version/", 1)[1].split("/", 1)[0],
                 "arn": d["ProjectVersionArn"], "status": d["Status"], "units": d.get("MinInferenceUnits")}
                for page in pages for d in page.get("ProjectVersionDescriptions", [])]

    def invoke_function(self, key: str, payload: dict) -> dict:
        name = self.naming.function(key)
        response = self.client("lambda").invoke(FunctionName=name, Payload=json.dumps(payload))
        answer = json.loads(response["Payload"].read() or "null")
        if response.get("FunctionError"):
            raise FunctionFailed(name, (answer or {}).get("errorType"), (answer or {}).get("errorMessage"))
        return answer

    def _review_app(self) -> RuntimeConfig:
        config = self.deployed()
        if config is None or not (config.user_pool_id and config.user_pool_client_id and config.review_url):
            raise UsageError(f"{self.description} has no review app deployed (review: builtin): nothing to sign in to")
        return config

    @contextlib.contextmanager
    def temporary_reviewer(self, name: str) -> Iterator[str]:
        """A user of the review app's pool, in its reviewer group, signed in with the admin password flow
        (no e-mail is sent); deleted afterwards. Yields the access token."""
        config, cognito = self._review_app(), self.client("cognito-idp")
        pool, username = config.user_pool_id, f"{name}@example.com"
        password = secrets.token_urlsafe(24) + "Aa1!"  # every character class a password policy may ask for
        cognito.admin_create_user(UserPoolId=pool, Username=username, MessageAction="SUPPRESS",
                                  TemporaryPassword=password,
                                  UserAttributes=[{"Name": "email", "Value": username},
                                                  {"Name": "email_verified", "Value": "true"}])
        try:
            cognito.admin_set_user_password(UserPoolId=pool, Username=username, Password=password, Permanent=True)
            cognito.admin_add_user_to_group(UserPoolId=pool, Username=username, GroupName=config.reviewer_group)
            signed_in = cognito.admin_initiate_auth(UserPoolId=pool, ClientId=config.user_pool_client_id,
                                                    AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                                    AuthParameters={"USERNAME": username, "PASSWORD": password})
            yield signed_in["AuthenticationResult"]["AccessToken"]
        finally:
            cognito.admin_delete_user(UserPoolId=pool, Username=username)

    def review_api(self, reviewer: Any, method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
        url = self._review_app().review_url.rstrip("/") + path
        headers = {"Content-Type": "application/json", "User-Agent": "labelloop-cli"}
        if reviewer:
            headers["Authorization"] = f"Bearer {reviewer}"
        request = urllib.request.Request(url, method=method, headers=headers,
                                         data=None if body is None else json.dumps(body).encode())
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, json.loads(raw or b"null")
        except json.JSONDecodeError:
            return status, {"message": raw[:200].decode("utf-8", "replace")}

    def client(self, service: str):
        from botocore.exceptions import NoRegionError

        try:
            return self.clients(service)
        except NoRegionError:
            raise UsageError("no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION), pass --region, set the "
                             "stack's aws:region, or a region in your AWS profile (`aws configure`)") from None

    def write_parameter(self, name: str, value: str, spec) -> None:
        # The description and allowed pattern as the Pulumi program wrote them, so Parameter Store keeps
        # checking later writes (console, AWS CLI).
        self.ssm.put_parameter(Name=self.parameter_path + name, Value=value, Type="String", Overwrite=True,
                               Description=spec.description[:1024], AllowedPattern=spec.allowed_pattern)

    def detection_machine(self, explicit: str | None = None) -> str:
        """Given, or the stack's detection state machine next to its lifecycle one (both named by
        ``components.naming``)."""
        if explicit:
            return explicit
        prefix, _, name = self.lifecycle_arn.rpartition(":")
        stack = name.removeprefix(f"{PROJECT}-").removesuffix("-lifecycle")
        if not prefix or stack == name or not stack:
            raise UsageError(f"{self.lifecycle_arn} is not a labelloop lifecycle state machine; pass --detection-arn "
                             "(stack output detectionStateMachineArn)")
        return f"{prefix}:{Naming(stack).state_machine('detection')}"

    def start_detection(self, machine: str, name: str, payload: dict) -> bool:
        self.stepfunctions.start_execution(stateMachineArn=machine, name=name, input=json.dumps(payload))
        return False  # Express executions run on; their results are read from the state table

    @property
    def prices(self) -> Prices:
        return self.stack_prices

    def start_lifecycle(self, payload: dict, what: str, announce: Callable[[str], None]) -> str:
        machine = self.lifecycle_arn  # a missing name is the first thing to fix, before region or credentials
        name = f"cli-{what}-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        arn = self.stepfunctions.start_execution(stateMachineArn=machine, name=name,
                                                 input=json.dumps(payload))["executionArn"]
        announce(arn)
        return arn


def aws_target(stack: str | None, explicit: dict[str, str | None], policies: tuple[str, ...] | None, *,
               region: str | None = None, profile: str | None = None) -> AwsTarget:
    """A deployed stack: explicit names first, then the stack's Pulumi outputs (the selected stack's when
    none is named); the region and profile as the Pulumi AWS provider and the AWS CLI choose them."""
    names = {name: value for name, value in explicit.items() if value}
    if not stack and not names:
        stack = selected_stack()
        if not stack:
            raise UsageError(NO_TARGET)
    missing: dict[str, str] = {}
    outputs: dict[str, Any] = {}
    complete = len(names) == len(OPTIONS)
    if stack and (not complete or policies is None):
        try:
            outputs, why = stack_outputs(stack)
        except UsageError:
            if not complete:
                raise
            outputs, why = {}, None  # every name is given: only the policies were asked for ($LABELLOOP_POLICIES then)
        for name, key in OUTPUTS.items():
            if not names.get(name) and outputs.get(key):
                names[name] = outputs[key]
            elif not names.get(name):
                problem = why or f"the outputs of stack {stack!r} have no {key}"
                missing[name] = (f"no {WHAT[name]} for stack {stack!r}: {problem}; "
                                 f"pass {OPTIONS[name]} {expected(stack, name)}"
                                 + (" or install the Pulumi CLI (https://www.pulumi.com/docs/install/) and run "
                                    "in the project directory" if why else ""))
    if policies is None:
        policies = output_policies(outputs)
    if policies is None:
        from plugins.manager import modules_from_env

        policies = tuple(modules_from_env())
    for name in OPTIONS:
        if name not in names and name not in missing and not stack:
            missing[name] = f"no {WHAT[name]} given: pass {OPTIONS[name]} (or --stack NAME to read it from Pulumi)"
    description = f"stack {stack}" if stack else "stack at " + (names.get("parameter_path") or names.get("table")
                                                                 or names.get("lifecycle_arn") or "?")
    config = stack_config(stack) if stack and not (region and profile) else {}
    region = region or config.get("aws:region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    return AwsTarget(description, {n: names.get(n) for n in OPTIONS}, tuple(policies),
                     _session_clients(region or None, profile or config.get("aws:profile")), missing=missing,
                     stack_prices=Prices.of(outputs.get("prices")), stack=stack)


def _session_clients(region: str | None, profile: str | None) -> Callable[[str], Any]:
    """Clients of one boto3 session, made when first asked for (so a command that fails earlier needs no
    credentials), with the standard retry mode. ``region`` None: the profile's; ``profile`` None:
    boto3's own choice (``AWS_PROFILE``, then the default)."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 5}, user_agent_extra="labelloop-cli")
    cache: dict[str, Any] = {}
    sessions: list = []

    def client(service: str):
        if service not in cache:
            if not sessions:
                sessions.append(boto3.Session(region_name=region, profile_name=profile))
            cache[service] = sessions[0].client(service, config=config)
        return cache[service]

    return client
