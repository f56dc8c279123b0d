"""``labelloop``: the command line. Each subcommand lives in its own module.

Exit codes: 0 done; 1 what was asked failed (an AWS call, a lifecycle run, a policy that raised, a
cancelled confirmation); 2 the command line or its target is wrong (the message names the fix).
Under ``--json`` an error is a JSON object on standard error, ``{"error": {"message", "exit_code"}}``.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys

from plugins import PolicyError, PolicyLoadError

from . import (backtest_cmd, deployer_policy_cmd, doctor_cmd, forget_cmd, labelstudio_cmd, params_cmd, policies_cmd,
               replay_cmd, review_cmd, sandbox_cmd, serving_cmd, smoke_cmd, status_cmd, train_cmd, versions_cmd)
from .errors import UsageError
from .target import FunctionFailed
from .policy_path import policy_search_path

COMMANDS = [sandbox_cmd, review_cmd, policies_cmd, params_cmd, status_cmd, versions_cmd, train_cmd, replay_cmd,
            forget_cmd, backtest_cmd, serving_cmd, doctor_cmd, smoke_cmd, deployer_policy_cmd, labelstudio_cmd]
EXIT_CODES = "exit codes: 0 done, 1 what was asked failed, 2 a usage error (the message names the fix)"


class Parser(argparse.ArgumentParser):
    """argparse, with its errors raised as a UsageError (so ``--json`` turns them into JSON too), and a
    command group given no subcommand printing its help."""

    def error(self, message: str):
        raise UsageError(f"{message} (see `{self.prog} --help`)")

    def _check_value(self, action, value):
        """A choice that is not one of the choices names the closest (`labelloop stauts`: did you mean status?)."""
        if action.choices is not None and value not in action.choices:
            close = difflib.get_close_matches(str(value), [str(c) for c in action.choices], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise argparse.ArgumentError(action, f"invalid choice: {value!r}{hint} (choose from "
                                                 f"{', '.join(map(repr, action.choices))})")


def version() -> str:
    from importlib.metadata import PackageNotFoundError, version as installed

    try:
        return installed("labelloop")
    except PackageNotFoundError:  # run from a checkout that is not installed
        return "unknown (not installed)"


def build_parser() -> Parser:
    parser = Parser(prog="labelloop", description="A self-improving image-classification loop on AWS.",
                    epilog=EXIT_CODES)
    parser.add_argument("--version", action="version", version=f"labelloop {version()}")
    parser.set_defaults(run=None, parser_of=parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for module in COMMANDS:
        module.register(sub)
    _finish(parser)
    return parser


def _finish(parser: argparse.ArgumentParser) -> None:
    """Every subcommand, however deep, tells the exit codes and knows its parser (for its help, and for a
    usage error that names the right ``--help``)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                command.epilog = command.epilog or EXIT_CODES
                command.set_defaults(parser_of=command)
                _finish(command)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    as_json = "--json" in argv
    try:
        args, unknown = build_parser().parse_known_args(argv)
        if unknown:
            args.parser_of.error(f"unrecognized arguments: {' '.join(unknown)}")
        if args.run is None:  # a bare command, or a group of actions given none (params): its help
            args.parser_of.print_help()
            return 0
        with policy_search_path(getattr(args, "policy_path", None)):
            return args.run(args) or 0
    except (PolicyLoadError, UsageError) as exc:
        return _error(str(exc), 2, as_json)
    except FunctionFailed as exc:  # a function of the stack answered with an error
        return _error(str(exc), 1, as_json)
    except PolicyError as exc:  # a policy raised or returned something wrong while deciding
        return _error(f"{exc}; fix the policy (its own tests: docs/writing-policies.md)", 1, as_json)
    except BrokenPipeError:  # the reader went away (`labelloop export | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        return _error("interrupted", 130, as_json)
    except Exception as exc:
        message = aws_problem(exc)
        if message is None:
            raise
        return _error(message, 1, as_json)


def _error(message: str, code: int, as_json: bool) -> int:
    if as_json:
        print(json.dumps({"error": {"message": message, "exit_code": code}}, ensure_ascii=False), file=sys.stderr)
    else:
        print(f"labelloop: error: {message}", file=sys.stderr)
    return code


def aws_problem(exc: Exception) -> str | None:
    """One line for an AWS failure (credentials, region, a refused or failed call); None for anything else."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

    from handlers.runtime.errors import is_transient

    if isinstance(exc, NoCredentialsError):
        return "no AWS credentials found: pass --profile NAME, set AWS_PROFILE or run `aws configure` (or `aws sso login`)"
    if isinstance(exc, NoRegionError):
        return "no AWS region: pass --region, set the stack's aws:region, AWS_REGION or AWS_DEFAULT_REGION"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        operation = getattr(exc, "operation_name", "an AWS call")
        if is_transient(exc):
            fix = "AWS is throttling or briefly unavailable; nothing is wrong with the request: try again in a moment"
        elif "NotFound" in str(error.get("Code")) or "NotExist" in str(error.get("Code")):
            fix = "check the target (--stack / --parameter-path / --table / --lifecycle-arn) and the region"
        else:
            fix = "check your AWS credentials and their permissions on this stack"
        return f"{operation} failed: {error.get('Code', 'error')}: {error.get('Message', exc)}; {fix}"
    if isinstance(exc, BotoCoreError):
        return f"AWS call failed: {exc}" + ("; try again in a moment" if is_transient(exc) else "")
    return None


if __name__ == "__main__":
    sys.exit(main())
