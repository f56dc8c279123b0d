"""docs/deploying.md stays true to the program: the resource counts it states (and its table's sum)
are what the program creates under Pulumi's mocks, and the permissions' action counts are what
`labelloop deployer-policy` prints."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from pulumi_mocks import BUILTIN_SMALL, DEFAULT, run_program

from cli.deployer_policy_cmd import Names, documents

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "deploying.md"


def resources(config: dict, stack: str = "test") -> int:
    return sum(run_program(config, stack=stack).count_by_type().values())


def stated(pattern: str) -> int:
    found = re.search(pattern, " ".join(GUIDE.read_text().split()))  # wherever the lines break
    assert found, f"docs/deploying.md no longer says {pattern!r}"
    return int(found.group(1))


def test_the_stated_resource_counts_are_the_programs():
    builtin = resources(BUILTIN_SMALL)
    assert stated(r"A default stack \(two labels, the builtin review app\) creates (\d+) resources") == builtin
    assert stated(r"\((\d+) for two labels and nobody invited") == builtin
    assert stated(r"With `review: a2i` \(two labels, an existing work team\) the stack has (\d+) resources") == \
        resources(DEFAULT)
    example = yaml.safe_load((GUIDE.parents[1] / "Pulumi.dev.yaml.example").read_text())["config"]
    config = {k.split(":", 1)[1]: v for k, v in example.items() if k.startswith("labelloop:")}
    assert stated(r"The example stack creates (\d+) resources") == resources(config, stack="dev")


def test_the_resource_table_adds_up_to_the_default_stack():
    text = GUIDE.read_text()
    table = text.split("| Resources | Count |", 1)[1].split("\n\n", 1)[0]
    counts = [line.rsplit("|", 2)[1] for line in table.strip().splitlines()[1:]]
    total = sum(eval(c.replace("×", "*").replace(";", "+"), {}) for c in counts)  # "21 × 4", "8 + 8; 7"
    assert total == resources(BUILTIN_SMALL)


def test_the_stated_action_counts_are_the_policies():
    parts = documents(Names.of("dev", "eu-west-1", "123456789012"), "builtin")
    actions = {part: sum(len(s["Action"]) for piece in pieces for s in piece["Statement"])
               for part, pieces in parts.items()}
    assert stated(r"\((\d+) actions for a stack with the review app\)") == actions["deploy"]
    assert stated(r"\((\d+) actions: parameters") == actions["operate"]
