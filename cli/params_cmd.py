"""``labelloop params``: read, change, compare and reset the operator parameters.

Every value is checked against the parameter catalog (the default policy's
parameters and those of the stack's team policies) before anything is
written, and written in its normalised form (``TRUE`` → ``true``, ``+70`` →
``70.0``), so what Parameter Store holds is exactly what the functions parse.
"""

from __future__ import annotations

import difflib

from plugins import InvalidParameterValue

from .errors import UsageError
from .tables import format_table, print_json, print_table, room
from .target_options import add_target_arguments, open_target

NOT_SET = "(not set)"


def register(sub) -> None:
    parser = sub.add_parser("params", help="list, get, set, diff and reset the operator parameters",
                            description="The operator parameters of a stack (SSM Parameter Store under "
                                        "/labelloop/<stack>/), checked against the parameter catalog.")
    actions = parser.add_subparsers(dest="params_command", metavar="ACTION")

    def action(name: str, help_text: str, run):
        p = actions.add_parser(name, help=help_text, description=help_text)
        add_target_arguments(p)
        p.add_argument("--json", action="store_true", help="print JSON for scripts")
        p.set_defaults(run=run)
        return p

    action("list", "every parameter: value, default, allowed range, validity, last change, description", run_list)
    name_help = "the parameter's name, e.g. Minimum-F1-Score"
    action("get", "one parameter and everything known about it", run_get).add_argument("name", help=name_help)
    setter = action("set", "change a parameter (checked before anything is written)", run_set)
    setter.add_argument("name", help=name_help)
    setter.add_argument("value", help="the new value; written in its normalised form (TRUE → true, +70 → 70.0)")
    action("diff", "the parameters whose value differs from the default (or is invalid or missing)", run_diff)
    action("reset", "set a parameter back to its default", run_reset).add_argument("name", help=name_help)


# -- rows ------------------------------------------------------------------------
def _bound(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def short_range(spec) -> str:
    if spec.kind == "bool":
        return "true/false"
    bounds = f"{_bound(spec.minimum)}–{_bound(spec.maximum)}"
    return f"label={bounds}, … or none" if spec.kind == "thresholds" else bounds


def describe(spec, found: dict | None) -> dict:
    """One parameter: its value under the path and what the catalog says about it."""
    value = found["value"] if found else None
    row = {"name": spec.name, "value": value, "default": spec.format(spec.default), "allowed": spec.allowed,
           "range": short_range(spec), "kind": spec.kind, "minimum": spec.minimum, "maximum": spec.maximum,
           "description": spec.description, "policy": spec.owner,
           "modified": found.get("modified") if found else None}
    if value is None:
        return row | {"state": "missing", "valid": False, "problem": "not set; the functions use the default"}
    try:
        parsed = spec.parse(value)
    except InvalidParameterValue as exc:
        return row | {"state": "invalid", "valid": False,
                      "problem": f"{exc}; the functions use the last good value (or the default)"}
    return row | {"state": "ok", "valid": True, "problem": None, "is_default": parsed == spec.default}


def parameter_rows(target) -> list[dict]:
    """Every catalog parameter, then any parameter under the path that no loaded policy defines."""
    raw = target.read_parameters()
    rows = [describe(spec, raw.get(spec.name)) for spec in target.catalog]
    for name in sorted(set(raw) - set(target.catalog.specs)):
        rows.append({"name": name, "value": raw[name]["value"], "default": None, "allowed": None, "range": None,
                     "kind": None, "minimum": None, "maximum": None, "policy": None,
                     "description": "no loaded policy defines it (a policy not switched on, or left over)",
                     "modified": raw[name]["modified"], "state": "unknown", "valid": False,
                     "problem": "no loaded policy reads it"})
    return rows


VALID_TEXT = {"ok": "yes", "invalid": "NO", "missing": "missing", "unknown": "unknown"}


def _table_rows(rows: list[dict]) -> list[dict]:
    return [r | {"valid": VALID_TEXT[r["state"]], "allowed": r["range"],
                 "modified": (r["modified"] or "-").replace("T", " ").rstrip("Z")} for r in rows]


def print_lines(rows: list[dict]) -> None:
    """A line per parameter; on a terminal too narrow for the descriptions beside the rest, each description
    goes under its line, wrapped to the width (the names are never cut: they are what `params set` takes)."""
    import textwrap

    columns = ["name", "value", "default", "allowed", "valid", "modified"]
    natural = sum(max(len(c), *(len(str(r[c] or "-")) for r in rows)) + 2 for c in columns + ["description"])
    if natural <= room():
        print(format_table(rows, columns + ["description"]))
        return
    width = int(min(room(), 200))
    table = format_table(rows, columns, whole=["name"]).splitlines()
    print("\n".join(table[:2]))
    for row, line in zip(rows, table[2:]):
        print(line)
        print(textwrap.fill(row["description"], width, initial_indent="    ", subsequent_indent="    "))


def spec_of(target, name: str):
    """The catalog entry for ``name``, or a UsageError that says what exists."""
    catalog = target.catalog
    if name in catalog:
        return catalog[name]
    close = difflib.get_close_matches(name, list(catalog.specs), n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    policies = ", ".join(target.policies) or "policies.defaults only"
    raise UsageError(f"no parameter {name!r} in the catalog of {target.description} (policies: {policies}); "
                     f"{hint}known: {', '.join(catalog.specs)}{target.policy_fix}")


# -- actions ------------------------------------------------------------------------
def run_list(args) -> int:
    with open_target(args) as target:
        rows = parameter_rows(target)
        path = target.parameter_path
        description = target.description
    if args.json:
        print_json({"target": description, "parameter_path": path, "parameters": rows})
        return 0
    print(f"Parameters of {description} ({path})")
    print()
    print_lines(_table_rows(rows))
    bad = [r for r in rows if r["state"] != "ok"]
    if bad:
        print()
        for row in bad:
            print(f"! {row['name']}: {row['problem']}")
    return 0


def run_get(args) -> int:
    with open_target(args) as target:
        spec = spec_of(target, args.name)
        row = describe(spec, target.read_parameters().get(spec.name))
    if args.json:
        print_json(row)
        return 0
    print(f"{row['name']} = {row['value'] if row['value'] is not None else NOT_SET}")
    for key in ("default", "allowed", "valid", "problem", "modified", "policy", "description"):
        value = VALID_TEXT[row["state"]] if key == "valid" else row.get(key)
        if value is not None:
            print(f"  {key:<12} {value}")
    return 0


def change(args, name: str, value: str | None) -> int:
    """Set ``name`` to ``value`` (None: its default), validated before anything is written."""
    with open_target(args) as target:
        spec = spec_of(target, name)
        try:
            parsed = spec.default if value is None else spec.parse(value)
            spec.check_labels(parsed, target.labels if spec.kind == "thresholds" else ())
        except InvalidParameterValue as exc:
            raise UsageError(f"{exc}; nothing was written") from None
        new = spec.format(parsed)
        old = (target.read_parameters().get(name) or {}).get("value")
        description, changed = target.description, old != new
        if changed:
            target.write_parameter(name, new, spec)
    if args.json:
        print_json({"target": description, "name": name, "old": old, "new": new, "changed": changed})
        return 0
    if changed:
        print(f"{name}: {old if old is not None else NOT_SET} → {new}   ({description})")
    else:
        print(f"{name} is already {new}; nothing written")
    return 0


def run_set(args) -> int:
    return change(args, args.name, args.value)


def run_reset(args) -> int:
    return change(args, args.name, None)


def run_diff(args) -> int:
    with open_target(args) as target:
        rows = [r for r in parameter_rows(target) if r["state"] != "ok" or not r.get("is_default")]
        description = target.description
    if args.json:
        print_json({"target": description, "differences": rows})
        return 0
    if not rows:
        print(f"Every parameter of {description} has its default value.")
        return 0
    print(f"Parameters of {description} that differ from their defaults")
    print()
    print_table(_table_rows(rows), ["name", "value", "default", "allowed", "valid", "modified"])
    return 0


# -- documentation ---------------------------------------------------------------------------
DOCUMENTED_POLICIES = ("policies.uncertainty", "policies.review_budget", "policies.champion_challenger",
                       "policies.margin", "policies.entropy", "policies.class_balance", "policies.random_review",
                       "policies.gate_set")


def markdown_table(catalog=None) -> str:
    """The parameter table of docs/operating.md: the default policy's parameters, then the shipped alternatives'."""
    if catalog is None:
        from plugins import Engine

        catalog = Engine.load(list(DOCUMENTED_POLICIES), entry_points=False, replace_defaults=False).catalog
    lines = ["| Parameter | Policy | Default | Allowed | What it does |", "|---|---|---|---|---|"]
    for spec in sorted(catalog, key=lambda s: (s.owner != "policies.defaults", s.owner, s.name)):
        cells = [f"`{spec.name}`", f"`{spec.owner}`", f"`{spec.format(spec.default)}`", short_range(spec),
                 spec.description]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)
