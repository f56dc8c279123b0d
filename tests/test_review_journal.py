"""`labelloop review` serves a saved run without restoring it whole — its items and objects are put into
moto as requests ask for them — and journals what each request changed before answering it: whole
items (a saved attribute no request writes is kept), the training copy, the index entry deleted;
nothing for a read. Every read of the run sees the journal at once; when the server stops it is
folded into the saved run, and what no request asked for is still there."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import threading
from pathlib import Path

import pytest
from review_support import Browser
from stack_support import PNG, activate_model, local_stack, open_review

from handlers.runtime.state import StateTable
from sandbox import saved
from sandbox.journal import JOURNAL, Change
from sandbox.recorder import bodies
from sandbox.review_server import review_sandbox

WAIT_SECONDS = 120


@pytest.fixture(scope="module")
def review_run(tmp_path_factory) -> Path:
    """A saved run with three of the review app's tasks open, made by the real handlers."""
    folder = tmp_path_factory.mktemp("journal-run")
    with local_stack() as st:
        st.use_review("builtin")
        activate_model()
        for n in range(3):
            open_review(st, f"images_for_detection/j/{n}.png")
        saved.write_state(folder, {"stack": st.stack, "labels": list(st.labels), "policies": [],
                                   "parameters": saved.parameters(st), "items": StateTable(st.table).all_items()})
        with tarfile.open(folder / saved.OBJECTS, "w") as archive:
            for key, body in bodies(st):
                info = tarfile.TarInfo(key)
                info.size = len(body)
                archive.addfile(info, io.BytesIO(body))
    return folder


def journal_lines(folder: Path) -> list[Change]:
    path = folder / JOURNAL
    return [Change.of_line(line) for line in path.read_text().splitlines()] if path.exists() else []


def objects_of(folder: Path) -> dict[str, bytes]:
    with tarfile.open(folder / saved.OBJECTS) as archive:
        return {m.name: archive.extractfile(m).read() for m in archive.getmembers()}


def test_each_request_is_journaled_whole_before_it_is_answered_and_folded_when_it_stops(review_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(review_run, run)
    saved_items = {(i["pk"], i["sk"]): i for i in saved.load_state(run)["items"]}
    saved_objects = objects_of(run)
    ready, running = threading.Event(), {}

    def on_ready(server, app):
        running.update(server=server, app=app)
        ready.set()

    thread = threading.Thread(target=review_sandbox, args=(run,), kwargs={"port": 0, "on_ready": on_ready})
    thread.start()
    try:
        assert ready.wait(WAIT_SECONDS), "the review server did not start"
        browser = Browser(running["app"].review_url)
        browser.sign_in("gus")
        task = browser.api("GET", "/api/tasks/next")[1]["task"]
        (lease,) = journal_lines(run)  # the lease is a change too
        assert {(i["pk"], i.get("lease_reviewer") is not None) for i in lease.items} >= {(f"HL#{task['id']}", True)}
        assert browser.api("POST", f"/api/tasks/{task['id']}/answer", {"label": "dog"})[0] == 200
        assert browser.api("GET", "/api/me")[0] == 200  # a read: journals nothing
        lease, answer = journal_lines(run)

        written = {(i["pk"], i["sk"]): i for i in answer.items}
        review = written[(f"HL#{task['id']}", "HL")]
        before = saved_items[(f"HL#{task['id']}", "HL")]
        assert review["status"] == "accepted" and review["result"]["label"] == "dog"
        assert {k: v for k, v in review.items() if k in ("reason", "model_labels", "image_uri", "priority")} == \
            {k: v for k, v in before.items() if k in ("reason", "model_labels", "image_uri", "priority")}
        loop = written[("LOOP", "STATE")]  # loaded whole before the answer changed its counters
        assert loop["active_version"] == saved_items[("LOOP", "STATE")]["active_version"] == "v1"
        assert loop["open_reviews"] == saved_items[("LOOP", "STATE")]["open_reviews"] - 1
        assert [d["pk"] for d in answer.deleted_items if d["pk"] == "OPEN"] == ["OPEN"]
        (copy,) = [k for k in answer.objects if k.startswith("images_labeled_by_folder/dog/")]
        assert answer.objects[copy] == PNG

        seen = {(i["pk"], i["sk"]): i for i in saved.load_state(run)["items"]}  # what status reads, at once
        assert seen[(f"HL#{task['id']}", "HL")]["status"] == "accepted"
        assert objects_of(run) == saved_objects  # the saved run itself waits for the fold
    finally:
        running["server"].shutdown()
        thread.join(WAIT_SECONDS)
    assert not thread.is_alive() and not (run / JOURNAL).exists()
    folded = {(i["pk"], i["sk"]): i for i in json.loads((run / saved.STATE).read_text())["items"]}
    assert folded[(f"HL#{task['id']}", "HL")]["status"] == "accepted"
    untouched = {k: v for k, v in saved_items.items() if k not in written and k not in
                 {(d["pk"], d["sk"]) for d in lease.deleted_items + answer.deleted_items} and
                 k not in {(i["pk"], i["sk"]) for i in lease.items}}
    assert untouched and all(folded[k] == v for k, v in untouched.items())  # never loaded, still saved
    assert objects_of(run) == saved_objects | {copy: PNG}  # the uploads no request asked for are kept
