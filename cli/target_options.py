"""The target options every operator command takes, and opening the target they name: a deployed
stack (:mod:`cli.aws_target`) or a saved sandbox run (:mod:`cli.sandbox_target`), each a
:class:`cli.target.Target`.

Every operator command takes the same options:

* ``--stack NAME`` — a deployed stack, its names read from its Pulumi outputs
  (:mod:`cli.pulumi_stack`); without a target option, the selected Pulumi stack
  (``pulumi stack select``). The region is ``--region``, else the stack's
  ``aws:region``, else ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, else the AWS
  profile's; the credentials those of ``--profile``, else the stack's
  ``aws:profile``, else the AWS CLI's usual places (``AWS_PROFILE``, ``~/.aws``).
* ``--parameter-path``, ``--table``, ``--lifecycle-arn`` (and
  ``--stack-policies``) — the same names given explicitly; they win over the
  stack outputs and work without the Pulumi CLI.
* ``--sandbox DIR`` — a run saved by ``labelloop sandbox --out DIR``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

from .errors import UsageError
from .policy_path import add_policy_path_argument
from .target import OPTIONS, Target


def add_target_arguments(parser) -> None:
    """The target options, shared by every operator command (each uses the names it needs, so one set of
    options, e.g. in a shell alias, serves every command)."""
    group = parser.add_argument_group("target (one of --stack, the explicit names, or --sandbox; "
                                      "default: the selected Pulumi stack)")
    group.add_argument("--stack", metavar="NAME",
                       help="a deployed stack; its names come from `pulumi stack output --json --stack NAME` "
                            "(default: the stack `pulumi stack select` chose)")
    group.add_argument("--region", metavar="REGION", default=None,
                       help="AWS region (default: the stack's aws:region, else AWS_REGION or AWS_DEFAULT_REGION, "
                            "else the profile's)")
    group.add_argument("--profile", metavar="NAME", default=None,
                       help="AWS CLI profile for credentials (default: the stack's aws:profile, else AWS_PROFILE)")
    group.add_argument("--parameter-path", metavar="PATH", help="SSM path of the operator parameters, "
                       "e.g. /labelloop/prod/ (stack output parameterPath)")
    group.add_argument("--table", metavar="NAME", help="DynamoDB state table (stack output tableName)")
    group.add_argument("--lifecycle-arn", metavar="ARN",
                       help="lifecycle state machine ARN (stack output lifecycleStateMachineArn)")
    group.add_argument("--stack-policies", metavar="MODULES", default=None,
                       help="comma-separated policy modules the stack runs, for their parameters "
                            "(default: stack output policies, else $LABELLOOP_POLICIES)")
    group.add_argument("--sandbox", metavar="DIR", type=Path, default=None,
                       help="a saved sandbox run (`labelloop sandbox --out DIR`)")
    add_policy_path_argument(parser)


@contextlib.contextmanager
def open_target(args) -> Iterator[Target]:
    """The target the options name."""
    folder = getattr(args, "sandbox", None)
    explicit = {name: getattr(args, name, None) for name in OPTIONS}
    if folder is not None:
        given = [OPTIONS[n] for n, v in explicit.items() if v] + (["--stack"] if args.stack else [])
        if given:
            raise UsageError(f"--sandbox and {', '.join(given)} name two different targets; use one of them")
        from .sandbox_target import SandboxTarget

        with SandboxTarget.open(folder) as target:
            yield target
        return
    from .aws_target import aws_target

    yield aws_target(args.stack, explicit, _policy_option(args), region=getattr(args, "region", None),
                     profile=getattr(args, "profile", None))


def _policy_option(args) -> tuple[str, ...] | None:
    raw = getattr(args, "stack_policies", None)
    return None if raw is None else tuple(p.strip() for p in raw.split(",") if p.strip())
