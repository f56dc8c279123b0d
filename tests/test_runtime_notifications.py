"""Notifications: no message per detected image; a readable summary with counts per outcome."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from stack_support import (
    CONFIDENT,
    UNSURE,
    activate_model,
    deactivate_model,
    local_stack,
    open_review,
    output_document,
    upload,
    write_output,
)

from handlers.runtime import notify
from handlers.runtime.state import today


@pytest.fixture
def st():
    with local_stack() as st:
        activate_model()
        yield st


def test_no_message_per_detected_image(st):
    for i in range(5):
        upload(st, f"images_for_detection/n/confident-{i}.png", CONFIDENT)
    for i in range(3):
        upload(st, f"images_for_detection/n/unsure-{i}.png", UNSURE)
    upload(st, "images_for_detection/n/notes.txt")
    assert len(st.executions) == 9 and len(st.a2i.loops) == 3
    assert st.notifications() == []


def test_summary_counts_every_outcome(st):
    for i in range(3):
        upload(st, f"images_for_detection/n/confident-{i}.png", CONFIDENT)
    _, name = open_review(st, "images_for_detection/n/unsure.png")
    write_output(st, name, output_document(st, name, ["dog"]))
    _, rejected = open_review(st, "images_for_detection/n/unsure-2.png")
    write_output(st, rejected, output_document(st, rejected, ["None of the Above"]))
    upload(st, "images_for_detection/n/readme.md")
    st.models.faults["DetectCustomLabels"] = ["InvalidImageFormatException"]
    upload(st, "images_for_detection/n/broken.png")
    deactivate_model()
    upload(st, "images_for_detection/n/early.png")
    activate_model()
    assert st.notifications() == []

    result = st.deliver("summary", {"day": today()})
    assert result["detections"] == 7  # the image that waits is counted once it is detected
    [message] = st.notifications()
    assert message["subject"] == f"[labelloop sandbox] 7 images on {today()}"
    body = message["message"]
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)  # a text for people, not a JSON dump
    lines = body.splitlines()
    assert lines[0] == f"Detections on {today()} (UTC): 7"
    expected = {
        "confident (no review)": 3,
        "sent to review (training)": 2,
        "skipped (not an image)": 1,
        "unreadable image": 1,
        "reviews started (training)": 2,
        "answers added to training data": 1,
        "answers rejected": 1,
    }
    rows = {line.rsplit("  ", 1)[0].strip(): line.rsplit(" ", 1)[1] for line in lines[2:] if "  " in line}
    assert {k: int(v) for k, v in rows.items() if k in expected} == expected
    [waiting] = [(k, int(v)) for k, v in rows.items() if k.startswith("waiting for a model now (the first since ")]
    assert waiting[1] == 1
    assert not any(k.startswith(("failed", "no label")) for k in rows)  # outcomes that did not happen are left out
    assert "Active model: v1; open reviews: 0." in body


def test_summary_of_a_quiet_day(st):
    result = st.deliver("summary", {"day": "2020-01-01"})
    assert result["detections"] == 0
    [message] = st.notifications()
    assert "0 images on 2020-01-01" in message["subject"] and "nothing happened" in message["message"]


def test_scheduled_summary_covers_yesterday(st):
    st.deliver("summary", {})
    [message] = st.notifications()
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
    assert message["subject"].endswith(f"images on {yesterday}")


def test_subject_lines_are_short_ascii():
    line = notify.subject_line("prod", "Café ☕ review rejected\nsecond line " + "x" * 200)
    assert len(line) <= notify.SUBJECT_LIMIT and line.isascii() and "\n" not in line
    assert line.startswith("[labelloop prod] Caf")


def test_message_body_aligns_facts():
    body = notify.message_body("Summary.", [("a", 1), ("longer name", 22)], "footer")
    assert body == "Summary.\n\na            1\nlonger name  22\n\nfooter\n"
