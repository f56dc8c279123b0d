"""Fixtures shared by the test modules, and the ``slow`` marker.

A test is slow when it runs moto, a stack in moto or a sandbox run: directly, through a helper of
the tests or through a fixture. Such tests are marked ``slow`` here at collection, so
``pytest -m "not slow"`` is the fast inner loop; a slow test no helper shows (one that runs a
script) carries the mark itself.
"""

import fcntl
import inspect
import os
import shutil
import sys
from pathlib import Path

import boto3
import pytest
from cli_support import SANDBOX_OPTIONS
from moto import mock_aws
from stack_support import activate_model, local_stack

from handlers.runtime import backoff
from handlers.runtime.state import StateTable, table_definition
from plugins import Engine

TESTS = Path(__file__).resolve().parent


# -- the rule engine ------------------------------------------------------------------------------
@pytest.fixture
def engine():
    return Engine.load([], entry_points=False)


@pytest.fixture
def settings(engine):
    return engine.catalog.defaults()


@pytest.fixture
def write_module(tmp_path, monkeypatch):
    """Write a policy module into a temp dir on sys.path; returns its name."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(name: str, source: str) -> str:
        (tmp_path / f"{name}.py").write_text(source)
        sys.modules.pop(name, None)
        return name

    return write


# -- retries inside functions ----------------------------------------------------------------------
@pytest.fixture
def waits(monkeypatch):
    """The waits between a function's own retries (handlers.runtime.backoff), recorded instead of slept."""
    slept: list[float] = []
    monkeypatch.setattr(backoff, "sleep", slept.append)
    return slept


# -- a state table and stacks in moto (tests/stack_support.py) --------------------------------------
@pytest.fixture
def table(monkeypatch):
    """An empty state table in moto (``items``), for the state module's own tests."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(**table_definition("items"))
        yield StateTable("items", client)


@pytest.fixture
def stack():
    """A stack of its own for one test, with a running model v1."""
    with local_stack() as st:
        activate_model()
        yield st


@pytest.fixture(scope="module")
def shared_stack():
    """One stack for a whole module (tests that use distinct keys and restore what they change)."""
    with local_stack() as st:
        activate_model()
        yield st


# -- saved sandbox runs (tests/cli_support.py) ------------------------------------------------------
@pytest.fixture(scope="session")
def saved_run(tmp_path_factory) -> Path:
    """One saved sandbox run for the whole test session, built once however many workers ask for it.

    Read it only (commands that read open a snapshot of it); tests that change a run use ``run_copy``."""
    from sandbox.report import write_report
    from sandbox.runner import SandboxOptions, run

    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker's base is <session temp>/popen-gwN: their parent belongs to this test run.
    root = base.parent / "cli-sandbox" if os.environ.get("PYTEST_XDIST_WORKER") else base / "cli-sandbox"
    root.mkdir(exist_ok=True)
    folder = root / "run"
    with open(root / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "state.json").is_file():
            write_report(run(SandboxOptions(out=root / "building", **SANDBOX_OPTIONS)), root / "building")
            (root / "building").rename(folder)
    return folder


@pytest.fixture
def run_copy(saved_run, tmp_path) -> Path:
    """A copy of the saved run that a test may change."""
    copy = tmp_path / "run"
    shutil.copytree(saved_run, copy, ignore=shutil.ignore_patterns("*.png", "*.md"))
    return copy


# -- a real Label Studio (sandbox/label_studio.py) -----------------------------------------------------
@pytest.fixture(scope="session")
def label_studio(tmp_path_factory):
    """One Label Studio server per test session (per xdist worker), from the virtualenv `make label-studio`
    makes; stopped by its process id. Missing locally: the tests that need it are skipped — never in CI."""
    from labelstudio_support import require_label_studio

    from sandbox.label_studio import LocalLabelStudio, free_port

    require_label_studio()
    server = LocalLabelStudio(tmp_path_factory.mktemp("label-studio"), port=free_port()).start()
    yield server
    server.stop()


# -- the slow marker ---------------------------------------------------------------------------------
# What makes a test slow, as the tests import it (looked up once the test modules are imported: the fast
# loop imports none of them itself).
SLOW = {("moto", "mock_aws"), ("sandbox.local_aws", "LocalStack"), ("sandbox.runner", "run"),
        ("sandbox.label_studio", "LocalLabelStudio")}


def _names(code) -> set[str]:
    """The global and imported names a function's code uses, with those of the functions and lambdas in it."""
    names = set(code.co_names)
    for const in code.co_consts:
        if inspect.iscode(const):
            names |= _names(const)
    return names


def _is_slow(obj, slow: list, seen: set) -> bool:
    """Whether ``obj`` is one of ``slow``, or a function of the tests (a fixture, a helper) that uses one:
    by a global name, an import of its own, or another such function."""
    obj = inspect.unwrap(obj)  # a fixture: its function
    if any(obj is thing for thing in slow):
        return True
    if not inspect.isfunction(obj) or obj in seen or not Path(obj.__code__.co_filename).is_relative_to(TESTS):
        return False
    seen.add(obj)
    names = _names(obj.__code__)
    return (any(module in names and name in names for module, name in SLOW)
            or any(_is_slow(obj.__globals__[name], slow, seen) for name in names if name in obj.__globals__))


def pytest_collection_modifyitems(config, items):
    slow = [getattr(sys.modules[module], name) for module, name in SLOW if module in sys.modules]
    for item in items:
        if not isinstance(item, pytest.Function) or item.get_closest_marker("slow"):
            continue
        # The test and every fixture it uses, found as pytest finds them: the module's own first, then these
        # (a parameter of the test is no fixture, whatever its name).
        parameters = item.callspec.params if hasattr(item, "callspec") else {}
        uses = [item.function] + [vars(item.module).get(name, globals().get(name))
                                  for name in item.fixturenames if name not in parameters]
        seen: set = set()
        if any(use is not None and _is_slow(use, slow, seen) for use in uses):
            item.add_marker(pytest.mark.slow)
