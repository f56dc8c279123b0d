"""An A2I output that cannot be used is a clear, recorded rejection that closes its loop: no loop
stays open forever waiting for an answer that will never be readable. An output over the size limit
says so with its real size, not "not valid JSON"."""

from __future__ import annotations

import json

import pytest
from stack_support import fresh, open_review, output_document, write_output

from handlers.review_output import MAX_OUTPUT_BYTES
from handlers.runtime import context
from handlers.runtime.state import today


@pytest.fixture
def st(shared_stack):
    fresh(shared_stack)
    return shared_stack


def test_a_valid_output_over_the_limit_closes_its_loop_as_rejected(st):
    _, name = open_review(st, "images_for_detection/limits/big answer.png")
    document = output_document(st, name, ["cat"])
    document["humanAnswers"][0]["workerMetadata"]["notes"] = "x" * MAX_OUTPUT_BYTES  # still valid JSON
    body = json.dumps(document).encode()
    table, before = context.table(), context.table().day_stats(today()).counts.get("reviews_rejected", 0)
    open_before = table.loop().open_reviews
    write_output(st, name, body)
    loop = table.review(name)
    assert loop.status == "rejected"
    assert loop.result["reason"] == f"output.json is {len(body)} bytes, over the {MAX_OUTPUT_BYTES} byte limit"
    assert table.day_stats(today()).counts["reviews_rejected"] == before + 1
    assert table.loop().open_reviews == open_before - 1
    [message] = st.notifications()
    assert "over the" in message["message"] and name in message["message"]


def test_an_unreadable_output_of_an_open_loop_closes_it(st):
    detection, name = open_review(st, "images_for_detection/limits/garbled.png")
    write_output(st, name, b'{"humanLoopName": "' + name.encode() + b'", "inputContent": ')
    loop = context.table().review(name)
    assert loop.status == "rejected" and "not valid JSON" in loop.result["reason"]
    assert context.table().detection(detection).review_status == "rejected"


def test_an_output_at_the_limit_is_read(st):
    _, name = open_review(st, "images_for_detection/limits/just fits.png")
    document = output_document(st, name, ["dog"])
    padding = MAX_OUTPUT_BYTES - len(json.dumps(document | {"pad": ""}).encode())
    body = json.dumps(document | {"pad": "x" * padding}).encode()
    assert len(body) == MAX_OUTPUT_BYTES
    write_output(st, name, body)
    assert context.table().review(name).status == "accepted"
