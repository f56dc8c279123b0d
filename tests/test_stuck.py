"""A loop that cannot go on by itself is named, with what unsticks it: in `labelloop status`, the
sandbox summary and the daily summary notification."""

from __future__ import annotations

from datetime import UTC, datetime

from cli_support import cli, cli_json
from lifecycle_support import lifecycle_stack
from stack_support import (UNSURE, activate_model, detection_result, local_stack, open_review, output_document,
                           set_parameters, training_keys, upload, write_output)

from handlers.runtime.state import Dataset, LoopState, ModelVersion
from handlers.runtime.stuck import diagnose
from plugins import Engine

SETTINGS = Engine.load(["policies.review_budget"], entry_points=False).catalog.defaults()


def rejected(version: str, f1: float) -> ModelVersion:
    return ModelVersion(version, evaluation={"f1": f1}, decision={"deploy": False, "reason": "below the gate"})


def test_a_loop_that_goes_on_by_itself_is_not_stuck():
    serving = LoopState(active_version="v2", reviews_today=3)
    assert diagnose(serving, Dataset({"cat": 40}, {"cat": 40}), SETTINGS, [rejected("v3", 0.7)]) == []


def test_no_version_ever_deployed_names_the_gate_and_a_value_that_passes():
    [stuck] = diagnose(LoopState(), Dataset(), SETTINGS.replace(Minimum_F1_Score=0.99),
                       [rejected("v1", 0.912), rejected("v2", 0.934)])
    assert "no version was ever deployed: 2 trained, the best v2 at F1 0.934 below Minimum-F1-Score 0.99" in stuck.why
    assert stuck.fix.startswith("labelloop params set Minimum-F1-Score 0.93 (then labelloop train)")


def test_reviews_off_training_off_and_a_spent_budget_are_named():
    settings = SETTINGS.replace(Enable_A2I_Workflow=False, Enable_Automatic_Training=False,
                                Maximum_Reviews_Per_Day=0)
    found = diagnose(LoopState(reviews_today=0), Dataset({"cat": 12}, {"cat": 10}), settings, [])
    fixes = [s.fix for s in found]
    assert fixes[0] == "labelloop params set Enable-Automatic-Training true, or labelloop train"
    assert fixes[1].startswith("labelloop params set Enable-A2I-Workflow true")
    assert "needs 10 new labelled images (2 so far)" in found[1].why
    assert fixes[2] == "labelloop params set Maximum-Reviews-Per-Day 10" and found[2].why.endswith("ever")


def test_status_names_a_stuck_loop_with_its_fix(capsys, run_copy):
    assert cli_json(capsys, "status", "--sandbox", run_copy)["stuck"] == []
    cli(capsys, "params", "set", "Enable-A2I-Workflow", "false", "--sandbox", run_copy)
    [stuck] = cli_json(capsys, "status", "--sandbox", run_copy)["stuck"]
    assert stuck["fix"].startswith("labelloop params set Enable-A2I-Workflow true")
    code, out, _ = cli(capsys, "status", "--sandbox", run_copy)
    assert code == 0 and "! Stuck: Enable-A2I-Workflow is false" in out.splitlines()[3]  # after the title and the as-of line
    assert out.splitlines()[4].startswith("  Fix: labelloop params set Enable-A2I-Workflow true")


def test_the_daily_summary_tells_a_stuck_loop(monkeypatch):
    with lifecycle_stack() as stack:
        stack.set_parameter("Enable-A2I-Workflow", "false")
        stack.pump()
        stack.notifications()  # the parameter change's own notification
        stack.deliver("summary", {})
        [summary] = stack.notifications()
    assert "Stuck: no model is deployed" not in summary["message"]
    assert "Stuck: Enable-A2I-Workflow is false" in summary["message"]
    assert "Fix: labelloop params set Enable-A2I-Workflow true" in summary["message"]


def test_review_off_with_reviews_still_open_says_what_they_can_still_add():
    settings = SETTINGS.replace(Enable_A2I_Workflow=False)
    [stuck] = diagnose(LoopState(active_version="v1", open_reviews=3), Dataset({"cat": 12}, {"cat": 10}), settings, [])
    assert stuck.why == ("Enable-A2I-Workflow is false, so no new review opens, and a training needs 10 new labelled "
                         "images (2 so far; the 3 review(s) still open can add at most 3 more)")
    assert "no reviewed image becomes training data" not in stuck.line()
    # Enough open reviews to reach a training: reviewers, not the switch, decide whether it comes.
    enough_open = LoopState(active_version="v1", open_reviews=8)
    assert diagnose(enough_open, Dataset({"cat": 12}, {"cat": 10}), settings, []) == []


def test_training_off_with_enough_new_images_names_the_switch_and_the_request_that_trains():
    settings = SETTINGS.replace(Enable_Automatic_Training=False)
    [stuck] = diagnose(LoopState(active_version="v1"), Dataset({"cat": 22}, {"cat": 10}), settings, [])
    assert stuck.why == ("Enable-Automatic-Training is false: 12 new labelled images wait for a training "
                         "(Minimum-Untrained-Images 10), and no scheduled check trains")
    assert stuck.fix == "labelloop params set Enable-Automatic-Training true, or labelloop train"
    assert diagnose(LoopState(active_version="v1"), Dataset({"cat": 15}, {"cat": 10}), settings, []) == []


def test_the_summary_of_answers_accepted_after_review_went_off_tells_the_truth():
    with local_stack() as st:
        activate_model()
        names = [open_review(st, f"images_for_detection/open-{n}.png")[1] for n in range(3)]
        set_parameters(st, **{"Enable-A2I-Workflow": "false"})
        assert detection_result(upload(st, "images_for_detection/after.png", UNSURE))["review"] is False
        for name in names[:2]:  # answered after the switch went off: accepted, and training data
            write_output(st, name, output_document(st, name, ["cat"]))
        assert len(training_keys(st)) == 2
        st.notifications()
        st.deliver("summary", {"day": datetime.now(UTC).strftime("%Y-%m-%d")})
        [summary] = st.notifications()
    message = summary["message"]
    assert "answers added to training data" in message
    assert "no reviewed image becomes training data" not in message
    assert ("Stuck: Enable-A2I-Workflow is false, so no new review opens, and a training needs 10 new labelled images "
            "(2 so far; the 1 review(s) still open can add at most 1 more)") in message
