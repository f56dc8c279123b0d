"""The journal of a saved sandbox run (``journal.jsonl`` in its folder): the changes ``labelloop
review`` made since the run was last saved whole, one line per request that changed something,
written and fsynced before the request is answered — so a server stopped by a signal, killed or
crashed loses no answer it acknowledged.

A line holds the state of every key the request touched, after it: the table items written (whole,
as ``state.json`` keeps them) and the keys of those deleted, the objects written and the keys of
those deleted. Applying a line twice is applying it once, so a journal may be replayed over a saved
state that already holds it (a fold interrupted after ``state.json`` was replaced). A line cut short
— by a crash, or a write that failed part-way — was never acknowledged: it is left out, and what it
held is written again with the next request (the keys stay noted until a line holding them is on
disk).

Every command that reads the run applies the journal over ``state.json`` (:func:`sandbox.saved.load_state`);
one that changes the run first folds it into ``state.json`` and ``objects.tar`` (:func:`sandbox.saved.fold`).
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from handlers.runtime.state import KEY_SCHEMA

JOURNAL = "journal.jsonl"
KEY_NAMES = tuple(name for name, _, _ in KEY_SCHEMA)


def item_key(item: dict) -> tuple:
    """A table item's key (its partition and sort key values)."""
    return tuple(item[name] for name in KEY_NAMES)


@dataclass
class Change:
    """What one request changed: table items (plain, as saved) and bucket objects, as they are now."""

    items: list[dict] = field(default_factory=list)
    deleted_items: list[dict] = field(default_factory=list)  # keys: {"pk": …, "sk": …}
    objects: dict[str, bytes] = field(default_factory=dict)
    deleted_objects: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.items or self.deleted_items or self.objects or self.deleted_objects)

    def describe(self) -> str:
        """E.g. ``4 items, 1 object`` (written or deleted)."""
        items, objects = len(self.items) + len(self.deleted_items), len(self.objects) + len(self.deleted_objects)
        return f"{items} item{'s' * (items != 1)}, {objects} object{'s' * (objects != 1)}"

    def line(self) -> str:
        return json.dumps({"items": self.items, "deleted_items": self.deleted_items,
                           "objects": {k: base64.b64encode(v).decode() for k, v in self.objects.items()},
                           "deleted_objects": self.deleted_objects}, default=str, separators=(",", ":"))

    @classmethod
    def of_line(cls, line: str) -> "Change":
        document = json.loads(line)
        return cls(document["items"], document["deleted_items"],
                   {k: base64.b64decode(v) for k, v in document["objects"].items()}, document["deleted_objects"])


def append(folder: Path, change: Change) -> None:
    """Add ``change`` to the run's journal, on disk (fsynced) when this returns."""
    path = Path(folder) / JOURNAL
    created = not path.exists()
    line = change.line().encode() + b"\n"
    with open(path, "a+b") as handle:
        end = handle.seek(0, os.SEEK_END)
        if end and os.pread(handle.fileno(), 1, end - 1) != b"\n":
            line = b"\n" + line  # after a write that failed part-way (a full disk): a line of its own
        handle.write(line)  # one write of one line: a crash cuts at most this line short
        handle.flush()
        os.fsync(handle.fileno())
    if created:
        sync_folder(folder)  # the new file's name is durable too


def read(folder: Path) -> list[Change]:
    """The changes in the run's journal, oldest first (none when there is no journal). A line cut short
    (by a crash, or a write that failed) was never acknowledged: it is left out."""
    try:
        text = (Path(folder) / JOURNAL).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    changes = []
    for line in text.split("\n"):
        try:
            changes.append(Change.of_line(line))
        except (ValueError, KeyError, TypeError):
            continue
    return changes


def apply_items(items: Iterable[dict], changes: Iterable[Change]) -> list[dict]:
    """Saved table items with ``changes`` applied (an item keeps its place; new ones come last)."""
    by_key = {item_key(item): item for item in items}
    for change in changes:
        for key in change.deleted_items:
            by_key.pop(item_key(key), None)
        for item in change.items:
            by_key[item_key(item)] = item
    return list(by_key.values())


def apply_objects(changes: Iterable[Change]) -> tuple[dict[str, bytes], set[str]]:
    """The objects ``changes`` leave in the bucket: those written (key → body) and the keys deleted."""
    last: dict[str, bytes | None] = {}
    for change in changes:
        last.update(dict.fromkeys(change.deleted_objects))
        last.update(change.objects)
    return {k: v for k, v in last.items() if v is not None}, {k for k, v in last.items() if v is None}


def remove(folder: Path) -> None:
    """Drop the journal (its changes are in the saved state now)."""
    try:
        os.unlink(Path(folder) / JOURNAL)
    except FileNotFoundError:
        return
    sync_folder(folder)


def sync_folder(folder: Path) -> None:
    """Make the folder's entries (a file created, replaced or removed) durable."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
