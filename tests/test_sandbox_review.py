"""The sandbox reviews in the builtin review app: simulated reviewers with error rates of their own
answer through its API, so consensus runs end to end; and a run can leave its last reviews open for
a person, who answers them through `labelloop review` (a process of its own, signed in as the page
does) — every answer acknowledged is in the run however the server stops (INT, TERM, HUP, KILL),
and `labelloop train` trains on those answers."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import termios
import threading
from collections import Counter
from pathlib import Path
from typing import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from cli_support import cli_json
from review_support import Browser

from cli.main import main
from handlers.runtime.ids import HUMAN_LOOP_NAME
from sandbox.api_gateway import reviewer_claims
from sandbox.journal import JOURNAL
from handlers.runtime.state import Snapshot
from sandbox.report import write_report
from sandbox.reviewer_accuracy import reviewer_accuracy
from sandbox.runner import SandboxOptions, run
from sandbox.saved import load_state

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
REPO = Path(__file__).resolve().parents[1]
START_SECONDS = 180  # a loaded machine: the start takes a few seconds of CPU
STOP_SECONDS = 60


def items_of(folder) -> list[dict]:
    return json.loads((folder / "state.json").read_text())["items"]


def stats_of(items: list[dict], name: str) -> dict:
    sub = reviewer_claims(name, "access", 0, 0)["sub"]
    return next((i for i in items if (i["pk"], i["sk"]) == ("REVIEWERS", sub)), {})


def test_three_reviewers_answer_every_image_and_the_majority_decides(tmp_path):
    result = run(SandboxOptions(out=tmp_path, images=300, holdout=40, rounds=1, seed=3,
                                reviewer_error_rates=(0.0, 0.0, 1.0), parameters={"Reviewers-Per-Image": "3"}))
    items = items_of(tmp_path)
    reviews = [i for i in items if i["sk"] == "HL"]
    assert reviews and all(r["status"] == "accepted" and "2 of 3 reviewers" in r["result"]["reason"]
                           for r in reviews)
    assert all(len(r["result"]["answers"]) == 3 for r in reviews)
    assert result.reviews_accepted == len(reviews) and result.wrong_answers == len(reviews)
    right, wrong = stats_of(items, "reviewer-1"), stats_of(items, "reviewer-3")
    assert (right["answers"], right["agreed"]) == (len(reviews), len(reviews)) and "disagreed" not in right
    assert (wrong["answers"], wrong["disagreed"]) == (len(reviews), len(reviews)) and "agreed" not in wrong


def test_disagreeing_reviewers_are_asked_for_one_more_answer_up_to_the_maximum(tmp_path):
    run(SandboxOptions(out=tmp_path, images=300, holdout=40, rounds=1, seed=3, reviewer_error_rates=(0.0, 1.0, 1.0),
                       parameters={"Reviewers-Per-Image": "2", "Maximum-Reviewers-Per-Image": "3"}))
    statuses = Counter((r["status"], len(r["result"]["answers"])) for r in items_of(tmp_path) if r["sk"] == "HL")
    # Always one right and one wrong answer first; the third (always wrong) rarely agrees with the second.
    assert set(statuses) <= {("unresolved", 3), ("accepted", 3), ("rejected", 3)} and statuses[("unresolved", 3)]


@pytest.fixture(scope="module")
def open_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("open-run")
    write_report(run(SandboxOptions(out=folder, images=320, holdout=40, rounds=2, seed=4, leave_reviews_open=True,
                                    parameters={"Minimum-Untrained-Images": "5"})), folder)  # as the CLI does
    return folder


def test_the_report_says_each_reviewers_answers_against_the_true_labels(open_run):
    state = load_state(open_run)
    truth, items = dict(state["truth"]), state["items"]
    counts = reviewer_accuracy(items, truth)
    report = (open_run / "report.md").read_text()
    assert counts and all(f"| {name} | {answered} | {right} |" in report for name, (right, answered) in counts.items())
    snapshot = Snapshot.of(items)
    names = {r.reviewer: r.name or r.reviewer for r in snapshot.reviewers}  # shown by the name they signed in with
    review = next(r for r in snapshot.reviews if (r.result or {}).get("answers"))
    answers = review.result["answers"]
    truth[review.image_uri] = "not-a-label"  # every answer on this image now wrong
    flipped = reviewer_accuracy(items, truth)
    for answer in answers:
        name = names[answer["worker"]]
        was_right = sum(a["label"] == state["truth"][review.image_uri] for a in answers if a["worker"] == answer["worker"])
        assert flipped[name] == (counts[name][0] - was_right, counts[name][1])


def test_a_run_can_leave_its_last_reviews_open_for_a_person(open_run, tmp_path):
    state = json.loads((open_run / "state.json").read_text())
    waiting = [i for i in state["items"] if i["sk"] == "HL" and i["status"] == "open"]
    assert len(waiting) >= 5 and all(HUMAN_LOOP_NAME.match(i["name"]) for i in waiting)
    assert [i for i in state["items"] if i["pk"] == "OPEN"]
    assert [i for i in state["items"] if i["sk"] == "HL" and i["status"] == "accepted"]  # earlier rounds'


class ReviewServer:
    """`labelloop review --sandbox DIR --port 0` as a process of its own, as a person starts it in a terminal
    (``terminal``: a pseudo-terminal of its own, which :meth:`hang_up` closes) or a script does
    (``ignore_sigint``: as a background job inherits SIGINT)."""

    def __init__(self, folder: Path, *, ignore_sigint: bool = False, terminal: bool = False):
        self.lines: list[str] = []
        self._terminal, output = pty.openpty() if terminal else (None, subprocess.PIPE)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "review", "--sandbox", str(folder), "--port", "0"], cwd=REPO,
            stdout=output, stderr=subprocess.STDOUT, text=True, start_new_session=terminal,
            preexec_fn=(lambda: fcntl.ioctl(1, termios.TIOCSCTTY, 0)) if terminal else
            (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore_sigint else None)
        if terminal:
            os.close(output)
        ready, self._hanging_up = threading.Event(), threading.Event()

        def read() -> None:
            for line in self._output():
                self.lines.append(line)
                if line.startswith("Review at "):
                    ready.set()
            ready.set()

        self.reader = threading.Thread(target=read, daemon=True)
        self.reader.start()
        found = re.search(r"Review at (http://\S+/) ", self.output) if ready.wait(START_SECONDS) else None
        if found is None:
            self.process.kill()
            self.process.wait(STOP_SECONDS)
            raise AssertionError(f"labelloop review did not start: {self.output}")
        self.url = found.group(1)

    def _output(self) -> Iterator[str]:
        if self._terminal is None:
            yield from self.process.stdout
            return
        pending = ""
        while not self._hanging_up.is_set():  # a read must not hold the terminal open when it is closed
            if select.select([self._terminal], [], [], 0.1)[0]:
                try:
                    pending += os.read(self._terminal, 4096).decode(errors="replace").replace("\r\n", "\n")
                except OSError:  # nothing is attached to the terminal any more
                    return
                *lines, pending = pending.split("\n")
                yield from (line + "\n" for line in lines)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def stop(self, number: int) -> int:
        self.process.send_signal(number)
        code = self.process.wait(STOP_SECONDS)
        self.reader.join(10)  # its last lines
        return code

    def hang_up(self) -> int:
        """Close its terminal, as closing a terminal window does (the kernel sends it SIGHUP)."""
        self._hanging_up.set()
        self.reader.join(10)
        os.close(self._terminal)
        return self.process.wait(STOP_SECONDS)


def answer_tasks(browser: Browser, truth: dict[str, str], count: int | None = None) -> list[str]:
    """Answer up to ``count`` served tasks with their true labels, as a person would; the tasks answered
    (each acknowledged: 200)."""
    answered = []
    while count is None or len(answered) < count:
        status, reply = browser.api("GET", "/api/tasks/next")
        assert status == 200
        task = reply["task"]
        if task is None:
            break
        status, headers, image = browser.request("GET", task["image"])
        assert status == 200 and image.startswith(PNG_MAGIC) and headers["Content-Type"] == "image/png"
        shown = urlsplit(parse_qs(urlsplit(task["image"]).query)["url"][0]).path  # the upload's key
        label = next(v for k, v in truth.items() if k.endswith(shown))  # what the person sees
        assert browser.api("POST", f"/api/tasks/{task['id']}/answer", {"label": label}) == (
            200, {"task": task["id"], "answered": True, "label": label})
        answered.append(task["id"])
    return answered


def reviewer(items: list[dict], name: str) -> dict:
    return stats_of(items, name) or {"answers": 0, "skips": 0}


def accepted(items: list[dict]) -> set[str]:
    return {i["name"] for i in items if i["sk"] == "HL" and i["status"] == "accepted"}


@pytest.fixture
def open_copy(open_run, tmp_path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(open_run, copy, ignore=shutil.ignore_patterns("*.png", "*.md"))
    return copy


@pytest.fixture
def review_server():
    """Starts `labelloop review` processes; any still running when the test ends is killed."""
    started: list[ReviewServer] = []

    def start(folder: Path, **options) -> ReviewServer:
        started.append(ReviewServer(folder, **options))
        return started[-1]

    yield start
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait(STOP_SECONDS)


def test_every_acknowledged_answer_survives_term_and_kill_and_the_loop_trains_on_them(open_copy, review_server,
                                                                                        capsys):
    state = load_state(open_copy)
    truth, before = state["truth"], accepted(state["items"])
    server = review_server(open_copy)
    browser = Browser(server.url)
    status, _, page = browser.request("GET", "/")
    assert status == 200 and b"labelloop review" in page
    assert browser.api("GET", "/api/tasks/next")[0] == 401  # not signed in
    browser.sign_in("dana")
    first = answer_tasks(browser, truth, 2)
    skipped = browser.api("GET", "/api/tasks/next")[1]["task"]["id"]
    assert browser.api("POST", f"/api/tasks/{skipped}/skip")[0] == 200
    assert server.stop(signal.SIGTERM) == 0
    assert "Stopping (SIGTERM)" in server.output and not (open_copy / JOURNAL).exists(), server.output
    items = load_state(open_copy)["items"]
    assert accepted(items) == before | set(first)
    assert (reviewer(items, "dana")["answers"], reviewer(items, "dana")["skips"]) == (2, 1)
    said = "dana@sandbox.invalid: 2 of 2 answers right against the true labels (100%); 2 answered since the report"
    assert said in server.output, server.output
    report = (open_copy / "report.md").read_text()  # brought up to date (the copy had none)
    assert "| dana@sandbox.invalid | 2 | 2 | 100% |" in report and said in report

    server = review_server(open_copy)  # the second session: killed outright after its last answer
    browser = Browser(server.url)
    browser.sign_in("dana")
    rest = answer_tasks(browser, truth)
    browser.sign_in("eli")
    rest += answer_tasks(browser, truth)  # the task dana skipped
    assert skipped in rest and len(first + rest) >= 5
    assert server.stop(signal.SIGKILL) == -signal.SIGKILL
    assert (open_copy / JOURNAL).exists()  # not folded: every answer is in the journal alone

    status = cli_json(capsys, "status", "--sandbox", open_copy)
    assert status["open_reviews"] == 0
    answers = {r["name"]: (r["answers"], r["skips"]) for r in status["reviewers"]}
    assert (answers["dana@sandbox.invalid"], answers["eli@sandbox.invalid"]) == ((len(first + rest) - 1, 1), (1, 0))
    assert sum(label["new_since_training"] for label in status["labels"]) == len(first + rest)
    assert accepted(load_state(open_copy)["items"]) == before | set(first + rest)

    assert main(["train", "--sandbox", str(open_copy)]) == 0
    out = capsys.readouterr().out
    assert f"{len(first + rest)} new labelled images since the last training (≥ 5)" in out and "SUCCEEDED" in out, out
    assert not (open_copy / JOURNAL).exists()  # the journal is in the saved run now


def test_a_script_and_a_closed_terminal_stop_it_cleanly_too(open_copy, review_server):
    truth = load_state(open_copy)["truth"]
    server = review_server(open_copy, ignore_sigint=True)  # started by a script, stopped with SIGINT
    browser = Browser(server.url)
    browser.sign_in("fay")
    answered = answer_tasks(browser, truth, 1)
    assert server.stop(signal.SIGINT) == 0, server.output
    assert "Stopping (SIGINT)" in server.output and "Stopped." in server.output
    assert not (open_copy / JOURNAL).exists() and answered[0] in accepted(load_state(open_copy)["items"])

    server = review_server(open_copy, terminal=True)  # its terminal closed: SIGHUP, and no terminal to write to
    browser = Browser(server.url)
    browser.sign_in("fay")
    answered = answer_tasks(browser, truth, 1)
    assert server.hang_up() == 0
    assert not (open_copy / JOURNAL).exists() and answered[0] in accepted(load_state(open_copy)["items"])
    assert reviewer(load_state(open_copy)["items"], "fay")["answers"] == 2
