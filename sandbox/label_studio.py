"""A real Label Studio on this machine: the ``label-studio`` package in a virtualenv of its own
(``build/label-studio-venv``, from ``requirements-labelstudio.txt``: ``make label-studio``), sqlite in a
data folder, an administrator whose legacy token is known in advance, listening on 127.0.0.1 only.

It serves the sandbox, ``labelloop labelstudio start`` and the tests (one server per test session).
Started in a session of its own, it is stopped by its process id, recorded in the data folder.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sys
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("LABELLOOP_LABEL_STUDIO_VENV") or REPO / "build" / "label-studio-venv")
REQUIREMENTS = REPO / "requirements-labelstudio.txt"
ADMIN = "admin@labelloop.invalid"
PASSWORD = "labelloop-local"  # a local, loopback-only server's administrator
TOKEN = "labelloop-local-legacy-token"  # its legacy API token (Authorization: Token …)
START_SECONDS = 300.0  # the first start migrates a new database: a minute or two on a busy 2-core machine
STATE_FILE = "labelloop-label-studio.json"
DATABASE = "label_studio.sqlite3"
# A database migrated once with the administrator in it, made with the virtualenv (`make label-studio`):
# a new server starts from a copy in seconds instead of migrating for a minute or two.
TEMPLATE = "template"


class LabelStudioNotInstalled(RuntimeError):
    """The Label Studio virtualenv is missing; the message says how to make it."""


class StartFailed(RuntimeError):
    """The server exited or did not answer in time; the message ends with its log's last lines."""


def executable(venv: Path | None = None) -> Path:
    venv = venv or VENV
    program = venv / "bin" / "label-studio"
    if not program.is_file():
        raise LabelStudioNotInstalled(
            f"Label Studio is not installed in {venv}. Fix: `make label-studio` (its own virtualenv, from "
            f"{REQUIREMENTS.name}: about 1 GB, a few minutes), or set LABELLOOP_LABEL_STUDIO_VENV to one")
    return program


def version(venv: Path = VENV) -> str:
    out = subprocess.run([str(venv / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('label-studio'))"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


@dataclass
class LocalLabelStudio:
    """A Label Studio server with its data in ``folder``, at ``http://127.0.0.1:<port>``."""

    folder: Path
    port: int = 8081
    venv: Path = field(default_factory=lambda: VENV)  # read when made: tests and tools may point it elsewhere
    pid: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        return TOKEN

    @property
    def log(self) -> Path:
        return self.folder / "label-studio.log"

    def environment(self) -> dict[str, str]:
        """The server's environment: sqlite in the folder, the administrator and its token, legacy tokens on,
        webhooks to this machine allowed (the sandbox's routes are on 127.0.0.1), nothing sent out."""
        return {**os.environ, "LABEL_STUDIO_BASE_DATA_DIR": str(self.folder), "LABEL_STUDIO_USERNAME": ADMIN,
                "LABEL_STUDIO_PASSWORD": PASSWORD, "LABEL_STUDIO_USER_TOKEN": TOKEN,
                "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true", "SSRF_PROTECTION_ENABLED": "false",
                "LATEST_VERSION_CHECK": "false", "COLLECT_ANALYTICS": "false", "SENTRY_DSN": "",
                "FRONTEND_SENTRY_DSN": "", "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
                "DJANGO_DB": "sqlite", "PYTHONUNBUFFERED": "1"}

    def start(self, progress: Callable[[str], None] = lambda _: None, timeout: float = START_SECONDS) -> "LocalLabelStudio":
        """Start the server and wait until it answers; a server of this folder already running is reused."""
        program = executable(self.venv)
        self.folder.mkdir(parents=True, exist_ok=True)
        template = self.venv / TEMPLATE / DATABASE
        if template.is_file() and not (self.folder / DATABASE).exists():
            shutil.copyfile(template, self.folder / DATABASE)
        running = self.running()
        if running is not None:
            self.pid, self.port = running
            progress(f"Label Studio is already running at {self.url} (pid {self.pid})")
            return self
        with open(self.log, "ab") as log:
            process = subprocess.Popen(
                [str(program), "start", "--no-browser", "--port", str(self.port), "--internal-host", "127.0.0.1",
                 "--host", self.url],
                cwd=self.folder, env=self.environment(), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)
        self.pid = process.pid
        (self.folder / STATE_FILE).write_text(json.dumps({"pid": self.pid, "port": self.port, "url": self.url}))
        progress(f"starting Label Studio at {self.url} (pid {self.pid}; log: {self.log})…")
        started, said = time.monotonic(), 0.0
        while not self.healthy():
            if process.poll() is not None:
                self._forget()
                raise StartFailed(f"Label Studio exited with {process.returncode} before it answered:\n{self._tail()}")
            waited = time.monotonic() - started
            if waited > timeout:
                self.stop()
                raise StartFailed(f"Label Studio did not answer within {timeout:.0f} s:\n{self._tail()}")
            if waited - said >= 15:
                said = waited
                progress(f"  still starting after {waited:.0f} s (a new database is migrated first)")
            time.sleep(0.5)
        progress(f"Label Studio is up at {self.url} after {time.monotonic() - started:.0f} s")
        return self

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:  # noqa: S310  (loopback)
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def running(self) -> tuple[int, int] | None:
        """(pid, port) of this folder's server when it is alive."""
        try:
            recorded = json.loads((self.folder / STATE_FILE).read_text())
            os.kill(int(recorded["pid"]), 0)
        except (OSError, ValueError, KeyError):
            return None
        return int(recorded["pid"]), int(recorded["port"])

    def stop(self, timeout: float = 20.0) -> bool:
        """Stop the server this folder records, by its process id (its session: the server and any child);
        False when none was running."""
        running = self.running()
        pid = self.pid or (running[0] if running else None)
        if pid is None:
            return False
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            self._forget()
            return False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                finished, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # not our child (started by an earlier command): poll it
                finished = 0 if _alive(pid) else pid
            if finished:
                break
            time.sleep(0.2)
        else:
            os.killpg(pid, signal.SIGKILL)
        self._forget()
        return True

    def _forget(self) -> None:
        (self.folder / STATE_FILE).unlink(missing_ok=True)
        self.pid = None

    def _tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def free_port() -> int:
    """A port nothing listens on at this moment, on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def prepare_template(venv: Path = VENV) -> Path:
    """Migrate a new database once (a start and a stop), kept beside the virtualenv for every later server."""
    folder = venv / TEMPLATE
    shutil.rmtree(folder, ignore_errors=True)
    server = LocalLabelStudio(folder, port=free_port(), venv=venv).start(print)
    server.stop()
    return folder / DATABASE


if __name__ == "__main__":  # `make label-studio`: python -m sandbox.label_studio template
    if sys.argv[1:] != ["template"]:
        sys.exit("usage: python -m sandbox.label_studio template")
    print(f"Label Studio's database template: {prepare_template()}")
