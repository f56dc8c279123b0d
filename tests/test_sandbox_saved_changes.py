"""Changing a saved sandbox run: in place, one command at a time."""

from __future__ import annotations

import threading
import time

from cli_support import cli

from cli.main import main
from sandbox import saved
from sandbox.saved import LOCK, OBJECTS, load_state, locked, write_state


def test_a_parameter_change_is_made_in_place_and_recorded(capsys, run_copy):
    objects = (run_copy / OBJECTS).stat().st_mtime_ns
    code, out, _ = cli(capsys, "params", "set", "Human-Sampling-Interval", "25", "--sandbox", run_copy)
    assert code == 0 and out.startswith("Human-Sampling-Interval: 10 → 25")
    state = load_state(run_copy)
    assert state["parameters"]["Human-Sampling-Interval"] == "25"
    changes = [i for i in state["items"] if i["pk"] == "PARAMCHANGE"]
    assert [(c["parameter"], c["value"]) for c in changes][-1:] == [("Human-Sampling-Interval", "25")]
    assert (run_copy / OBJECTS).stat().st_mtime_ns == objects  # the bucket was not restored nor saved again
    assert cli(capsys, "params", "get", "Human-Sampling-Interval", "--sandbox", run_copy)[1].startswith(
        "Human-Sampling-Interval = 25")


def test_a_second_writer_is_refused_clearly_when_the_first_does_not_finish(capsys, run_copy, monkeypatch):
    monkeypatch.setattr(saved, "LOCK_WAIT_SECONDS", 0.3)
    before = (run_copy / "state.json").read_text()
    with locked(run_copy):
        code, out, err = cli(capsys, "params", "set", "Minimum-F1-Score", "0.7", "--sandbox", run_copy)
    assert code == 2 and out == ""
    assert "Waiting for another command changing" in err
    assert f"another command is changing the sandbox run in {run_copy}" in err and "nothing was changed" in err
    assert str(run_copy / LOCK) in err
    assert (run_copy / "state.json").read_text() == before


def test_a_second_writer_waits_and_loses_nothing(capsys, run_copy):
    finished = []
    with locked(run_copy):
        writer = threading.Thread(target=lambda: finished.append(
            main(["params", "set", "Minimum-F1-Score", "0.7", "--sandbox", str(run_copy)])))
        writer.start()
        time.sleep(0.5)
        assert not finished  # waiting for the lock
        state = load_state(run_copy)  # meanwhile the first writer changes another parameter
        state["parameters"]["Human-Sampling-Interval"] = "40"
        write_state(run_copy, state)
    writer.join(timeout=120)
    assert finished == [0]
    parameters = load_state(run_copy)["parameters"]
    assert parameters["Minimum-F1-Score"] == "0.7" and parameters["Human-Sampling-Interval"] == "40"


def test_the_review_server_does_not_start_while_another_command_changes_the_run(capsys, run_copy):
    with locked(run_copy):
        code, _, err = cli(capsys, "review", "--sandbox", run_copy, "--port", "8799")
    assert code == 2 and f"another command is changing the sandbox run in {run_copy}" in err
