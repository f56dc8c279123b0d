"""``labelloop policies``: which policies are loaded, in which order, and their parameters."""

from __future__ import annotations

import json

from plugins import Engine

from .tables import print_table


def register(sub) -> None:
    parser = sub.add_parser("policies", help="show the loaded policies and the parameters they read")
    parser.add_argument("--policies", default=None,
                        help="comma-separated policy modules (default: $LABELLOOP_POLICIES)")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.set_defaults(run=run)


def run(args) -> int:
    modules = None if args.policies is None else args.policies.split(",")
    engine = Engine.load(modules)
    rows = [
        {"name": s.name, "default": s.format(s.default), "allowed": s.allowed, "policy": s.owner}
        for s in engine.catalog
    ]
    if args.json:
        print(json.dumps({"policies": engine.policies, "parameters": rows}, indent=2))
        return 0
    print("Policies, first asked first: " + " → ".join(engine.policies))
    print()
    print_table(rows, ["name", "default", "allowed", "policy"])
    return 0
