"""What a newcomer meets first: the README's quick start, the Makefile's two installs, one virtualenv
for the Pulumi program and the CLI, and the deploying guide."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def block_after(text: str, heading: str) -> list[str]:
    """The lines of the first bash block after ``heading``."""
    section = text.split(heading, 1)[1]
    return section.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()


def test_the_quick_start_puts_labelloop_on_path_before_using_it():
    lines = block_after((ROOT / "README.md").read_text(), "## Quick start")
    first_use = next(i for i, line in enumerate(lines) if line.startswith("labelloop "))
    assert any(line.startswith("source .venv/bin/activate") for line in lines[:first_use])
    assert lines[0].startswith("make sandbox") and lines[-1].startswith("make test")


def test_the_aws_quick_start_sets_the_region():
    lines = block_after((ROOT / "README.md").read_text(), "## On AWS")
    assert lines[0] == "pulumi stack init dev" and lines[1].startswith("pulumi config set aws:region ")


def test_the_sandbox_installs_no_pulumi_and_the_tests_install_the_rest():
    extras = pyproject()["project"]["optional-dependencies"]
    assert not [d for d in extras["sandbox"] if d.startswith("pulumi")]
    assert "labelloop[deploy,sandbox]" in extras["test"]
    sandbox = subprocess.run(["make", "-n", "-C", str(ROOT), "VENV=/nonexistent/venv", "sandbox"],
                             capture_output=True, text=True, check=True).stdout
    assert "-e '.[sandbox]'" in sandbox and ".[test]" not in sandbox and "labelloop sandbox" in sandbox
    assert "installing the sandbox's packages" in sandbox  # says what it is doing
    test = subprocess.run(["make", "-n", "-C", str(ROOT), "VENV=/nonexistent/venv", "test"],
                          capture_output=True, text=True, check=True).stdout
    assert "-e '.[test]'" in test and "pytest" in test
    assert (ROOT / ".ci" / "run").read_text().strip().endswith("make test")  # the README's test command


def test_the_license_is_an_spdx_expression():
    config = pyproject()
    assert config["project"]["license"] == "Apache-2.0"
    assert "setuptools>=77" in config["build-system"]["requires"]  # the first to read it without a warning


def run_without(packages: tuple[str, ...], code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter in which ``packages`` cannot be imported (as if not installed)."""
    script = (
        "import sys\n"
        "class Refuse:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {packages!r}:\n"
        "            raise ImportError(f'{name} is not installed')\n"
        "sys.meta_path.insert(0, Refuse())\n" + code)
    return subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)


def test_the_sandbox_and_the_commands_import_no_pulumi_and_no_test_tool():
    modules = [f"{p.parent.name}.{p.stem}" for folder in ("sandbox", "cli") for p in sorted((ROOT / folder).glob("*.py"))]
    done = run_without(("pulumi", "pulumi_aws", "pytest", "yaml"),
                       f"import importlib\nfor name in {modules!r}:\n    importlib.import_module(name)\n")
    assert done.returncode == 0, done.stderr


def test_the_operator_commands_need_only_what_the_pulumi_program_installs():
    done = run_without(("moto", "sklearn", "numpy", "rich", "matplotlib", "PIL", "pytest"),
                       "from cli.main import main\n"
                       "import cli.aws_target, cli.status_cmd, cli.versions_cmd, cli.train_cmd, cli.replay_cmd\n"
                       "sys.exit(main(['policies', '--json']))\n")
    assert done.returncode == 0, done.stderr


def test_one_virtualenv_for_the_pulumi_program_and_the_commands():
    runtime = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["runtime"]
    makefile = (ROOT / "Makefile").read_text()
    assert runtime["options"]["virtualenv"] == ".venv"
    assert re.search(r"^VENV \?= \.venv$", makefile, re.M)
    assert (ROOT / "requirements.txt").read_text().split() == ["-e", ".[deploy]"]  # the CLI comes with the program


def test_the_deploying_guide_gives_real_commands():
    text = (ROOT / "docs" / "deploying.md").read_text()
    assert not re.search(r"<each|<[a-z ]+ARN>", text)
    assert "at least ten per label" in text
    assert not re.search(r"(?<![.\w])venv/", text)  # one virtualenv: .venv


def test_the_quick_start_is_a_cold_start_deployed_champion_challenger_on_a_gate_set():
    """The tour shows the loop's point: the model starts from a few labelled images per label and only
    a version better than the running one on the same gate-set images is switched to."""
    import shlex

    from cli.main import build_parser

    shown = subprocess.run(["make", "-n", "-C", str(ROOT), "VENV=/nonexistent/venv", "sandbox"],
                           capture_output=True, text=True, check=True).stdout
    shown = next(line for line in shown.splitlines() if "labelloop sandbox" in line)
    args = build_parser().parse_args(shlex.split(shown)[1:])
    assert args.command == "sandbox" and args.start_per_label == 3 and args.gate_set_per_label >= 5
    assert "policies.champion_challenger" in args.policies.split(",")
    assert "Minimum-F1-Score=0.5" in args.param  # the cold start's first model deploys (stack default 0.8)
    assert "--start-per-label 3" in (ROOT / "docs" / "benchmarks.md").read_text()  # its gain is stated there
