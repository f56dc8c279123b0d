import sys

import pytest

from plugins import Engine


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
