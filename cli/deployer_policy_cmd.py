"""``labelloop deployer-policy``: least-privilege IAM policies for the people and pipelines that
deploy a stack (``pulumi up``, ``pulumi destroy``) and operate it (the ``labelloop`` commands),
derived from the program's resources (:mod:`components.deployer`) and the commands' calls
(:mod:`cli.operator_access`), scoped to one stack's names (or every labelloop stack's).

Pure: it reads no AWS account. A part larger than IAM's 6 144 characters for a managed policy is
split into several documents, each of which can be created as one managed policy
(``aws iam create-policy --policy-document file://…``) and attached beside the others.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from components.deploy_access import Access
from components.deployer import deploy_access
from components.naming import PROJECT, Naming, StackNameError
from handlers.review_backends import REGISTRY

from .errors import UsageError
from .operator_access import operator_access
from .pulumi_stack import stack_config

MANAGED_POLICY_LIMIT = 6144  # characters of a managed policy document, whitespace not counted
PARTS = ("deploy", "operate")


@dataclass(frozen=True)
class Names:
    """What fills the ARN templates: one stack's names, or ``*`` for what is not known."""

    partition: str = "aws"
    region: str = "*"
    account: str = "*"
    prefix: str = f"{PROJECT}-*"  # every labelloop stack
    path: str = f"{PROJECT}/*"

    @classmethod
    def of(cls, stack: str | None, region: str | None, account: str | None, partition: str = "aws") -> "Names":
        names = cls(partition, region or "*", account or "*")
        if stack:
            try:
                naming = Naming(stack)
            except StackNameError as exc:
                raise UsageError(str(exc)) from None
            names = cls(partition, names.region, names.account, naming.prefix, naming.parameter_path.strip("/"))
        return names

    def fill(self, template: str) -> str:
        return template.format(p=self.partition, r=self.region, a=self.account, n=self.prefix, path=self.path)


def policy_document(accesses: Iterable[Access], names: Names) -> dict:
    """One statement per set of resources, with every action wanted on them (sorted: a stable diff)."""
    by_resources: dict[tuple[str, ...], set[str]] = {}
    for access in accesses:
        resources = tuple(sorted({names.fill(r) for r in access.resources}))
        by_resources.setdefault(resources, set()).update(access.actions)
    statements = []
    for resources, actions in sorted(by_resources.items(), key=lambda item: (item[0] != ("*",), item[0])):
        sid = "Unscoped" if resources == ("*",) else _sid(resources)
        statements.append({"Sid": sid, "Effect": "Allow", "Action": sorted(actions),
                           "Resource": resources[0] if len(resources) == 1 else list(resources)})
    _unique_sids(statements)
    return {"Version": "2012-10-17", "Statement": statements}


def _sid(resources: tuple[str, ...]) -> str:
    """A statement id from the kind of resource: ``arn:aws:s3:::labelloop-dev-*`` → ``S3``."""
    first = resources[0].split(":")
    kind = re.split(r"[/:]", first[5])[0] if len(first) > 5 else first[-1]
    words = re.findall(r"[A-Za-z0-9]+", f"{first[2]} {kind}")
    return "".join(word[:1].upper() + word[1:] for word in words) or "Stack"


def _unique_sids(statements: list[dict]) -> None:
    seen: dict[str, int] = {}
    for statement in statements:
        base = statement["Sid"]
        seen[base] = seen.get(base, 0) + 1
        if seen[base] > 1:
            statement["Sid"] = f"{base}{seen[base]}"


def documents(names: Names, review_backend: str | None) -> dict[str, list[dict]]:
    """Each part as managed-policy-sized documents."""
    return {"deploy": split(policy_document(deploy_access(review_backend), names)),
            "operate": split(policy_document(operator_access(), names))}


def split(document: dict, limit: int = MANAGED_POLICY_LIMIT) -> list[dict]:
    """The document's statements, in order, packed into as few documents of at most ``limit`` as fit."""
    found: list[dict] = []
    for statement in document["Statement"]:
        if found and size({**found[-1], "Statement": found[-1]["Statement"] + [statement]}) <= limit:
            found[-1]["Statement"].append(statement)
        else:
            found.append({"Version": document["Version"], "Statement": [statement]})
    return found


def size(document: dict) -> int:
    """The length IAM counts: the JSON without whitespace."""
    return len(json.dumps(document, separators=(",", ":")))


def register(sub) -> None:
    parser = sub.add_parser(
        "deployer-policy", help="least-privilege IAM policies for deploying and operating a stack",
        description="Prints IAM policy documents that allow what `pulumi up`/`pulumi destroy` need to create, "
                    "update and delete a stack's resources (deploy) and what the labelloop commands call "
                    "(operate), scoped to the stack's names. Reads no AWS account.")
    parser.add_argument("--stack", metavar="NAME", help="scope to this stack's names (default: every labelloop stack)")
    parser.add_argument("--region", metavar="REGION",
                        help="scope to this region (default: the stack's aws:region when the Pulumi CLI knows it, else *)")
    parser.add_argument("--account", metavar="ID", help="scope to this AWS account (default: *)")
    parser.add_argument("--partition", default="aws", help="the ARN partition (default: aws)")
    parser.add_argument("--review", choices=tuple(REGISTRY),
                        help="only the review backend the stack uses (default: the stack's labelloop:review when "
                             "known, else every one)")
    parser.add_argument("--part", choices=PARTS, help="one part only: deploy or operate (default: both)")
    parser.add_argument("--out", metavar="DIR", type=Path,
                        help="write each document to a file there (labelloop-deploy-1.json, …, labelloop-operate.json) "
                             "instead of printing {\"deploy\": [document, …], \"operate\": [document]}")
    parser.add_argument("--json", action="store_true", help="accepted for symmetry: the output is always JSON")
    parser.set_defaults(run=run)


def run(args) -> int:
    config = stack_config(args.stack) if args.stack and not (args.region and args.review) else {}
    if args.account and not re.fullmatch(r"\d{12}", args.account):
        raise UsageError(f"--account {args.account!r} is not an AWS account id (12 digits)")
    names = Names.of(args.stack, args.region or config.get("aws:region"), args.account, args.partition)
    review = args.review or config.get("labelloop:review") or None
    if review not in (None, *REGISTRY):
        raise UsageError(f"the stack's labelloop:review is {review!r}; pass --review with one of "
                         f"{', '.join(REGISTRY)}")
    found = documents(names, review)
    if args.part:
        found = {args.part: found[args.part]}
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        written = []
        for part, pieces in found.items():
            for number, document in enumerate(pieces, 1):
                path = args.out / (f"labelloop-{part}-{number}.json" if len(pieces) > 1 else f"labelloop-{part}.json")
                path.write_text(json.dumps(document, indent=2) + "\n")
                written.append(str(path))
        print(f"Wrote {', '.join(written)} (scope: {names.prefix}, region {names.region}, account {names.account}); "
              "create each as a managed policy and attach them all")
        return 0
    print(json.dumps(found, indent=2))
    return 0
