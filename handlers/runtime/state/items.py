"""The table's shape: its key schema and the item map, every kind of item with its key (``<…>`` marks a
variable part) and what it holds; and the open index's sort key."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Mapping

KEY_SCHEMA = (("pk", "S", "HASH"), ("sk", "S", "RANGE"))
_VARIABLE = re.compile(r"<[^>]+>")


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


# A task's priority, 0-100 (highest served first), as a fixed-width sort key: 100 000 steps.
PRIORITY_STEPS = 1000
TASK_CURSOR = re.compile(r"^[0-9]{6}#[0-9T:.Z-]{20,32}#labelloop-[0-9a-f]{40}$")


def task_cursor(priority: float, opened_at: str, name: str) -> str:
    """A builtin review task's sort key in the open index: by priority (highest first), then age."""
    rank = round((100.0 - min(100.0, max(0.0, float(priority)))) * PRIORITY_STEPS)
    return f"{rank:06d}#{opened_at}#{name}"


def table_definition(name: str) -> dict:
    """``CreateTable`` arguments for a state table (the sandbox and local copies of saved runs)."""
    return {"TableName": name, "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t, _ in KEY_SCHEMA],
            "KeySchema": [{"AttributeName": n, "KeyType": k} for n, _, k in KEY_SCHEMA]}
