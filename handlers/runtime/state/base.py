"""The table's generic calls, which only the state package makes: one DynamoDB call with its retries,
reads of an item, a partition and the whole table, transactions and the writes they are made of."""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Mapping

from botocore.exceptions import ClientError

from .. import aws, backoff, errors, shards
from ..aws import CALL_ATTEMPTS
from ..backoff import CALL_BASE_DELAY, CALL_MAX_DELAY
from .codec import _key, _plain, _ser, attribute_values, to_dynamo
from .conditions import AlreadyDone, ConditionFailed
from .items import _DAY, _DAY_SHARD


class TableBase:
    """The calls every part of :class:`~handlers.runtime.state.StateTable` makes. ``client``: a DynamoDB
    client; None uses the container's (``aws.client``), looked up on every call so a swapped session
    (tests, the sandbox) is seen."""

    def __init__(self, name: str, client: Any = None):
        self.name = name
        self._client = client

    @property
    def _ddb(self):
        return self._client or aws.client("dynamodb")

    def _call(self, operation: str, **kwargs: Any) -> dict:
        """One DynamoDB call on this table. botocore retries it when it is throttled or fails on the
        server's side; a transaction cancelled only for throttling or a conflicting transaction, which
        botocore does not retry, is sent again here within a fraction of a second — while the call's
        requests in all, botocore's included, stay within ``CALL_ATTEMPTS``. What still fails reaches
        the function's caller under a name its retries match (see errors.py: who retries what)."""
        method, sent = getattr(self._ddb, operation), 0
        while True:
            try:
                return method(**kwargs)
            except ClientError as exc:
                sent += 1 + exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)
                if sent >= CALL_ATTEMPTS or not errors.cancelled_transiently(exc):
                    raise
            backoff.sleep(backoff.delay(sent - 1, CALL_BASE_DELAY, CALL_MAX_DELAY))

    def _get(self, key: dict) -> dict | None:
        return _plain(self._call("get_item", TableName=self.name, Key=key, ConsistentRead=True).get("Item"))

    def _query(self, pk: str) -> list[dict]:
        """Every item of a partition, all pages."""
        kwargs: dict[str, Any] = {"TableName": self.name, "ConsistentRead": True,
                                  "KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {":pk": {"S": pk}}}
        items: list[dict] = []
        while True:
            page = self._call("query", **kwargs)
            items.extend(_plain(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _scan(self, **options: Any) -> Iterator[dict]:
        """Every item (or those a Scan's options select), all pages. Operator tools only."""
        kwargs: dict[str, Any] = {"TableName": self.name, **options}
        while True:
            page = self._call("scan", **kwargs)
            yield from (_plain(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _transact(self, items: list[dict], guards: Mapping[int, type[ConditionFailed]] | None = None) -> None:
        """Run a transaction. A failed condition raises AlreadyDone, or ``guards[i]`` when item ``i``
        is the first whose condition failed (with the item as it was, if the item asked for it)."""
        try:
            self._call("transact_write_items", TransactItems=items)
        except ClientError as exc:
            if not errors.guard_failed(exc):
                raise
            reasons = exc.response.get("CancellationReasons", [])
            first = next(i for i, r in enumerate(reasons) if r.get("Code") == errors.GUARD_FAILED)
            kind = (guards or {}).get(first, AlreadyDone)
            raise kind(", ".join(errors.cancellation_reasons(exc)), _plain(reasons[first].get("Item"))) from exc

    def _put(self, key: dict, values: Mapping[str, Any]) -> dict:
        """A put of a new item (one that is there already fails the transaction: the work was done)."""
        return {"Put": {"TableName": self.name, "Item": key | attribute_values(values),
                        "ConditionExpression": "attribute_not_exists(pk)"}}

    def _add(self, key: dict, amounts: Mapping[str, int | float], sets: Mapping[str, Any] | None = None,
             removes: Iterable[str] = ()) -> dict:
        """An update (in a transaction) that ADDs amounts, SETs values and REMOVEs attributes."""
        names, values, adds, assigns, drops = {}, {}, [], [], []
        for i, (attr, amount) in enumerate(amounts.items()):
            names[f"#a{i}"], values[f":a{i}"] = attr, _ser.serialize(to_dynamo(amount))
            adds.append(f"#a{i} :a{i}")
        for i, (attr, value) in enumerate((sets or {}).items()):
            names[f"#s{i}"], values[f":s{i}"] = attr, _ser.serialize(to_dynamo(value))
            assigns.append(f"#s{i} = :s{i}")
        for i, attr in enumerate(removes):
            names[f"#r{i}"] = attr
            drops.append(f"#r{i}")
        expression = " ".join(p for p in (f"ADD {', '.join(adds)}" if adds else "",
                                          f"SET {', '.join(assigns)}" if assigns else "",
                                          f"REMOVE {', '.join(drops)}" if drops else "") if p)
        update = {"TableName": self.name, "Key": key, "UpdateExpression": expression, "ExpressionAttributeNames": names}
        return {"Update": update | ({"ExpressionAttributeValues": values} if values else {})}

    def _delete(self, key: dict) -> dict:
        """A delete (in a transaction) of an item that may not exist."""
        return {"Delete": {"TableName": self.name, "Key": key}}

    def _days(self, *moves: tuple[str, Mapping[str, int]], shard_of: str | None = None,
              detected_at: str | None = None) -> list[dict]:
        """Updates of day counters, ``(day, {counter: amount})``; one per day (an item appears once in a transaction).
        ``shard_of``: an image's detection id — its counts go to its shard of each day (``detected_at``: the
        time its day's share records as the last detection), never to an item every image writes."""
        merged: dict[str, dict[str, int]] = {}
        for day, counts in moves:
            for name, amount in counts.items():
                merged.setdefault(day, {})[name] = merged.get(day, {}).get(name, 0) + amount
        if shard_of is None:
            return [self._add(_key(_DAY, day), counts) for day, counts in merged.items()]
        part = shards.shard(shard_of)
        return [self._add(_key(_DAY_SHARD, day, part), counts,
                          {"last_detected_at": detected_at} if detected_at and detected_at[:10] == day else None)
                for day, counts in merged.items()]

    def _update(self, key: dict, sets: Mapping[str, Any], *, condition: str | None = None,
                values: Mapping[str, Any] | None = None, removes: Iterable[str] = (),
                conflict: type[ConditionFailed] = ConditionFailed) -> dict:
        """SET attributes (and REMOVE some), optionally under a condition; returns the new item.
        A failed condition raises ``conflict``."""
        names = {f"#s{i}": attr for i, attr in enumerate(sets)}
        expr_values = {f":s{i}": _ser.serialize(to_dynamo(v)) for i, v in enumerate(sets.values())}
        expr_values.update({k: _ser.serialize(to_dynamo(v)) for k, v in (values or {}).items()})
        parts = [f"SET {', '.join(f'#s{i} = :s{i}' for i in range(len(sets)))}"] if sets else []
        removes = list(removes)
        if removes:
            names.update({f"#r{i}": attr for i, attr in enumerate(removes)})
            parts.append(f"REMOVE {', '.join(f'#r{i}' for i in range(len(removes)))}")
        kwargs: dict[str, Any] = {"TableName": self.name, "Key": key, "UpdateExpression": " ".join(parts),
                                  "ExpressionAttributeNames": names, "ReturnValues": "ALL_NEW"}
        if expr_values:
            kwargs["ExpressionAttributeValues"] = expr_values
        if condition:
            kwargs["ConditionExpression"] = condition
            for token in condition.replace("(", " ").replace(")", " ").replace(",", " ").split():
                if token.startswith("#") and token not in names:
                    names[token] = token[1:]
        try:
            return _plain(self._call("update_item", **kwargs)["Attributes"])
        except ClientError as exc:
            if aws.error_code(exc) != "ConditionalCheckFailedException":
                raise
            raise conflict(condition) from exc
