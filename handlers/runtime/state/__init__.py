"""The state table: every piece of operational state, with conditional writes.

One DynamoDB table (``pk``/``sk`` strings), one package: the only code that
knows the table's keys, item types and attribute names. Callers speak in the
records below and in methods named for what they do, and import every name from
here. Inside: ``items`` (the key schema and the item map), ``codec`` (values to
attributes and back), ``conditions`` (why a conditional write did not happen),
``records`` (the typed records and how each is read), ``base`` (the generic
calls), one part of the table per concern (``detections``, ``reviews``,
``copies``, ``review_tasks`` — the builtin review app's —, ``training_data``,
``lifecycle``, ``serving`` with the cost ledger, ``alerts``, ``overview``: the
reads they share) and ``table``, where ``StateTable`` is composed of them. Each write that must
happen once (a detection record, a human loop, a training image) is a
conditional put inside a transaction with the counters it moves, so duplicate
delivery changes nothing and counters never drift. botocore retries a call
DynamoDB throttles; a transaction cancelled for throttling or a concurrent
transaction is sent again here, within the same few attempts (a failed condition
is the guard working, never retried); what still fails reaches the function's
caller under a name its retries match.

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

from ..aws import CALL_ATTEMPTS
from ..backoff import CALL_BASE_DELAY, CALL_MAX_DELAY
from ..clock import from_iso, iso, now_iso, today, utcnow
from .codec import attribute_values, from_dynamo, plain_item, put_items, to_dynamo
from .conditions import (
    ActiveModelMoved,
    AlreadyAnswered,
    AlreadyDone,
    ConditionFailed,
    CopyWithdrawn,
    LockHeld,
    TaskChanged,
    TaskClosed,
    TaskLeased,
    TrainingImageCounted,
)
from .items import (
    ITEM_TYPES,
    KEY_SCHEMA,
    PRIORITY_STEPS,
    TASK_CURSOR,
    ItemType,
    item_type,
    table_definition,
    task_cursor,
)
from .records import (
    Closing,
    Dataset,
    DayStats,
    DetectionFailure,
    DetectionRecord,
    LoopState,
    ModelVersion,
    OpenTask,
    OpenTaskOverview,
    OpenTaskPage,
    ParameterChange,
    PendingCopy,
    PendingDetection,
    ReviewerStats,
    ReviewTask,
    ServingPeriod,
    Snapshot,
    TaskAnswer,
    TaskWithAnswers,
    TrainingPeriod,
    Waiting,
)
from .review_tasks import MAX_EXPIRED_PER_CALL
from .table import StateTable

__all__ = [
    # the clock's names and the retries of every call, as callers knew them here
    "CALL_ATTEMPTS", "CALL_BASE_DELAY", "CALL_MAX_DELAY", "from_iso", "iso", "now_iso", "today", "utcnow",
    # items and codec
    "ITEM_TYPES", "KEY_SCHEMA", "PRIORITY_STEPS", "TASK_CURSOR", "ItemType", "attribute_values", "from_dynamo",
    "item_type", "plain_item", "put_items", "table_definition", "task_cursor", "to_dynamo",
    # why a conditional write did not happen
    "ActiveModelMoved", "AlreadyAnswered", "AlreadyDone", "ConditionFailed", "CopyWithdrawn", "LockHeld",
    "TaskChanged", "TaskClosed", "TaskLeased", "TrainingImageCounted",
    # records
    "Closing", "Dataset", "DayStats", "DetectionFailure", "DetectionRecord", "LoopState", "ModelVersion", "OpenTask",
    "OpenTaskOverview", "OpenTaskPage", "ParameterChange", "PendingCopy", "PendingDetection", "ReviewTask",
    "ReviewerStats", "ServingPeriod", "Snapshot", "TaskAnswer", "TaskWithAnswers", "TrainingPeriod", "Waiting",
    # the table
    "MAX_EXPIRED_PER_CALL", "StateTable",
]
