"""``labelloop``: the command line. Each subcommand lives in its own module."""

from __future__ import annotations

import argparse
import os
import sys

from plugins import PolicyLoadError

from . import (backtest_cmd, params_cmd, policies_cmd, replay_cmd, review_cmd, sandbox_cmd, serving_cmd, status_cmd,
               train_cmd)
from .errors import UsageError

COMMANDS = [sandbox_cmd, review_cmd, policies_cmd, params_cmd, status_cmd, train_cmd, replay_cmd, backtest_cmd,
            serving_cmd]


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
    except BrokenPipeError:  # the reader went away (`labelloop export | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as exc:
        message = aws_problem(exc)
        if message is None:
            raise
        print(f"labelloop: error: {message}", file=sys.stderr)
        return 1


def aws_problem(exc: Exception) -> str | None:
    """One line for an AWS failure (credentials, region, a refused or failed call); None for anything else."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

    from handlers.runtime.errors import is_transient

    if isinstance(exc, NoCredentialsError):
        return "no AWS credentials found: set AWS_PROFILE or run `aws configure` (or `aws sso login`)"
    if isinstance(exc, NoRegionError):
        return "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION), or a region in your AWS profile"
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
