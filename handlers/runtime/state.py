"""The state table: every piece of operational state, with conditional writes.

One DynamoDB table (``pk``/``sk`` strings), one module. Each write that must
happen once (a detection record, a human loop, a training image) is a
conditional put inside a transaction with the counters it moves, so duplicate
delivery changes nothing and counters never drift.

Items:
  LOOP / STATE          active model pointer, detection sequence, reviews per day,
                        open reviews, training lock, last training decision
  LOOP / COUNT#<label>  training images per label (``count``) and at the last training (``trained``)
  DET#<id> / DET        one detection: image, every label score, decision, outcome, review
  PENDING / <time>#<id> a detection waiting for the first model
  HL#<name> / HL        one human loop
  IMG#<key> / IMG       one training image (makes the per-label counters idempotent)
  STATS#<day> / STATS   counts per outcome for one UTC day
  MODEL#<version> / MODEL  a trained version: evaluation, decision, status
  ALERT#<name> / <value>   an invalid parameter value already alerted
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Iterable, Mapping

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from . import aws

KEY_SCHEMA = (("pk", "S", "HASH"), ("sk", "S", "RANGE"))
LOOP = {"pk": "LOOP", "sk": "STATE"}
_ser, _de = TypeSerializer(), TypeDeserializer()


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def today() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d")


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


def _item(values: Mapping[str, Any]) -> dict:
    return {k: _ser.serialize(v) for k, v in to_dynamo(values).items()}


def _plain(item: Mapping[str, Any] | None) -> dict | None:
    return None if item is None else {k: from_dynamo(_de.deserialize(v)) for k, v in item.items()}


def table_definition(name: str) -> dict:
    """``CreateTable`` arguments for a state table (the sandbox and local copies of saved runs)."""
    return {"TableName": name, "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t, _ in KEY_SCHEMA],
            "KeySchema": [{"AttributeName": n, "KeyType": k} for n, _, k in KEY_SCHEMA]}


def put_items(ddb, table: str, items: list[Mapping[str, Any]]) -> None:
    """Write plain items (a saved run's) into a table, 25 per call, retrying what is left unprocessed."""
    for start in range(0, len(items), 25):
        request = {table: [{"PutRequest": {"Item": _item(item)}} for item in items[start:start + 25]]}
        while request:
            request = ddb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}


def _key(pk: str, sk: str) -> dict:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


class Duplicate(Exception):
    """A conditional write found the item already there (the work was done before)."""


@dataclass(frozen=True)
class LoopState:
    active_version: str | None = None
    active_arn: str | None = None
    active_f1: float | None = None
    previous_version: str | None = None
    previous_arn: str | None = None
    sequence: int = 0
    reviews_today: int = 0
    open_reviews: int = 0
    training_version: str | None = None
    training_started_at: str | None = None
    training_owner: str | None = None
    last_training_decision: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_item(cls, item: Mapping[str, Any] | None, day: str | None = None) -> "LoopState":
        item = item or {}
        return cls(
            active_version=item.get("active_version"),
            active_arn=item.get("active_arn"),
            active_f1=item.get("active_f1"),
            previous_version=item.get("previous_version"),
            previous_arn=item.get("previous_arn"),
            sequence=int(item.get("detections", 0)),
            reviews_today=int(item.get(f"reviews_{day or today()}", 0)),
            open_reviews=int(item.get("open_reviews", 0)),
            training_version=item.get("training_version"),
            training_started_at=item.get("training_started_at"),
            training_owner=item.get("training_owner"),
            last_training_decision=item.get("last_training_decision") or {},
            raw=item,
        )


class StateTable:
    def __init__(self, name: str):
        self.name = name

    @property
    def ddb(self):
        return aws.client("dynamodb")

    # -- generic -----------------------------------------------------------
    def get(self, pk: str, sk: str) -> dict | None:
        return _plain(self.ddb.get_item(TableName=self.name, Key=_key(pk, sk), ConsistentRead=True).get("Item"))

    def query(self, pk: str, prefix: str | None = None) -> list[dict]:
        """Every item of a partition (optionally with an ``sk`` prefix), all pages."""
        kwargs: dict[str, Any] = {"TableName": self.name, "ConsistentRead": True,
                                  "KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {":pk": {"S": pk}}}
        if prefix:
            kwargs["KeyConditionExpression"] += " AND begins_with(sk, :p)"
            kwargs["ExpressionAttributeValues"][":p"] = {"S": prefix}
        items: list[dict] = []
        while True:
            page = self.ddb.query(**kwargs)
            items.extend(_plain(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _transact(self, items: list[dict]) -> None:
        """Run a transaction; a failed condition on any item raises Duplicate."""
        try:
            self.ddb.transact_write_items(TransactItems=items)
        except self.ddb.exceptions.TransactionCanceledException as exc:
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" in reasons:
                raise Duplicate(", ".join(r or "None" for r in reasons)) from exc
            raise

    def _put(self, values: Mapping[str, Any], *, if_absent: bool = True) -> dict:
        put: dict[str, Any] = {"TableName": self.name, "Item": _item(values)}
        if if_absent:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        return {"Put": put}

    def _add(self, pk: str, sk: str, amounts: Mapping[str, int | float], sets: Mapping[str, Any] | None = None) -> dict:
        names, values, adds, assigns = {}, {}, [], []
        for i, (attr, amount) in enumerate(amounts.items()):
            names[f"#a{i}"], values[f":a{i}"] = attr, _ser.serialize(to_dynamo(amount))
            adds.append(f"#a{i} :a{i}")
        for i, (attr, value) in enumerate((sets or {}).items()):
            names[f"#s{i}"], values[f":s{i}"] = attr, _ser.serialize(to_dynamo(value))
            assigns.append(f"#s{i} = :s{i}")
        expression = " ".join(p for p in (f"ADD {', '.join(adds)}" if adds else "",
                                          f"SET {', '.join(assigns)}" if assigns else "") if p)
        return {"Update": {"TableName": self.name, "Key": _key(pk, sk), "UpdateExpression": expression,
                           "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}}

    def update(self, pk: str, sk: str, sets: Mapping[str, Any], *, condition: str | None = None,
               values: Mapping[str, Any] | None = None, removes: Iterable[str] = ()) -> dict:
        """SET attributes (and REMOVE some), optionally under a condition; returns the new item.
        A failed condition raises Duplicate."""
        names = {f"#s{i}": attr for i, attr in enumerate(sets)}
        expr_values = {f":s{i}": _ser.serialize(to_dynamo(v)) for i, v in enumerate(sets.values())}
        expr_values.update({k: _ser.serialize(to_dynamo(v)) for k, v in (values or {}).items()})
        parts = [f"SET {', '.join(f'#s{i} = :s{i}' for i in range(len(sets)))}"] if sets else []
        removes = list(removes)
        if removes:
            names.update({f"#r{i}": attr for i, attr in enumerate(removes)})
            parts.append(f"REMOVE {', '.join(f'#r{i}' for i in range(len(removes)))}")
        kwargs: dict[str, Any] = {"TableName": self.name, "Key": _key(pk, sk), "UpdateExpression": " ".join(parts),
                                  "ExpressionAttributeNames": names, "ReturnValues": "ALL_NEW"}
        if expr_values:
            kwargs["ExpressionAttributeValues"] = expr_values
        if condition:
            kwargs["ConditionExpression"] = condition
            for token in condition.replace("(", " ").replace(")", " ").replace(",", " ").split():
                if token.startswith("#") and token not in names:
                    names[token] = token[1:]
        try:
            return _plain(self.ddb.update_item(**kwargs)["Attributes"])
        except self.ddb.exceptions.ConditionalCheckFailedException as exc:
            raise Duplicate(condition) from exc

    # -- loop state ----------------------------------------------------------
    def begin_detection(self) -> LoopState:
        """One call: count this detection and read the active model and today's reviews."""
        day = today()
        response = self.ddb.update_item(
            TableName=self.name, Key=_key("LOOP", "STATE"), UpdateExpression="ADD detections :one",
            ExpressionAttributeValues={":one": {"N": "1"}}, ReturnValues="ALL_NEW",
        )
        return LoopState.from_item(_plain(response["Attributes"]), day)

    def loop(self) -> LoopState:
        return LoopState.from_item(self.get("LOOP", "STATE"))

    # -- detections ------------------------------------------------------------
    def record_detection(self, record: Mapping[str, Any], *, pending: bool = False) -> None:
        """Write a detection once, with its day's outcome count. Raises Duplicate if it exists."""
        day = record["detected_at"][:10]
        items = [
            self._put({"pk": f"DET#{record['detection_id']}", "sk": "DET", **record}),
            self._add(f"STATS#{day}", "STATS", {f"outcome_{record['outcome']}": 1}),
        ]
        if pending:
            items.append(self._put({"pk": "PENDING", "sk": f"{record['detected_at']}#{record['detection_id']}",
                                    "detection_id": record["detection_id"], "bucket": record["bucket"],
                                    "key": record["key"], "etag": record.get("etag"),
                                    "version_id": record.get("version_id")}))
        self._transact(items)

    def replace_pending(self, record: Mapping[str, Any], pending_sk: str) -> None:
        """A pending detection detected at last: overwrite the record, move the day's count, drop the pending item."""
        day, pending_day = record["detected_at"][:10], pending_sk[:10]
        counts = {f"outcome_{record['outcome']}": 1, "replayed": 1}
        if pending_day == day:  # one item may appear only once in a transaction
            moves = [self._add(f"STATS#{day}", "STATS", counts | {"outcome_pending": -1})]
        else:
            moves = [self._add(f"STATS#{day}", "STATS", counts),
                     self._add(f"STATS#{pending_day}", "STATS", {"outcome_pending": -1})]
        self._transact([
            {"Put": {"TableName": self.name, "Item": _item({"pk": f"DET#{record['detection_id']}", "sk": "DET", **record}),
                     "ConditionExpression": "#o = :pending",
                     "ExpressionAttributeNames": {"#o": "outcome"},
                     "ExpressionAttributeValues": {":pending": {"S": "pending"}}}},
            *moves,
            {"Delete": {"TableName": self.name, "Key": _key("PENDING", pending_sk)}},
        ])

    def pending(self) -> list[dict]:
        return self.query("PENDING")

    def pending_page(self, after: str | None, limit: int) -> list[dict]:
        """Up to ``limit`` pending detections whose ``sk`` sorts after ``after``, oldest first."""
        values = {":pk": {"S": "PENDING"}, **({":after": {"S": after}} if after else {})}
        page = self.ddb.query(TableName=self.name, ConsistentRead=True, Limit=limit, ExpressionAttributeValues=values,
                              KeyConditionExpression="pk = :pk" + (" AND sk > :after" if after else ""))
        return [_plain(i) for i in page.get("Items", [])]

    def detection(self, detection_id: str) -> dict | None:
        return self.get(f"DET#{detection_id}", "DET")

    def mark_detection_failed(self, record: Mapping[str, Any]) -> None:
        """Record a failure outcome once (a retried failure does not count twice)."""
        try:
            self.record_detection(record)
        except Duplicate:
            pass

    def scan_detections(self) -> Iterable[dict]:
        """Every detection record (for export and backtests; not on any hot path)."""
        return self.scan(FilterExpression="sk = :det", ExpressionAttributeValues={":det": {"S": "DET"}})

    def scan(self, **options: Any) -> Iterable[dict]:
        """Every item (or those a Scan's options select), all pages. Operator tools only."""
        kwargs: dict[str, Any] = {"TableName": self.name, **options}
        while True:
            page = self.ddb.scan(**kwargs)
            yield from (_plain(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def day_stats(self, day: str | None = None) -> dict:
        return self.get(f"STATS#{day or today()}", "STATS") or {}

    # -- human loops -------------------------------------------------------------
    def record_review_started(self, loop: Mapping[str, Any]) -> None:
        """The human loop, the day's review count and the detection's link, once. Raises Duplicate."""
        started = loop["started_at"]
        self._transact([
            self._put({"pk": f"HL#{loop['name']}", "sk": "HL", "status": "open", **loop}),
            self._add("LOOP", "STATE", {f"reviews_{started[:10]}": 1, "open_reviews": 1}),
            self._add(f"STATS#{started[:10]}", "STATS", {f"reviews_started_{loop['purpose']}": 1}),
            self._add(f"DET#{loop['detection_id']}", "DET", {}, {"human_loop": loop["name"], "review_status": "open"}),
        ])

    def review(self, name: str) -> dict | None:
        return self.get(f"HL#{name}", "HL")

    def record_review_finished(self, name: str, detection_id: str, status: str, details: Mapping[str, Any]) -> None:
        """Close an open loop once (accepted/rejected/audited). Raises Duplicate if it was closed before."""
        at = details.get("finished_at") or now_iso()
        self._transact([
            {"Update": {"TableName": self.name, "Key": _key(f"HL#{name}", "HL"),
                        "UpdateExpression": "SET #st = :st, #d = :d",
                        "ConditionExpression": "#st = :open",
                        "ExpressionAttributeNames": {"#st": "status", "#d": "result"},
                        "ExpressionAttributeValues": {":st": {"S": status}, ":open": {"S": "open"},
                                                      ":d": _ser.serialize(to_dynamo(dict(details)))}}},
            self._add("LOOP", "STATE", {"open_reviews": -1}),
            self._add(f"STATS#{at[:10]}", "STATS", {f"reviews_{status}": 1}),
            self._add(f"DET#{detection_id}", "DET", {}, {"review_status": status,
                                                         "human_label": details.get("label") or "-"}),
        ])

    def record_output_rejected(self, output_key: str, reason: str) -> bool:
        """Remember a rejected A2I output once; False if it was rejected before."""
        try:
            self._transact([
                self._put({"pk": f"REJECTED#{output_key}", "sk": "OUTPUT", "reason": reason, "at": now_iso()}),
                self._add(f"STATS#{today()}", "STATS", {"outputs_rejected": 1}),
            ])
            return True
        except Duplicate:
            return False

    # -- training images and counters ----------------------------------------
    def add_training_image(self, key: str, label: str) -> bool:
        """Count a training image once per key; False if it was counted before."""
        try:
            self._transact([
                self._put({"pk": f"IMG#{key}", "sk": "IMG", "label": label, "at": now_iso()}),
                self._add("LOOP", f"COUNT#{label}", {"count": 1}),
            ])
            return True
        except Duplicate:
            return False

    def remove_training_image(self, key: str, label: str) -> bool:
        """Uncount a deleted training image; False if it was not counted."""
        try:
            self._transact([
                {"Delete": {"TableName": self.name, "Key": _key(f"IMG#{key}", "IMG"),
                            "ConditionExpression": "attribute_exists(pk)"}},
                self._add("LOOP", f"COUNT#{label}", {"count": -1}),
            ])
            return True
        except Duplicate:
            return False

    def loop_and_counts(self) -> tuple[LoopState, dict[str, dict]]:
        """One query: the loop state and every label's counters (O(1) calls for any dataset size)."""
        items = self.query("LOOP")
        state = next((i for i in items if i["sk"] == "STATE"), None)
        counts = {i["sk"][len("COUNT#"):]: i for i in items if i["sk"].startswith("COUNT#")}
        return LoopState.from_item(state), counts

    # -- model lifecycle -------------------------------------------------------
    def take_training_lock(self, owner: str, decision: Mapping[str, Any], stale_before: str | None = None) -> str:
        """Take the lock and number the next version; raises Duplicate if a training holds it.
        A lock taken before ``stale_before`` (its run can no longer be running) is taken over."""
        at = now_iso()
        condition, values = "attribute_not_exists(training_owner)", {}
        if stale_before:
            condition += " OR training_started_at < :stale"
            values[":stale"] = {"S": stale_before}
        try:
            item = self.ddb.update_item(
                TableName=self.name, Key=_key("LOOP", "STATE"),
                UpdateExpression="SET training_owner = :o, training_started_at = :t, last_training_decision = :d "
                                 "REMOVE training_version ADD versions :one",
                ConditionExpression=condition,
                ExpressionAttributeValues={":o": {"S": owner}, ":t": {"S": at}, ":one": {"N": "1"}, **values,
                                           ":d": _ser.serialize(to_dynamo(dict(decision) | {"at": at}))},
                ReturnValues="ALL_NEW",
            )
        except self.ddb.exceptions.ConditionalCheckFailedException as exc:
            raise Duplicate("a training holds the lock") from exc
        return f"v{int(_plain(item['Attributes'])['versions'])}"

    def set_training_version(self, owner: str, version: str) -> None:
        self.update("LOOP", "STATE", {"training_version": version}, condition="training_owner = :o",
                    values={":o": owner})

    def record_training_decision(self, decision: Mapping[str, Any]) -> None:
        self.update("LOOP", "STATE", {"last_training_decision": dict(decision) | {"at": now_iso()}})

    def release_training_lock(self, owner: str) -> bool:
        try:
            self.update("LOOP", "STATE", {}, condition="training_owner = :o", values={":o": owner},
                        removes=("training_owner", "training_version", "training_started_at"))
            return True
        except Duplicate:
            return False  # already released (a retried cleanup) or taken by another run

    def switch_active(self, version: str, arn: str, f1: float | None, expected_version: str | None) -> dict:
        """Compare-and-swap the active model pointer; raises Duplicate if it moved since ``expected_version``."""
        loop = self.loop()
        if loop.active_version != expected_version:
            raise Duplicate(f"active model is {loop.active_version}, expected {expected_version}")
        condition = "attribute_not_exists(active_version)" if expected_version is None else "active_version = :expected"
        values = {} if expected_version is None else {":expected": expected_version}
        self.update("LOOP", "STATE", {
            "active_version": version, "active_arn": arn, "active_f1": f1, "switched_at": now_iso(),
            "previous_version": loop.active_version or "", "previous_arn": loop.active_arn or "",
        }, condition=condition, values=values)
        return {"previous_version": loop.active_version, "previous_arn": loop.active_arn}

    def set_trained_snapshot(self, counts: Mapping[str, int]) -> None:
        """Images per label that the last finished training saw: 'new' is counted from here."""
        self.update("LOOP", "STATE", {"trained_counts": dict(counts)})

    def set_counts(self, counts: Mapping[str, int]) -> None:
        """Reconcile the per-label counters with a listing of the training folders."""
        for label, count in counts.items():
            self.update("LOOP", f"COUNT#{label}", {"count": count, "reconciled_at": now_iso()})

    def put_model(self, version: str, fields: Mapping[str, Any]) -> dict:
        return self.update(f"MODEL#{version}", "MODEL", dict(fields) | {"version": version, "updated_at": now_iso()})

    def model(self, version: str | None) -> dict | None:
        return self.get(f"MODEL#{version}", "MODEL") if version else None

    # -- parameter alerts --------------------------------------------------------
    def first_alert(self, name: str, value: str, message: str) -> bool:
        """True the first time this invalid value of this parameter is seen."""
        try:
            self._transact([self._put({"pk": f"ALERT#{name}", "sk": value[:512] or "<empty>",
                                       "message": message, "at": now_iso()})])
            return True
        except Duplicate:
            return False

