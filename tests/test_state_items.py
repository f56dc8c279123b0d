"""The state module's item map is what the table holds: every write of every public method lands on
an item type that ``ITEM_TYPES`` declares, and the module docstring and docs/architecture.md list
exactly those types. Plus the records and exceptions the module speaks in."""

from __future__ import annotations

import inspect
import re
from dataclasses import replace
from pathlib import Path

import boto3
import pytest

from handlers.runtime import state
from handlers.runtime.state import (
    ITEM_TYPES,
    ActiveModelMoved,
    AlreadyDone,
    ConditionFailed,
    DetectionRecord,
    Closing,
    LockHeld,
    ReviewTask,
    PendingCopy,
    TaskAnswer,
    Snapshot,
    StateTable,
    item_type,
)

ROOT = Path(__file__).resolve().parents[1]
DAY, NEXT_DAY = "2026-01-02", "2026-01-03"
IMAGE = DetectionRecord("d1", bucket="b", key="images_for_detection/a.png",
                        image_uri="s3://b/images_for_detection/a.png", detected_at=f"{DAY}T03:04:05.000000Z",
                        outcome="pending", reason="no model yet")
# Every public method of StateTable, by what it does: the workload below calls every write.
WRITES = {"record_detection", "replace_pending", "drop_pending", "replace_failed", "note_detection_failure", "claim_failed",
          "unclaim_failed", "clear_failure", "record_review_started", "record_review_finished",
          "record_output_rejected", "add_training_image", "remove_training_image", "set_counts", "mark_seen",
          "mark_trained", "take_training_lock", "set_training_version", "record_training_decision",
          "release_training_lock", "keep_lock_for_strays", "switch_active", "update_model", "first_alert",
          "record_parameter_change", "lease_task", "record_task_answer", "skip_task", "expire_review_tasks",
          "claim_serving", "release_serving", "record_serving_decision", "open_serving_period",
          "close_serving_period", "open_training_period", "close_training_period", "copy_done", "withdraw_review",
          "copy_removed", "mark_backlog", "claim_drain", "release_drain"}
READS = {"begin_detection", "loop", "loop_and_dataset", "pending", "pending_page", "detection", "detections",
         "failed_detections", "day_stats", "review", "model", "models", "parameter_changes", "all_items", "outline",
         "review_with_answers", "open_tasks", "open_task_overview", "reviewer_stats", "reviewers", "waiting",
         "serving_periods", "ledger_periods", "days_stats", "pending_copies", "pending_copy"}


class Recording:
    """The table, noting which of its methods are called."""

    def __init__(self, table: StateTable):
        self.table, self.called = table, set()

    def __getattr__(self, name: str):
        self.called.add(name)
        return getattr(self.table, name)


def builtin_task(detection_id: str, **fields) -> ReviewTask:
    return ReviewTask(f"labelloop-{detection_id}", detection_id, "training", IMAGE.image_uri,
                      **{"started_at": f"{DAY}T03:06:00.000000Z", "image_version": "v1", "reason": "below",
                         "model_labels": ({"name": "cat", "confidence": 50.0},), "priority": 50.0, "reviewers": 1,
                         "max_reviewers": 3, "answers": 0, "expires_at": f"{NEXT_DAY}T03:06:00.000000Z"} | fields)


def workload(table) -> None:
    """A detection that waits, is replayed, reviewed and accepted; training data; a training run and a
    deployment; a failed detection; an invalid parameter value and a parameter change."""
    table.begin_detection()
    table.record_detection(IMAGE, pending=True)
    table.record_detection(replace(IMAGE, detection_id="d3", detected_at=f"{DAY}T03:04:06.000000Z"), pending=True)
    first = table.pending_page(None, 1)[0]
    table.replace_pending(replace(IMAGE, outcome="to_training", reason="below", model_version="v1",
                                  labels=({"name": "cat", "confidence": 50.0},),
                                  decision={"review": True, "purpose": "training", "reason": "below"}), first.cursor)
    drained = replace(IMAGE, detection_id="d6", detected_at=f"{DAY}T03:04:07.000000Z")  # by the drain: kept waiting
    table.record_detection(drained, pending=True)  # until its review has started
    cursor = next(p.cursor for p in table.pending() if p.detection_id == "d6")
    table.replace_pending(replace(drained, outcome="to_audit", reason="sample"), cursor, keep_pending=True)
    table.drop_pending(cursor)
    table.record_review_started(ReviewTask("labelloop-d1", "d1", "training", IMAGE.image_uri,
                                           f"{DAY}T03:05:00.000000Z"))
    table.record_review_finished("labelloop-d1", "d1", "accepted", {"label": "cat", "finished_at": f"{DAY}T04:00:00Z"})
    table.record_output_rejected("a2i-human-loop-data/flow/output.json", "not JSON")
    table.add_training_image("images_labeled_by_folder/cat/1.png", "cat")
    table.add_training_image("images_labeled_by_folder/dog/1.png", "dog")
    table.remove_training_image("images_labeled_by_folder/dog/1.png", "dog")
    table.set_counts({"cat": 1, "dog": 0})
    version = table.take_training_lock("run-1", {"train": True, "reason": "new images"})
    table.set_training_version("run-1", version)
    table.update_model(version, arn="arn:v1", status="TRAINING_IN_PROGRESS", counts={"cat": 1})
    table.open_training_period(version, f"{DAY}T04:30:00.000000Z")
    table.close_training_period(version, f"{DAY}T04:30:00.000000Z", f"{DAY}T04:50:00.000000Z")
    table.switch_active(version, "arn:v1", 0.9, None)
    table.open_serving_period(version, 1, f"{DAY}T05:00:00.000000Z")
    table.claim_serving("stop", version, f"{DAY}T00:00:00.000000Z", training_free=False)
    table.record_serving_decision({"action": "stop", "reason": "idle", "policy": "policies.defaults"})
    table.close_serving_period(version, f"{DAY}T06:00:00.000000Z")
    table.release_serving("stop")
    table.mark_seen({"cat": 1})
    table.mark_trained({"cat": 1})
    table.record_training_decision({"train": False, "reason": "nothing new"})
    table.keep_lock_for_strays("run-1", {"v0": "arn:v0"})
    table.release_training_lock("run-1")
    table.note_detection_failure(replace(IMAGE, detection_id="d2", outcome="failed", reason="boom"))
    table.note_detection_failure(replace(IMAGE, outcome="failed", reason="the review start failed"))
    for failed in ("d4", "d5"):  # failed, replayed, done at last; failed and its replay could not start
        table.note_detection_failure(replace(IMAGE, detection_id=failed, outcome="failed", reason="boom",
                                             detected_at=f"{NEXT_DAY}T01:00:00.000000Z"))
        table.claim_failed(failed, stale_before=f"{DAY}T00:00:00Z")
    table.replace_failed(replace(IMAGE, detection_id="d4", outcome="confident", reason="sure",
                                 detected_at=f"{NEXT_DAY}T02:00:00.000000Z"),
                         table.detection("d4"))
    table.unclaim_failed("d5")
    table.clear_failure("d1")
    table.first_alert("Minimum-Confidence", "abc", "not allowed")
    table.record_parameter_change("Minimum-Confidence", "Update", "80")
    table.mark_backlog(f"{DAY}T07:00:00.000000Z")  # a burst: the drain takes it, measures 4.5/s per unit, ends it
    table.claim_drain("look-1", f"{DAY}T07:05:00.000000Z", f"{DAY}T07:00:00.000000Z")
    table.release_drain("look-1", 4.5, drained=True)


def review_task_workload(table) -> None:
    """Builtin review tasks of five detections: one leased, answered, skipped, accepted with a second
    answer, its copy made and later removed; one expired; one still open; one accepted whose copy is
    pending; one whose image was deleted while it was open."""
    for record in ("t3", "t4", "t5", "t6", "t7"):
        table.record_detection(replace(IMAGE, detection_id=record, outcome="to_training"))
    at = f"{DAY}T03:07:00.000000Z"
    for task in (builtin_task("t3", reviewers=2), builtin_task("t5")):  # t5's task expires
        table.record_review_started(task)
    task = table.review_with_answers("labelloop-t3").task
    [entry, _] = table.open_tasks("r1", at, 10)
    table.lease_task(entry, "r1", at, f"{DAY}T03:17:00.000000Z")
    table.record_task_answer(task, TaskAnswer(task.name, "r1", "cat", at), wanted=2)
    table.skip_task(task, "r2", at)
    task = table.review_with_answers(task.name).task
    copy = PendingCopy(task.name, "t3", IMAGE.key, "v1", "images_labeled_by_folder/cat/t3.png", "cat")
    table.record_review_finished(task.name, "t3", "accepted", {"label": "cat", "finished_at": at},
                                 closing=Closing(task, TaskAnswer(task.name, "r3", "cat", at), {"r1": True, "r3": True}),
                                 copy=copy)
    assert table.pending_copies(10) == [replace(copy, accepted_at=at)] and table.pending_copy(task.name) is not None
    table.copy_done(copy)
    table.copy_removed(table.review(task.name), copy.target, "cat", "forgotten", gate_set=False)
    later = f"{NEXT_DAY}T04:00:00.000000Z"
    table.expire_review_tasks(table.open_task_overview(later, 1).expired, later)
    table.record_review_started(builtin_task("t4"))  # still open
    pending = builtin_task("t6")
    table.record_review_started(pending)
    table.record_review_finished(pending.name, "t6", "accepted", {"label": "dog", "finished_at": later},
                                 closing=Closing(pending, TaskAnswer(pending.name, "r1", "dog", later), {"r1": True}),
                                 copy=PendingCopy(pending.name, "t6", IMAGE.key, "v1",
                                                  "images_labeled_by_folder/dog/t6.png", "dog"))
    table.record_review_started(builtin_task("t7"))
    table.withdraw_review(table.review("labelloop-t7"), "deleted by its uploader")
    table.reviewer_stats("r1")


def test_every_public_method_is_a_write_or_a_read():
    public = {name for name, _ in inspect.getmembers(StateTable, inspect.isfunction) if not name.startswith("_")}
    assert public == WRITES | READS, "sort a new StateTable method into WRITES (and the workload) or READS"


def test_every_item_written_is_a_declared_item_type(table):
    recording = Recording(table)
    workload(recording)
    review_task_workload(recording)
    assert WRITES <= recording.called, f"the workload does not call {sorted(WRITES - recording.called)}"
    items = table.all_items()
    undeclared = [(i["pk"], i["sk"]) for i in items if item_type(i) is None]
    assert undeclared == [], "items of a type state.ITEM_TYPES does not name"
    assert {item_type(i) for i in items} == set(ITEM_TYPES), "the workload leaves an item of every type"


def test_item_type_keys_round_trip():
    for t in ITEM_TYPES:
        parts = [f"part {i}" for i in range(t.pk.count("<") + t.sk.count("<"))]
        key = t.key(*parts)
        assert item_type(key) is t
        if parts:
            assert t.part(key) == parts[0]
        with pytest.raises(ValueError):
            t.key(*parts, "one too many")
    assert item_type({"pk": "PARAMCHANGES", "sk": "x"}) is None and item_type({"pk": "DET#1", "sk": "HL"}) is None


def test_records_read_back(table):
    workload(table)
    loop, dataset = table.loop_and_dataset()
    assert (loop.active_version, loop.active_f1, loop.versions, loop.training_owner) == ("v1", 0.9, 1, None)
    assert loop.last_training_decision["reason"] == "nothing new"
    assert (dict(dataset.images), dict(dataset.trained), dataset.labels) == ({"cat": 1, "dog": 0}, {"cat": 1},
                                                                            ("cat", "dog"))
    assert dataset.last_trained_at and dataset.new_since_training("cat") == 0
    stats = dataset.stats(("cat", "bird"))
    assert dict(stats.label_counts) == {"cat": 1, "bird": 0} and stats.new_total == 0
    record = table.detection("d1")
    assert (record.outcome, record.human_loop, record.review_status, record.human_label) == (
        "to_training", "labelloop-d1", "accepted", "cat")
    assert record.labels == ({"name": "cat", "confidence": 50.0},) and record.failure == "the review start failed"
    assert table.detection("d2").outcome == "failed" and table.detection("nope") is None
    assert [(f.detection_id, f.reason, f.replayed_at) for f in table.failed_detections()] == [
        ("d2", "boom", None), ("d5", "boom", None)]
    assert table.detection("d4").outcome == "confident"
    assert table.day_stats(NEXT_DAY).counts == {"outcome_failed": 1, "outcome_confident": 1}
    assert [p.detection_id for p in table.pending()] == ["d3"]
    assert table.review("labelloop-d1").result["label"] == "cat"
    assert table.model("v1").counts == {"cat": 1} and table.model(None) is None
    # d1 and d6 detected (d6's pending item dropped once its review started), d2 failed; d3 still waits
    # (counted once detected)
    counts = table.day_stats(DAY).counts
    assert (counts["outcome_to_training"], counts["outcome_to_audit"], table.day_stats(DAY).detections) == (1, 1, 3)
    assert (loop.backlog_since, loop.drain_owner) == (None, None) and table.loop().drain_rate == 4.5
    changes = table.parameter_changes()
    assert [(c.parameter, c.value, c.schedule) for c in changes] == [("Minimum-Confidence", "80", None)]
    snapshot = Snapshot.of(table.all_items())
    assert {d.detection_id for d in snapshot.detections} == {"d1", "d2", "d3", "d4", "d5", "d6"}
    assert [r.name for r in snapshot.reviews] == ["labelloop-d1"] and snapshot.loop.active_version == "v1"
    assert snapshot.last_day == max(d.day for d in snapshot.days)
    outline = table.outline()
    assert {(d.detection_id, d.outcome) for d in outline.detections} == {(d.detection_id, d.outcome)
                                                                         for d in snapshot.detections}
    assert [(r.name, r.status) for r in outline.reviews] == [("labelloop-d1", "accepted")]


def test_a_condition_that_fails_says_why(table):
    table.record_detection(replace(IMAGE, outcome="confident"))
    with pytest.raises(AlreadyDone):
        table.record_detection(replace(IMAGE, outcome="confident"))
    table.take_training_lock("run-1", {"train": True})
    with pytest.raises(LockHeld):
        table.take_training_lock("run-2", {"train": True})
    with pytest.raises(LockHeld):
        table.set_training_version("run-2", "v2")
    table.switch_active("v1", "arn:v1", 0.9, None)
    with pytest.raises(ActiveModelMoved):
        table.switch_active("v2", "arn:v2", 0.9, None)
    assert all(issubclass(e, ConditionFailed) for e in (AlreadyDone, LockHeld, ActiveModelMoved))
    with pytest.raises(TypeError):
        table.update_model("v1", colour="blue")


def test_the_table_uses_the_client_it_is_given(table):
    calls = []
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))
    StateTable(table.name, client).loop()
    assert calls == ["GetItem"]


def _docstring_entries() -> list[tuple[str, str, str]]:
    section = state.__doc__.split("Items (", 1)[1].split("\n", 1)[1]
    entries: list[str] = []
    for line in section.splitlines():
        if re.match(r"  \S", line):
            entries.append(line.strip())
        elif line.strip() and entries:
            entries[-1] += " " + line.strip()
    return [re.match(r"(.+?) / (.+?)  (.*)", entry).groups() for entry in entries]


def test_the_docstring_lists_the_item_map():
    assert _docstring_entries() == [(t.pk, t.sk, t.holds) for t in ITEM_TYPES]


def test_the_architecture_state_table_lists_the_item_map():
    doc = (ROOT / "docs" / "architecture.md").read_text()
    section = doc.split("## State", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(.+?)` / `(.+?)` \| (.+?) \|$", section, re.MULTILINE)
    assert rows == [(t.pk, t.sk, t.holds) for t in ITEM_TYPES]


def test_the_backlog_is_marked_once_and_one_look_at_a_time_drains_it(table):
    assert table.mark_backlog(f"{DAY}T07:00:00Z") and not table.mark_backlog(f"{DAY}T07:00:01Z")
    assert table.loop().backlog_since == f"{DAY}T07:00:00Z"
    assert table.claim_drain("a", f"{DAY}T07:05:00Z", f"{DAY}T07:00:00Z")
    assert not table.claim_drain("b", f"{DAY}T07:06:00Z", f"{DAY}T07:01:00Z")  # a's lease holds
    assert table.claim_drain("b", f"{DAY}T07:10:00Z", f"{DAY}T07:05:30Z")  # a was cut off: b takes over
    table.release_drain("a", 9.0, drained=True)  # too late: changes nothing
    assert (table.loop().drain_owner, table.loop().backlog_since, table.loop().drain_rate) == (
        "b", f"{DAY}T07:00:00Z", None)
    table.release_drain("b", 3.0, drained=False)  # time up, images left: the backlog goes on
    assert (table.loop().drain_owner, table.loop().backlog_since, table.loop().drain_rate) == (
        None, f"{DAY}T07:00:00Z", 3.0)


def test_no_write_of_an_image_touches_an_item_every_image_writes(table):
    """Two images detected, parked and replaced, failed: every item their writes touch is theirs or a shard."""
    seen: list[tuple[str, str]] = []
    table._ddb.meta.events.register("before-parameter-build.dynamodb.TransactWriteItems", lambda params, **_: seen.extend(
        (op["Key"] if "Key" in op else op["Item"])["pk"]["S"] for item in params["TransactItems"]
        for op in item.values()))
    for n, (outcome, pending) in enumerate([("confident", False), ("pending", True), ("failed", False)]):
        table.record_detection(replace(IMAGE, detection_id=f"img{n}", outcome=outcome), pending=pending)
    table.replace_pending(replace(IMAGE, detection_id="img1", outcome="confident"), table.pending()[0].cursor)
    table.note_detection_failure(replace(IMAGE, detection_id="img3", outcome="failed", reason="boom"))
    shared = [pk for pk in seen if not pk.startswith(("DET#", "PENDING#", "COUNTS#", "FAILED"))]
    assert seen and shared == []
    assert len({pk for pk in seen if pk.startswith("COUNTS#")}) > 1  # the images spread over the day's shards
