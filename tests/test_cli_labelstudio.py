"""``labelloop labelstudio start|status|stop``: a real Label Studio on this machine, as the docs show it."""

from __future__ import annotations

import json
import os

import pytest
from cli_support import cli
from labelstudio_support import require_label_studio

from handlers.labelstudio.client import LabelStudio
from sandbox import label_studio as local


@pytest.mark.slow
def test_start_status_and_stop_a_local_label_studio(capsys, tmp_path):
    require_label_studio()
    folder = tmp_path / "ls"
    port = str(local.free_port())
    code, out, err = cli(capsys, "labelstudio", "start", "--dir", str(folder), "--port", port, "--json")
    assert code == 0, err
    started = json.loads(out)
    assert started["running"] and started["url"] == f"http://127.0.0.1:{port}"
    me = LabelStudio(started["url"], started["token"]).request("GET", "/api/current-user/whoami")
    assert me["email"] == started["admin"]  # the printed token works
    code, out, _ = cli(capsys, "labelstudio", "start", "--dir", str(folder), "--port", port)
    assert code == 0 and "already running" in out  # one server per folder
    code, out, _ = cli(capsys, "labelstudio", "status", "--dir", str(folder))
    assert code == 0 and f"runs at http://127.0.0.1:{port} (pid {started['pid']}" in out
    code, out, _ = cli(capsys, "labelstudio", "stop", "--dir", str(folder))
    assert code == 0 and out.startswith("Stopped Label Studio")
    with pytest.raises(ProcessLookupError):
        os.kill(started["pid"], 0)
    code, out, _ = cli(capsys, "labelstudio", "stop", "--dir", str(folder))
    assert code == 0 and "nothing to stop" in out


def test_start_without_the_virtualenv_names_the_fix(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(local, "VENV", tmp_path / "missing-venv")
    code, out, err = cli(capsys, "labelstudio", "start", "--dir", str(tmp_path / "ls"))
    assert code == 2 and "make label-studio" in err and out == ""
