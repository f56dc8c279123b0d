"""`labelloop backtest` on a small hand-built set of recorded detections whose
expected counts are worked out by hand below."""

from __future__ import annotations

import json

import pytest
from cli_support import cli, cli_json

from cli import backtest as bt


def det(n, at, scores, truth, *, recorded=None, status=None, outcome=None):
    record = {"detection_id": f"d{n}", "image_uri": f"s3://b/images_for_detection/{n}.png", "detected_at": at,
              "model_version": "v1", "labels": [{"name": k, "confidence": v} for k, v in scores],
              "true_label": truth}
    if recorded is not None:
        record["decision"] = {"review": recorded == "review", "purpose": "training" if recorded == "review" else None,
                              "reason": "recorded", "policy": "policies.defaults"}
        record["outcome"] = "to_training" if recorded == "review" else "confident"
    if status:
        record["review_status"] = status
    if outcome:
        record["outcome"] = outcome
    return record


# Two UTC days. Written out of order: the replay sorts by time. The pending one (no model answer) is
# not replayed. Audit sampling one in 3 draws from each detection id: d1, d2, d7, d8 and d9 draw below 1/3.
EVENTS = [
    det(6, "2026-01-02T00:01:00Z", [("dog", 50.0), ("cat", 45.0)], "dog", recorded="review", status="accepted"),
    det(1, "2026-01-01T00:01:00Z", [("cat", 95.0), ("dog", 5.0)], "cat", recorded="confident"),
    det(0, "2026-01-01T00:01:30Z", [], "cat", outcome="pending"),
    det(2, "2026-01-01T00:02:00Z", [("cat", 60.0), ("dog", 40.0)], "dog", recorded="review", status="accepted"),
    det(3, "2026-01-01T00:03:00Z", [("dog", 90.0), ("cat", 10.0)], "dog", recorded="confident"),
    det(4, "2026-01-01T00:04:00Z", [("cat", 80.0), ("dog", 20.0)], "dog", recorded="confident"),
    det(5, "2026-01-01T00:05:00Z", [], "cat", recorded="review", status="accepted"),
    det(7, "2026-01-02T00:02:00Z", [("cat", 99.0), ("dog", 1.0)], "cat", recorded="confident"),
    det(8, "2026-01-02T00:03:00Z", [("cat", 65.0), ("dog", 35.0)], "cat", recorded="review", status="accepted"),
    det(9, "2026-01-02T00:04:00Z", [("dog", 85.0), ("cat", 15.0)], "cat", recorded="confident"),
]
SAMPLING = ["--param", "Enable-Automatic-Human-Sampling=true", "--param", "Human-Sampling-Interval=3"]


@pytest.fixture
def events(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    return path


def columns(result) -> dict:
    return {c["name"]: c for c in result["columns"]}


def test_backtest_counts_of_a_hand_built_event_set(capsys, events):
    result = cli_json(capsys, "backtest", "--events", events, "--policies", "", "--policies", "policies.review_budget",
                      "--policies", "policies.uncertainty", *SAMPLING, "--param", "Maximum-Reviews-Per-Day=2")
    assert (result["detections"], result["replayed"], result["skipped"]) == (10, 9, {"pending": 1})
    assert result["true_labels"] == 9 and result["model_errors"] == 4  # d2, d4, d5 (no label), d9
    assert result["label_set"] == ["cat", "dog"]
    by_name = columns(result)
    assert list(by_name) == ["recorded", "policies.defaults", "policies.review_budget", "policies.uncertainty"]

    # What the loop recorded: reviews of d2, d5, d6, d8, all accepted.
    recorded = by_name["recorded"]
    assert (recorded["reviews"], recorded["errors_caught"], recorded["errors_slipped"]) == (4, 2, 2)
    assert recorded["errors_caught_per_100_reviews"] == 50.0 and recorded["added_to_training"] == 4

    # Defaults, sampling one in 3: d2, d5, d6, d8 below 70 (training); d1, d7 and d9 confident and drawn (audit).
    defaults = by_name["policies.defaults"]
    assert defaults["reviews"] == 7 and defaults["by_purpose"] == {"training": 4, "audit": 3}
    assert defaults["audit_share"] == pytest.approx(3 / 7)
    assert (defaults["model_errors"], defaults["errors_caught"], defaults["errors_slipped"]) == (4, 3, 1)
    assert defaults["errors_caught_per_100_reviews"] == pytest.approx(300 / 7, abs=0.05)
    assert defaults["by_label"] == {"(no label)": 1, "cat": 4, "dog": 2}
    assert defaults["by_policy"] == {"policies.defaults / training": 4, "policies.defaults / audit": 3}
    # The simulated reviewer answers with the true label; audits never become training data.
    assert defaults["added_to_training"] == 4 and defaults["added_by_label"] == {"cat": 2, "dog": 2}

    # Budget of 2 a day: day 1 audits d1 and reviews d2, then refuses d5; day 2 starts at 0: d6 and the
    # audit of d7, not d8 nor d9.
    budget = by_name["policies.review_budget"]
    assert budget["reviews"] == 4 and budget["by_purpose"] == {"training": 2, "audit": 2}
    assert budget["audit_share"] == 0.5
    assert (budget["errors_caught"], budget["errors_slipped"], budget["errors_caught_per_100_reviews"]) == (1, 3, 25.0)
    assert budget["added_to_training"] == 2
    assert budget["settings"]["Maximum-Reviews-Per-Day"] == "2"

    # Uncertainty: d6 (dog 50 vs cat 45, within 10) is now its review; the rest as the defaults decide.
    uncertain = by_name["policies.uncertainty"]
    assert uncertain["reviews"] == 7
    assert uncertain["by_policy"] == {"policies.defaults / training": 3, "policies.defaults / audit": 3,
                                      "policies.uncertainty / training": 1}
    assert uncertain["policies"] == ["policies.uncertainty", "policies.defaults"]


def test_backtest_text_shows_the_columns_side_by_side(capsys, events):
    code, out, _ = cli(capsys, "backtest", "--events", events, "--policies", "", "--policies",
                       "policies.review_budget", *SAMPLING, "--param", "Maximum-Reviews-Per-Day=2")
    assert code == 0
    lines = out.splitlines()
    header = next(line for line in lines if "recorded" in line and "review_budget" in line)
    assert header.split() == ["recorded", "defaults", "review_budget"]
    row = next(line for line in lines if line.startswith("reviews started"))
    assert row.split()[-3:] == ["4", "7", "4"]
    assert next(line for line in lines if line.startswith("errors caught per 100 reviews")).split()[-3:] == \
        ["50.0", "42.9", "25.0"]
    assert "not replayed (no model answer): 1 pending" in out
    assert "audit sample: one in every N images, drawn from its content" in out  # reviews grouped by reason


def test_backtest_without_true_labels_counts_reviews_only(capsys, tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps({k: v for k, v in e.items() if k != "true_label"}) + "\n" for e in EVENTS))
    result = cli_json(capsys, "backtest", "--events", path, "--policies", "")
    defaults = columns(result)["policies.defaults"]
    assert result["true_labels"] == 0 and defaults["reviews"] == 4  # sampling is off by default
    assert defaults["model_errors"] is None and defaults["errors_caught_per_100_reviews"] is None
    assert defaults["added_to_training"] is None
    code, out, _ = cli(capsys, "backtest", "--events", path, "--policies", "")
    assert code == 0 and "true labels unknown" in out
    assert not any(line.startswith("model errors") for line in out.splitlines())


def test_events_without_recorded_decisions_have_no_recorded_column(capsys, tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps({"detected_at": "2026-01-01T00:00:00Z", "labels": [{"name": "a", "confidence": 10}]}))
    result = cli_json(capsys, "backtest", "--events", path, "--policies", "")
    assert [c["name"] for c in result["columns"]] == ["policies.defaults"]
    assert result["columns"][0]["reviews"] == 1


@pytest.mark.parametrize("argv, message", [
    (["--policies", "team.nope"], "policy module 'team.nope' cannot be imported"),
    (["--policies", "", "--param", "Nope=1"], "--param Nope: none of the policies being measured reads it"),
    (["--policies", "", "--param", "Human-Sampling-Interval=abc"], "Human-Sampling-Interval: 'abc' is not allowed"),
    (["--policies", "", "--param", "Human-Sampling-Interval=1,000"], "'1,000' is not allowed"),
    (["--policies", "", "--param", "Minimum-F1-Score=2"], "expected a number from 0.0 to 1.0"),
    (["--policies", "", "--param", "Maximum-Reviews-Per-Day=5"], "none of the policies being measured reads it"),
    (["--policies", "", "--param", "novalue"], "must look like NAME=VALUE"),
])
def test_backtest_refusals(capsys, events, argv, message):
    code, out, err = cli(capsys, "backtest", "--events", events, *argv)
    assert code == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1


def test_backtest_needs_something_to_replay(capsys, tmp_path):
    code, _, err = cli(capsys, "backtest", "--policies", "")
    assert code == 2 and "no detections to replay: pass --events FILE" in err
    code, _, err = cli(capsys, "backtest", "--policies", "", "--events", tmp_path / "missing.jsonl")
    assert code == 2 and "missing.jsonl" in err and "labelloop export --out FILE" in err
    code, _, err = cli(capsys, "backtest", "--policies", "", "--sandbox", tmp_path)
    assert code == 2 and "holds no saved sandbox run" in err


@pytest.mark.parametrize("line, message", [
    ("not json", "events.jsonl:2: not JSON"),
    ('{"labels": []}', "events.jsonl:2: detected_at is missing"),
    ('{"detected_at": "yesterday", "labels": []}', "'yesterday' is not an ISO time"),
    ('{"detected_at": "2026-01-01T00:00:00Z", "labels": [{"name": "a"}]}', "needs a name and a numeric confidence"),
])
def test_a_bad_event_line_is_named(capsys, tmp_path, line, message):
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(EVENTS[1]) + "\n" + line + "\n")
    code, _, err = cli(capsys, "backtest", "--events", path, "--policies", "")
    assert code == 2 and message in err


def test_reason_kinds_group_reviews_by_rule():
    assert bt.reason_kind("top label 'digit-8' at 37.6 is below Minimum-Label-Detection-Confidence 70") == \
        "top label '…' at N is below Minimum-Label-Detection-Confidence N"
    assert bt.reason_kind("audit sample: detection 20 is one in every 10") == \
        "audit sample: detection N is one in every N"
