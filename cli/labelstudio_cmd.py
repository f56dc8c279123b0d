"""``labelloop labelstudio start|stop|status``: a real Label Studio on this machine, for the sandbox and
for trying the ``labelstudio`` review backend — the ``label-studio`` package in its own virtualenv
(``make label-studio``), sqlite in a data folder, listening on 127.0.0.1 only."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .errors import UsageError

DEFAULT_DIR = Path("label-studio-data")


def register(sub) -> None:
    parser = sub.add_parser(
        "labelstudio", help="start, stop or look at a Label Studio on this machine",
        description="A Label Studio on this machine (127.0.0.1), for the sandbox and for trying the labelstudio "
                    "review backend: the label-studio package from its own virtualenv (`make label-studio`), its "
                    "data (sqlite) in --dir. `start` runs it in the background and prints its URL, the "
                    "administrator's sign-in and API token; `stop` ends it by its process id.")
    actions = parser.add_subparsers(dest="labelstudio_command", metavar="ACTION")
    for name, help_text in (("start", "start Label Studio in the background and wait until it answers"),
                            ("stop", "stop the Label Studio started from --dir"),
                            ("status", "whether the Label Studio of --dir runs, and where")):
        action = actions.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")
        action.add_argument("--dir", type=Path, default=DEFAULT_DIR, metavar="DIR",
                            help=f"its data folder (default: ./{DEFAULT_DIR})")
        if name == "start":
            action.add_argument("--port", type=int, default=8081, help="port on 127.0.0.1 (default 8081)")
        action.add_argument("--json", action="store_true", help="print JSON")
        action.set_defaults(run=globals()[f"run_{name}"])


def _described(server, running: bool) -> dict:
    from sandbox.label_studio import ADMIN, PASSWORD

    return {"running": running, "url": server.url if running else None, "pid": server.pid if running else None,
            "dir": str(server.folder), "admin": ADMIN, "password": PASSWORD, "token": server.token,
            "log": str(server.log)}


def _show(described: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(described))
    elif described["running"]:
        print(f"Label Studio runs at {described['url']} (pid {described['pid']}; data in {described['dir']})\n"
              f"  sign in as {described['admin']} / {described['password']}\n"
              f"  API token (legacy, Authorization: Token …): {described['token']}\n"
              f"  stop it with: labelloop labelstudio stop --dir {described['dir']}")
    else:
        print(f"No Label Studio runs from {described['dir']}.")


def _server(args, port: int | None = None):
    from sandbox.label_studio import LocalLabelStudio

    server = LocalLabelStudio(args.dir.resolve(), port=port or 8081)
    running = server.running()
    if running:
        server.pid, server.port = running
    return server, running is not None


def run_start(args) -> int:
    from sandbox.label_studio import LabelStudioNotInstalled, StartFailed

    if not 0 < args.port < 65536:
        raise UsageError(f"--port {args.port} must be from 1 to 65535")
    server, _ = _server(args, args.port)
    try:
        server.start(progress=(lambda _: None) if args.json else print)
    except LabelStudioNotInstalled as exc:
        raise UsageError(str(exc)) from None
    except StartFailed as exc:  # what was asked failed: exit 1, the server's last log lines in the message
        print(json.dumps({"error": {"message": str(exc), "exit_code": 1}}) if args.json else f"labelloop: error: {exc}",
              file=sys.stderr)
        return 1
    _show(_described(server, True), args.json)
    return 0


def run_stop(args) -> int:
    server, running = _server(args)
    stopped = server.stop() if running else False
    if args.json:
        print(json.dumps({"stopped": stopped, "dir": str(server.folder)}))
    else:
        print(f"Stopped Label Studio (data kept in {server.folder})." if stopped
              else f"No Label Studio runs from {server.folder}: nothing to stop.")
    return 0


def run_status(args) -> int:
    server, running = _server(args)
    _show(_described(server, running), args.json)
    return 0
