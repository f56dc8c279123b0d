"""The sandbox end to end: the loop improves the model, loses nothing, duplicates nothing."""

import json
import tarfile
from collections import Counter
from dataclasses import asdict

import pytest

from handlers.runtime.state import item_type
from sandbox.runner import SandboxOptions, run

SMALL = dict(images=520, holdout=150, rounds=3, seed=11)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sandbox")
    result = run(SandboxOptions(out=out, **SMALL))
    state = json.loads((out / "state.json").read_text())
    with tarfile.open(out / "objects.tar") as archive:
        keys = [m.name for m in archive.getmembers() if m.isfile()]
    return result, state, keys


def test_the_deployed_model_ends_better_than_the_first(small_run):
    result, _, _ = small_run
    assert result.first_deployed and result.final_active and result.final_active != result.first_deployed
    first, final = result.versions[result.first_deployed], result.versions[result.final_active]
    assert final["holdout_f1"] > first["holdout_f1"]
    assert result.reviews_accepted > 0


def test_every_uploaded_image_ends_in_a_recorded_outcome(small_run):
    result, state, keys = small_run
    uploaded = {k for k in keys if k.startswith("images_for_detection/")}
    assert len(uploaded) == sum(r.uploaded for r in result.rows) == 520 - 200 - 150
    records = {i["key"]: i for i in state["items"] if i["sk"] == "DET"}
    assert set(records) == uploaded
    assert all(r["outcome"] in ("confident", "to_training", "to_audit", "no_label") and r["reason"]
               for r in records.values())
    assert all(len(r["labels"]) == 10 for r in records.values())  # every label's score is recorded


def test_no_duplicate_human_loop_or_training_copy(small_run):
    result, state, keys = small_run
    loops = [i for i in state["items"] if i["sk"] == "HL"]
    assert len(loops) == len({i["detection_id"] for i in loops}) == result.reviews_started
    reviewed = [i for i in state["items"] if i["sk"] == "DET" and (i.get("decision") or {}).get("review")]
    assert len(reviewed) == len(loops)
    copies = [k for k in keys if k.startswith("images_labeled_by_folder/") and not k.rsplit("/", 1)[1].startswith("digit-")]
    accepted = [i for i in loops if i["status"] == "accepted"]
    assert len(copies) == len(accepted) == result.reviews_accepted


def test_counters_equal_the_training_folders(small_run):
    _, state, keys = small_run
    listed = Counter(k.split("/")[1] for k in keys if k.startswith("images_labeled_by_folder/"))
    counters = {i["sk"][len("COUNT#"):]: i["count"] for i in state["items"]
                if i["pk"] == "LOOP" and i["sk"].startswith("COUNT#")}
    assert counters == dict(listed)
    assert sum(listed.values()) == 20 * 10 + sum(1 for i in state["items"] if i["sk"] == "HL" and i["status"] == "accepted")


def test_every_item_of_a_run_is_a_declared_item_type(small_run):
    _, state, _ = small_run
    assert [(i["pk"], i["sk"]) for i in state["items"] if item_type(i) is None] == []


def test_the_report_folder(small_run, tmp_path):
    from sandbox.report import write_report

    result, _, _ = small_run
    paths = write_report(result, tmp_path)
    assert {p.name for p in paths} == {"report.md", "f1_per_version.png", "reviews_per_round.png", "confidence.png"}
    report = (tmp_path / "report.md").read_text()
    assert "| Round |" in report and f"{result.final_active}" in report
    assert all(p.stat().st_size > 5000 for p in paths if p.suffix == ".png")


def test_a_review_budget_is_never_exceeded():
    result = run(SandboxOptions(out=None, policies=("policies.review_budget",), images=400, holdout=80, rounds=2,
                                seed=11, parameters={"Maximum-Reviews-Per-Day": "12"}))
    assert result.reviews_started == 12
    reasons = " ".join(r.review_reasons for r in result.rows)
    assert "training" in reasons
    assert sum(r.detected for r in result.rows) == 400 - 280


def test_same_seed_same_table():
    options = SandboxOptions(out=None, images=300, holdout=40, rounds=2, seed=5, error_rate=0.3)
    first, second = run(options), run(options)
    assert [asdict(r) for r in first.rows] == [asdict(r) for r in second.rows]
    assert first.wrong_answers == second.wrong_answers > 0
    other = run(SandboxOptions(**{**asdict(options), "seed": 6}))
    assert [asdict(r) for r in other.rows] != [asdict(r) for r in first.rows]


@pytest.mark.parametrize("argv,message", [
    (["--images", "150"], "--images 150 is too few: a run seeds 200 images (20 per label)"),
    (["--error-rate", "1.5"], "--error-rate 1.5 must be between 0 and 1"),
    (["--rounds", "0"], "--rounds must be at least 1"),
    (["--param", "Minimum-F1-Score"], "must look like NAME=VALUE"),
    (["--param", "Minimum-F1-Scor=0.9"], "--param Minimum-F1-Scor: no such parameter"),
    (["--param", "Minimum-F1-Score=abc"], "Minimum-F1-Score: 'abc' is not allowed; expected a number from 0.0 to 1.0"),
    (["--policies", "team.nope"], "policy module 'team.nope' cannot be imported"),
])
def test_sandbox_refuses_bad_options_before_running(argv, message, capsys):
    from cli.main import main

    assert main(["sandbox", *argv]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "Rounds" not in captured.out


def test_a_small_run_keeps_images_to_stream():
    from sandbox.dataset import load_digits_samples, split

    seeds, held, stream = split(load_digits_samples(), seed=1, seed_per_label=20, holdout=300, limit=260)
    assert (len(seeds), len(held), len(stream)) == (200, 20, 40)
    assert not {s.index for s in seeds} & ({s.index for s in held} | {s.index for s in stream})
    _, held, stream = split(load_digits_samples(), seed=1, seed_per_label=20, holdout=100, limit=400)
    assert (len(held), len(stream)) == (100, 100)  # room enough: the holdout asked for is kept
    assert {s.label for s in seeds} == {f"digit-{d}" for d in range(10)}
