"""The state table: every piece of operational state, with conditional writes.

One DynamoDB table (``pk``/``sk`` strings), one module: the only code that
knows the table's keys, item types and attribute names. Callers speak in the
records below and in methods named for what they do. Each write that must
happen once (a detection record, a human loop, a training image) is a
conditional put inside a transaction with the counters it moves, so duplicate
delivery changes nothing and counters never drift. Every call is tried again a few
times when DynamoDB throttles it or cancels a transaction for throttling or a
concurrent transaction (a failed condition is the guard working, never retried);
what still fails reaches the state machine under a name its Retry rules match.

Items (``ITEM_TYPES``; ``<…>`` is a variable part of the key):

  LOOP / STATE  active and previous model (compare-and-swap), versions numbered,
      reviews per day, open reviews, training lock (and the models its run could not
      stop), last training decision, training baseline (images per label at the last
      training, when it finished), the serving claim (a start or stop under way), the
      last serving decision, the backlog (since when images wait for capacity) and its
      drain (lease, measured rate)
  LOOP / COUNT#<label>  training images per label
  DET#<detection id> / DET  one detection: image, every label score, model
      version, decision with reason and policy, outcome, review status, human
      label, failure
  PENDING#<shard> / <detected at>#<detection id>  a detection waiting for a model
      or for its capacity, in arrival order within its shard
  FAILED / <detection id>  a detection that failed after its retries, to replay
      (`labelloop replay --failed`): image, reason, when, how often, when replayed
  HL#<human loop> / HL  one review: an A2I human loop, or a task of the builtin
      review app (priority, answers wanted and the most it may ask for, answers
      given, expiry); detection, purpose, image version, status, result with the
      answers
  HL#<human loop> / ANSWER#<reviewer>  one reviewer's answer to a builtin review
      task (a reviewer answers a task once)
  HL#<human loop> / SKIP#<reviewer>  a reviewer who skipped a builtin review task
      (never served it again)
  OPEN / <priority>#<opened at>#<human loop>  a builtin review task waiting for
      answers, in serving order (highest priority, then oldest, first): what the
      page shows, the lease (reviewer, until), the reviewers who answered or
      skipped it
  REVIEWERS / <reviewer>  one reviewer's name and counts: answers, skips,
      answers that agreed and disagreed with the final label
  COPY / <human loop>  an accepted review's copy not made yet: the reviewed
      image version, the folder and key it goes to, its label — made at once by
      the answer, or completed later (the dataset sweep, a retry, `labelloop
      replay --copies`)
  IMG#<key> / IMG  one counted training image (makes the counters exact under
      duplicate events)
  STATS#<day> / STATS  counts per review status for a UTC day (daily summary,
      `labelloop status`)
  COUNTS#<day>#<shard> / COUNTS  a share of a UTC day's detection counts: outcomes,
      replays, the last detection's time
  MODEL#<version> / MODEL  a version: status, manifest, evaluation with
      per-label metrics, its answers per gate-set image (in S3), deployment
      decision, start and stop
  LEDGER / SERVING#<from>#<version>  one period a version ran (billed from RUNNING
      until stopped): inference units, from, until (the cost ledger)
  LEDGER / TRAINING#<from>#<version>  one training of a version (billed per hour):
      from, until (the cost ledger)
  REJECTED#<output key> / OUTPUT  an A2I output rejected, with the reason
      (reported once)
  ALERT#<name> / <value>  a problem already reported (an invalid parameter
      value, a kind of detection failure on a day): alert once
  PARAMCHANGE / <time>  an applied operator parameter change: parameter,
      operation, value, schedule
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timezone
from decimal import Decimal
from functools import cached_property
from typing import Any, Iterable, Iterator, Mapping

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from plugins import DatasetStats

from . import aws, backoff, errors, shards
from .backoff import CALL_ATTEMPTS, CALL_BASE_DELAY, CALL_MAX_DELAY  # noqa: F401  (the retries of every call here)

KEY_SCHEMA = (("pk", "S", "HASH"), ("sk", "S", "RANGE"))
# A throttled call, or a transaction cancelled by throttling or a concurrent transaction, is tried
# again within a fraction of a second (backoff.call) before the error reaches the state machine's Retry rules.
_ser, _de = TypeSerializer(), TypeDeserializer()
_VARIABLE = re.compile(r"<[^>]+>")


# -- the item map ----------------------------------------------------------------
@dataclass(frozen=True)
class ItemType:
    """One kind of item: its key (``<…>`` marks a variable part) and what it holds."""

    pk: str
    sk: str
    holds: str

    @property
    def partition(self) -> str:
        """The pk, when it is the same for every item of the type."""
        if _VARIABLE.search(self.pk):
            raise ValueError(f"{self.pk} is not one partition")
        return self.pk

    def key(self, *parts: str) -> dict[str, str]:
        """The key of one item of this type, the variable parts filled in order (pk's, then sk's)."""
        wanted = len(_VARIABLE.findall(self.pk + self.sk))
        if len(parts) != wanted:
            raise ValueError(f"{self.pk} / {self.sk} takes {wanted} key part(s), not {parts}")
        values = iter(parts)
        pk, sk = (_VARIABLE.sub(lambda _: str(next(values)), template) for template in (self.pk, self.sk))
        return {"pk": pk, "sk": sk}

    def matches(self, key: Mapping[str, Any]) -> bool:
        return bool(self._patterns[0].fullmatch(str(key.get("pk", "")))
                    and self._patterns[1].fullmatch(str(key.get("sk", ""))))

    def part(self, key: Mapping[str, Any]) -> str:
        """The variable part of an item's pk (its sk's when the pk is fixed)."""
        index = 0 if _VARIABLE.search(self.pk) else 1
        return self._patterns[index].fullmatch(key[("pk", "sk")[index]]).group(1)

    @cached_property
    def _patterns(self) -> tuple[re.Pattern, re.Pattern]:
        return tuple(re.compile("(.+)".join(re.escape(p) for p in _VARIABLE.split(t))) for t in (self.pk, self.sk))


_LOOP = ItemType("LOOP", "STATE", "active and previous model (compare-and-swap), versions numbered, reviews per "
                 "day, open reviews, training lock (and the models its run could not stop), last training decision, "
                 "training baseline (images per label at the last training, when it finished), the serving claim (a "
                 "start or stop under way), the last serving decision, the backlog (since when images wait for "
                 "capacity) and its drain (lease, measured rate)")
_LABEL_COUNT = ItemType("LOOP", "COUNT#<label>", "training images per label")
_DETECTION = ItemType("DET#<detection id>", "DET", "one detection: image, every label score, model version, "
                      "decision with reason and policy, outcome, review status, human label, failure")
_PENDING = ItemType("PENDING#<shard>", "<detected at>#<detection id>", "a detection waiting for a model or for its "
                    "capacity, in arrival order within its shard")
_FAILED = ItemType("FAILED", "<detection id>", "a detection that failed after its retries, to replay (`labelloop "
                   "replay --failed`): image, reason, when, how often, when replayed")
_REVIEW = ItemType("HL#<human loop>", "HL", "one review: an A2I human loop, or a task of the builtin review app "
                   "(priority, answers wanted and the most it may ask for, answers given, expiry); detection, purpose, "
                   "image version, status, result with the answers")
_TASK_ANSWER = ItemType("HL#<human loop>", "ANSWER#<reviewer>",
                        "one reviewer's answer to a builtin review task (a reviewer answers a task once)")
_TASK_SKIP = ItemType("HL#<human loop>", "SKIP#<reviewer>",
                      "a reviewer who skipped a builtin review task (never served it again)")
_OPEN_TASK = ItemType("OPEN", "<priority>#<opened at>#<human loop>", "a builtin review task waiting for answers, "
                      "in serving order (highest priority, then oldest, first): what the page shows, the lease "
                      "(reviewer, until), the reviewers who answered or skipped it")
_REVIEWER = ItemType("REVIEWERS", "<reviewer>", "one reviewer's name and counts: answers, skips, answers that agreed "
                     "and disagreed with the final label")
_COPY = ItemType("COPY", "<human loop>", "an accepted review's copy not made yet: the reviewed image version, the "
                 "folder and key it goes to, its label — made at once by the answer, or completed later (the "
                 "dataset sweep, a retry, `labelloop replay --copies`)")
_TRAINING_IMAGE = ItemType("IMG#<key>", "IMG",
                           "one counted training image (makes the counters exact under duplicate events)")
_DAY = ItemType("STATS#<day>", "STATS", "counts per review status for a UTC day (daily summary, `labelloop status`)")
_DAY_SHARD = ItemType("COUNTS#<day>#<shard>", "COUNTS", "a share of a UTC day's detection counts: outcomes, replays, "
                      "the last detection's time")
_MODEL = ItemType("MODEL#<version>", "MODEL", "a version: status, manifest, evaluation with per-label metrics, "
                  "its answers per gate-set image (in S3), deployment decision, start and stop")
_SERVING = ItemType("LEDGER", "SERVING#<from>#<version>", "one period a version ran (billed from RUNNING "
                    "until stopped): inference units, from, until (the cost ledger)")
_TRAINING = ItemType("LEDGER", "TRAINING#<from>#<version>", "one training of a version (billed per hour): from, "
                     "until (the cost ledger)")
_REJECTED_OUTPUT = ItemType("REJECTED#<output key>", "OUTPUT",
                            "an A2I output rejected, with the reason (reported once)")
_ALERT = ItemType("ALERT#<name>", "<value>", "a problem already reported (an invalid parameter value, a kind of "
                  "detection failure on a day): alert once")
_PARAMETER_CHANGE = ItemType("PARAMCHANGE", "<time>", "an applied operator parameter change: parameter, "
                             "operation, value, schedule")
ITEM_TYPES = (_LOOP, _LABEL_COUNT, _DETECTION, _PENDING, _FAILED, _REVIEW, _TASK_ANSWER, _TASK_SKIP, _OPEN_TASK,
              _REVIEWER, _COPY, _TRAINING_IMAGE, _DAY, _DAY_SHARD, _MODEL, _SERVING, _TRAINING, _REJECTED_OUTPUT, _ALERT, _PARAMETER_CHANGE)


def item_type(key: Mapping[str, Any]) -> ItemType | None:
    """The declared type of an item (by its ``pk``/``sk``), or None: the item map does not name it."""
    return next((t for t in ITEM_TYPES if t.matches(key)), None)


# -- values ------------------------------------------------------------------------
def utcnow() -> datetime:
    """The time every record is stamped with (one clock: tests move it)."""
    return datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def now_iso() -> str:
    return iso(utcnow())


def today() -> str:
    return utcnow().strftime("%Y-%m-%d")


# A transaction holds at most 100 items: expired tasks take 3 each, besides the counters.
MAX_EXPIRED_PER_CALL = 25
# A task's priority, 0-100 (highest served first), as a fixed-width sort key: 100 000 steps.
PRIORITY_STEPS = 1000


TASK_CURSOR = re.compile(r"^[0-9]{6}#[0-9T:.Z-]{20,32}#labelloop-[0-9a-f]{40}$")


def task_cursor(priority: float, opened_at: str, name: str) -> str:
    """A builtin review task's sort key in the open index: by priority (highest first), then age."""
    rank = round((100.0 - min(100.0, max(0.0, float(priority)))) * PRIORITY_STEPS)
    return f"{rank:06d}#{opened_at}#{name}"


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


def _key(item_type: ItemType, *parts: str) -> dict:
    return {name: {"S": value} for name, value in item_type.key(*parts).items()}


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


# -- why a conditional write did not happen ------------------------------------------
class ConditionFailed(Exception):
    """A conditional write found the table not as it expected; nothing was written. ``item``: the
    item as it was, when the write asked for it."""

    def __init__(self, message: str = "", item: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.item = item


class AlreadyDone(ConditionFailed):
    """The write happened before (a duplicate delivery): the work is done."""


class LockHeld(ConditionFailed):
    """A training run holds the training lock (or this run does not hold it any more)."""


class ActiveModelMoved(ConditionFailed):
    """The active model is not the one expected: another run switched it (lost compare-and-swap)."""


class TaskClosed(ConditionFailed):
    """The review task is not open (any more): answered, expired or never opened."""


class TaskChanged(ConditionFailed):
    """Another answer reached the review task since it was read: read it again."""


class TaskLeased(ConditionFailed):
    """Another reviewer holds the review task's lease (or answered or skipped it)."""


class AlreadyAnswered(AlreadyDone):
    """This reviewer answered (or skipped) the review task before."""


class CopyWithdrawn(ConditionFailed):
    """An accepted review's copy is no longer to be made (its image was deleted or forgotten meanwhile)."""


class TrainingImageCounted(ConditionFailed):
    """The training image was counted already (the copy's own S3 event came first)."""


# -- records -------------------------------------------------------------------------
@dataclass(frozen=True)
class LoopState:
    """The loop item: the active model pointer, counters of the day and the training lock."""

    active_version: str | None = None
    active_arn: str | None = None
    active_f1: float | None = None
    previous_version: str | None = None
    previous_arn: str | None = None
    switched_at: str | None = None
    versions: int = 0  # versions numbered so far (the next training is v<versions + 1>)
    reviews_today: int = 0
    open_reviews: int = 0
    training_version: str | None = None
    training_started_at: str | None = None
    training_owner: str | None = None
    strays: Mapping[str, str] = field(default_factory=dict)  # version -> ARN the lock's run could not stop
    last_training_decision: Mapping[str, Any] = field(default_factory=dict)
    trained_counts: Mapping[str, int] = field(default_factory=dict)  # training images per label at the last training
    serving_claim: str | None = None  # "start" or "stop": a serving action under way
    serving_claim_at: str | None = None
    last_serving_decision: Mapping[str, Any] = field(default_factory=dict)
    backlog_since: str | None = None  # images wait for the running model's capacity (detections park at once)
    drain_owner: str | None = None  # the serving look draining them (one at a time) ...
    drain_until: str | None = None  # ... until then
    drain_rate: float | None = None  # detections a second per inference unit the last drain measured


@dataclass(frozen=True)
class Dataset:
    """The training folder as the counters see it: images per label now and at the last finished training."""

    images: Mapping[str, int] = field(default_factory=dict)  # labels with a counter, never below 0
    trained: Mapping[str, int] = field(default_factory=dict)
    last_trained_at: str | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        """Every label with a counter or in the last training."""
        return tuple(sorted(set(self.images) | set(self.trained)))

    def new_since_training(self, label: str) -> int:
        return max(0, self.images.get(label, 0) - self.trained.get(label, 0))

    def stats(self, labels: tuple[str, ...]) -> DatasetStats:
        """What the training decision is told about the stack's labels."""
        return DatasetStats({label: self.images.get(label, 0) for label in labels},
                            {label: self.new_since_training(label) for label in labels}, labels,
                            self.last_trained_at)


@dataclass(frozen=True)
class DetectionRecord:
    """One detection of one image version (None: not recorded). ``labels`` are ``{"name", "confidence"}``,
    best first; ``decision`` is the review decision (``review``, ``purpose``, ``reason``, ``policy``)."""

    detection_id: str
    bucket: str | None = None
    key: str | None = None
    image_uri: str | None = None
    detected_at: str | None = None
    outcome: str | None = None
    reason: str | None = None
    etag: str | None = None
    version_id: str | None = None
    model_version: str | None = None
    labels: tuple[Mapping[str, Any], ...] = ()
    decision: Mapping[str, Any] | None = None
    human_loop: str | None = None
    review_status: str | None = None
    human_label: str | None = None
    failure: str | None = None
    failed_at: str | None = None


@dataclass(frozen=True)
class PendingDetection:
    """An image waiting for a model. ``cursor`` orders them by arrival and names this one
    (``pending_page(after=…)``, ``replace_pending(…, cursor)``)."""

    detection_id: str
    bucket: str
    key: str
    cursor: str
    etag: str | None = None
    version_id: str | None = None


@dataclass(frozen=True)
class DetectionFailure:
    """A detection that failed after its retries, listed until a later attempt detects it
    (``labelloop replay --failed``). ``pending_cursor``: the image was waiting for a model and
    failed as its replay; ``replayed_at``: a replay was started for this failure."""

    detection_id: str
    bucket: str | None = None
    key: str | None = None
    etag: str | None = None
    version_id: str | None = None
    reason: str | None = None
    failed_at: str | None = None
    pending_cursor: str | None = None
    failures: int = 1
    replayed_at: str | None = None


@dataclass(frozen=True)
class ReviewTask:
    """One review, from its start to its result (``result``: reason, policy, answers, label …): an A2I
    human loop, or a task of the builtin review app, which also has its serving priority, the answers
    it wants (``reviewers``, raised when a policy asks for more) and may ask for, the answers given
    and when it expires. ``model_labels``: the model's best labels, ``{"name", "confidence"}``."""

    name: str
    detection_id: str
    purpose: str
    image_uri: str
    started_at: str
    status: str = "open"
    image_version: str | None = None  # the S3 version reviewed, and copied when the answer is accepted
    model_version: str | None = None
    reason: str = ""
    result: Mapping[str, Any] | None = None
    model_labels: tuple[Mapping[str, Any], ...] = ()
    priority: float | None = None
    reviewers: int | None = None
    max_reviewers: int | None = None
    answers: int | None = None
    expires_at: str | None = None
    lease_reviewer: str | None = None
    lease_until: str | None = None
    copy: str | None = None  # an accepted review's image copy: "pending", "done", or "removed" (forgotten)
    removed_reason: str | None = None  # why its copy was removed

    @property
    def builtin(self) -> bool:
        """A task of the builtin review app (not an A2I human loop)."""
        return self.reviewers is not None

    @property
    def open_cursor(self) -> str:
        """Its place in the open index: highest priority first, then oldest."""
        return task_cursor(self.priority or 0.0, self.started_at, self.name)

    def leased_to_another(self, reviewer: str, at: str) -> bool:
        return _leased_to_another(self, reviewer, at)


@dataclass(frozen=True)
class OpenTask:
    """A builtin review task's entry in the open index: what the page shows, the lease and the
    reviewers who answered or skipped it (``seen``)."""

    name: str
    cursor: str
    detection_id: str
    purpose: str
    image_uri: str
    expires_at: str
    image_version: str | None = None
    reason: str = ""
    model_labels: tuple[Mapping[str, Any], ...] = ()
    lease_reviewer: str | None = None
    lease_until: str | None = None
    seen: frozenset[str] = frozenset()

    def leased_to_another(self, reviewer: str, at: str) -> bool:
        return _leased_to_another(self, reviewer, at)


def _leased_to_another(task: ReviewTask | OpenTask, reviewer: str, at: str) -> bool:
    return bool(task.lease_until and task.lease_until > at and task.lease_reviewer != reviewer)


@dataclass(frozen=True)
class OpenTaskPage:
    """Entries of the open index one Query found for a reviewer; ``last``: the cursor to read on
    from (None: the index ends here)."""

    entries: tuple[OpenTask, ...]
    last: str | None = None

    def __iter__(self) -> Iterator[OpenTask]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)


@dataclass(frozen=True)
class OpenTaskOverview:
    """The whole open index, read for the gauges: how many tasks wait within their lifetime, when
    the oldest of them was opened, and the entries past their lifetime (to expire). ``complete``: False when the read stopped at
    its page limit (the figures then cover the entries read)."""

    count: int
    oldest_opened_at: str | None
    expired: tuple[OpenTask, ...]
    complete: bool = True


@dataclass(frozen=True)
class TaskAnswer:
    """One reviewer's answer to a builtin review task."""

    task: str
    reviewer: str
    label: str
    answered_at: str
    reviewer_name: str | None = None  # kept with the reviewer's counts, for `labelloop status`


@dataclass(frozen=True)
class TaskWithAnswers:
    """A review with its answers and the reviewers who skipped it (one Query of its partition)."""

    task: ReviewTask
    answers: tuple[TaskAnswer, ...] = ()
    skipped_by: frozenset[str] = frozenset()

    def answered_by(self, reviewer: str) -> bool:
        return any(a.reviewer == reviewer for a in self.answers)


@dataclass(frozen=True)
class ReviewerStats:
    """One reviewer's counts: answers given, tasks skipped, answers that agreed or disagreed with the
    label a task was accepted with."""

    reviewer: str
    answers: int = 0
    skips: int = 0
    agreed: int = 0
    disagreed: int = 0
    name: str | None = None  # the e-mail address or user name the reviewer signed in with

    @property
    def agreement(self) -> float | None:
        """The share of this reviewer's answers to closed tasks that matched the final label."""
        decided = self.agreed + self.disagreed
        return self.agreed / decided if decided else None


@dataclass(frozen=True)
class Closing:
    """What closing a builtin review task writes besides its result: its open entry removed (refused
    while another reviewer holds the lease), the answer that closes it (None: it expired), and whether
    each answer agreed with the accepted label (reviewer -> agreed)."""

    task: ReviewTask
    answer: TaskAnswer | None = None
    agreement: Mapping[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class PendingCopy:
    """The copy an accepted review licenses: the reviewed version of ``source_key`` (``version``) into
    ``target`` (a label folder of the training data or of the gate set), labelled ``label``."""

    review: str
    detection_id: str
    source_key: str
    version: str | None
    target: str
    label: str
    gate_set: bool = False
    accepted_at: str = ""


@dataclass(frozen=True)
class ModelVersion:
    """A trained (or training) version: its run, status, evaluation, deployment decision, start and stop."""

    version: str
    arn: str | None = None
    status: str | None = None
    status_message: str | None = None
    run: str | None = None
    manifest: str | None = None
    counts: Mapping[str, int] | None = None
    training_started_at: str | None = None
    evaluation: Mapping[str, Any] | None = None  # f1, precision, recall, per_label, gate_set
    decision: Mapping[str, Any] | None = None  # deploy, reason, policy
    gate_set: str | None = None  # the gate-set version it was trained with as TestingData
    side_by_side: Mapping[str, Any] | None = None  # candidate and incumbent on the gate set, before the switch
    answers: Mapping[str, str] | None = None  # gate-set version -> S3 key of its answer for each image of it
    compared_by: str | None = None  # the lifecycle run that started it to compare a candidate with it
    inference_units: int | None = None
    start_requested_by: str | None = None
    start_requested_at: str | None = None
    started_by: str | None = None
    deployed_at: str | None = None
    stopped_at: str | None = None
    updated_at: str | None = None
    serving_since: str | None = None  # the open serving period (its sort key) while the version runs


@dataclass(frozen=True)
class DayStats:
    """The counters of one UTC day: ``outcome_<outcome>``, ``reviews_started_<purpose>``,
    ``reviews_<status>``, ``outputs_rejected``, ``replayed``; the time of its last detection."""

    day: str
    counts: Mapping[str, int] = field(default_factory=dict)
    last_detected_at: str | None = None

    @property
    def detections(self) -> int:
        return sum(n for name, n in self.counts.items() if name.startswith("outcome_"))


@dataclass(frozen=True)
class ServingPeriod:
    """A period a version ran and billed, from RUNNING until stopped (``until`` None: it still runs)."""

    version: str
    units: int
    start: str
    until: str | None = None
    max_units: int | None = None


@dataclass(frozen=True)
class TrainingPeriod:
    """A version's training, billed per hour (``until`` None: it still trains)."""

    version: str
    start: str
    until: str | None = None


@dataclass(frozen=True)
class Waiting:
    """The images waiting for a model: how many, and when the first of them arrived."""

    count: int = 0
    oldest_at: str | None = None


@dataclass(frozen=True)
class ParameterChange:
    """An operator parameter change the loop applied (``schedule``: what it did to the training schedule)."""

    at: str
    parameter: str
    operation: str
    value: str
    schedule: str | None = None


@dataclass(frozen=True)
class Snapshot:
    """Every item of a table at one moment (a sandbox round, a saved run), as records."""

    loop: LoopState
    dataset: Dataset
    detections: tuple[DetectionRecord, ...]
    reviews: tuple[ReviewTask, ...]
    days: tuple[DayStats, ...]  # oldest first

    @classmethod
    def of(cls, items: Iterable[Mapping[str, Any]]) -> "Snapshot":
        """The records of plain items (a scan, or a saved run's ``items``)."""
        by_type: dict[ItemType | None, list[Mapping[str, Any]]] = {}
        for item in items:
            by_type.setdefault(item_type(item), []).append(item)
        state = next(iter(by_type.get(_LOOP, ())), {})
        return cls(_loop_state(state), _dataset(state, by_type.get(_LABEL_COUNT, ())),
                   tuple(_detection(i) for i in by_type.get(_DETECTION, ())),
                   tuple(_review(i) for i in by_type.get(_REVIEW, ())),
                   tuple(sorted(_days_of([*by_type.get(_DAY, ()), *by_type.get(_DAY_SHARD, ())]).values(),
                                key=lambda d: d.day)))

    @property
    def last_day(self) -> str | None:
        """The last UTC day anything was counted."""
        return self.days[-1].day if self.days else None


def _fields(record_type: type, item: Mapping[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(record_type)}
    return {name: value for name, value in item.items() if name in names}


def _attributes(record: Any) -> dict[str, Any]:
    """A record as stored: unset values (None, no labels) are left out."""
    return {f.name: value for f in fields(record) if (value := getattr(record, f.name)) is not None and value != ()}


def _loop_state(item: Mapping[str, Any] | None, day: str | None = None) -> LoopState:
    item = item or {}
    return LoopState(
        active_version=item.get("active_version"),
        active_arn=item.get("active_arn"),
        active_f1=item.get("active_f1"),
        previous_version=item.get("previous_version"),
        previous_arn=item.get("previous_arn"),
        switched_at=item.get("switched_at"),
        versions=int(item.get("versions", 0)),
        reviews_today=int(item.get(f"reviews_{day or today()}", 0)),
        open_reviews=int(item.get("open_reviews", 0)),
        training_version=item.get("training_version"),
        training_started_at=item.get("training_started_at"),
        training_owner=item.get("training_owner"),
        strays=dict(item.get("strays") or {}),
        last_training_decision=item.get("last_training_decision") or {},
        trained_counts={label: int(n) for label, n in (item.get("trained_counts") or {}).items()},
        serving_claim=item.get("serving_claim"),
        serving_claim_at=item.get("serving_claim_at"),
        last_serving_decision=item.get("last_serving_decision") or {},
        backlog_since=item.get("backlog_since"),
        drain_owner=item.get("drain_owner"),
        drain_until=item.get("drain_until"),
        drain_rate=float(item["drain_rate"]) if item.get("drain_rate") is not None else None,
    )


def _dataset(state: Mapping[str, Any] | None, counts: Iterable[Mapping[str, Any]]) -> Dataset:
    state = state or {}
    return Dataset({_LABEL_COUNT.part(i): max(0, int(i.get("count", 0))) for i in counts},
                   {label: int(n) for label, n in (state.get("trained_counts") or {}).items()},
                   state.get("trained_at"))


def _detection(item: Mapping[str, Any]) -> DetectionRecord:
    values = _fields(DetectionRecord, item) | {"detection_id": item.get("detection_id") or _DETECTION.part(item),
                                               "labels": tuple(item.get("labels") or ())}
    if values.get("human_label") == "-":  # a review closed without a label
        values["human_label"] = None
    return DetectionRecord(**values)


def _pending_partition(part: int) -> str:
    return _PENDING.key(part, "", "")["pk"]


def _pending(item: Mapping[str, Any]) -> PendingDetection:
    return PendingDetection(**_fields(PendingDetection, item), cursor=item["sk"])


def _failure(item: Mapping[str, Any]) -> DetectionFailure:
    return DetectionFailure(**_fields(DetectionFailure, item) | {"detection_id": _FAILED.part(item)})


def _review(item: Mapping[str, Any]) -> ReviewTask:
    unread = dict.fromkeys(("detection_id", "purpose", "image_uri", "started_at"))  # None where an outline has none
    return ReviewTask(**unread | _fields(ReviewTask, item) | {"name": item.get("name") or _REVIEW.part(item),
                                                             "model_labels": tuple(item.get("model_labels") or ())})


def _open_task(item: Mapping[str, Any]) -> OpenTask:
    return OpenTask(**_fields(OpenTask, item) | {"cursor": item["sk"], "seen": frozenset(item.get("seen") or ()),
                                                 "model_labels": tuple(item.get("model_labels") or ())})


def _task_with_answers(items: list[Mapping[str, Any]]) -> TaskWithAnswers | None:
    task = next((i for i in items if _REVIEW.matches(i)), None)
    if task is None:
        return None
    answers = tuple(TaskAnswer(_REVIEW.part(i), i["reviewer"], i["label"], i["answered_at"])
                    for i in items if _TASK_ANSWER.matches(i))
    return TaskWithAnswers(_review(task), tuple(sorted(answers, key=lambda a: a.answered_at)),
                           frozenset(i["reviewer"] for i in items if _TASK_SKIP.matches(i)))


def _pending_copy(item: Mapping[str, Any]) -> PendingCopy:
    return PendingCopy(**{"version": None} | _fields(PendingCopy, item))  # an unversioned upload has none


def _reviewer_stats(reviewer: str, item: Mapping[str, Any] | None) -> ReviewerStats:
    fields = _fields(ReviewerStats, item or {})
    return ReviewerStats(reviewer, name=fields.get("name"),
                         **{k: int(v) for k, v in fields.items() if k not in ("reviewer", "name")})


def _model(item: Mapping[str, Any]) -> ModelVersion:
    return ModelVersion(**_fields(ModelVersion, item))


def _serving_period(item: Mapping[str, Any]) -> ServingPeriod:
    return ServingPeriod(**_fields(ServingPeriod, item))


def _days_of(items: Iterable[Mapping[str, Any]]) -> dict[str, DayStats]:
    """Each day's counters: its review counts and the sum of its shares of the detection counts."""
    counts: dict[str, dict[str, int]] = {}
    last: dict[str, str] = {}
    for item in items:
        day = (_DAY if _DAY.matches(item) else _DAY_SHARD).part(item)
        mine = counts.setdefault(day, {})
        for name, value in item.items():
            if name == "last_detected_at":
                last[day] = max(last.get(day, ""), value)
            elif name not in ("pk", "sk"):
                mine[name] = mine.get(name, 0) + int(value)
    return {day: DayStats(day, c, last.get(day)) for day, c in counts.items()}


def _parameter_change(item: Mapping[str, Any]) -> ParameterChange:
    return ParameterChange(at=item["sk"], **_fields(ParameterChange, item))


# -- the table -------------------------------------------------------------------------
class StateTable:
    """One state table. ``client``: a DynamoDB client; None uses the container's (``aws.client``),
    looked up on every call so a swapped session (tests, the sandbox) is seen."""

    def __init__(self, name: str, client: Any = None):
        self.name = name
        self._client = client

    @property
    def _ddb(self):
        return self._client or aws.client("dynamodb")

    # -- generic (this module only) ------------------------------------------------
    def _call(self, operation: str, **kwargs: Any) -> dict:
        """One DynamoDB call on this table, tried again while it fails transiently (a bounded number of times)."""
        method = getattr(self._ddb, operation)
        return backoff.call(lambda: method(**kwargs))

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
        return {"Put": {"TableName": self.name, "Item": key | _item(values),
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

    # -- the whole table (operator tools, saved sandbox runs) ---------------------------
    def all_items(self) -> list[dict]:
        """Every item, as plain values (a saved run's copy: ``put_items`` writes them back)."""
        return list(self._scan())

    def outline(self) -> Snapshot:
        """A light read of every item: the active model, each detection's outcome, decision and best label,
        each review's status and result; every other field is left empty (a sandbox's round table)."""
        return Snapshot.of(self._scan(
            ProjectionExpression="pk, sk, outcome, decision, labels[0], #s, #r, active_version",
            ExpressionAttributeNames={"#s": "status", "#r": "result"}))

    # -- loop state ----------------------------------------------------------
    def begin_detection(self) -> LoopState:
        """One read: the active model, whether images wait for its capacity, today's reviews and the
        training images per label at the last training."""
        return _loop_state(self._get(_key(_LOOP)))

    def loop(self) -> LoopState:
        return _loop_state(self._get(_key(_LOOP)))

    def loop_and_dataset(self) -> tuple[LoopState, Dataset]:
        """One query: the loop state and every label's counters (O(1) calls for any dataset size)."""
        items = self._query(_LOOP.partition)
        state = next((i for i in items if _LOOP.matches(i)), None)
        return _loop_state(state), _dataset(state, (i for i in items if _LABEL_COUNT.matches(i)))

    # -- detections ------------------------------------------------------------
    # Every write of an image touches only its own items and its shard of the day's counts (no item that
    # every image writes): a classified image is counted in the transaction that writes its record, so a
    # duplicate or a retry counts nothing; an image that waits (pending) is counted once it is detected.
    def record_detection(self, record: DetectionRecord, *, pending: bool = False) -> None:
        """Write a detection once, with its day's outcome count (a pending one: its place in the queue).
        Raises AlreadyDone if it exists."""
        if pending:
            self._transact([self._put(_key(_DETECTION, record.detection_id), _attributes(record)),
                            self._pending_item(record)])
            return
        self._transact([self._put(_key(_DETECTION, record.detection_id), _attributes(record)),
                        *self._counted(record, {f"outcome_{record.outcome}": 1})])

    def replace_pending(self, record: DetectionRecord, cursor: str) -> None:
        """A pending detection detected at last: overwrite the record, count it, drop the pending item
        (and a failure of an earlier replay). Raises AlreadyDone if it was replaced before."""
        self._transact([
            self._replace(record, "pending"),
            *self._counted(record, {f"outcome_{record.outcome}": 1, "replayed": 1}),
            {"Delete": {"TableName": self.name, "Key": self._pending_key(cursor)}},
            self._delete(_key(_FAILED, record.detection_id)),
        ])

    def replace_failed(self, record: DetectionRecord, failed: DetectionRecord, *, pending: bool = False) -> None:
        """A failed detection done at last (its event redelivered, or replayed): overwrite the record,
        move the failure's count to this outcome, drop it from the failed. Raises AlreadyDone if it is
        not failed (any more)."""
        counted = {} if pending else {f"outcome_{record.outcome}": 1}
        self._transact([
            self._replace(record, "failed"),
            *self._days((record.detected_at[:10], counted), (failed.detected_at[:10], {"outcome_failed": -1}),
                        shard_of=record.detection_id, detected_at=None if pending else record.detected_at),
            self._delete(_key(_FAILED, record.detection_id)),
            *([self._pending_item(record)] if pending else []),
        ])

    def _counted(self, record: DetectionRecord, counts: Mapping[str, int]) -> list[dict]:
        """A detected image's counts, on its shard of its day."""
        return self._days((record.detected_at[:10], counts), shard_of=record.detection_id,
                          detected_at=record.detected_at)

    def _replace(self, record: DetectionRecord, outcome: str) -> dict:
        """A put of the record over one whose outcome is ``outcome``."""
        return {"Put": {"TableName": self.name, "Item": _key(_DETECTION, record.detection_id) | _item(_attributes(record)),
                        "ConditionExpression": "#o = :was", "ExpressionAttributeNames": {"#o": "outcome"},
                        "ExpressionAttributeValues": {":was": {"S": outcome}}}}

    def _pending_item(self, record: DetectionRecord) -> dict:
        return self._put(self._pending_key(f"{record.detected_at}#{record.detection_id}"), {
            "detection_id": record.detection_id, "bucket": record.bucket, "key": record.key,
            "etag": record.etag, "version_id": record.version_id})

    @staticmethod
    def _pending_key(cursor: str) -> dict:
        """The key of a pending item: its shard is its detection id's."""
        detected_at, detection_id = cursor.split("#", 1)
        return _key(_PENDING, shards.shard(detection_id), detected_at, detection_id)

    def pending(self) -> list[PendingDetection]:
        """Every pending detection, oldest first (a Query per shard)."""
        return sorted((_pending(i) for part in shards.all_shards() for i in self._query(_pending_partition(part))),
                      key=lambda p: p.cursor)

    def waiting(self) -> Waiting:
        """How many images wait and when the first arrived: the oldest pending item and a count of each
        shard (a Query per shard and per 1 MB of keys)."""
        first = self.pending_page(None, 1)
        if not first:
            return Waiting()
        count = 0
        for part in shards.all_shards():
            kwargs: dict[str, Any] = {"TableName": self.name, "ConsistentRead": True, "Select": "COUNT",
                                      "KeyConditionExpression": "pk = :pk",
                                      "ExpressionAttributeValues": {":pk": {"S": _pending_partition(part)}}}
            while True:
                page = self._call("query", **kwargs)
                count += int(page.get("Count", 0))
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return Waiting(count, first[0].cursor.split("#", 1)[0])

    def pending_page(self, after: str | None, limit: int) -> list[PendingDetection]:
        """Up to ``limit`` pending detections after the cursor ``after``, oldest first: the first ``limit``
        of each shard (a Query each), merged."""
        values = {**({":after": {"S": after}} if after else {})}
        found: list[PendingDetection] = []
        for part in shards.all_shards():
            page = self._call("query", TableName=self.name, ConsistentRead=True, Limit=limit,
                              ExpressionAttributeValues=values | {":pk": {"S": _pending_partition(part)}},
                              KeyConditionExpression="pk = :pk" + (" AND sk > :after" if after else ""))
            found.extend(_pending(_plain(i)) for i in page.get("Items", []))
        return sorted(found, key=lambda p: p.cursor)[:limit]

    def detection(self, detection_id: str) -> DetectionRecord | None:
        item = self._get(_key(_DETECTION, detection_id))
        return None if item is None else _detection(item)

    def note_detection_failure(self, record: DetectionRecord, *, pending_cursor: str | None = None) -> str:
        """Record a failed detection and list it among the failed (``failed_detections``). Returns
        "recorded" (counted as failed on its day), "failed again" (a failed detection failed once
        more: counted once) or "noted" (an image detected before — a later step, the review start,
        failed; or waiting for a model — keeps its record and has the failure noted on it)."""
        what = {"bucket": record.bucket, "key": record.key, "etag": record.etag, "version_id": record.version_id,
                "reason": record.reason, "failed_at": record.detected_at, "pending_cursor": pending_cursor}
        failure = self._add(_key(_FAILED, record.detection_id), {"failures": 1},
                            {k: v for k, v in what.items() if v is not None}, removes=("replayed_at",))
        try:
            self._transact([self._put(_key(_DETECTION, record.detection_id), _attributes(record)),
                            *self._days((record.detected_at[:10], {"outcome_failed": 1}),
                                        shard_of=record.detection_id), failure])
            return "recorded"
        except AlreadyDone:
            existing = self.detection(record.detection_id)
        again = existing is not None and existing.outcome == "failed"
        noted = {"reason": record.reason} if again else {"failure": record.reason, "failed_at": record.detected_at}
        self._transact([self._add(_key(_DETECTION, record.detection_id), {}, noted), failure])
        return "failed again" if again else "noted"

    def failed_detections(self) -> list[DetectionFailure]:
        """Every detection that failed and was not done since, oldest failure first (one query, no scan)."""
        return sorted((_failure(i) for i in self._query(_FAILED.partition)), key=lambda f: f.failed_at or "")

    def claim_failed(self, detection_id: str, stale_before: str) -> bool:
        """Mark a failure as being replayed; False if it is not failed any more, or a replay started
        after ``stale_before`` is still under way."""
        try:
            self._update(_key(_FAILED, detection_id), {"replayed_at": now_iso()},
                         condition="attribute_exists(pk) AND (attribute_not_exists(replayed_at) "
                                   "OR replayed_at < :stale)", values={":stale": stale_before})
            return True
        except ConditionFailed:
            return False

    def unclaim_failed(self, detection_id: str) -> None:
        """A replay that could not be started: the failure is to replay again."""
        try:
            self._update(_key(_FAILED, detection_id), {}, condition="attribute_exists(pk)", removes=("replayed_at",))
        except ConditionFailed:
            pass  # done meanwhile

    def clear_failure(self, detection_id: str) -> None:
        """A failed detection found done (a redelivery had nothing left to do): no longer listed as failed."""
        self._call("delete_item", TableName=self.name, Key=_key(_FAILED, detection_id))

    def detections(self) -> Iterator[DetectionRecord]:
        """Every detection record (for export and backtests; not on any hot path)."""
        return (_detection(i) for i in self._scan(FilterExpression="sk = :det",
                                                  ExpressionAttributeValues={":det": {"S": _DETECTION.sk}}))

    def day_stats(self, day: str | None = None) -> DayStats:
        return self.days_stats([day or today()])[0]

    # -- reviews (A2I human loops and builtin review tasks) ------------------------------
    def record_review_started(self, task: ReviewTask) -> None:
        """The review, the day's review count and the detection's link, once (a failure of an
        earlier start is no longer listed); a builtin task also enters the open index. Raises
        AlreadyDone."""
        day = task.started_at[:10]
        items = [
            self._put(_key(_REVIEW, task.name), _attributes(task)),
            self._add(_key(_LOOP), {f"reviews_{day}": 1, "open_reviews": 1}),
            self._add(_key(_DAY, day), {f"reviews_started_{task.purpose}": 1}),
            self._add(_key(_DETECTION, task.detection_id), {}, {"human_loop": task.name, "review_status": "open"}),
            self._delete(_key(_FAILED, task.detection_id)),  # a failed start done at last
        ]
        if task.builtin:
            entry = {"name": task.name, "detection_id": task.detection_id, "purpose": task.purpose,
                     "image_uri": task.image_uri, "image_version": task.image_version, "reason": task.reason,
                     "model_labels": task.model_labels, "expires_at": task.expires_at}
            items.append(self._put(self._open_key(task), entry))
        self._transact(items)

    def review(self, name: str) -> ReviewTask | None:
        item = self._get(_key(_REVIEW, name))
        return None if item is None else _review(item)

    def review_with_answers(self, name: str) -> TaskWithAnswers | None:
        """A review with its answers and skips: one Query of its partition."""
        return _task_with_answers(self._query(_REVIEW.key(name)["pk"]))

    def record_review_finished(self, name: str, detection_id: str, status: str, details: Mapping[str, Any], *,
                               closing: Closing | None = None, copy: PendingCopy | None = None) -> None:
        """Close an open review once (accepted, rejected, audited, unresolved, expired, deleted) and
        count it. ``copy``: the image copy an accepted review licenses, noted as pending in the same
        transaction — this write is the claim; the copy follows it (:meth:`copy_done`). A builtin
        task's ``closing`` also takes it out of the open index with the answer that closes it —
        refused while another reviewer holds the lease (TaskLeased), or when another answer came
        since the task was read (TaskChanged) — and counts the reviewers' agreement. Raises
        AlreadyDone if it was closed before (AlreadyAnswered: this reviewer answered it before)."""
        at = details.get("finished_at") or now_iso()
        answer = closing.answer if closing else None
        items: list[dict] = []
        guards: dict[int, type[ConditionFailed]] = {}

        def add(item: dict, guard: type[ConditionFailed] | None = None) -> None:
            if guard:
                guards[len(items)] = guard
            items.append(item)

        if answer:
            add(self._answer_item(answer), AlreadyAnswered)
        update = {"TableName": self.name, "Key": _key(_REVIEW, name), "UpdateExpression": "SET #st = :st, #d = :d",
                  "ConditionExpression": "#st = :open", "ExpressionAttributeNames": {"#st": "status", "#d": "result"},
                  "ExpressionAttributeValues": {":st": {"S": status}, ":open": {"S": "open"},
                                                ":d": _ser.serialize(to_dynamo(dict(details)))}}
        if copy:
            update["UpdateExpression"] += ", #cp = :pending"
            update["ExpressionAttributeNames"]["#cp"] = "copy"
            update["ExpressionAttributeValues"][":pending"] = {"S": "pending"}
        if answer:  # still the answers it was decided with
            given = closing.task.answers or 0
            update["UpdateExpression"] += ", #n = :n1"
            update["ConditionExpression"] += " AND (#n = :n OR attribute_not_exists(#n))" if not given else " AND #n = :n"
            update["ExpressionAttributeNames"]["#n"] = "answers"
            update["ExpressionAttributeValues"] |= {":n": {"N": str(given)}, ":n1": {"N": str(given + 1)}}
        add({"Update": update}, TaskChanged if answer else AlreadyDone)
        day_moves = {f"reviews_{status}": 1}
        if closing:
            entry = {"TableName": self.name, "Key": self._open_key(closing.task)}
            add({"Delete": entry | (self._lease_free(answer.reviewer, at) if answer else {})}, TaskLeased)
            moves: dict[str, dict[str, int]] = {r: {"agreed" if agreed else "disagreed": 1}
                                                for r, agreed in closing.agreement.items()}
            if answer:
                moves[answer.reviewer] = moves.get(answer.reviewer, {}) | {"answers": 1}
                day_moves["review_answers"] = 1
            for reviewer, counts in moves.items():
                named = {"name": answer.reviewer_name} if answer and reviewer == answer.reviewer and answer.reviewer_name else None
                add(self._add(_key(_REVIEWER, reviewer), counts, named))
        add(self._add(_key(_LOOP), {"open_reviews": -1}))
        add(self._add(_key(_DAY, at[:10]), day_moves))
        add(self._add(_key(_DETECTION, detection_id), {}, {"review_status": status,
                                                          "human_label": details.get("label") or "-"}))
        if copy:
            add(self._put(_key(_COPY, name), _attributes(replace(copy, accepted_at=at))))
        self._transact(items, guards)

    # -- the copies accepted reviews license --------------------------------------------------
    def copy_done(self, copy: PendingCopy) -> None:
        """The copy is made: no longer pending, and a training image (not a gate-set one) counted —
        unless its own S3 event counted it a moment ago. Raises CopyWithdrawn when the copy is not
        pending any more: its image was deleted or forgotten meanwhile (the copy must go), or another
        caller completed it (see the review's ``copy``)."""
        items = [
            {"Delete": {"TableName": self.name, "Key": _key(_COPY, copy.review), "ConditionExpression": "attribute_exists(pk)"}},
            self._add(_key(_REVIEW, copy.review), {}, {"copy": "done"}),
        ]
        counted = [self._put(_key(_TRAINING_IMAGE, copy.target), {"label": copy.label, "at": now_iso()}),
                   self._add(_key(_LABEL_COUNT, copy.label), {"count": 1})] if not copy.gate_set else []
        try:
            self._transact(items + counted, {0: CopyWithdrawn, 2: TrainingImageCounted})
        except TrainingImageCounted:
            self._transact(items, {0: CopyWithdrawn})

    def pending_copies(self, limit: int, accepted_before: str | None = None) -> list[PendingCopy]:
        """Copies accepted reviews license that are not made yet (accepted before ``accepted_before``):
        one Query of up to ``limit``."""
        values = {":pk": {"S": _COPY.partition}}
        options: dict[str, Any] = {}
        if accepted_before:
            values[":before"] = {"S": accepted_before}
            options = {"FilterExpression": "accepted_at < :before"}
        page = self._call("query", TableName=self.name, ConsistentRead=True, Limit=limit,
                          KeyConditionExpression="pk = :pk", ExpressionAttributeValues=values, **options)
        return [_pending_copy(_plain(i)) for i in page.get("Items", [])]

    def pending_copy(self, review: str) -> PendingCopy | None:
        item = self._get(_key(_COPY, review))
        return None if item is None else _pending_copy(item)

    def withdraw_review(self, task: ReviewTask, reason: str) -> str | None:
        """A review whose image its uploader deleted: an open one closes as ``deleted``; an accepted one
        whose copy is still pending becomes ``deleted`` and its copy is not made (the day's accepted
        count moves to deleted). Returns the status it had, or None when there was nothing to withdraw
        (closed otherwise, or its copy made: :meth:`copy_removed` is for those)."""
        at = now_iso()
        was, day = task.status, (task.result or {}).get("finished_at", at)[:10]
        result = dict(task.result or {}) | {"reason": reason, "finished_at": at} if was == "open" else \
            dict(task.result or {}) | {"reason": f"{reason} (accepted as {(task.result or {}).get('label')!r} first)",
                                       "withdrawn_at": at}
        update = {"Update": {"TableName": self.name, "Key": _key(_REVIEW, task.name),
                             "UpdateExpression": "SET #st = :deleted, #d = :d",
                             "ExpressionAttributeNames": {"#st": "status", "#d": "result"},
                             "ExpressionAttributeValues": {":deleted": {"S": "deleted"}, ":was": {"S": was},
                                                           ":d": _ser.serialize(to_dynamo(result))}}}
        detection = self._add(_key(_DETECTION, task.detection_id), {}, {"review_status": "deleted"})
        if was == "open":
            update["Update"]["ConditionExpression"] = "#st = :was"
            items = [update, detection, self._add(_key(_LOOP), {"open_reviews": -1}),
                     self._add(_key(_DAY, at[:10]), {"reviews_deleted": 1})]
            if task.builtin:
                items.append(self._delete(self._open_key(task)))
        elif was == "accepted" and task.copy == "pending":
            update["Update"]["ConditionExpression"] = "#st = :was AND #cp = :pending"
            update["Update"]["UpdateExpression"] += " REMOVE #cp"
            update["Update"]["ExpressionAttributeNames"]["#cp"] = "copy"
            update["Update"]["ExpressionAttributeValues"][":pending"] = {"S": "pending"}
            items = [update, detection, self._delete(_key(_COPY, task.name)),
                     self._add(_key(_DAY, day), {"reviews_accepted": -1, "reviews_deleted": 1})]
        else:
            return None
        try:
            self._transact(items)
        except AlreadyDone:
            return None  # it changed meanwhile: the caller reads it again
        return was

    def copy_removed(self, task: ReviewTask, target: str, label: str, reason: str, *, gate_set: bool) -> None:
        """An accepted review's copy was deleted (its image was forgotten): the review says so, and a
        training image is uncounted (if it was counted: its S3 event may have done it already)."""
        at = now_iso()
        items = [self._add(_key(_REVIEW, task.name), {}, {"copy": "removed", "removed_at": at, "removed_reason": reason}),
                 self._add(_key(_DETECTION, task.detection_id), {}, {"forgotten_at": at}),
                 self._add(_key(_DAY, at[:10]), {"copies_removed": 1})]
        counted = [{"Delete": {"TableName": self.name, "Key": _key(_TRAINING_IMAGE, target),
                               "ConditionExpression": "attribute_exists(pk)"}},
                   self._add(_key(_LABEL_COUNT, label), {"count": -1})] if not gate_set else []
        try:
            self._transact(items + counted, {3: TrainingImageCounted})
        except TrainingImageCounted:  # not counted (or uncounted by its delete event already)
            self._transact(items)

    # -- builtin review tasks ----------------------------------------------------------------
    def open_tasks(self, reviewer: str, at: str, limit: int, after: str | None = None,
                   exclude: Iterable[str] = ()) -> OpenTaskPage:
        """The next ``limit`` entries of the open index in serving order (after the cursor ``after``),
        less those ``reviewer`` answered or skipped, those past their lifetime at ``at`` (the sweep
        expires them) and the tasks named in ``exclude``: one Query, however many tasks are open.
        Entries leased to other reviewers are among them (the caller passes them over, and learns
        from them how many reviewers are at work)."""
        names = {"#seen": "seen", "#exp": "expires_at"}
        values = {":pk": {"S": _OPEN_TASK.partition}, ":at": {"S": at}, ":me": {"S": reviewer}}
        condition = "NOT contains(#seen, :me) AND #exp > :at"
        excluded = sorted(set(exclude))
        if excluded:
            names["#n"] = "name"
            values |= {f":x{i}": {"S": name} for i, name in enumerate(excluded)}
            condition += f" AND NOT (#n IN ({', '.join(f':x{i}' for i in range(len(excluded)))}))"
        page = self._call(
            "query", TableName=self.name, ConsistentRead=True, Limit=limit,
            KeyConditionExpression="pk = :pk", FilterExpression=condition,
            ExpressionAttributeNames=names, ExpressionAttributeValues=values,
            **({"ExclusiveStartKey": _key(_OPEN_TASK, *after.split("#", 2))} if after else {}))
        last = page.get("LastEvaluatedKey")
        return OpenTaskPage(tuple(_open_task(_plain(i)) for i in page.get("Items", [])),
                            _plain(last)["sk"] if last else None)

    def open_task_overview(self, at: str, max_pages: int) -> OpenTaskOverview:
        """Count the open index, find its oldest entry and those expired by ``at``: Queries of the
        few attributes needed (about 5 000 entries a page), at most ``max_pages``."""
        count, oldest, expired, after = 0, None, [], None
        for _ in range(max_pages):
            page = self._call(
                "query", TableName=self.name, KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": _OPEN_TASK.partition}},
                ProjectionExpression="pk, sk, #n, detection_id, purpose, image_uri, expires_at",
                ExpressionAttributeNames={"#n": "name"}, **({"ExclusiveStartKey": after} if after else {}))
            for entry in (_open_task(_plain(i)) for i in page.get("Items", [])):
                if entry.expires_at <= at:
                    expired.append(entry)
                    continue
                count += 1
                opened = entry.cursor.split("#", 2)[1]
                oldest = opened if oldest is None or opened < oldest else oldest
            after = page.get("LastEvaluatedKey")
            if not after:
                return OpenTaskOverview(count, oldest, tuple(expired))
        return OpenTaskOverview(count, oldest, tuple(expired), complete=False)

    def lease_task(self, task: ReviewTask | OpenTask, reviewer: str, at: str, until: str) -> None:
        """Lease an open task to ``reviewer`` until ``until``, on its entry in the open index and on
        its record (one transaction); raises TaskLeased if another reviewer holds it, or this one
        answered or skipped it, and TaskClosed if it is not open."""
        free = self._lease_free(reviewer, at)
        lease = {":me": {"S": reviewer}, ":until": {"S": until}}
        try:
            self._transact([
                {"Update": {"TableName": self.name, "Key": self._open_key(task),
                            "UpdateExpression": "SET #lr = :me, #lu = :until",
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                            "ConditionExpression": f"attribute_exists(pk) AND ({free['ConditionExpression']}) "
                                                   "AND NOT contains(#seen, :me)",
                            "ExpressionAttributeNames": free["ExpressionAttributeNames"] | {"#seen": "seen"},
                            "ExpressionAttributeValues": free["ExpressionAttributeValues"] | lease}},
                {"Update": {"TableName": self.name, "Key": _key(_REVIEW, task.name),
                            "UpdateExpression": "SET #lr = :me, #lu = :until", "ConditionExpression": "#st = :open",
                            "ExpressionAttributeNames": {"#lr": "lease_reviewer", "#lu": "lease_until", "#st": "status"},
                            "ExpressionAttributeValues": lease | {":open": {"S": "open"}}}},
            ], {0: TaskLeased, 1: TaskClosed})
        except TaskLeased as exc:
            if exc.item is None:  # no entry in the open index: the task closed
                raise TaskClosed(f"task {task.name} is not open") from exc
            raise

    def record_task_answer(self, task: ReviewTask, answer: TaskAnswer, *, wanted: int) -> None:
        """An answer that leaves the task open, now wanting ``wanted`` answers: the answer once, the
        task's count — still the count it was read with, else TaskChanged —, the reviewer seen and
        their lease let go (refused while another reviewer holds it: TaskLeased), the reviewer's and
        the day's count. Raises AlreadyAnswered, TaskClosed."""
        given = task.answers or 0
        self._transact([
            self._answer_item(answer),
            {"Update": {"TableName": self.name, "Key": _key(_REVIEW, task.name),
                        "UpdateExpression": "SET #n = :n1, #w = :w REMOVE lease_reviewer, lease_until",
                        "ConditionExpression": "#st = :open AND (#n = :n OR attribute_not_exists(#n))"
                                               if not given else "#st = :open AND #n = :n",
                        "ExpressionAttributeNames": {"#st": "status", "#n": "answers", "#w": "reviewers"},
                        "ExpressionAttributeValues": {":open": {"S": "open"}, ":n": {"N": str(given)},
                                                      ":n1": {"N": str(given + 1)}, ":w": {"N": str(wanted)}}}},
            self._seen(task, answer.reviewer, answer.answered_at),
            self._add(_key(_REVIEWER, answer.reviewer), {"answers": 1},
                      {"name": answer.reviewer_name} if answer.reviewer_name else None),
            self._add(_key(_DAY, answer.answered_at[:10]), {"review_answers": 1}),
        ], {0: AlreadyAnswered, 1: TaskChanged, 2: TaskLeased})

    def skip_task(self, task: ReviewTask, reviewer: str, at: str) -> None:
        """``reviewer`` skips an open task: never served it again; their lease is let go. Raises
        AlreadyAnswered (skipped before), TaskClosed."""
        skip = self._put(_key(_TASK_SKIP, task.name, reviewer), {"reviewer": reviewer, "at": at})
        count = self._add(_key(_REVIEWER, reviewer), {"skips": 1})
        release = self._add(_key(_REVIEW, task.name), {}, removes=("lease_reviewer", "lease_until"))
        try:
            self._transact([skip, self._seen(task, reviewer, at), release, count], {0: AlreadyAnswered, 1: TaskLeased})
        except TaskLeased:  # another reviewer holds the lease (or the task closed): only note this one as seen
            seen = {"Update": {"TableName": self.name, "Key": self._open_key(task), "UpdateExpression": "ADD #seen :seen",
                               "ConditionExpression": "attribute_exists(pk)", "ExpressionAttributeNames": {"#seen": "seen"},
                               "ExpressionAttributeValues": {":seen": {"SS": [reviewer]}}}}
            self._transact([skip, seen, count], {0: AlreadyAnswered, 1: TaskClosed})

    def expire_review_tasks(self, entries: Iterable[OpenTask | ReviewTask], at: str) -> int:
        """Close open tasks whose lifetime ended before ``at`` as expired, in one transaction that
        moves the counters once; returns how many (0, and nothing changes, when one of them was
        closed meanwhile: the next sweep finds the others)."""
        expired = [e for e in entries if e.expires_at <= at][:MAX_EXPIRED_PER_CALL]
        if not expired:
            return 0
        result = _ser.serialize(to_dynamo({"reason": "no answer within the task's lifetime", "finished_at": at}))
        items: list[dict] = []
        for entry in expired:
            items += [
                {"Update": {"TableName": self.name, "Key": _key(_REVIEW, entry.name),
                            "UpdateExpression": "SET #st = :st, #d = :d", "ConditionExpression": "#st = :open",
                            "ExpressionAttributeNames": {"#st": "status", "#d": "result"},
                            "ExpressionAttributeValues": {":st": {"S": "expired"}, ":open": {"S": "open"},
                                                          ":d": result}}},
                self._delete(self._open_key(entry)),
                self._add(_key(_DETECTION, entry.detection_id), {}, {"review_status": "expired", "human_label": "-"}),
            ]
        items += [self._add(_key(_LOOP), {"open_reviews": -len(expired)}),
                  self._add(_key(_DAY, at[:10]), {"reviews_expired": len(expired)})]
        try:
            self._transact(items)
        except AlreadyDone:
            return 0
        return len(expired)

    def reviewer_stats(self, reviewer: str) -> ReviewerStats:
        return _reviewer_stats(reviewer, self._get(_key(_REVIEWER, reviewer)))

    def reviewers(self) -> list[ReviewerStats]:
        """Every reviewer's counts (one partition: a Query, however large the table), most answers first."""
        items = self._query(_REVIEWER.partition)
        return sorted((_reviewer_stats(i["sk"], i) for i in items), key=lambda r: (-r.answers, r.reviewer))

    def _open_key(self, task: ReviewTask | OpenTask) -> dict:
        cursor = task.cursor if isinstance(task, OpenTask) else task.open_cursor
        return _key(_OPEN_TASK, *cursor.split("#", 2))

    def _answer_item(self, answer: TaskAnswer) -> dict:
        return self._put(_key(_TASK_ANSWER, answer.task, answer.reviewer),
                         {"reviewer": answer.reviewer, "label": answer.label, "answered_at": answer.answered_at})

    @staticmethod
    def _lease_free(reviewer: str, at: str) -> dict:
        """The condition that no other reviewer holds the lease at ``at``."""
        return {"ConditionExpression": "attribute_not_exists(#lu) OR #lu < :at OR #lr = :me",
                "ExpressionAttributeNames": {"#lu": "lease_until", "#lr": "lease_reviewer"},
                "ExpressionAttributeValues": {":at": {"S": at}, ":me": {"S": reviewer}}}

    def _seen(self, task: ReviewTask, reviewer: str, at: str) -> dict:
        """The open entry notes ``reviewer`` (answered or skipped) and drops their lease; refused while
        another reviewer holds it, or when the task left the index."""
        free = self._lease_free(reviewer, at)
        return {"Update": {"TableName": self.name, "Key": self._open_key(task),
                           "UpdateExpression": "ADD #seen :seen REMOVE #lu, #lr",
                           "ConditionExpression": f"attribute_exists(pk) AND ({free['ConditionExpression']})",
                           "ExpressionAttributeNames": free["ExpressionAttributeNames"] | {"#seen": "seen"},
                           "ExpressionAttributeValues": free["ExpressionAttributeValues"] | {
                               ":seen": {"SS": [reviewer]}}}}

    def record_output_rejected(self, output_key: str, reason: str) -> bool:
        """Remember a rejected A2I output once; False if it was rejected before."""
        try:
            self._transact([
                self._put(_key(_REJECTED_OUTPUT, output_key), {"reason": reason, "at": now_iso()}),
                self._add(_key(_DAY, today()), {"outputs_rejected": 1}),
            ])
            return True
        except AlreadyDone:
            return False

    # -- training images and counters ----------------------------------------
    def add_training_image(self, key: str, label: str) -> bool:
        """Count a training image once per key; False if it was counted before."""
        try:
            self._transact([
                self._put(_key(_TRAINING_IMAGE, key), {"label": label, "at": now_iso()}),
                self._add(_key(_LABEL_COUNT, label), {"count": 1}),
            ])
            return True
        except AlreadyDone:
            return False

    def remove_training_image(self, key: str, label: str) -> bool:
        """Uncount a deleted training image; False if it was not counted."""
        try:
            self._transact([
                {"Delete": {"TableName": self.name, "Key": _key(_TRAINING_IMAGE, key),
                            "ConditionExpression": "attribute_exists(pk)"}},
                self._add(_key(_LABEL_COUNT, label), {"count": -1}),
            ])
            return True
        except AlreadyDone:
            return False

    def set_counts(self, counts: Mapping[str, int]) -> None:
        """Reconcile the per-label counters with a listing of the training folders."""
        for label, count in counts.items():
            self._update(_key(_LABEL_COUNT, label), {"count": count, "reconciled_at": now_iso()})

    def mark_seen(self, counts: Mapping[str, int]) -> None:
        """Images per label that a finished training saw (deployed or not): 'new' is counted from here."""
        self._update(_key(_LOOP), {"trained_counts": dict(counts)})

    def mark_trained(self, counts: Mapping[str, int]) -> None:
        """A training finished and its version was deployed: its images are the baseline, and now is
        the last training."""
        self._update(_key(_LOOP), {"trained_counts": dict(counts), "trained_at": now_iso()})

    # -- model lifecycle -------------------------------------------------------
    def take_training_lock(self, owner: str, decision: Mapping[str, Any], stale_before: str | None = None) -> str:
        """Take the lock and number the next version; raises LockHeld if a training holds it.
        A lock taken before ``stale_before`` (its run can no longer be running) is taken over."""
        at = now_iso()
        condition, values = "attribute_not_exists(training_owner)", {}
        if stale_before:
            condition += " OR training_started_at < :stale"
            values[":stale"] = {"S": stale_before}
        try:
            item = self._call(
                "update_item", TableName=self.name, Key=_key(_LOOP),
                UpdateExpression="SET training_owner = :o, training_started_at = :t, last_training_decision = :d "
                                 "REMOVE training_version, strays ADD versions :one",
                ConditionExpression=condition,
                ExpressionAttributeValues={":o": {"S": owner}, ":t": {"S": at}, ":one": {"N": "1"}, **values,
                                           ":d": _ser.serialize(to_dynamo(dict(decision) | {"at": at}))},
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if aws.error_code(exc) != "ConditionalCheckFailedException":
                raise
            loop = self.loop()
            if loop.training_owner == owner:  # this call took it already: the response to a retried write was lost
                return loop.training_version or f"v{loop.versions}"
            raise LockHeld("a training holds the lock") from exc
        return f"v{int(_plain(item['Attributes'])['versions'])}"

    def set_training_version(self, owner: str, version: str) -> None:
        """Name the version this run trains; raises LockHeld if the lock is not this run's."""
        self._update(_key(_LOOP), {"training_version": version}, condition="training_owner = :o",
                     values={":o": owner}, conflict=LockHeld)

    def record_training_decision(self, decision: Mapping[str, Any]) -> None:
        self._update(_key(_LOOP), {"last_training_decision": dict(decision) | {"at": now_iso()}})

    def release_training_lock(self, owner: str) -> bool:
        try:
            self._update(_key(_LOOP), {}, condition="training_owner = :o", values={":o": owner},
                         removes=("training_owner", "training_version", "training_started_at", "strays"),
                         conflict=LockHeld)
            return True
        except LockHeld:
            return False  # already released (a retried cleanup) or taken by another run

    def keep_lock_for_strays(self, owner: str, strays: Mapping[str, str]) -> bool:
        """The run ends with models it could not stop (version -> ARN): its lock stays, naming them, until
        a later run has stopped them. False if the lock is not this run's."""
        try:
            self._update(_key(_LOOP), {"strays": dict(strays)}, condition="training_owner = :o",
                         values={":o": owner}, conflict=LockHeld)
            return True
        except LockHeld:
            return False

    def switch_active(self, version: str, arn: str, f1: float | None, expected_version: str | None) -> dict:
        """Compare-and-swap the active model pointer; raises ActiveModelMoved if it moved since
        ``expected_version``."""
        loop = self.loop()
        if loop.active_version != expected_version:
            raise ActiveModelMoved(f"active model is {loop.active_version}, expected {expected_version}")
        condition = "attribute_not_exists(active_version)" if expected_version is None else "active_version = :expected"
        values = {} if expected_version is None else {":expected": expected_version}
        self._update(_key(_LOOP), {
            "active_version": version, "active_arn": arn, "active_f1": f1, "switched_at": now_iso(),
            "previous_version": loop.active_version or "", "previous_arn": loop.active_arn or "",
        }, condition=condition, values=values, conflict=ActiveModelMoved)
        return {"previous_version": loop.active_version, "previous_arn": loop.active_arn}

    def update_model(self, version: str, **changes: Any) -> ModelVersion:
        """Set fields of a version's record (``ModelVersion``'s names; None clears one)."""
        unknown = set(changes) - {f.name for f in fields(ModelVersion)} - {"version"}
        if unknown:
            raise TypeError(f"ModelVersion has no field {', '.join(sorted(unknown))}")
        return _model(self._update(_key(_MODEL, version), changes | {"version": version, "updated_at": now_iso()}))

    def model(self, version: str | None) -> ModelVersion | None:
        item = self._get(_key(_MODEL, version)) if version else None
        return None if item is None else _model(item)

    def models(self) -> list[ModelVersion]:
        """Every numbered version's record, oldest first (one read each: versions are v1 … v<versions>)."""
        count = self.loop().versions
        return [m for m in (self.model(f"v{n}") for n in range(1, count + 1)) if m is not None]
    # -- serving: the claim, the periods a version ran (the cost ledger) -------------------------
    def claim_serving(self, action: str, version: str, stale_before: str, *, training_free: bool) -> bool:
        """Claim a serving action (``start``, ``stop``) on the active model ``version``: one at a time
        (a claim older than ``stale_before`` is taken over), only while the pointer still names the
        version and, with ``training_free``, while no lifecycle run holds the training lock. False
        when the claim is refused."""
        condition = ("active_version = :v AND (attribute_not_exists(serving_claim_at) OR serving_claim_at < :stale)"
                     + (" AND attribute_not_exists(training_owner)" if training_free else ""))
        try:
            self._update(_key(_LOOP), {"serving_claim": action, "serving_claim_at": now_iso()}, condition=condition,
                         values={":v": version, ":stale": stale_before})
            return True
        except ConditionFailed:
            return False

    def release_serving(self, action: str) -> None:
        """The serving action is done (or failed): the next one may be claimed."""
        try:
            self._update(_key(_LOOP), {}, condition="serving_claim = :a", values={":a": action},
                         removes=("serving_claim", "serving_claim_at"))
        except ConditionFailed:
            pass  # released already, or another claim took over a stale one

    def record_serving_decision(self, decision: Mapping[str, Any]) -> None:
        self._update(_key(_LOOP), {"last_serving_decision": dict(decision) | {"at": now_iso()}})

    # -- admission at the model's capacity: the backlog and its drain ----------------------------
    def mark_backlog(self, at: str) -> bool:
        """Images wait for the running model's capacity from ``at`` on (detections park at once until the
        drain has caught up). True for the call that marked it, False when it was marked already."""
        try:
            self._update(_key(_LOOP), {"backlog_since": at}, condition="attribute_not_exists(backlog_since)")
            return True
        except ConditionFailed:
            return False

    def claim_drain(self, owner: str, until: str, now: str) -> bool:
        """Take the drain of the waiting images until ``until`` (one serving look at a time); False while
        another look holds it."""
        try:
            self._update(_key(_LOOP), {"drain_owner": owner, "drain_until": until},
                         condition="attribute_not_exists(drain_until) OR drain_until < :now OR drain_owner = :o",
                         values={":now": now, ":o": owner})
            return True
        except ConditionFailed:
            return False

    def release_drain(self, owner: str, rate: float | None, *, drained: bool) -> None:
        """Give the drain up, with the rate it measured (detections a second per inference unit);
        ``drained``: no image waits any more, so the backlog ends."""
        removes = ("drain_owner", "drain_until", *(("backlog_since",) if drained else ()))
        try:
            self._update(_key(_LOOP), {"drain_rate": rate} if rate else {}, condition="drain_owner = :o",
                         values={":o": owner}, removes=removes)
        except ConditionFailed:
            pass  # its lease ran out and another look took the drain over

    def open_serving_period(self, version: str, units: int, at: str, max_units: int | None = None) -> bool:
        """The version runs (and bills) from ``at``: its period opens once; False if one is open."""
        cursor = f"{at}#{version}"
        try:
            self._transact([
                self._put(_key(_SERVING, at, version), {"version": version, "units": units, "start": at,
                                                        "max_units": max_units}),
                {"Update": {"TableName": self.name, "Key": _key(_MODEL, version),
                            "UpdateExpression": "SET serving_since = :c, version = :v",
                            "ConditionExpression": "attribute_not_exists(serving_since)",
                            "ExpressionAttributeValues": {":c": {"S": cursor}, ":v": {"S": version}}}},
            ])
            return True
        except AlreadyDone:
            return False

    def close_serving_period(self, version: str, at: str) -> bool:
        """The version stopped billing at ``at``: its open period closes once; False if none was open."""
        record = self.model(version)
        if record is None or not record.serving_since:
            return False
        start, _ = record.serving_since.split("#", 1)
        try:
            self._transact([
                {"Update": {"TableName": self.name, "Key": _key(_SERVING, start, version),
                            "UpdateExpression": "SET #u = :u", "ConditionExpression": "attribute_not_exists(#u)",
                            "ExpressionAttributeNames": {"#u": "until"},
                            "ExpressionAttributeValues": {":u": {"S": max(at, start)}}}},
                {"Update": {"TableName": self.name, "Key": _key(_MODEL, version),
                            "UpdateExpression": "REMOVE serving_since", "ConditionExpression": "serving_since = :c",
                            "ExpressionAttributeValues": {":c": {"S": record.serving_since}}}},
            ])
            return True
        except AlreadyDone:
            return False

    def open_training_period(self, version: str, at: str) -> bool:
        """The version trains (and bills) from ``at``; False if its training was recorded before."""
        try:
            self._transact([self._put(_key(_TRAINING, at, version), {"version": version, "start": at})])
            return True
        except AlreadyDone:
            return False

    def close_training_period(self, version: str, started_at: str, at: str) -> bool:
        """The training that started at ``started_at`` ended at ``at``, once; False if it was closed before
        (or never recorded)."""
        try:
            self._update(_key(_TRAINING, started_at, version), {"until": max(at, started_at)},
                         condition="attribute_exists(pk) AND attribute_not_exists(#until)")
            return True
        except ConditionFailed:
            return False

    def serving_periods(self) -> list[ServingPeriod]:
        """Every period a version ran, oldest first."""
        return self.ledger_periods()[0]

    def ledger_periods(self) -> tuple[list[ServingPeriod], list[TrainingPeriod]]:
        """The cost ledger's records, oldest first: the periods versions ran, and the trainings (one query)."""
        items = self._query(_SERVING.partition)
        return ([_serving_period(i) for i in items if _SERVING.matches(i)],
                [TrainingPeriod(**_fields(TrainingPeriod, i)) for i in items if _TRAINING.matches(i)])

    def days_stats(self, days: Iterable[str]) -> list[DayStats]:
        """The counters of several days, in the order asked: each day's item and its shares (a
        BatchGetItem per 100 keys: about six days a call)."""
        days = list(days)
        keys = [k for d in days for k in (_key(_DAY, d), *(_key(_DAY_SHARD, d, p) for p in shards.all_shards()))]
        items: list[dict] = []
        for first in range(0, len(keys), 100):
            request = {self.name: {"Keys": keys[first:first + 100], "ConsistentRead": True}}
            while request:
                page = self._call("batch_get_item", RequestItems=request)
                items.extend(_plain(i) for i in page.get("Responses", {}).get(self.name, []))
                request = page.get("UnprocessedKeys") or {}
        found = _days_of(items)
        return [found.get(d) or DayStats(d) for d in days]

    # -- operator parameters -------------------------------------------------------
    def first_alert(self, name: str, value: str, message: str) -> bool:
        """True the first time this problem (e.g. this invalid value of this parameter) is seen."""
        try:
            self._transact([self._put(_key(_ALERT, name, value[:512] or "<empty>"),
                                      {"message": message, "at": now_iso()})])
            return True
        except AlreadyDone:
            return False

    def record_parameter_change(self, parameter: str, operation: str, value: str, schedule: str | None = None) -> None:
        change = {"parameter": parameter, "operation": operation, "value": value, "schedule": schedule}
        self._update(_key(_PARAMETER_CHANGE, now_iso()), {k: v for k, v in change.items() if v is not None})

    def parameter_changes(self) -> list[ParameterChange]:
        """Every recorded parameter change, oldest first."""
        return [_parameter_change(i) for i in self._query(_PARAMETER_CHANGE.partition)]
