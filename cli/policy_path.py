"""Where the commands find policy modules: the folders of ``--policy-path`` and the current directory
(as ``python -m`` does), before the installed packages, so a team's module next to its own files
loads without setting ``PYTHONPATH``."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Iterator, Sequence


def add_policy_path_argument(parser) -> None:
    parser.add_argument("--policy-path", action="append", default=None, metavar="DIR",
                        help="a folder to import policy modules from, before the installed packages (repeatable; "
                             "the current directory is always searched)")


@contextlib.contextmanager
def policy_search_path(folders: Sequence[str] | None) -> Iterator[list[str]]:
    """``sys.path`` with the ``--policy-path`` folders and the current directory first, while a command runs."""
    added = [str(Path(f).resolve()) for f in folders or ()] + [os.getcwd()]
    saved = list(sys.path)
    sys.path[:0] = [f for f in dict.fromkeys(added)]
    try:
        yield added
    finally:
        sys.path[:] = saved
