"""The operator commands on a saved sandbox run (`labelloop sandbox --out DIR`)."""

from __future__ import annotations

import json
import re

from cli_support import cli, cli_json

from policies.defaults import unit_hash
from sandbox.saved import load_state, write_state


def loop_item(folder) -> dict:
    return next(i for i in load_state(folder)["items"] if i["pk"] == "LOOP" and i["sk"] == "STATE")


def detections(folder) -> list[dict]:
    return [i for i in load_state(folder)["items"] if i["sk"] == "DET"]


def test_status_of_a_sandbox_run(capsys, saved_run):
    state, loop = load_state(saved_run), loop_item(saved_run)
    data = cli_json(capsys, "status", "--sandbox", saved_run)
    assert data["target"] == f"sandbox {saved_run}"
    assert data["as_of"] == state["saved_at"][:19] + "Z"
    assert data["model"]["active_version"] == loop["active_version"]
    assert data["model"]["active_f1"] == loop["active_f1"]
    assert data["model"]["previous_version"] == loop["previous_version"]
    assert data["last_training_decision"]["reason"] == loop["last_training_decision"]["reason"]
    # 'today' of a saved run is the last day it recorded
    day = max(i["pk"][6:] for i in state["items"] if i["pk"].startswith("STATS#"))
    assert data["days"][-1]["day"] == day
    assert sum(d["detections"] for d in data["days"]) == len(detections(saved_run)) == 100
    counts = {i["sk"][6:]: i["count"] for i in state["items"] if i["pk"] == "LOOP" and i["sk"].startswith("COUNT#")}
    assert {r["label"]: r["images"] for r in data["labels"]} == counts
    assert [r["label"] for r in data["labels"]] == list(state["labels"])
    assert data["parameters"]["problems"] == []

    code, out, _ = cli(capsys, "status", "--sandbox", saved_run)
    assert code == 0
    assert f"active         {loop['active_version']} (F1 {loop['active_f1']:.3f})" in out
    assert "Parameters: all 18 set and valid" in out
    # What the stand-in published while the run ran, saved with it: the ledger next to it.
    assert re.search(r"CloudWatch     last day, .*: the ledger has [\d.]+ IU-hours, InServiceInferenceUnits [\d.]+ ", out)
    published = sum(d["Value"] for d in state["metrics"]) / 60  # unit-minutes -> IU-hours
    check = data["cost"]["reconciled"]
    assert published > 0 and check["cloudwatch_iu_hours"] == round(published, 3)
    assert check["ledger_iu_hours"] > 0  # the status's 'now' is when the run was saved, not the day's end
    total = next(line for line in out.splitlines() if line.startswith("total"))
    assert total.split()[1] == str(sum(counts.values()))


def test_status_shows_each_reviewers_answers_and_agreement_with_the_final_label(capsys, saved_run):
    saved = {i["sk"]: i for i in load_state(saved_run)["items"] if i["pk"] == "REVIEWERS"}
    answered = [i for i in load_state(saved_run)["items"] if i["sk"] == "HL" and i.get("result", {}).get("answers")]
    assert saved and answered
    reviewers = cli_json(capsys, "status", "--sandbox", saved_run)["reviewers"]
    assert {r["reviewer"]: (r["answers"], r["agreed"], r["disagreed"]) for r in reviewers} == {
        k: (int(v.get("answers", 0)), int(v.get("agreed", 0)), int(v.get("disagreed", 0))) for k, v in saved.items()}
    assert sum(r["answers"] for r in reviewers) == sum(len(i["result"]["answers"]) for i in answered)
    for r in reviewers:
        decided = r["agreed"] + r["disagreed"]
        assert r["agreement"] == (r["agreed"] / decided if decided else None)
    _, out, _ = cli(capsys, "status", "--sandbox", saved_run)
    first = reviewers[0]
    row = next(line for line in out.splitlines() if line.startswith(first["name"] or first["reviewer"]))
    assert row.split()[1:3] == [str(first["answers"]), str(first["skips"])]
    assert row.split()[-1] == f"{first['agreement']:.0%}" if first["agreement"] is not None else "-"


def test_params_of_a_sandbox_run(capsys, saved_run):
    saved = load_state(saved_run)["parameters"]
    rows = {r["name"]: r for r in cli_json(capsys, "params", "list", "--sandbox", saved_run)["parameters"]}
    assert {name: r["value"] for name, r in rows.items()} == saved
    assert all(r["valid"] and r["modified"] is None for r in rows.values())
    assert cli_json(capsys, "params", "get", "Human-Sampling-Interval", "--sandbox", saved_run)["value"] == "10"
    diff = cli_json(capsys, "params", "diff", "--sandbox", saved_run)["differences"]
    assert {d["name"]: d["value"] for d in diff} == {"Minimum-F1-Score": "0.5", "Enable-Automatic-Human-Sampling": "true",
                                                     "Human-Sampling-Interval": "10"}


def test_export_of_a_sandbox_run_carries_the_true_labels(capsys, saved_run, tmp_path):
    out_file = tmp_path / "run.jsonl"
    code, out, _ = cli(capsys, "export", "--sandbox", saved_run, "--out", out_file)
    assert code == 0 and out.startswith(f"Wrote 100 detections of sandbox {saved_run} to {out_file}")
    records = [json.loads(line) for line in out_file.read_text().splitlines()]
    truth = load_state(saved_run)["truth"]
    assert len(records) == 100 and all(r["true_label"] == truth[r["image_uri"]] for r in records)
    assert all(len(r["labels"]) == 10 for r in records)  # every label's score, not only the top one
    reviewed = [r for r in records if r["decision"]["review"]]
    assert reviewed and all(r["review_status"] in ("accepted", "audited") for r in reviewed)
    assert all(r["human_label"] == r["true_label"] for r in reviewed if r["review_status"] == "accepted")


def test_backtest_of_the_defaults_reproduces_what_the_run_recorded(capsys, saved_run, tmp_path):
    result = cli_json(capsys, "backtest", "--sandbox", saved_run, "--policies", "",
                      "--policies", "policies.review_budget", "--param", "Maximum-Reviews-Per-Day=10")
    recorded, defaults, budget = result["columns"]
    assert result["replayed"] == 100 and result["true_labels"] == 100
    # Same policies, same parameter values, same facts: the replay decides as the loop did.
    for key in ("reviews", "by_purpose", "by_policy", "by_reason", "by_label", "model_errors", "errors_caught",
                "added_to_training"):
        assert defaults[key] == recorded[key], key
    # Audits: the confident detections whose id draws below 1/10 (as the loop drew them).
    confident_tenths = [d for d in detections(saved_run)
                        if unit_hash(d["detection_id"], "audit") * 10 < 1 and d["labels"][0]["confidence"] >= 70]
    assert defaults["by_purpose"]["audit"] == len(confident_tenths) > 0
    assert defaults["settings"] == {"Enable-Automatic-Human-Sampling": "true", "Human-Sampling-Interval": "10",
                                    "Minimum-F1-Score": "0.5"}
    assert budget["reviews"] == 10 and budget["errors_slipped"] >= recorded["errors_slipped"]

    # The same detections read from the run's table (the --sandbox target) and from an export.
    assert cli_json(capsys, "backtest", "--sandbox", saved_run, "--policies", "")["columns"] == result["columns"][:2]
    events = tmp_path / "run.jsonl"
    cli(capsys, "export", "--sandbox", saved_run, "--out", events)
    from_file = cli_json(capsys, "backtest", "--events", events, "--policies", "", "--sandbox", saved_run)
    assert from_file["columns"] == result["columns"][:2]


def test_params_set_on_a_sandbox_run(capsys, run_copy):
    before = (run_copy / "state.json").read_text()
    code, _, err = cli(capsys, "params", "set", "Minimum-F1-Score", "abc", "--sandbox", run_copy)
    assert code == 2 and "'abc' is not allowed" in err
    assert (run_copy / "state.json").read_text() == before  # refused before the run was even restored
    code, out, _ = cli(capsys, "params", "set", "Minimum-F1-Score", "0.75", "--sandbox", run_copy)
    assert code == 0 and out.startswith("Minimum-F1-Score: 0.5 → 0.75")
    assert load_state(run_copy)["parameters"]["Minimum-F1-Score"] == "0.75"


def test_a_per_label_value_with_a_label_the_run_lacks_is_refused_and_nothing_written(capsys, run_copy):
    state = load_state(run_copy)
    state["policies"] = ["policies.uncertainty"]
    write_state(run_copy, state)
    code, _, err = cli(capsys, "params", "set", "Label-Confidence-Thresholds", "digt-7=100", "--sandbox", run_copy)
    assert code == 2 and "'digt-7' is not one; did you mean 'digit-7'?" in err and "nothing was written" in err
    assert "Label-Confidence-Thresholds" not in load_state(run_copy)["parameters"]
    code, _, err = cli(capsys, "sandbox", "--policies", "policies.uncertainty", "--param",
                       "Label-Confidence-Thresholds=digit-1=50, digt-7=100", "--no-report")
    assert code == 2 and "did you mean 'digit-7'?" in err


def test_train_and_rollback_on_a_sandbox_run(capsys, run_copy):
    loop = loop_item(run_copy)
    code, out, err = cli(capsys, "train", "--sandbox", run_copy, "--json")
    assert code == 0 and err.splitlines() == [  # what it is doing, in order, apart from the answer
        f"Restoring the run in {run_copy} to change it (its table, bucket and models, into moto)…",
        "  StopStrays…", "  CheckTraining…",  # each step of the lifecycle run as it begins
        f"Saving the run back into {run_copy}…"], err
    data = json.loads(out)
    assert data["status"] == "SUCCEEDED" and data["check"]["train"] is False and data["check"]["trigger"] == "manual"
    assert "0 new labelled images since the last training" in data["check"]["reason"]
    assert loop_item(run_copy)["last_training_decision"]["trigger"] == "manual"  # saved back

    code, out, err = cli(capsys, "rollback", "--yes", "--sandbox", run_copy)
    assert code == 0 and "  PrepareRollback…\n  StartModel…\n" in err and "  Switch…\n" in err, err
    assert f"Rollback of sandbox {run_copy} from {loop['active_version']} to {loop['previous_version']}" in out
    assert f"outcome    rolled_back {loop['previous_version']}" in out
    assert loop_item(run_copy)["active_version"] == loop["previous_version"]
    versions = {v["version"]: v for v in cli_json(capsys, "versions", "--sandbox", run_copy)["versions"]}
    back, left = versions[loop["previous_version"]], versions[loop["active_version"]]
    assert (back["status"], back["running"], back["stopped_at"]) == ("RUNNING", True, None)  # its old stop is over
    assert not left["running"] and left["stopped_at"] is not None


def test_a_folder_without_a_run_is_named(capsys, tmp_path):
    code, _, err = cli(capsys, "status", "--sandbox", tmp_path)
    assert code == 2 and f"{tmp_path} holds no saved sandbox run" in err and "labelloop sandbox --out DIR" in err
    code, _, err = cli(capsys, "status", "--sandbox", tmp_path, "--stack", "prod")
    assert code == 2 and "--sandbox and --stack name two different targets" in err


def test_a_gate_set_too_small_to_decide_is_refused_before_the_run(capsys, tmp_path):
    code, _, err = cli(capsys, "sandbox", "--gate-set-per-label", "3", "--out", tmp_path / "run")
    assert code == 2 and "--gate-set-per-label 3 is below Minimum-Gate-Set-Images-Per-Label 5" in err
    assert "--param Minimum-Gate-Set-Images-Per-Label=3" in err and not (tmp_path / "run").exists()


def test_a_run_left_open_ends_by_saying_how_many_reviews_wait_and_the_command(capsys, tmp_path):
    from datetime import datetime, timezone

    from sandbox.review_server import reviewable

    out = tmp_path / "myrun"
    code, text, err = cli(capsys, "sandbox", "--images", "150", "--rounds", "1", "--start-per-label", "3",
                          "--param", "Minimum-F1-Score=0.3", "--leave-reviews-open", "--out", out)
    assert code == 0, err
    waiting = reviewable(load_state(out), datetime.now(timezone.utc))[0]
    assert waiting > 0
    assert text.rstrip().splitlines()[-1] == f"{waiting} reviews wait for you: labelloop review --sandbox {out}"


def test_status_of_a_saved_run_says_its_clock_stops_when_it_was_saved_and_a_change_moves_it(capsys, run_copy):
    saved = load_state(run_copy)["saved_at"]
    code, text, _ = cli(capsys, "status", "--sandbox", run_copy)
    assert code == 0
    assert text.splitlines()[1] == (f"As of {saved[:19].replace('T', ' ')}, when the run was saved — its end, or the "
                                    "last command that changed it: a saved run's clock stops there, and costs and "
                                    "ages are counted to it.")
    assert cli(capsys, "params", "set", "Minimum-F1-Score", "0.75", "--sandbox", run_copy)[0] == 0
    assert load_state(run_copy)["saved_at"] > saved  # changed later: its views are as of the change
    assert cli_json(capsys, "status", "--sandbox", run_copy)["as_of"] == load_state(run_copy)["saved_at"][:19] + "Z"


def test_a_stopped_and_restarted_model_of_a_saved_run_shows_as_rekognition_has_it(capsys, run_copy):
    def active() -> dict:
        data = cli_json(capsys, "versions", "--sandbox", run_copy)
        return next(v for v in data["versions"] if v["version"] == data["active_version"])

    assert (active()["status"], active()["running"]) == ("RUNNING", True)
    code, out, err = cli(capsys, "stop", "--yes", "--sandbox", run_copy)
    assert code == 0 and ": stopped (" in out, out + err
    assert (active()["status"], active()["running"]) == ("STOPPED", False)  # not STOPPING for ever
    assert active()["stopped_at"] is not None
    assert cli_json(capsys, "status", "--sandbox", run_copy)["cost"]["units_running"] == 0
    code, out, err = cli(capsys, "start", "--yes", "--sandbox", run_copy)
    assert code == 0 and ": starting (" in out, out + err  # not "nothing to start: the model is stopping"
    assert "runs now (a sandbox's model starts at once): 1 inference unit(s) billed from now on" in out
    assert (active()["status"], active()["running"], active()["stopped_at"]) == ("RUNNING", True, None)
    status = cli_json(capsys, "status", "--sandbox", run_copy)  # the serving period is open: it bills
    assert (status["cost"]["units_running"], status["cost"]["per_hour_now"]) == (1, 4.0)


def test_status_of_a_saved_run_gives_each_reviewer_their_accuracy_against_the_true_labels(capsys, run_copy):
    state = load_state(run_copy)
    answered = [i for i in state["items"] if i["sk"] == "HL" and (i.get("result") or {}).get("answers")]
    assert answered
    state["truth"][answered[0]["image_uri"]] = "not-what-anyone-answered"  # one answer is now wrong
    write_state(run_copy, state)
    reviewers = cli_json(capsys, "status", "--sandbox", run_copy)["reviewers"]
    answers = sum(len(i["result"]["answers"]) for i in answered if i["image_uri"] in state["truth"])
    assert len(reviewers) == 1 and reviewers[0]["accuracy"] == (answers - 1) / answers
    code, text, _ = cli(capsys, "status", "--sandbox", run_copy)
    assert "right: answers that named the image's true label" in text and f"{(answers - 1) / answers:.0%}" in text
