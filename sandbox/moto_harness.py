"""Every change the sandbox makes to moto, in one place.

moto runs the AWS services; these patches make it run labelloop's handlers
in process, on a scaled clock, fast enough for long runs, and one request at
a time. They are written against one moto release (``MOTO_VERSION``, the pin
in pyproject.toml): :class:`MotoHarness` refuses any other, since a patched
internal may have moved or changed meaning. The patches are applied together
when a harness is entered and undone together when it exits.

One request at a time: AWS applies each write, condition included,
atomically; moto's backends do not when two threads call them (two
executions of a state machine run in threads), so concurrent ``ADD`` updates
and conditional writes could be lost and the tests would measure moto rather
than labelloop. Every moto request holds :attr:`MotoHarness.lock`. The lock
is re-entrant (a handler running inside a Lambda invoke makes its own calls)
and is let go whenever in-process code may wait for another thread: while a
Lambda handler runs, in Wait states and in retry back-off.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import importlib.metadata
import inspect
import json
import re
import threading
import time
import types
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterator

MOTO_VERSION = "5.2.5"

Handler = Callable[[Any, Any], Any]
# The mark of a request a test refused at the HTTP level (a throttled attempt): moto never applies it.
REFUSED = "labelloop_refused"
_ABSENT = object()  # a patched attribute the owner did not hold itself


class MotoVersionError(RuntimeError):
    """The installed moto is not the release the harness's patches are written for."""


def check_moto_version(installed: str | None = None) -> None:
    """Raise :class:`MotoVersionError` unless moto ``MOTO_VERSION`` is installed."""
    installed = installed or importlib.metadata.version("moto")
    if installed != MOTO_VERSION:
        raise MotoVersionError(
            f"the sandbox patches moto {MOTO_VERSION}, but moto {installed} is installed; "
            f"Fix: pip install 'moto=={MOTO_VERSION}' (the version pyproject.toml pins), "
            "or port sandbox/moto_harness.py to the new moto and change MOTO_VERSION with the pin")


class RequestLock:
    """A re-entrant lock that its holder can let go of entirely for a while (:meth:`released`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._depth = 0

    def __enter__(self) -> "RequestLock":
        me = threading.get_ident()
        if self._owner != me:
            self._lock.acquire()
            self._owner = me
        self._depth += 1
        return self

    def __exit__(self, *exc) -> None:
        self._depth -= 1
        if not self._depth:
            self._owner = None
            self._lock.release()

    def held_here(self) -> bool:
        return self._owner == threading.get_ident()

    @contextlib.contextmanager
    def released(self) -> Iterator[None]:
        """Let other threads in for the block (however deeply held), then hold it as before."""
        if not self.held_here():
            yield
            return
        depth, self._depth, self._owner = self._depth, 0, None
        self._lock.release()
        try:
            yield
        finally:
            self._lock.acquire()
            self._owner, self._depth = threading.get_ident(), depth


@dataclass
class Invocation:
    function: str  # the function's name
    key: str  # its key in components.functions.FUNCTIONS
    event: Any
    result: Any = None
    error: str | None = None


@dataclass
class MotoHarness:
    """moto, patched for the sandbox. Use as a context manager (around ``mock_aws`` or inside it)."""

    wait_scale: float = 0.0  # Wait states and retry back-off: 0 = instant, 1 = real time
    serial: bool = False  # each execution runs to its end inside StartExecution: reproducible order
    invocations: list[Invocation] = field(default_factory=list)
    retry_sleeps: list[float] = field(default_factory=list)  # back-off of every state machine Retry, in seconds
    # moto's backends are process-wide, so is their lock (a harness inside another shares it).
    lock: ClassVar[RequestLock] = RequestLock()

    def __post_init__(self) -> None:
        self._functions: dict[str, tuple[str, Handler]] = {}  # function name -> (key, handler)
        self._undo: list[tuple[object, str, object]] = []

    # -- the functions -----------------------------------------------------------
    def add_function(self, name: str, key: str, handler: Handler) -> None:
        """Answer invocations of the Lambda function ``name`` with ``handler``, in process."""
        self._functions[name] = (key, handler)

    def wrap_functions(self, wrap: Callable[[str, Handler], Handler]) -> None:
        """Replace every function's handler by ``wrap(key, handler)``."""
        self._functions = {name: (key, wrap(key, handler)) for name, (key, handler) in self._functions.items()}

    # -- applying and undoing the patches ------------------------------------------
    def __enter__(self) -> "MotoHarness":
        check_moto_version()
        patches = self._patches()
        with _PATCHING:
            try:
                for owner, name, replacement in patches:  # an inherited attribute is undone by deleting it
                    self._undo.append((owner, name, vars(owner).get(name, _ABSENT)))
                    setattr(owner, name, replacement)
            except BaseException:
                self._undo_patches()
                raise
        return self

    def __exit__(self, *exc) -> None:
        with _PATCHING:
            self._undo_patches()

    def _undo_patches(self) -> None:
        while self._undo:
            owner, name, original = self._undo.pop()
            if original is _ABSENT:
                delattr(owner, name)
            else:
                setattr(owner, name, original)

    def _patches(self) -> list[tuple[object, str, object]]:
        import moto.dynamodb.models as dynamodb_models
        import moto.iam.policy_conditions as policy_conditions
        from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
        from moto.awslambda.models import LambdaBackend, LambdaFunction
        from moto.awslambda_simple.models import LambdaSimpleBackend
        from moto.core.botocore_stubber import BotocoreStubber
        from moto.s3 import notifications as s3_notifications
        from moto.s3.models import S3Backend
        from moto.sqs.models import SQSBackend
        from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
        from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
        from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

        process_request = BotocoreStubber.process_request

        def serialised_request(stubber, request):
            if getattr(request, REFUSED, False):
                return None  # answered by the refusal, as AWS applies nothing it refuses
            with self.lock:
                return process_request(stubber, request)

        def invoke(function, event=None):
            return self._invoke(function, event)

        def wait(_wait_function, env, wait_seconds):
            self._wait(env, wait_seconds)

        def run_inline(worker):
            with self.lock.released():
                worker._execution_logic()

        patches = [
            # One moto request at a time, as AWS applies each write atomically (see the module docstring);
            # a refused request (REFUSED) is not applied at all.
            (BotocoreStubber, "process_request", serialised_request),
            # The simple (no Docker) backend answers with a canned payload and never reaches _invoke_lambda.
            (LambdaSimpleBackend, "invoke", LambdaBackend.invoke),
            # A Lambda invocation runs the real handler in this process.
            (LambdaFunction, "_invoke_lambda", invoke),
            # Wait states last wait_scale of their time.
            (WaitFunction, "_wait_interval", wait),
            # Retry back-off is recorded, and lasts wait_scale of its time.
            (retrier_decl, "time", _ScaledTime(self)),
            # A transaction backs up whole tables with deepcopy (O(table) per call, a long run goes
            # quadratic): tables are shared instead and the items it touches are backed up.
            (dynamodb_models, "copy", _TableSharingCopy(dynamodb_models.Table)),
            (dynamodb_models.DynamoDBBackend, "transact_write_items",
             _item_level_rollback(dynamodb_models.DynamoDBBackend.transact_write_items)),
            # A Query looks at every item of the table for the ones of its partition (O(table) per call: a
            # queue of thousands of review tasks takes seconds a page); it looks at its partition's only.
            (dynamodb_models.Table, "query", _partition_query(dynamodb_models.Table.query)),
            # Every receive re-reads every queue attribute per message (quadratic in queue length);
            # nothing in a sandbox run lives long enough to expire.
            (SQSBackend, "is_message_valid_based_on_retention_period", lambda backend, queue_name, message: True),
            # The definition is parsed again for every execution (~80 ms); a parsed program keeps no
            # per-execution state (that lives in the environment), so each definition is parsed once.
            (ExecutionWorker, "_get_evaluation_entrypoint", _cached_program),
            # moto's policy evaluator knows StringEquals only and skips every other condition operator;
            # the access check (sandbox.access) evaluates the ones labelloop's policies use.
            (policy_conditions, "CONDITION_OPERATIONS",
             {**policy_conditions.CONDITION_OPERATIONS, **CONDITION_OPERATIONS}),
            # S3 → EventBridge "Object Deleted" as AWS sends it: moto sends none for a delete marker or an
            # older version of a versioned bucket, and its events lack the reason and the deletion type.
            (s3_notifications, "_send_event_bridge_message",
             _objects_announced(s3_notifications._send_event_bridge_message)),
            (S3Backend, "delete_object", _deletes_announced(S3Backend.delete_object)),
        ]
        # Powertools' HTTP resolvers keep the request they resolve in a class attribute (a Lambda
        # container resolves one at a time); invocations in process run concurrently in threads.
        request = _RequestPerThread(ApiGatewayResolver._to_proxy_event)
        patches += [(ApiGatewayResolver, "current_event", request),
                    (ApiGatewayResolver, "_to_proxy_event", request.converting)]
        if self.serial:
            # Each execution runs to its end inside StartExecution: reproducible and faster. The
            # interpreter runs each state in a thread of its own and waits for it: the lock is let go.
            patches.append((ExecutionWorker, "start", run_inline))
        return patches

    # -- the patched behaviour -------------------------------------------------------
    def _invoke(self, function, event: Any = None):
        """moto's LambdaFunction._invoke_lambda: (payload, errored, logs)."""
        key, handler = self._functions[function.function_name]
        event = {} if event == "{}" else event
        invocation = Invocation(function.function_name, key, event)
        self.invocations.append(invocation)
        context = types.SimpleNamespace(function_name=function.function_name, function_version="$LATEST",
                                        invoked_function_arn=function.function_arn, memory_limit_in_mb=256,
                                        aws_request_id=uuid.uuid4().hex, log_group_name="", log_stream_name="",
                                        get_remaining_time_in_millis=lambda: 30_000)
        try:
            with self.lock.released():  # the handler may wait for another execution's handler
                invocation.result = handler(event, context)
        except Exception as exc:  # a function error, named as Lambda names it
            invocation.error = type(exc).__name__
            return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}), True, ""
        return json.dumps(invocation.result, default=str), False, ""

    def _wait(self, env, wait_seconds: float) -> None:
        if wait_seconds > 0 and self.wait_scale > 0:
            with self.lock.released():
                env.program_state_event.wait(wait_seconds * self.wait_scale)


class _RequestPerThread:
    """A resolver's ``current_event``, one per thread: the request that thread's invocation resolves."""

    def __init__(self, to_proxy_event: Callable[[Any, dict], Any]):
        self._local = threading.local()
        self._to_proxy_event = to_proxy_event

    def __get__(self, resolver, owner=None):
        return self if resolver is None else self._local.event

    def __set__(self, resolver, event) -> None:
        self._local.event = event

    @property
    def converting(self) -> Callable[[Any, dict], Any]:
        """The resolvers' ``_to_proxy_event``, whose result becomes this thread's request."""
        def to_proxy_event(resolver, event: dict):
            self._local.event = self._to_proxy_event(resolver, event)
            return self._local.event

        return to_proxy_event


CREATED_REASONS = {"Put": "PutObject", "Post": "POST Object", "Copy": "CopyObject",
                   "CompleteMultipartUpload": "CompleteMultipartUpload"}


def _object_event(account_id: str, bucket, event_name: str, key, *, deletion: str | None = None,
                  version_id: str | None = None) -> None:
    """An S3 event on EventBridge, shaped as AWS documents it ("Amazon S3 events via EventBridge"):
    deletions carry ``reason`` DeleteObject and a ``deletion-type``; the event goes to every rule
    of every bus, which match it by their patterns."""
    from moto.core.utils import unix_time
    from moto.events.models import events_backends
    from moto.events.utils import _BASE_EVENT_MESSAGE

    kind = event_name.split(":")[1]
    deleted = kind == "ObjectRemoved"
    detail = {"version": "0", "bucket": {"name": bucket.name},
              "object": {"key": key.name, "version-id": version_id or key.version_id, "sequencer": "617f08299329d189",
                         **({} if deleted and deletion == "Delete Marker Created" else
                            {"size": key.size, "etag": key.etag.replace('"', "")})},
              "request-id": "N4N7GDK58NMKJ12R", "requester": account_id, "source-ip-address": "1.2.3.4",
              "reason": "DeleteObject" if deleted else CREATED_REASONS.get(event_name.rpartition(":")[2], kind)}
    if deleted:
        detail["deletion-type"] = deletion or "Permanently Deleted"
    event = copy.deepcopy(_BASE_EVENT_MESSAGE) | {
        "detail-type": "Object Deleted" if deleted else "Object Created", "source": "aws.s3", "account": account_id,
        "time": unix_time(), "region": bucket.region_name,
        "resources": [bucket.arn], "detail": detail}
    for bus in events_backends[account_id][bucket.region_name].event_buses.values():
        for rule in bus.rules.values():
            rule.send_to_targets(event, transform_input=False)


def _objects_announced(send):
    """moto's S3 → EventBridge sender, with objects created and deleted sent as :func:`_object_event`."""
    @functools.wraps(send)
    def wrapper(account_id, bucket, event_name, key):
        if event_name.split(":")[1] in ("ObjectCreated", "ObjectRemoved"):
            return _object_event(account_id, bucket, event_name, key)
        return send(account_id, bucket, event_name, key)

    return wrapper


def _deletes_announced(delete_object):
    """S3Backend.delete_object, telling EventBridge of what moto keeps quiet about in a versioned bucket:
    a delete marker created, and an older version deleted while others remain."""
    @functools.wraps(delete_object)
    def wrapper(backend, bucket_name, key_name, version_id=None, bypass=False):
        bucket = backend.get_bucket(bucket_name)
        versions = list(bucket.keys.getlist(key_name, [])) if bucket.is_versioned else []
        done, meta = delete_object(backend, bucket_name, key_name, version_id=version_id, bypass=bypass)
        configuration = bucket.notification_configuration
        if done and versions and configuration is not None and configuration.event_bridge is not None:
            left = bucket.keys.getlist(key_name, [])
            if version_id is None:
                _object_event(backend.account_id, bucket, "s3:ObjectRemoved:DeleteMarkerCreated", versions[-1],
                              deletion="Delete Marker Created", version_id=meta.get("version-id"))
            elif left:  # moto announces the deletion of the last version itself
                gone = next((v for v in versions if str(v.version_id) == str(version_id)), versions[-1])
                _object_event(backend.account_id, bucket, "s3:ObjectRemoved:Delete", gone, version_id=version_id)
        return done, meta

    return wrapper


def _wildcards(pattern: str) -> "re.Pattern[str]":
    """An IAM string pattern: ``*`` any run of characters, ``?`` any one; nothing else is special."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.DOTALL)


def _any_of(expected: list[str] | str) -> list[str]:
    return [expected] if isinstance(expected, str) else list(expected)


def _string_like(expected: list[str] | str, actual: str) -> bool:
    return any(_wildcards(p).fullmatch(actual) for p in _any_of(expected))


CONDITION_OPERATIONS = {
    "StringLike": _string_like,
    "StringNotLike": lambda expected, actual: not _string_like(expected, actual),
    "StringNotEquals": lambda expected, actual: actual not in _any_of(expected),
    "ArnLike": _string_like,
    "ArnEquals": lambda expected, actual: actual in _any_of(expected),
}

_PATCHING = threading.Lock()  # patches are process-wide: harnesses apply and undo them one at a time


class _ScaledTime:
    """The ``time`` module as the retrier sees it: ``sleep`` recorded and scaled."""

    def __init__(self, harness: MotoHarness):
        self._harness = harness

    def __getattr__(self, name: str):
        return getattr(time, name)

    def sleep(self, seconds: float) -> None:
        self._harness.retry_sleeps.append(seconds)
        if self._harness.wait_scale > 0:
            with self._harness.lock.released():
                time.sleep(seconds * self._harness.wait_scale)


def _cached_program(worker):
    return _parse_definition(worker._evaluation_details.state_machine_details.definition)


@functools.lru_cache(maxsize=16)
def _parse_definition(definition: str):
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    return AmazonStateLanguageParser.parse(definition)[0]


class _TableSharingCopy:
    """The ``copy`` module as moto's DynamoDB models see it: ``deepcopy`` of a table is the table."""

    def __init__(self, table_type: type):
        self._table_type = table_type

    def __getattr__(self, name: str):
        return getattr(copy, name)

    def deepcopy(self, value, memo=None):
        return value if isinstance(value, self._table_type) else copy.deepcopy(value, memo)


def _partition_query(query):
    """Table.query over the items of the queried partition only (moto keeps them by hash key, then
    range key); an index's query, or a table without a range key, as moto does it."""
    signature = inspect.signature(query)

    @functools.wraps(query)
    def wrapper(table, hash_key, *args, **kwargs):
        index = signature.bind(table, hash_key, *args, **kwargs).arguments.get("index_name")
        if index or hash_key is None or not table.range_key_attr or "all_items" in vars(table):  # or patched already
            return query(table, hash_key, *args, **kwargs)
        partition = list(table.items.get(hash_key, {}).values())
        table.all_items = lambda: partition  # one request at a time: no other query sees it
        try:
            return query(table, hash_key, *args, **kwargs)
        finally:
            del table.all_items

    return wrapper


def _item_level_rollback(transact_write_items):
    """A transaction that fails puts back the items it touched (moto would restore whole-table copies)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    def wrapper(backend, transact_items):
        saved = []
        for entry in transact_items:
            op_type, op = next(iter(entry.items()))
            table = backend.get_table(op["TableName"])
            key = op["Item"] if op_type == "Put" else op["Key"]
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
            saved.append((table, hash_value, range_value, copy.deepcopy(table.get_item(hash_value, range_value))))
        try:
            return transact_write_items(backend, transact_items)
        except Exception:
            for table, hash_value, range_value, item in saved:
                bucket = table.items[hash_value] if range_value is not None else table.items
                slot = range_value if range_value is not None else hash_value
                if item is None:
                    bucket.pop(slot, None)
                else:
                    bucket[slot] = item
            raise

    return wrapper


# -- a saved run's table, in bulk -----------------------------------------------------------------
# Read and written in moto's backend, not through its API: moto serialises each item of a Scan or a
# BatchWriteItem again (seconds for a saved run's thousand items; here, a fraction of one). Only for
# items this tool wrote and reads back whole; the handlers' own calls go through the API.
def table_items(table: str, account: str, region: str) -> list[dict]:
    """Every item of a moto table, as DynamoDB JSON (what a Scan answers)."""
    from moto.dynamodb.models import dynamodb_backends

    return [item.to_json()["Attributes"] for item in dynamodb_backends[account][region].get_table(table).all_items()]


def put_table_items(table: str, account: str, region: str, items: list[dict]) -> None:
    """Put items, as DynamoDB JSON, into a moto table (as a BatchWriteItem of them would)."""
    from moto.dynamodb.models import dynamodb_backends

    backend = dynamodb_backends[account][region]
    for item in items:
        backend.put_item(table, item)
