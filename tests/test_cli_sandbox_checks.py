"""`labelloop doctor` and `labelloop smoke` against saved sandbox runs: both pass on a fresh run and
fail clearly on a broken one."""

from __future__ import annotations

import io
import json
import re
import tarfile

from cli_support import cli, cli_json_code, statuses

from sandbox.saved import load_state, write_state


def test_a_fresh_sandbox_run_passes_the_checks_that_apply_there(capsys, saved_run):
    data = cli_json_code(capsys, 0, "doctor", "--sandbox", saved_run)
    found = statuses(data)
    assert found == {"region": {"ok"}, "parameters": {"ok"}, "model": {"ok"}, "permissions": {"skip"},
                     "quotas": {"skip"}, "reviewer-email": {"skip"}, "a2i": {"skip"}, "labelstudio": {"skip"},
                     "functions": {"skip"},
                     "rules": {"skip"}, "idle-model": {"skip"}}


def test_a_broken_sandbox_run_fails_clearly(capsys, run_copy):
    state = load_state(run_copy)
    state["parameters"]["Minimum-F1-Score"] = "very high"
    loop = next(i for i in state["items"] if (i["pk"], i["sk"]) == ("LOOP", "STATE"))
    loop["active_version"] = "v99"
    write_state(run_copy, state)
    code, out, _ = cli(capsys, "doctor", "--sandbox", run_copy)
    assert code == 1
    assert "FAIL  parameters      Minimum-F1-Score = 'very high' is not allowed" in out
    assert "FAIL  model           the active model v99 is not a version of the stack's project" in out
    # What still runs is not the active model: it bills without serving.
    assert re.search(r"FAIL  model           v\d+ run\(s\) without serving \(\$4\.00 an hour\)", out)
    assert out.splitlines()[-1] == "1 ok, 0 warning(s), 3 failed, 8 skipped"
    assert json.loads(cli(capsys, "doctor", "--sandbox", run_copy, "--json")[1])["fail"] == 3


def _objects(run) -> list[str]:
    with tarfile.open(run / "objects.tar") as archive:
        return [m.name for m in archive.getmembers()]


def test_smoke_runs_end_to_end_on_a_sandbox_run_and_removes_what_it_made(capsys, run_copy):
    before = cli_json_code(capsys, 0, "status", "--sandbox", run_copy)
    objects = _objects(run_copy)
    code, out, err = cli(capsys, "smoke", "--sandbox", run_copy, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["passed"] is True
    assert [s["step"] for s in result["steps"]] == ["reviewer", "upload", "detection", "review", "answer",
                                                    "training copy"]
    assert all(s["status"] == "ok" for s in result["steps"])
    copy = next(s for s in result["steps"] if s["step"] == "training copy")["detail"]
    label = before["labels"][0]["label"]
    assert copy.startswith(f"images_labeled_by_folder/{label}/") and f"{label!r} image(s) now" in copy
    assert "waiting for the detection of images_for_detection/labelloop-smoke/" in err  # progress, on stderr
    # Everything it made is gone: images, the copy, the count, open tasks; the history stays.
    assert _objects(run_copy) == objects
    after = cli_json_code(capsys, 0, "status", "--sandbox", run_copy)
    assert after["labels"] == before["labels"] and after["open_reviews"] == before["open_reviews"] == 0
    assert after["days"][-1]["detections"] == before["days"][-1]["detections"] + 2
    assert any(line.startswith("deleted temporary reviewer labelloop-smoke-") for line in result["removed"])
    assert any("day's counts" in line for line in result["kept"])


def test_smoke_fails_at_the_step_that_broke_and_still_cleans_up(capsys, run_copy, monkeypatch):
    from cli.sandbox_target import SandboxTarget

    restored = SandboxTarget._restored

    def detect_not_granted(self):  # the detection function's role lost rekognition:DetectCustomLabels
        stack = restored(self)
        stack.standins["rekognition"].faults["DetectCustomLabels"] = ["AccessDeniedException"] * 50
        return stack

    monkeypatch.setattr(SandboxTarget, "_restored", detect_not_granted)
    objects = _objects(run_copy)
    code, out, _ = cli(capsys, "smoke", "--sandbox", run_copy, "--timeout", "5")
    assert code == 1
    assert re.search(r"FAIL  detection      images_for_detection/labelloop-smoke/\w+/image-0\.png was detected as "
                     r"failed: .*AccessDeniedException", out)
    assert "look: the executions of state machine labelloop-sandbox-detection and the log group " \
           "/aws/lambda/labelloop-sandbox-detect" in out
    assert out.splitlines()[-1].startswith("Smoke failed at detection: ")
    assert _objects(run_copy) == objects  # its uploads were removed all the same


def test_smoke_with_train_states_the_cost_and_asks_first(capsys, run_copy, monkeypatch):
    objects = _objects(run_copy)
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    code, out, err = cli(capsys, "smoke", "--sandbox", run_copy, "--train")
    assert code == 1 and "Cancelled; nothing was made." in out
    assert "--train runs a training now (about $1.00 per training hour" in err
    assert "$4.00 per hour (1 inference unit(s)) from when it runs, idle or not" in err
    assert _objects(run_copy) == objects
    result = json.loads(cli(capsys, "smoke", "--sandbox", run_copy, "--train", "--yes", "--json")[1])
    assert result["passed"] and result["steps"][0]["step"] == "train"
    assert result["trained"]["status"] == "SUCCEEDED" and result["trained"]["check"]["trigger"] == "manual"
