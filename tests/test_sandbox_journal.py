"""A saved run's journal: what `labelloop review` changed, on disk before each answer is acknowledged,
seen by every read of the run and folded into the saved state by the next command that changes it —
whatever point a crash or a kill stopped the server (or a fold) at. And the command's stops: INT,
TERM and HUP alike, SIGINT included when the process inherited it ignored; a run with nothing to
review is said so at once."""

from __future__ import annotations

import io
import json
import os
import signal
import tarfile
import threading

import pytest
from cli_support import cli

from sandbox import journal, saved
from sandbox.journal import JOURNAL, Change
from sandbox.review_server import StopSignals

OPEN_TASK = {"pk": "HL#labelloop-" + "a" * 40, "sk": "HL", "name": "labelloop-" + "a" * 40, "detection_id": "a" * 40,
             "purpose": "training", "image_uri": "s3://b/images_for_detection/a.png", "started_at": "2026-01-01T00:00:00Z",
             "status": "open", "priority": 50.0, "reviewers": 1, "max_reviewers": 3, "answers": 0,
             "expires_at": "2999-01-01T00:00:00.000000Z"}
LOOP = {"pk": "LOOP", "sk": "STATE", "open_reviews": 1}


def make_run(folder, items, objects=None):
    folder.mkdir(exist_ok=True)
    saved.write_state(folder, {"stack": "sandbox", "labels": ["cat", "dog"], "policies": [], "parameters": {},
                               "items": items})
    with tarfile.open(folder / saved.OBJECTS, "w") as archive:
        for key, body in (objects or {}).items():
            info = tarfile.TarInfo(key)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
    return folder


def objects_of(folder) -> dict[str, bytes]:
    with tarfile.open(folder / saved.OBJECTS) as archive:
        return {m.name: archive.extractfile(m).read() for m in archive.getmembers()}


ANSWERED = Change(items=[{**OPEN_TASK, "status": "accepted", "answers": 1}, {**LOOP, "open_reviews": 0},
                         {"pk": "REVIEWERS", "sk": "ana", "answers": 1}],
                  deleted_items=[{"pk": "OPEN", "sk": "050000#2026#labelloop-" + "a" * 40}],
                  objects={"images_labeled_by_folder/cat/a.png": b"png-a"})


def test_a_line_cut_short_by_a_crash_or_a_failed_write_is_left_out_and_the_others_are_read(tmp_path):
    journal.append(tmp_path, ANSWERED)
    journal.append(tmp_path, Change(deleted_objects=["images_labeled_by_folder/cat/a.png"]))
    with open(tmp_path / JOURNAL, "a") as handle:  # a third write, cut short before it was acknowledged
        handle.write(Change(items=[LOOP]).line()[:40])
    changes = journal.read(tmp_path)
    assert changes == [ANSWERED, Change(deleted_objects=["images_labeled_by_folder/cat/a.png"])]
    assert changes[0].objects == {"images_labeled_by_folder/cat/a.png": b"png-a"}  # bytes survive the round trip
    assert journal.read(tmp_path / "elsewhere") == []
    journal.append(tmp_path, Change(items=[LOOP]))  # after a write cut short: on a line of its own
    assert journal.read(tmp_path)[2:] == [Change(items=[LOOP])]


def test_applying_a_journal_twice_is_applying_it_once():
    leased = {**OPEN_TASK, "lease_reviewer": "ana", "lease_until": "2026-01-01T00:10:00Z"}  # the answer removes it
    items = [LOOP, leased, {"pk": "OPEN", "sk": "050000#2026#labelloop-" + "a" * 40}, {"pk": "DET#x", "sk": "DET"}]
    once = journal.apply_items(items, [ANSWERED])
    assert journal.apply_items(once, [ANSWERED]) == once
    assert once == [{**LOOP, "open_reviews": 0}, {**OPEN_TASK, "status": "accepted", "answers": 1},
                    {"pk": "DET#x", "sk": "DET"}, {"pk": "REVIEWERS", "sk": "ana", "answers": 1}]
    assert journal.apply_objects([ANSWERED, Change(deleted_objects=["images_labeled_by_folder/cat/a.png"]),
                                  Change(objects={"b": b"1"}), Change(objects={"b": b"2"})]) == (
        {"b": b"2"}, {"images_labeled_by_folder/cat/a.png"})


def test_every_read_of_a_run_sees_its_journal(tmp_path):
    run = make_run(tmp_path / "run", [LOOP, OPEN_TASK])
    before = (run / saved.STATE).read_text()
    journal.append(run, ANSWERED)
    state = saved.load_state(run)
    assert {(i["pk"], i.get("status")) for i in state["items"]} >= {(OPEN_TASK["pk"], "accepted")}
    assert {"pk": "REVIEWERS", "sk": "ana", "answers": 1} in state["items"]
    assert (run / saved.STATE).read_text() == before  # a read changes nothing


def test_a_fold_writes_the_journal_into_the_saved_run_and_drops_it(tmp_path):
    run = make_run(tmp_path / "run", [LOOP, OPEN_TASK], {"images_for_detection/a.png": b"up", "old/b.png": b"b0",
                                                         "old/c.png": b"c0"})
    journal.append(run, ANSWERED)
    journal.append(run, Change(objects={"old/b.png": b"b1"}, deleted_objects=["old/c.png"]))
    expected = saved.load_state(run)
    assert saved.fold(run) == 2
    assert not (run / JOURNAL).exists()
    assert json.loads((run / saved.STATE).read_text()) == expected
    assert objects_of(run) == {"images_for_detection/a.png": b"up", "old/b.png": b"b1",
                               "images_labeled_by_folder/cat/a.png": b"png-a"}
    assert saved.fold(run) == 0 and saved.load_state(run) == expected


def test_a_fold_cut_short_after_the_state_was_replaced_is_finished_by_the_next_one(tmp_path, monkeypatch):
    run = make_run(tmp_path / "run", [LOOP, OPEN_TASK], {"images_for_detection/a.png": b"up"})
    journal.append(run, ANSWERED)
    expected = saved.load_state(run)

    def killed(folder):
        raise KeyboardInterrupt("killed before the journal was dropped")

    monkeypatch.setattr(journal, "remove", killed)
    with pytest.raises(KeyboardInterrupt):
        saved.fold(run)
    monkeypatch.undo()
    assert (run / JOURNAL).exists()  # replayed over a state that holds it already: the same run
    assert saved.load_state(run) == expected
    assert saved.fold(run) == 1 and saved.load_state(run) == expected
    assert objects_of(run)["images_labeled_by_folder/cat/a.png"] == b"png-a"


@pytest.fixture
def never_served(monkeypatch):
    """A run with nothing to review is not served (were it, the test would fail here rather than wait)."""
    def served(*args, **kwargs):
        raise AssertionError("served a run with nothing to review")

    monkeypatch.setattr("sandbox.review_server.review_sandbox", served)


def test_a_run_with_nothing_to_review_is_said_so_at_once(capsys, tmp_path, never_served):
    run = make_run(tmp_path / "run", [LOOP, {**OPEN_TASK, "status": "accepted"}])
    code, out, err = cli(capsys, "review", "--sandbox", run, "--port", "0")
    assert (code, err) == (0, "")
    assert out.startswith(f"Nothing to review in {run}: no review task is open.")
    assert "labelloop sandbox --out DIR --leave-reviews-open" in out and "Review at" not in out


def test_tasks_past_their_lifetime_are_nothing_to_review(capsys, tmp_path, never_served):
    run = make_run(tmp_path / "run", [LOOP, {**OPEN_TASK, "expires_at": "2020-01-01T00:00:00.000000Z"}])
    code, out, _ = cli(capsys, "review", "--sandbox", run, "--port", "0")
    assert code == 0 and "its 1 open task is past Review-Task-Lifetime-Hours" in out


def test_a_port_out_of_range_is_refused(capsys, tmp_path):
    code, _, err = cli(capsys, "review", "--sandbox", make_run(tmp_path / "run", [LOOP, OPEN_TASK]), "--port", "70000")
    assert code == 2 and "--port 70000 must be from 0 (any free port) to 65535" in err


class FakeServer:
    def __init__(self):
        self.shutdowns = 0
        self.stopped, self.stopped_again = threading.Event(), threading.Event()

    def shutdown(self):
        self.shutdowns += 1
        (self.stopped_again if self.stopped.is_set() else self.stopped).set()


@pytest.fixture
def inherited_handlers():
    before = {number: signal.getsignal(number) for number in StopSignals.SIGNALS}
    yield
    for number, handler in before.items():
        signal.signal(number, handler)


@pytest.mark.parametrize("number", StopSignals.SIGNALS)
def test_int_term_and_hup_stop_the_server_alike_once_the_request_is_answered(number, inherited_handlers):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a script's background job inherits it
    with StopSignals() as stop:
        stop.server = server = FakeServer()
        os.kill(os.getpid(), number)
        assert server.stopped.wait(10)
        os.kill(os.getpid(), signal.SIGTERM)  # a second signal while it stops: nothing more
    assert not server.stopped_again.wait(0.5)
    assert (stop.received, server.shutdowns) == (signal.Signals(number).name, 1)
    assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN  # the inherited handlers are back


def test_a_signal_before_the_server_serves_abandons_the_start(inherited_handlers):
    with pytest.raises(KeyboardInterrupt):
        with StopSignals():
            os.kill(os.getpid(), signal.SIGHUP)
