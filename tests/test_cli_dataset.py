"""`labelloop forget` and `labelloop replay --copies` against a stack in moto (explicit names, as on
AWS): what they change and what they say, through the stack's dataset function."""

from __future__ import annotations

import io

import pytest
import state_support
from cli_support import cli, cli_json
from review_api_support import Reviewer
from stack_support import counts, keys_under, open_review, review_app_stack

from handlers.runtime import aws, context, layout


@pytest.fixture(scope="module")
def app_stack():
    with review_app_stack() as st:
        yield st


@pytest.fixture
def st(app_stack):
    state_support.delete_partition("COPY")
    app_stack.discard_pending_events()
    return app_stack


@pytest.fixture
def target(st):
    return ["--parameter-path", st.parameter_path, "--table", st.table]


def accepted(st, key: str, label: str = "cat") -> tuple[str, str]:
    detection, task = open_review(st, key)
    assert Reviewer(st, "ana").answer(task, label)[0] == 200
    st.pump()
    return detection, context.table().review(task).result["training_key"]


def test_forget_asks_first_then_says_what_it_removed(capsys, monkeypatch, st, target):
    key = "images_for_detection/cli/forget.png"
    detection, copy = accepted(st, key)
    before = counts()["cat"]
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    code, out, _ = cli(capsys, "forget", key, *target)
    assert code == 1 and "Nothing was changed" in out and copy in keys_under(st, layout.TRAINING_PREFIX)
    code, out, _ = cli(capsys, "forget", key, *target, "--yes")
    assert code == 0 and f"Forgot {key}" in out and "1 copy deleted" in out and copy in out
    assert copy not in keys_under(st, layout.TRAINING_PREFIX) and counts()["cat"] == before - 1
    result = cli_json(capsys, "forget", detection, *target, "--yes")
    assert result["forgotten"][0]["removed"] == []  # done already


def test_forget_of_an_image_never_detected_says_so(capsys, st, target):
    code, out, _ = cli(capsys, "forget", "images_for_detection/cli/never.png", *target, "--yes")
    assert code == 0 and "Nothing to forget" in out


def test_forget_of_something_that_is_not_an_image_is_a_clear_error(capsys, st, target):
    code, _, err = cli(capsys, "forget", "manifests/v1.jsonl", *target, "--yes")
    assert code == 2 and "is not an upload" in err and "labelloop forget --help" in err


def test_replay_copies_makes_the_copies_a_failure_left_unmade(capsys, monkeypatch, st, target):
    real = aws.client("s3").copy_object

    def dies(**_):
        raise RuntimeError("the function died here")

    monkeypatch.setattr(aws.client("s3"), "copy_object", dies)
    detection, task = open_review(st, "images_for_detection/cli/pending.png")
    assert Reviewer(st, "ana").answer(task, "dog")[0] == 200
    monkeypatch.setattr(aws.client("s3"), "copy_object", real)
    code, out, _ = cli(capsys, "replay", "--copies", *target)
    assert code == 0 and "1 made, 0 withdrawn" in out
    assert context.table().review(task).copy == "done"
    assert any(layout.detection_of_copy(k) == detection for k in keys_under(st, layout.TRAINING_PREFIX))
    code, out, _ = cli(capsys, "replay", "--copies", *target)
    assert code == 0 and "No pending copies" in out
