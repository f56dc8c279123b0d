"""Lambda containers for handlers that run in process.

In an account each function runs in containers of its own: its clients, its
configuration, its policy engine, state table, parameter reader and notifier
(``handlers.runtime.aws`` and ``handlers.runtime.context``) are built in that
container and never reach another function. In one process they would be
shared, and a warm cache of one function would hide what another does not do
(read the parameters it needs, with the grant it needs). :class:`Containers`
gives every invocation the container of the function it runs for:

- ``per_function``: one container per function, kept warm between its invocations;
- ``per_invocation``: a fresh (cold) container for every invocation.

Code outside any invocation (the test, the harness) has a container of its own.
Every client a function's container makes is handed to the client hooks with
the function's key (:meth:`Containers.on_client`): the access check and the
fault injector see each call as made by that function, including calls made
from the threads of an S3 transfer, which use the same client.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import boto3

from handlers.runtime import aws as runtime_aws
from handlers.runtime import config as runtime_config
from handlers.runtime import context as runtime_context

MODES = ("shared", "per_function", "per_invocation")
# The per-container singletons of handlers.runtime: (module, name).
SINGLETONS = ((runtime_context, "engine"), (runtime_context, "table"), (runtime_context, "notifier"),
              (runtime_context, "parameters"), (runtime_context, "decision_parameters"), (runtime_config, "current"))
OUTSIDE = None  # the container of code that runs for no function
ClientHook = Callable[[str, Any], None]


class Container:
    """What one Lambda container of one function holds."""

    def __init__(self, function: str | None, hooks: list[ClientHook]):
        self.function = function
        self._hooks = hooks
        self._clients: dict[str, Any] = {}
        self._singletons: dict[str, Any] = {}
        self._lock = threading.RLock()

    def client(self, service: str):
        with self._lock:
            if service not in self._clients:
                session = runtime_aws._session or boto3.Session()
                made = session.client(service, config=runtime_aws._config_override or runtime_aws.CLIENT_CONFIG)
                if self.function is not OUTSIDE:
                    for hook in self._hooks:
                        hook(self.function, made)
                self._clients[service] = made
            return self._clients[service]

    def singleton(self, name: str, build: Callable[[], Any]) -> Any:
        with self._lock:
            if name not in self._singletons:
                self._singletons[name] = build()
            return self._singletons[name]


class Containers:
    """Each invocation in the container of its function (see the module docstring). Use as a context
    manager: the runtime's client and singleton lookups are patched while it is entered."""

    def __init__(self, mode: str):
        if mode not in MODES[1:]:
            raise ValueError(f"container mode {mode!r}; one of {', '.join(MODES[1:])}")
        self.mode = mode
        self._hooks: list[ClientHook] = []
        self._warm: dict[str | None, Container] = {}
        self._lock = threading.Lock()
        self._current = threading.local()
        self._undo: list[tuple[object, str, object]] = []
        self.started: dict[str, int] = {}  # containers started per function

    def on_client(self, hook: ClientHook) -> None:
        """Hand every client a function's container makes from now on to ``hook(function key, client)``;
        containers made so far are dropped, so that every client is seen."""
        self._hooks.append(hook)
        self.clear()

    def clear(self) -> None:
        """Drop every container (a deploy that changes the functions' environment)."""
        with self._lock:
            self._warm.clear()

    # -- which container runs ------------------------------------------------------
    def _container(self) -> Container:
        running = getattr(self._current, "container", None)
        if running is not None:
            return running
        with self._lock:
            if OUTSIDE not in self._warm:
                self._warm[OUTSIDE] = Container(OUTSIDE, self._hooks)
            return self._warm[OUTSIDE]

    @contextmanager
    def invocation(self, function: str) -> Iterator[Container]:
        """The block runs in a container of ``function`` (a warm one, or a new one)."""
        with self._lock:
            container = self._warm.get(function) if self.mode == "per_function" else None
            if container is None:
                container = Container(function, self._hooks)
                self.started[function] = self.started.get(function, 0) + 1
                if self.mode == "per_function":
                    self._warm[function] = container
        outer = getattr(self._current, "container", None)
        self._current.container = container
        try:
            yield container
        finally:
            self._current.container = outer

    def running(self, function: str, handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        """``handler``, run in a container of ``function`` at every invocation."""
        def run(event, lambda_context):
            with self.invocation(function):
                return handler(event, lambda_context)

        return run

    # -- patching the runtime --------------------------------------------------------
    def __enter__(self) -> "Containers":
        def client(service: str):
            return self._container().client(service)

        self._patch(runtime_aws, "client", client)
        for module, name in SINGLETONS:
            build = getattr(module, name).__wrapped__  # the functools.cache'd builder

            def singleton(*args, _name=name, _build=build):  # one per container and arguments, as functools.cache
                return self._container().singleton((_name, *args), lambda: _build(*args))

            singleton.cache_clear = self.clear  # context.reset() starts every container afresh
            self._patch(module, name, singleton)
        return self

    def __exit__(self, *exc) -> None:
        while self._undo:
            owner, name, original = self._undo.pop()
            setattr(owner, name, original)
        self.clear()

    def _patch(self, owner: object, name: str, replacement: object) -> None:
        self._undo.append((owner, name, getattr(owner, name)))
        setattr(owner, name, replacement)
