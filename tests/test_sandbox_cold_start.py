"""The sandbox from a cold start, with a gate set and a review budget per round: every training is
tested on the gate set, the reviewers answer the highest priorities first, and the report shows the
final model per label with its confusion matrix."""

from __future__ import annotations

import re

import pytest

from sandbox.report import write_report
from sandbox.runner import SandboxOptions, run


@pytest.fixture(scope="module")
def cold(tmp_path_factory):
    out = tmp_path_factory.mktemp("cold")
    options = SandboxOptions(images=30 + 60 + 100, holdout=60, rounds=1, seed_per_label=3, gate_set_per_label=1,
                             review_budget=4, policies=("policies.margin",), out=out,
                             parameters={"Review-Margin": "100", "Minimum-Untrained-Images": "1",
                                         "Minimum-F1-Score": "0", "Minimum-Gate-Set-Images-Per-Label": "1"})
    return run(options), out


def test_a_cold_start_trains_on_a_few_images_per_label_and_tests_on_the_gate_set(cold):
    result, out = cold
    assert [row.answers for row in result.rows] == [0, 4]  # the budget, every round
    assert [row.accepted for row in result.rows] == [0, 4]
    assert all(row.active_holdout_f1 is not None for row in result.rows)
    assert list(result.versions) == ["v1", "v2"] and all(v["deployed"] for v in result.versions.values())
    import json

    state = json.loads((out / "state.json").read_text())
    models = {item["version"]: item for item in state["items"] if item["sk"] == "MODEL"}
    assert models["v1"]["counts"] == {f"digit-{d}": 3 for d in range(10)}
    assert models["v1"]["gate_set"] == models["v2"]["gate_set"]  # the same images tested every version
    assert models["v2"]["side_by_side"]["images"] == 10  # one per label (the gate set needs every label)
    assert models["v2"]["side_by_side"]["incumbent_version"] == "v1"


def test_the_report_has_the_final_model_per_label_and_its_confusion_matrix(cold):
    result, out = cold
    scores = result.final_scores
    assert scores.version == result.final_active and scores.images == 60
    assert sum(sum(row.values()) for row in scores.confusion.values()) == 60
    report = write_report(result, out)[0].read_text()
    assert f"## Final model {result.final_active} on the holdout images" in report
    assert re.search(r"^\| digit-0 \| \d\.\d{3} \| \d\.\d{3} \| \d\.\d{3} \| \d+ \|$", report, re.M)
    assert "| true label | 0 | 1 |" in report
