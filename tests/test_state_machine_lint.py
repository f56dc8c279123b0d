"""Both deployed state machine definitions pass the Amazon States Language linter
``@wmfs/statelint`` (an external validator: package.json pins it, ``make test`` installs it
with ``npm ci``)."""

import json
import re
import subprocess

import pytest

from pulumi_mocks import DEFAULT, FULL, ROOT, STATE_MACHINE, run_program

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

STATELINT = ROOT / "node_modules" / ".bin" / "statelint"
STACKS = {"default": DEFAULT, "full": FULL}


def statelint() -> str:
    assert STATELINT.exists(), (
        f"{STATELINT.relative_to(ROOT)} is missing: install the validators the tests run with "
        "`npm ci` at the repository root (needs Node.js and npm; `make test` does this)")
    return str(STATELINT)


@pytest.mark.parametrize("stack", sorted(STACKS))
@pytest.mark.parametrize("machine", ["detection", "lifecycle"])
def test_the_deployed_definition_passes_statelint(stack, machine, tmp_path):
    deployed = run_program(STACKS[stack]).one(STATE_MACHINE, name=f"labelloop-test-{machine}")
    path = tmp_path / f"{machine}.json"
    path.write_text(json.dumps(json.loads(deployed.inputs["definition"]), indent=2))
    result = subprocess.run([statelint(), str(path)], capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_statelint_reports_a_broken_definition(tmp_path):
    """The linter really checks: a state with a misspelt field and no way to end is refused."""
    path = tmp_path / "broken.json"
    path.write_text(json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "Nex": "B"}}}))
    result = subprocess.run([statelint(), str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert 'Field "Nex" not allowed' in result.stdout + result.stderr


def test_make_test_installs_the_locked_linter_first():
    """The README's `make test` works on a fresh clone: its setup runs `npm ci` from the lockfile."""
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test: .*\$\(VALIDATORS\)", makefile, re.M)
    assert re.search(r"^\$\(VALIDATORS\): package\.json package-lock\.json\n\tnpm ci ", makefile, re.M)
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["@wmfs/statelint"]
    locked = json.loads((ROOT / "package-lock.json").read_text())["packages"]["node_modules/@wmfs/statelint"]
    assert locked["version"] == pinned
    assert "node_modules" in (ROOT / ".ci" / "run").read_text()  # CI installs afresh too
