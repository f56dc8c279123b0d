"""docs/operating.md stays in step with the catalog and the commands."""

from __future__ import annotations

import json
import re
from pathlib import Path

from cli_support import cli_json

from cli.main import build_parser
from cli.params_cmd import DOCUMENTED_POLICIES, markdown_table
from plugins import Engine

DOC = Path(__file__).resolve().parents[1] / "docs" / "operating.md"


def doc() -> str:
    return DOC.read_text()


def test_the_parameter_table_is_generated_from_the_catalog():
    text = doc()
    table = text.split("<!-- parameters:start", 1)[1].split("-->", 1)[1].split("<!-- parameters:end -->", 1)[0]
    expected = markdown_table()
    assert table.strip() == expected, (
        "docs/operating.md's parameter table is out of date; replace it with the output of "
        "`python -c 'from cli.params_cmd import markdown_table; print(markdown_table())'`")


def test_every_parameter_is_explained_with_its_safe_range():
    catalog = Engine.load(list(DOCUMENTED_POLICIES), entry_points=False).catalog
    assert len(catalog) >= 14
    headings = [line for line in doc().splitlines() if line.startswith("#### ")]
    for spec in catalog:
        assert any(re.search(rf"\b{re.escape(spec.name)}\b", h) for h in headings), spec.name
    assert doc().count("Safe") + doc().count("safe") >= len(headings)


def test_every_command_is_documented():
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    text = doc()
    for name in ("params", "status", "train", "rollback", "replay", "export", "backtest", "doctor", "smoke",
                 "deployer-policy"):
        assert name in commands and f"labelloop {name}" in text, name
    actions = next(a for a in commands["params"]._actions if a.dest == "params_command").choices
    for action in actions:
        assert f"params {action}" in text, action


def test_the_json_shapes_name_every_key(capsys, saved_run, tmp_path):
    text = doc()

    def documented(keys, where):
        missing = [k for k in keys if f'"{k}"' not in text and f"`{k}`" not in text]
        assert not missing, f"{where}: {missing} not in docs/operating.md"

    status = cli_json(capsys, "status", "--sandbox", saved_run)
    documented(status, "status")
    for part in ("model", "training", "parameters"):
        documented(status[part], f"status.{part}")
    documented(status["days"][0], "status.days")
    documented(status["labels"][0], "status.labels")
    documented(cli_json(capsys, "params", "get", "Minimum-F1-Score", "--sandbox", saved_run), "params get")
    doctor = cli_json(capsys, "doctor", "--sandbox", saved_run)
    documented(doctor, "doctor")
    documented(doctor["checks"][0], "doctor.checks")
    events = tmp_path / "run.jsonl"
    cli_json(capsys, "export", "--sandbox", saved_run, "--out", events)
    documented(json.loads(events.read_text().splitlines()[0]), "export")
    result = cli_json(capsys, "backtest", "--events", events, "--policies", "")
    documented(result, "backtest")
    documented(result["columns"][1], "backtest column")
