"""A stack on this machine: moto provides the AWS services, the real handlers
run in process, and the real state machine definitions run in moto's
Step Functions interpreter.

Everything is created from the descriptions the Pulumi program deploys:
the parameter catalog, the table's key schema, ``components.functions``,
``components.triggers``, the state machine builders and the resource names of
``components.naming``. moto's EventBridge cannot invoke Lambda or Step
Functions targets, so each rule delivers to an SQS queue and
:meth:`LocalStack.pump` hands the events to the real targets. What the
sandbox changes in moto itself lives in :mod:`sandbox.moto_harness`.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import logging
import os
import time
import uuid
import zipfile
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any, Callable, Iterable, Mapping

import boto3
from botocore.config import Config

from components.functions import every_function
from components.naming import Naming
from components.state_machines import detection_definition, lifecycle_definition
from components.triggers import (SERVING_SCHEDULE, Trigger, bucket_triggers, parameter_trigger, training_schedule,
                                 waiting_trigger)
from handlers.runtime import aws as runtime_aws
from handlers.runtime import context as runtime_context
from handlers.runtime.config import RuntimeConfig
from handlers.runtime.state import table_definition
from handlers.runtime.workflow import lifecycle_input
from plugins import Engine

from .access import AccessCheck, Place
from .containers import Containers
from .identifiers import ACCOUNT, REGION
from .moto_harness import Handler, Invocation, MotoHarness
from .review_backends import every_sandbox_backend, sandbox_backend
from .standins import attach

MOCK_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
# No client-side retries: throttling reaches the state machines, whose Retry rules handle it.
SANDBOX_CLIENT_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 1})
PROJECT_CREATED = 1700000000000  # the project ARN's creation stamp


@dataclass
class LocalStack:
    """One labelloop stack in moto. Use as a context manager."""

    labels: tuple[str, ...]
    policies: tuple[str, ...] = ()
    stack: str = "sandbox"
    parameter_overrides: Mapping[str, Any] = field(default_factory=dict)
    standins: Mapping[str, object] = field(default_factory=dict)  # boto3 service name -> stand-in
    wait_scale: float = 0.0  # Wait states and retry back-off: 0 = instant, 1 = real time
    lifecycle_options: Mapping[str, Any] = field(default_factory=dict)  # lifecycle_definition keyword arguments
    serial: bool = False  # one execution at a time: reproducible order (the sandbox), slower
    # Lambda containers (sandbox.containers): "shared" (one for every function and the caller),
    # "per_function" (each function its own, kept warm) or "per_invocation" (every invocation cold).
    containers: str = "shared"
    # The review backend its functions are told (handlers.review_backends.REGISTRY): the tests' stacks
    # review with the A2I stand-in unless they switch (use_review); every backend's functions exist.
    review: str = "a2i"
    # The two state machines; a stack that only handles an event no workflow follows (a saved run's
    # parameter change) is created faster without them.
    workflows: bool = True

    # -- lifecycle -----------------------------------------------------------
    def __enter__(self) -> "LocalStack":
        from moto import mock_aws

        self._saved_env = dict(os.environ)
        os.environ.update({
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION, "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "WARNING"),
            "POWERTOOLS_SERVICE_NAME": "labelloop", "LABELLOOP_POLICIES": ",".join(self.policies),
            "LABELLOOP_LOAD_ENTRY_POINTS": "",
            "LABELLOOP_DRAIN_WORKERS": "1",  # the drain detects one image at a time: a reproducible order
        })
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
        runtime_context.logger.setLevel(os.environ["POWERTOOLS_LOG_LEVEL"])
        self._open = contextlib.ExitStack()
        try:
            self._open.callback(self._restore_environment)
            self.harness = self._open.enter_context(MotoHarness(wait_scale=self.wait_scale, serial=self.serial))
            self._open.enter_context(mock_aws(config=MOCK_CONFIG))
            self.session = boto3.Session(region_name=REGION)
            for service, standin in self.standins.items():
                attach(self.session, service, standin, lock=self.harness.lock)
            runtime_aws.use_session(self.session, SANDBOX_CLIENT_CONFIG)
            self._open.callback(runtime_context.reset)
            self._open.callback(runtime_aws.use_session, None)
            self._containers = None
            if self.containers != "shared":
                self._containers = self._open.enter_context(Containers(self.containers))
            runtime_context.reset()
            self._create()
        except BaseException:
            self._open.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.wait_for_executions()
        finally:
            self._open.close()

    def _restore_environment(self) -> None:
        os.environ.clear()
        os.environ.update(self._saved_env)

    def client(self, service: str):
        return runtime_aws.client(service)

    @property
    def invocations(self) -> list[Invocation]:
        """Every function invocation so far, oldest first (clear it to start counting afresh)."""
        return self.harness.invocations

    @property
    def retry_sleeps(self) -> list[float]:
        """The back-off of every state machine Retry so far, in seconds."""
        return self.harness.retry_sleeps

    def watch_calls(self, handler: Callable[..., None]) -> None:
        """Have ``handler`` see every API call a client of the stack makes (botocore's ``before-call``
        event: ``model``, ``params``, …; returning None lets the call go on). Clients made so far are
        dropped, so that every client sees it."""
        self.session._session.get_component("event_emitter").register("before-call.*.*", handler)
        runtime_aws.use_session(self.session, SANDBOX_CLIENT_CONFIG)
        runtime_context.reset()

    def on_function_client(self, hook: Callable[[str, Any], None]) -> None:
        """Hand every client a function's container makes to ``hook(function key, client)`` (the
        access check, the fault injector); the calls of the caller's own clients are not seen."""
        if self._containers is None:
            raise ValueError("function clients need containers of their own: LocalStack(containers='per_function')")
        self._containers.on_client(hook)

    def enforce_roles(self, policies: Mapping[str, Mapping[str, Any]]) -> AccessCheck:
        """From now on judge every call a function makes by its role's policy document (function key ->
        document; sandbox.access): a call the role does not allow fails as AWS fails it, and is in
        the returned check's ``denials``."""
        reader = self.session.client("s3", config=SANDBOX_CLIENT_CONFIG)  # what a service reads: unjudged
        check = AccessCheck(policies, Place(REGION, ACCOUNT),
                            lambda bucket, key: reader.get_object(Bucket=bucket, Key=key)["Body"].read())
        self.on_function_client(check.attach)
        return check

    def wrap_handlers(self, wrap: Callable[[str, Handler], Handler]) -> None:
        """Run every function's handler as ``wrap(function key, handler)`` from now on."""
        self.harness.wrap_functions(wrap)

    # -- resources -------------------------------------------------------------
    def _create(self) -> None:
        naming = self.naming = Naming(self.stack)
        self.bucket = naming("data")
        self.table = naming.table
        self.parameter_path = naming.parameter_path
        s3, ddb = self.client("s3"), self.client("dynamodb")
        s3.create_bucket(Bucket=self.bucket)
        s3.put_bucket_notification_configuration(
            Bucket=self.bucket, NotificationConfiguration={"EventBridgeConfiguration": {}})
        ddb.create_table(**table_definition(self.table))
        self.topic_arn = self.client("sns").create_topic(Name=naming("notifications"))["TopicArn"]
        # What the topic sends (e-mail in an account) is kept in a queue, read by notifications().
        self.notifications_queue = self._queue(naming.delivery_queue("notifications"))
        self.client("sns").subscribe(TopicArn=self.topic_arn, Protocol="sqs",
                                     Endpoint=self._queue_arn(self.notifications_queue))
        self.engine = Engine.load(list(self.policies), entry_points=False)
        defaults = self.engine.catalog.defaults(self.parameter_overrides)
        for spec in self.engine.catalog:
            self.client("ssm").put_parameter(
                Name=self.parameter_path + spec.name, Type="String", Value=spec.format(defaults[spec.name]),
                Description=spec.description[:1024], AllowedPattern=spec.allowed_pattern)
        self.project_arn = project_arn(naming)
        self.config = RuntimeConfig(
            table=self.table, bucket=self.bucket, parameter_path=self.parameter_path, labels=tuple(self.labels),
            topic_arn=self.topic_arn, project_arn=self.project_arn, stack=self.stack, parameter_ttl_seconds=60,
            event_bus=naming.event_bus, review_backend=self.review, **sandbox_backend(self.review).settings(naming))
        for backend in every_sandbox_backend():
            backend.create(self)
        self.specs = every_function()
        self.functions = {key: self._function(key, spec.handler) for key, spec in self.specs.items()}
        self.state_machines = {
            "detection": self._state_machine("detection", "EXPRESS", detection_definition(
                self.functions["detect"], self.functions["start_review"], self.functions["detection_failed"])),
            "lifecycle": self._state_machine("lifecycle", "STANDARD", lifecycle_definition(
                self.functions, **self.lifecycle_options)),
        } if self.workflows else {}
        schedule = training_schedule(defaults)
        self.schedule_rule = naming.rule(schedule.name)
        self.client("events").put_rule(Name=self.schedule_rule, ScheduleExpression=schedule.expression,
                                       State="ENABLED" if schedule.enabled else "DISABLED",
                                       Description=schedule.description)
        self.configure(detection_state_machine_arn=self.state_machines.get("detection"),
                       lifecycle_state_machine_arn=self.state_machines.get("lifecycle"),
                       schedule_rule=self.schedule_rule)
        self.client("events").create_event_bus(Name=naming.event_bus)
        triggers = bucket_triggers(self.bucket) + [parameter_trigger(self.parameter_path),
                                                   waiting_trigger(self.stack, naming.event_bus)]
        self.deliveries = {t.name: (t, self._rule(t)) for t in triggers}

    def use_review(self, name: str, **options: Any) -> None:
        """Review with backend ``name`` from now on (as a stack deployed with ``review: <name>``): its
        functions are told its settings (``options``: the backend's own, e.g. the builtin app's
        ``base_url``) and no other backend's."""
        defaults = {f.name: f.default_factory() if f.default_factory is not MISSING else f.default
                    for f in fields(RuntimeConfig)}
        others = {key: defaults[key] for backend in every_sandbox_backend() for key in backend.settings(self.naming)}
        self.configure(**{**others, "review_backend": name, **sandbox_backend(name).settings(self.naming, **options)})

    def __getattr__(self, name: str) -> Any:
        """A setting the stack's functions are told, read as the stack's own (``stack.flow_definition_arn``)."""
        config = self.__dict__.get("config")
        if config is None or name.startswith("_") or not hasattr(config, name):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return getattr(config, name)

    def configure(self, **changes: Any) -> None:
        """Change the functions' configuration (``RuntimeConfig`` fields), as a deploy that
        changes their environment would; cached parameters and clients are dropped."""
        before = self.config.to_env()
        self.config = replace(self.config, **changes)
        env = self.config.to_env()
        for name in before.keys() - env.keys():  # a setting the new configuration leaves out
            os.environ.pop(name, None)
        os.environ.update(env)
        runtime_context.reset()

    def _queue(self, name: str) -> str:
        return self.client("sqs").create_queue(QueueName=name)["QueueUrl"]

    def _queue_arn(self, url: str) -> str:
        return self.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def _role(self, name: str, service: str) -> str:
        return self.client("iam").create_role(
            RoleName=name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}),
        )["Role"]["Arn"]

    def _function(self, key: str, handler_path: str) -> str:
        name = self.naming.function(key)
        arn = self.client("lambda").create_function(
            FunctionName=name, Runtime="python3.13", Role=self._role(name, "lambda.amazonaws.com"),
            Handler=handler_path, Code={"ZipFile": _placeholder_zip()}, Timeout=self.specs[key].timeout,
        )["FunctionArn"]
        module, _, function = handler_path.rpartition(".")
        handler = getattr(importlib.import_module(module), function)
        if self._containers is not None:
            handler = self._containers.running(key, handler)
        self.harness.add_function(name, key, handler)
        return arn

    def _state_machine(self, name: str, kind: str, definition: dict) -> str:
        return self.client("stepfunctions").create_state_machine(
            name=self.naming.state_machine(name), definition=json.dumps(definition), type=kind,
            roleArn=self._role(self.naming.state_machine_role(name), "states.amazonaws.com"),
        )["stateMachineArn"]

    def _rule(self, trigger: Trigger) -> str:
        rule = self.naming.rule(trigger.name)
        queue = self._queue(self.naming.delivery_queue(trigger.name))
        events = self.client("events")
        bus = {"EventBusName": trigger.event_bus} if trigger.event_bus else {}
        events.put_rule(Name=rule, EventPattern=json.dumps(trigger.pattern), State="ENABLED",
                        Description=trigger.description, **bus)
        events.put_targets(Rule=rule, Targets=[{"Id": "delivery", "Arn": self._queue_arn(queue)}], **bus)
        return queue

    # -- running ---------------------------------------------------------------
    def pump(self, max_rounds: int = 100) -> int:
        """Deliver every pending event to its target until nothing is left; returns how many were delivered."""
        delivered = 0
        for _ in range(max_rounds):
            batch = 0
            for trigger, queue in self.deliveries.values():
                for event in self._drain(queue):
                    self.deliver(trigger.target, event)
                    batch += 1
            self.wait_for_executions()
            delivered += batch
            if not batch:
                return delivered
        raise RuntimeError(f"events still pending after {max_rounds} rounds; a handler may be looping")

    def take_events(self) -> list[tuple[str, dict]]:
        """Every pending event with its target, taken off the delivery queues undelivered (for a caller
        that delivers them its own way: more than once, out of order)."""
        return [(trigger.target, event) for trigger, queue in self.deliveries.values() for event in self._drain(queue)]

    def deliver(self, target: str, event: Mapping[str, Any]) -> Any:
        """Hand one event to a target as EventBridge would."""
        if target in self.state_machines:
            return self.start_execution(target, event)
        response = self.client("lambda").invoke(FunctionName=self.functions[target], Payload=json.dumps(event))
        payload = json.loads(response["Payload"].read() or "null")
        if response.get("FunctionError"):
            raise LambdaFailed(target, payload)
        return payload

    def start_execution(self, machine: str, payload: Mapping[str, Any], name: str | None = None) -> str:
        arn = self.client("stepfunctions").start_execution(
            stateMachineArn=self.state_machines[machine], name=name or uuid.uuid4().hex, input=json.dumps(payload),
        )["executionArn"]
        self._executions.append(arn)
        if self.serial:
            self.wait_for_executions()
        return arn

    def wait_for_executions(self, timeout: float = 120.0) -> list[dict]:
        """Wait until every started execution has finished; returns their descriptions."""
        finished = []
        deadline = time.monotonic() + timeout
        sfn = self.client("stepfunctions")
        while self._executions:
            arn = self._executions[0]
            description = sfn.describe_execution(executionArn=arn)
            if description["status"] == "RUNNING":
                if time.monotonic() > deadline:
                    raise TimeoutError(f"execution {arn} still running after {timeout} s")
                time.sleep(0.002)
                continue
            self._executions.pop(0)
            self.executions.append(description)
            finished.append(description)
        return finished

    def _drain(self, queue: str) -> Iterable[dict]:
        sqs = self.client("sqs")
        while True:
            messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return
            for message in messages:
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
                yield json.loads(message["Body"])

    def discard_pending_events(self) -> None:
        """Forget events not yet delivered (restoring a saved stack replays no uploads)."""
        for _, queue in self.deliveries.values():  # drained: SQS allows one purge a minute
            for _ in self._drain(queue):
                pass

    def set_parameter(self, name: str, value: str) -> None:
        """Change an operator parameter and emit the change event Parameter Store emits (moto does not)."""
        full = self.parameter_path + name
        self.client("ssm").put_parameter(Name=full, Value=value, Type="String", Overwrite=True)
        self.client("events").put_events(Entries=[{
            "Source": "aws.ssm", "DetailType": "Parameter Store Change",
            "Detail": json.dumps({"operation": "Update", "name": full, "type": "String"})}])

    def run_lifecycle(self, payload: Mapping[str, Any] | None = None) -> dict:
        """Run the lifecycle state machine once (a scheduled check, or {"action": "rollback"}) to its end."""
        arn = self.start_execution("lifecycle", payload or lifecycle_input("schedule"))
        self.wait_for_executions()
        self.pump()
        return next(e for e in self.executions if e["executionArn"] == arn)

    def serve(self, payload: Mapping[str, Any] | None = None) -> dict:
        """Ask the serving function, as its schedule does (or with an operator's ``{"action": …}``)."""
        return self.deliver(SERVING_SCHEDULE.target, payload or SERVING_SCHEDULE.input)

    def notifications(self) -> list[dict]:
        """SNS messages sent so far (subject and text), oldest first; each returned once."""
        return [{"subject": body.get("Subject"), "message": body.get("Message")}
                for body in self._drain(self.notifications_queue)]

    def __post_init__(self) -> None:
        self._executions: list[str] = []
        self.executions: list[dict] = []


def project_arn(naming: Naming) -> str:
    return f"arn:aws:rekognition:{REGION}:{ACCOUNT}:project/{naming.project}/{PROJECT_CREATED}"


def sandbox_config(naming: Naming, labels: tuple[str, ...], *, review: str) -> RuntimeConfig:
    """The names a sandbox stack's functions are told (as :class:`LocalStack` creates them), for a saved
    run that is not restored and reviewed with backend ``review``."""
    return RuntimeConfig(table=naming.table, bucket=naming("data"), parameter_path=naming.parameter_path,
                         labels=tuple(labels), project_arn=project_arn(naming), stack=naming.stack,
                         event_bus=naming.event_bus, review_backend=review,
                         **sandbox_backend(review).settings(naming))


class LambdaFailed(RuntimeError):
    def __init__(self, target: str, payload: Any):
        super().__init__(f"{target} failed: {payload}")
        self.payload = payload


def _placeholder_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README", "handlers run in process; see sandbox/moto_harness.py")
    return buffer.getvalue()
