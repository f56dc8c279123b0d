"""The reads every concern shares: the loop item, the days' counters and the whole table."""

from __future__ import annotations

from typing import Iterable

from .. import shards
from ..clock import today
from .base import TableBase
from .codec import _key, _plain
from .items import _DAY, _DAY_SHARD, _LABEL_COUNT, _LOOP
from .records import Dataset, DayStats, LoopState, Snapshot, _dataset, _days_of, _loop_state


class Overview(TableBase):
    """The loop item and the days' counters; every item (operator tools, saved sandbox runs)."""

    def loop(self) -> LoopState:
        return _loop_state(self._get(_key(_LOOP)))

    def loop_and_dataset(self) -> tuple[LoopState, Dataset]:
        """One query: the loop state and every label's counters (O(1) calls for any dataset size)."""
        items = self._query(_LOOP.partition)
        state = next((i for i in items if _LOOP.matches(i)), None)
        return _loop_state(state), _dataset(state, (i for i in items if _LABEL_COUNT.matches(i)))

    def day_stats(self, day: str | None = None) -> DayStats:
        return self.days_stats([day or today()])[0]

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

    def all_items(self) -> list[dict]:
        """Every item, as plain values (a saved run's copy: ``put_items`` writes them back)."""
        return list(self._scan())

    def outline(self) -> Snapshot:
        """A light read of every item: the active model, each detection's outcome, decision and best label,
        each review's status and result; every other field is left empty (a sandbox's round table)."""
        return Snapshot.of(self._scan(
            ProjectionExpression="pk, sk, outcome, decision, labels[0], #s, #r, active_version",
            ExpressionAttributeNames={"#s": "status", "#r": "result"}))
