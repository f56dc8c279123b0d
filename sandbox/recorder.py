"""A saved run served by a LocalStack without restoring it whole: its table and bucket are put into
moto as the stack's calls ask for them, and every write is noted, so that what a request changed
can be journaled (:mod:`sandbox.journal`) before it is answered.

* :class:`SavedTable` and :class:`SavedBucket` hold the run's saved items and ``objects.tar``, and put
  an item into moto the first time a call names its key (or queries its partition), an object the
  first time a call names its key (or lists a prefix it is under) — as if it had been there all
  along: a load is no write, and sends no event. Serving a run then costs nothing per saved item
  or object.
* :class:`Recorder` sees the parameters of every call the stack's clients make (botocore's
  ``before-parameter-build``), loads what the call names, and notes the table and bucket keys each
  write names. :meth:`Recorder.take` reads those keys as they are now: the
  :class:`~sandbox.journal.Change` to journal. A write that failed reads as the key was before —
  journaling it changes nothing.
"""

from __future__ import annotations

import json
import re
import tarfile
from pathlib import Path
from typing import Any, Iterable, Iterator

import boto3
from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from handlers.runtime import aws as runtime_aws
from handlers.runtime import context as runtime_context
from handlers.runtime.state import plain_item, put_items

from .journal import KEY_NAMES, Change, item_key
from .local_aws import ACCOUNT, REGION, SANDBOX_CLIENT_CONFIG, LocalStack

# The writes the handlers make (PartiQL is not used: refused rather than left unrecorded).
TABLE_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
UNRECORDED = {"ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction"}
OBJECT_WRITES = {"PutObject", "CopyObject", "DeleteObject", "DeleteObjects", "CompleteMultipartUpload"}
EQUALS = re.compile(r"(#?[A-Za-z0-9_]+)\s*=\s*(:[A-Za-z0-9_]+)")
_plain = TypeDeserializer()


class SavedTable:
    """A saved run's table items, put into the stack's table as they are first asked for."""

    def __init__(self, stack: LocalStack, items: Iterable[dict]):
        self.stack = stack
        self._waiting: dict[Any, dict[tuple, dict]] = {}  # partition → key → item
        for item in items:
            self._waiting.setdefault(item_key(item)[0], {})[item_key(item)] = item
        self.saved = sum(len(p) for p in self._waiting.values())
        # A client of its own, which the Recorder does not see: a load is not a change.
        self._client = boto3.Session(region_name=REGION).client("dynamodb", config=SANDBOX_CLIENT_CONFIG)

    def load(self, key: tuple) -> None:
        item = self._waiting.get(key[0], {}).pop(key, None)
        if item is not None:
            put_items(self._client, self.stack.table, [item])

    def load_partition(self, partition: Any) -> None:
        items = list(self._waiting.pop(partition, {}).values())
        if items:
            put_items(self._client, self.stack.table, items)

    def load_all(self) -> None:
        for partition in list(self._waiting):
            self.load_partition(partition)


class SavedBucket:
    """A saved run's objects (``objects.tar``), put into the stack's bucket as they are first asked for."""

    def __init__(self, stack: LocalStack, archive: Path):
        from moto.s3.models import s3_backends

        self.stack, self._store = stack, s3_backends[ACCOUNT]["aws"]
        self._archive = tarfile.open(archive) if Path(archive).is_file() else None
        self._waiting = {m.name: m for m in self._archive.getmembers() if m.isfile()} if self._archive else {}
        self.saved = len(self._waiting)

    def load(self, key: str) -> None:
        member = self._waiting.pop(key, None)
        if member is not None:
            body = self._archive.extractfile(member).read()
            with self.stack.harness.lock:  # as a request would: one change to moto at a time
                self._store.put_object(self.stack.bucket, key, body, disable_notification=True)

    def load_prefix(self, prefix: str) -> None:
        for key in [k for k in self._waiting if k.startswith(prefix)]:
            self.load(key)

    def close(self) -> None:
        if self._archive is not None:
            self._archive.close()


def bodies(stack: LocalStack) -> Iterator[tuple[str, bytes]]:
    """Every object of the stack's bucket (key, body): its keys listed, its bodies read from moto's store
    (a GetObject each would take most of the time a run takes to save)."""
    from moto.s3.models import s3_backends

    store = s3_backends[ACCOUNT]["aws"]
    for page in stack.client("s3").get_paginator("list_objects_v2").paginate(Bucket=stack.bucket):
        for obj in page.get("Contents", []):
            yield obj["Key"], store.get_object(stack.bucket, obj["Key"]).value


class Recorder:
    """Loads what the stack's calls name from the saved table and bucket, and notes the keys they write."""

    def __init__(self, stack: LocalStack, table: SavedTable, bucket: SavedBucket):
        self.stack, self.table, self.bucket = stack, table, bucket
        self._items: set[str] = set()  # keys, as DynamoDB JSON text
        self._objects: set[str] = set()
        stack.session.events.register("before-parameter-build.dynamodb", self._table_call)
        stack.session.events.register("before-parameter-build.s3", self._bucket_call)
        # Clients made so far copied the session's handlers without these: every client is made anew.
        runtime_aws.use_session(stack.session, SANDBOX_CLIENT_CONFIG)
        runtime_context.reset()

    # -- the table ----------------------------------------------------------------------
    def _table_call(self, params: dict[str, Any], model, **_: Any) -> None:
        if model.name in UNRECORDED:
            raise NotImplementedError(f"{model.name}: a PartiQL write would not be saved into the run")
        named = list(self._named_keys(model.name, params))
        for key, _ in named:
            self.table.load(_key_values(key))
        if model.name == "Query" and params.get("TableName") == self.stack.table:
            partition = _partition(params)
            self.table.load_all() if partition is None else self.table.load_partition(partition)
        elif model.name == "Scan" and params.get("TableName") == self.stack.table:
            self.table.load_all()
        if model.name in TABLE_WRITES:
            self._items.update(json.dumps(key, sort_keys=True) for key, written in named if written)

    def _named_keys(self, operation: str, params: dict[str, Any]) -> Iterator[tuple[dict, bool]]:
        """The keys of this table a call names, each with whether the call writes it."""
        table = self.stack.table
        if operation in ("GetItem", "PutItem", "UpdateItem", "DeleteItem") and params.get("TableName") == table:
            yield _key_of(params.get("Item") or params["Key"]), operation != "GetItem"
        elif operation == "BatchGetItem":
            yield from ((_key_of(k), False) for k in params.get("RequestItems", {}).get(table, {}).get("Keys", []))
        elif operation == "BatchWriteItem":
            for request in params.get("RequestItems", {}).get(table, []):
                yield _key_of(request["PutRequest"]["Item"] if "PutRequest" in request
                              else request["DeleteRequest"]["Key"]), True
        elif operation in ("TransactWriteItems", "TransactGetItems"):
            for action in params.get("TransactItems", []):
                for kind, call in action.items():
                    if call.get("TableName") == table:
                        yield _key_of(call.get("Item") or call["Key"]), kind in ("Put", "Update", "Delete")

    # -- the bucket ---------------------------------------------------------------------
    def _bucket_call(self, params: dict[str, Any], model, **_: Any) -> None:
        if params.get("Bucket") != self.stack.bucket:
            return
        if model.name.startswith("List"):
            self.bucket.load_prefix(params.get("Prefix", ""))
        keys = [o["Key"] for o in params["Delete"]["Objects"]] if model.name == "DeleteObjects" else \
            [params["Key"]] if "Key" in params else []
        source = params.get("CopySource")
        if isinstance(source, str):  # "bucket/key?versionId=…"
            bucket, _, key = source.partition("?")[0].lstrip("/").partition("/")
            source = {"Bucket": bucket, "Key": key}
        for key in keys + ([source["Key"]] if source and source.get("Bucket") == self.stack.bucket else []):
            self.bucket.load(key)
        if model.name in OBJECT_WRITES:
            self._objects.update(keys)

    # -- what changed -------------------------------------------------------------------
    def take(self) -> Change:
        """Every key written since the last :meth:`clear`, as it is now."""
        ddb, s3 = self.stack.client("dynamodb"), self.stack.client("s3")
        change = Change()
        for text in sorted(self._items):
            key = json.loads(text)
            item = ddb.get_item(TableName=self.stack.table, Key=key, ConsistentRead=True).get("Item")
            (change.items if item else change.deleted_items).append(plain_item(item or key))
        for key in sorted(self._objects):
            try:
                change.objects[key] = s3.get_object(Bucket=self.stack.bucket, Key=key)["Body"].read()
            except ClientError as exc:
                if runtime_aws.error_code(exc) not in runtime_aws.NOT_FOUND:
                    raise
                change.deleted_objects.append(key)
        return change

    def clear(self) -> None:
        """Forget the keys written so far (their change is journaled)."""
        self._items.clear()
        self._objects.clear()


def _key_of(item: dict[str, Any]) -> dict[str, Any]:
    return {name: item[name] for name in KEY_NAMES}


def _key_values(key: dict[str, Any]) -> tuple:
    return tuple(_plain.deserialize(key[name]) for name in KEY_NAMES)


def _partition(params: dict[str, Any]) -> Any:
    """The partition a Query reads (None when it cannot be told: an index, an unusual expression)."""
    if params.get("IndexName"):
        return None
    names, values = params.get("ExpressionAttributeNames", {}), params.get("ExpressionAttributeValues", {})
    for name, value in EQUALS.findall(params.get("KeyConditionExpression", "")):
        if names.get(name, name) == KEY_NAMES[0] and value in values:
            return _plain.deserialize(values[value])
    return None

