"""labelloop's pytest plugin, installed with labelloop (entry point ``pytest11``): a team's policy module
imports in its own tests without ``PYTHONPATH`` — the folder pytest runs in and pytest's root folder come
first on ``sys.path``, as ``python -m pytest`` puts the current directory there."""

from __future__ import annotations

import sys


def pytest_configure(config) -> None:
    for folder in dict.fromkeys((str(config.rootpath), str(config.invocation_params.dir))):
        if folder not in sys.path:
            sys.path.insert(0, folder)
