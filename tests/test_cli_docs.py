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



def doc_texts() -> dict[str, str]:
    root = DOC.parents[1]
    return {path.name: path.read_text() for path in [root / "README.md", *sorted((root / "docs").glob("*.md"))]}


def documented_commands() -> list[tuple[str, str]]:
    """Every `labelloop …` command line in a code block of the README and the docs, with its file (synopses,
    ``[--option]``, and output left out)."""
    found = []
    for name, text in doc_texts().items():
        for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
            for line in block.replace("\\\n", " ").splitlines():
                command = re.sub(r"\s+#.*$", "", line.strip()).split(" && ")[-1].split(" | ")[0].split(" > ")[0]
                command = re.sub(r"^([A-Z_]+=\S+ )+", "", command)
                if command.startswith("labelloop ") and "[" not in command and " — " not in command:
                    found.append((name, command))
    return found


def test_every_documented_command_line_parses(capsys):
    import shlex

    from cli.errors import UsageError

    parser, wrong = build_parser(), []
    for name, command in documented_commands():
        try:
            _, unknown = parser.parse_known_args(shlex.split(command)[1:])
        except (UsageError, SystemExit) as exc:
            wrong.append(f"{name}: {command}: {exc}")
            continue
        if unknown:
            wrong.append(f"{name}: {command}: unknown {unknown}")
    capsys.readouterr()
    assert len(documented_commands()) > 30
    assert not wrong, "\n".join(wrong)


def options(parser) -> set[str]:
    import argparse

    found = set()
    for action in parser._actions:
        found |= {o for o in action.option_strings if o.startswith("--")}
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                found |= options(command)
    return found


# Options of other tools the user-facing pages show: `aws ssm put-parameter --name … --value … --overwrite
# --type SecureString`, `pulumi config set --path`, `python benchmarks/serving_cost.py --full`,
# `python benchmarks/burst.py --throughput`.
OTHER_TOOLS = {"--name", "--value", "--overwrite", "--type", "--path", "--full", "--throughput"}


def test_every_option_the_user_pages_name_exists():
    known = options(build_parser()) | OTHER_TOOLS
    pages = {n: t for n, t in doc_texts().items() if n not in ("benchmarks.md", "deploying.md")}
    unknown = {(name, option) for name, text in pages.items()
               for option in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]+)", text) if option not in known}
    assert not unknown, sorted(unknown)
