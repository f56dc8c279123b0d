"""``labelloop doctor``: one line per check — ok, warn or fail, with the fix — before a deploy (the
region, the caller's permissions, quotas, reviewer e-mail, A2I) and after it (the functions' errors,
the rules, the parameters, the model). The checks are :data:`cli.doctor.CHECKS`."""

from __future__ import annotations

from .doctor import CHECKS, FAIL, OK, WARN, Doctor, run_checks
from .tables import print_json
from .target_options import add_target_arguments, open_target

MARKS = {OK: "ok  ", WARN: "warn", FAIL: "FAIL", "skip": "skip"}


def register(sub) -> None:
    parser = sub.add_parser(
        "doctor", help="check the account, region, quotas and the deployed stack; one line per check, with the fix",
        description="Checks what decides whether a stack deploys and runs: the region offers Rekognition Custom "
                    "Labels; the caller may do what `pulumi up` and the commands need (IAM's policy simulator); the "
                    "quotas that bite; Cognito's e-mail limit against the reviewers; A2I with review: a2i. On a "
                    "deployed stack also: the functions' recent errors, the rules, the parameters, the model "
                    "pointer against what runs and a model running with nothing to do. Reads only. Run it before "
                    "and after `pulumi up`; on a sandbox run, the checks that apply there.")
    add_target_arguments(parser)
    parser.add_argument("--check", action="append", choices=[c.name for c in CHECKS], metavar="NAME",
                        help=f"run only this check (repeatable): {', '.join(c.name for c in CHECKS)}")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    parser.set_defaults(run=run)


def run(args) -> int:
    checks = [c for c in CHECKS if not args.check or c.name in args.check]
    with open_target(args) as target:
        doctor = Doctor(target)
        region = target.region
        if not args.json:
            print(f"labelloop doctor — {target.description}" + (f", region {region}" if region else ""))
        results = []
        for check, found in run_checks(doctor, checks):
            if isinstance(found, str):
                results.append({"check": check.name, "status": "skip", "what": found, "fix": ""})
            else:
                results += [f.as_dict() for f in found]
            if not args.json:
                for row in results[len(results) - (1 if isinstance(found, str) else len(found)):]:
                    print(f"{MARKS[row['status']]}  {row['check']:<15} {row['what']}", flush=True)
                    if row["fix"]:
                        print(f"      {'':<15} fix: {row['fix']}", flush=True)
    counts = {status: sum(1 for r in results if r["status"] == status) for status in (OK, WARN, FAIL, "skip")}
    if args.json:
        print_json({"target": target.description, "region": region, "checks": results, **counts})
    else:
        print(f"\n{counts[OK]} ok, {counts[WARN]} warning(s), {counts[FAIL]} failed, {counts['skip']} skipped")
    return 1 if counts[FAIL] else 0
