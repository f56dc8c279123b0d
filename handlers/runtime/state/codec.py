"""Items as DynamoDB sees them and as the package reads them: Python values to attribute values and back."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from .items import ItemType

_ser, _de = TypeSerializer(), TypeDeserializer()


def to_dynamo(value: Any) -> Any:
    """Python → DynamoDB-safe (floats become Decimals, tuples lists, None dropped from dicts)."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, Mapping):
        return {str(k): to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [to_dynamo(v) for v in value]
    return value


def from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    if isinstance(value, dict):
        return {k: from_dynamo(v) for k, v in value.items()}
    if isinstance(value, (list, set)):
        return [from_dynamo(v) for v in value]
    return value


def attribute_values(values: Mapping[str, Any]) -> dict:
    """Plain values → DynamoDB JSON (an item as a request carries it)."""
    return {k: _ser.serialize(v) for k, v in to_dynamo(values).items()}


def plain_item(item: Mapping[str, Any]) -> dict:
    """DynamoDB JSON → plain values (an item as the package reads it, and a saved run keeps it)."""
    return {k: from_dynamo(_de.deserialize(v)) for k, v in item.items()}


def _plain(item: Mapping[str, Any] | None) -> dict | None:
    return None if item is None else plain_item(item)


def _key(item_type: ItemType, *parts: str) -> dict:
    return {name: {"S": value} for name, value in item_type.key(*parts).items()}


def put_items(ddb, table: str, items: list[Mapping[str, Any]]) -> None:
    """Write plain items (a saved run's) into a table, 25 per call, retrying what is left unprocessed."""
    for start in range(0, len(items), 25):
        request = {table: [{"PutRequest": {"Item": attribute_values(item)}} for item in items[start:start + 25]]}
        while request:
            request = ddb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
