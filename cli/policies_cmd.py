"""``labelloop policies``: which policies are loaded, in which order, and their parameters."""

from __future__ import annotations

import json

from plugins import Engine

from .policy_path import add_policy_path_argument
from .tables import print_table


def register(sub) -> None:
    parser = sub.add_parser("policies", help="show the loaded policies, in the order they are asked, and their parameters",
                            description="The policies that would be loaded, first asked first (team policies "
                                        "before the defaults, which decide only what no other policy did), and "
                                        "the parameters each reads, in the same order.")
    parser.add_argument("--policies", default=None,
                        help="comma-separated policy modules (default: $LABELLOOP_POLICIES)")
    add_policy_path_argument(parser)
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.set_defaults(run=run)


def run(args) -> int:
    modules = None if args.policies is None else args.policies.split(",")
    engine = Engine.load(modules)
    asked = {name: i for i, name in enumerate(engine.policies)}
    specs = sorted(engine.catalog, key=lambda s: asked.get(s.owner, len(asked)))  # stable: catalog order within one
    rows = [{"name": s.name, "default": s.format(s.default), "allowed": s.allowed, "policy": s.owner} for s in specs]
    if args.json:
        print(json.dumps({"policies": engine.policies, "parameters": rows}, indent=2))
        return 0
    print("Policies, first asked first: " + " → ".join(engine.policies))
    print()
    print_table(rows, ["name", "default", "allowed", "policy"])
    return 0
