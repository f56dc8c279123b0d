"""``labelloop review --sandbox DIR``: review a saved sandbox run's images in the builtin review app,
in a browser on this machine (the same page and API as a deployed stack's, with a local sign-in)."""

from __future__ import annotations

from pathlib import Path

from .errors import UsageError


def register(sub) -> None:
    parser = sub.add_parser(
        "review", help="review a saved sandbox run's images in the review app, in a browser on this machine",
        description="Serves the builtin review app of a saved sandbox run (labelloop sandbox --out DIR "
                    "--leave-reviews-open) on this machine: the same page and API as a deployed stack's, with a "
                    "local sign-in that asks only for a reviewer name. The answers are saved into the run when "
                    "the server stops (Ctrl-C); `labelloop train --sandbox DIR` then trains on them. A deployed "
                    "stack's reviewers open its reviewUrl output instead.")
    parser.add_argument("--sandbox", type=Path, required=True, metavar="DIR", help="a saved sandbox run")
    parser.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (default 8080)")
    parser.set_defaults(run=run)


def run(args) -> int:
    from sandbox.review_server import review_sandbox
    from sandbox.saved import NotASandbox, RunBusy, load_state, locked

    if not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port} must be from 1 to 65535")
    try:
        load_state(args.sandbox)
    except NotASandbox as exc:
        raise UsageError(str(exc)) from None

    def ready(server, app) -> None:
        print(f"Review the sandbox run in {args.sandbox} at {app.review_url} (Ctrl-C to stop and save the answers)",
              flush=True)

    try:
        with locked(args.sandbox, wait_seconds=0):  # the answers are saved into the run: no other change meanwhile
            review_sandbox(args.sandbox, port=args.port, on_ready=ready)
    except RunBusy as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot serve on 127.0.0.1:{args.port} ({exc.strerror}); choose another --port") from None
    print(f"Saved the answers into {args.sandbox}.")
    return 0
