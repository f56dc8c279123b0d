"""``labelloop review --sandbox DIR``: review a saved sandbox run's images in the builtin review app,
in a browser on this machine (the same page and API as a deployed stack's, with a local sign-in).
Each answer is in the run's folder before it is acknowledged; INT, TERM and HUP stop it alike."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from .errors import UsageError

LEAVE_OPEN = "labelloop sandbox --out DIR --leave-reviews-open"


def register(sub) -> None:
    parser = sub.add_parser(
        "review", help="review a saved sandbox run's images in the review app, in a browser on this machine",
        description="Serves the builtin review app of a saved sandbox run (labelloop sandbox --out DIR "
                    "--leave-reviews-open) on this machine: the same page and API as a deployed stack's, with a "
                    "local sign-in that asks only for a reviewer name. Each answer (and skip) is written into the "
                    "run's folder before it is acknowledged, so stopping the server any way — Ctrl-C, TERM, a "
                    "closed terminal, even kill -9 — loses none; `labelloop train --sandbox DIR` then trains on "
                    "them. A run with no review open is said so at once (exit 0). A deployed stack's reviewers "
                    "open its reviewUrl output instead. A run made with --review labelstudio is labelled in "
                    "Label Studio's own UI (labelloop labelstudio start): this serves the stack's image and webhook "
                    "routes its tasks use, and prints the project's address.")
    parser.add_argument("--sandbox", type=Path, required=True, metavar="DIR", help="a saved sandbox run")
    parser.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (default 8080; 0: any free port)")
    parser.set_defaults(run=run)


def say(line: str) -> None:
    """Print a line of progress; a terminal that went away (HUP) or a closed pipe stops nothing."""
    try:
        print(line, flush=True)
    except OSError:
        pass


def run(args) -> int:
    from sandbox.review_server import StopSignals, bind, review_sandbox, reviewable
    from sandbox.saved import NotASandbox, RunBusy, load_state, locked, policy_folders

    from .policy_path import policy_search_path

    if not 0 <= args.port < 65536:
        raise UsageError(f"--port {args.port} must be from 0 (any free port) to 65535")
    folder = args.sandbox
    with StopSignals() as stop:
        try:
            state = load_state(folder)
        except NotASandbox as exc:
            raise UsageError(str(exc)) from None
        try:
            with policy_search_path(policy_folders(state)), locked(folder, wait_seconds=0):  # no other change meanwhile
                waiting, lapsed = reviewable(state, datetime.now(timezone.utc))
                if not waiting:
                    say(nothing_to_review(folder, lapsed))
                    return 0
                try:
                    server = bind("127.0.0.1", args.port)
                except OSError as exc:
                    raise UsageError(f"cannot serve on 127.0.0.1:{args.port} ({exc.strerror}); "
                                     "choose another --port") from None
                say(f"Opening the sandbox run in {folder}: {waiting} review task{'s' * (waiting != 1)} open…")

                def ready(server, app) -> None:
                    if app.own_routes is not None:  # a backend with a UI of its own: what the person does there
                        say(app.own_routes.instructions(folder))
                        return
                    say(f"Review at {app.review_url} — each answer is saved into {folder} as it is given. "
                        "Ctrl-C (or TERM) stops the server.")

                saved = review_sandbox(folder, server=server, say=say, on_ready=ready, stop=stop)
        except RunBusy as exc:
            raise UsageError(str(exc)) from None
    if not saved:
        say(f"Stopped. Nothing was answered; {folder} is as it was.")
        return 0
    say(f"Stopped. {saved} request{'s' * (saved != 1)} changed the run; all of it is in {folder}.")
    report_after_review(folder)
    say(f"`labelloop status --sandbox {folder}` shows it, `labelloop train --sandbox {folder}` trains on it.")
    return 0


def report_after_review(folder: Path) -> None:
    """The report brought up to date with each reviewer's answers against the true labels, said here too."""
    from sandbox.report import write_report
    from sandbox.report_data import with_reviews
    from sandbox.saved import load_state

    result, lines = with_reviews(folder, load_state(folder))
    for line in lines:
        say(f"  {line}")
    if result is not None:
        write_report(result, folder)
        say(f"  the report in {folder / 'report.md'} is up to date")


def nothing_to_review(folder: Path, lapsed: int) -> str:
    why = (f"its {lapsed} open task{'s' * (lapsed != 1)} {'are' if lapsed != 1 else 'is'} past "
           "Review-Task-Lifetime-Hours (expired when met)" if lapsed else "no review task is open")
    return (f"Nothing to review in {folder}: {why}. A run leaves its last round's reviews open for a person "
            f"with `{LEAVE_OPEN}`; then `labelloop review --sandbox DIR`.")

