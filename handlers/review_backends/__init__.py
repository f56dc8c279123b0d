"""The review backends, one registry for every layer: ``labelloop:review`` names one of them.

A backend is three modules, each exposing ``BACKEND``: at run time (``runtime``, in the Lambda
archive: :class:`handlers.review_backends.interface.ReviewBackend`) it opens a review and turns its
answers into the shared review result; at deploy time (``deploy``, pure:
:class:`components.review_backends.Deployable`) it declares its stack config, functions, grants,
bucket needs, alarms and the component that creates its resources; on this machine (``sandbox``:
:class:`sandbox.review_backends.SandboxBackend`) it says what stands in for it and how simulated
reviewers answer. Nothing outside those modules asks which backend a stack has: it asks the
registry for the stack's ``BACKEND``.

Adding one is a line here and its own modules (docs/architecture.md, "Adding a review backend").
It imports only the runtime's configuration (whose default it names), so every layer from the
handlers up may read it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from handlers.runtime.config import DEFAULT_REVIEW_BACKEND

SIDES = ("runtime", "deploy", "sandbox")


@dataclass(frozen=True)
class Registered:
    """A review backend: its name (the value of ``labelloop:review``), what it is in a sentence (``title``:
    "Amazon A2I"), when to choose it, and its three modules."""

    name: str
    title: str
    description: str
    runtime: str
    deploy: str
    sandbox: str

    def load(self, side: str):
        """The ``BACKEND`` of one side: ``runtime``, ``deploy`` or ``sandbox``."""
        if side not in SIDES:
            raise ValueError(f"a review backend has no side {side!r}; one of {', '.join(SIDES)}")
        return importlib.import_module(getattr(self, side)).BACKEND


DEFAULT = DEFAULT_REVIEW_BACKEND
REGISTRY: dict[str, Registered] = {r.name: r for r in (
    Registered("builtin", "the builtin review app", "labelloop's own review app, the default",
               "handlers.review_backends.builtin", "components.review_backends.builtin",
               "sandbox.review_backends.builtin"),
    Registered("a2i", "Amazon A2I", "Amazon A2I, for accounts that are existing A2I customers",
               "handlers.review_backends.a2i", "components.review_backends.a2i", "sandbox.review_backends.a2i"),
)}


class UnknownBackend(KeyError):
    """No review backend of that name is registered."""

    def __str__(self) -> str:
        return f"no review backend named {self.args[0]!r}; registered: {', '.join(REGISTRY)}"


def registered(name: str) -> Registered:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownBackend(name) from None


def backend(name: str, side: str):
    """The ``BACKEND`` of the review backend ``name`` on one side (``runtime``, ``deploy``, ``sandbox``)."""
    return registered(name).load(side)


def every(side: str) -> list:
    """Every registered backend's ``BACKEND`` on one side, in the registry's order."""
    return [r.load(side) for r in REGISTRY.values()]
