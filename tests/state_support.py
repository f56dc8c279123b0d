"""Raw access to the state table, for tests: states no handler writes (a stale lock, a model without a
predecessor) and attributes no record carries. Tests may know the item layout (``ITEM_TYPES`` in
handlers/runtime/state/items.py); no other code outside the state package does."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from handlers.runtime import aws, context
from handlers.runtime.state import from_dynamo, to_dynamo

_ser, _de = TypeSerializer(), TypeDeserializer()


def _call(operation: str, **kwargs) -> dict:
    return getattr(aws.client("dynamodb"), operation)(TableName=context.table().name, **kwargs)


def _key(pk: str, sk: str) -> dict:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _plain(item: dict) -> dict:
    return {k: from_dynamo(_de.deserialize(v)) for k, v in item.items()}


def item(pk: str, sk: str) -> dict | None:
    found = _call("get_item", Key=_key(pk, sk), ConsistentRead=True).get("Item")
    return None if found is None else _plain(found)


def partition(pk: str) -> list[dict]:
    pages = aws.client("dynamodb").get_paginator("query").paginate(
        TableName=context.table().name, KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}}, ConsistentRead=True)
    return [_plain(i) for page in pages for i in page.get("Items", [])]


def set_attributes(pk: str, sk: str, **values: Any) -> None:
    names = {f"#a{i}": name for i, name in enumerate(values)}
    _call("update_item", Key=_key(pk, sk), UpdateExpression="SET " + ", ".join(f"{n} = :{n[1:]}" for n in names),
          ExpressionAttributeNames=names,
          ExpressionAttributeValues={f":a{i}": _ser.serialize(to_dynamo(v)) for i, v in enumerate(values.values())})


def remove_attributes(pk: str, sk: str, *attributes: str) -> None:
    names = {f"#a{i}": name for i, name in enumerate(attributes)}
    _call("update_item", Key=_key(pk, sk), UpdateExpression="REMOVE " + ", ".join(names),
          ExpressionAttributeNames=names)


def set_loop(**values: Any) -> None:
    """SET attributes of the loop item."""
    set_attributes("LOOP", "STATE", **values)


def delete_partition(pk: str) -> None:
    for found in partition(pk):
        _call("delete_item", Key=_key(found["pk"], found["sk"]))
