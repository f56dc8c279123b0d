"""``labelloop``: the command line. Each subcommand lives in its own module."""

from __future__ import annotations

import argparse
import sys

from plugins import PolicyLoadError

from . import policies_cmd, sandbox_cmd
from .errors import UsageError

COMMANDS = [sandbox_cmd, policies_cmd]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labelloop", description="A self-improving image-classification loop on AWS.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except (PolicyLoadError, UsageError) as exc:
        print(f"labelloop: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
