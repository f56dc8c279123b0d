"""A review backend on this machine: what stands in for it in moto, what its functions are told there,
and how the sandbox's simulated reviewers answer through it. A backend's sandbox module exposes a
:class:`SandboxBackend` as ``BACKEND``; the registry (``handlers/review_backends/__init__.py``) names it.
``LocalStack.use_review`` tells a stack's functions; ``labelloop sandbox --review NAME`` runs with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Protocol

from handlers.review_backends import backend, every

if TYPE_CHECKING:
    from components.naming import Naming

    from ..mistakes import Mistakes

# What `labelloop sandbox` may ask of the simulated reviewers, besides an error rate each backend takes.
REVIEWER_OPTIONS = ("review_budget", "reviewers", "leave_reviews_open", "mistakes")


class Reviewers(Protocol):
    """Simulated reviewers who know the true labels and answer through the backend, as people would."""

    wrong: int  # answers given that were not the true label

    def answer(self, budget: int | None) -> int:
        """Answer what is open (at most ``budget`` answers, when the backend takes a budget); returns how many
        answers were given."""


class SandboxBackend:
    """A review backend in the sandbox; a backend's sandbox module subclasses it and exposes an instance
    as ``BACKEND``. The defaults are those of a backend that needs no stand-in of its own."""

    name: str
    options: frozenset[str] = frozenset()  # of REVIEWER_OPTIONS, those its simulated reviewers take

    def standins(self, saved: Mapping[str, Any]) -> dict[str, object]:
        """The stand-ins it needs (boto3 service name -> stand-in: ``LocalStack(standins=…)``), holding
        ``saved``: what a saved run kept of them (:meth:`saved`; empty for a new run)."""
        return {}

    def saved(self, standins: Mapping[str, object]) -> dict[str, Any]:
        """What a saved run keeps of its stand-ins (pickled with the run)."""
        return {}

    def kept(self, stack: Any) -> dict[str, Any]:
        """What a saved run keeps in its state of the backend's settings and secrets (JSON), so that the run
        served again (:meth:`resume`) is the same stack to the backend's outside world."""
        return {}

    def resume(self, stack: Any, kept: Mapping[str, Any]) -> None:
        """Put back into a saved run's new ``stack`` what :meth:`kept` kept (nothing for a run without it)."""

    def served(self, stack: Any, base_url: str, changed: Any) -> Any:
        """What ``labelloop review --sandbox DIR`` serves at ``base_url`` for a run of this backend besides the
        review app: routes of its own (``handles(path)``, ``invoke(...)``, ``start()``, ``tick()``,
        ``reconcile()``; ``changed(what)`` saves what they changed), or None: the builtin review app is served."""
        return None

    def create(self, stack: Any) -> None:  # a sandbox.local_aws.LocalStack (which imports this)
        """Create in moto what its component would deploy and its functions read (a queue, a secret, …);
        every backend's is created, as every backend's functions are."""

    def settings(self, naming: Naming, **options: Any) -> dict[str, Any]:
        """The ``RuntimeConfig`` fields its functions are told in the sandbox (what the Pulumi program would
        tell them), for a stack named by ``naming``."""
        return {}

    def reviewers(self, stack: Any, truth: dict[str, str], labels: tuple[str, ...],
                  error_rates: tuple[float, ...], seed: int, mistakes: Mistakes) -> Reviewers:
        """Simulated reviewers answering ``stack``'s reviews; ``truth``: image URI -> its true label."""
        raise NotImplementedError(f"the review backend {self.name!r} has no simulated reviewers")


def sandbox_backend(name: str) -> SandboxBackend:
    """The review backend ``name`` in the sandbox."""
    return backend(name, "sandbox")


def every_sandbox_backend() -> list[SandboxBackend]:
    return every("sandbox")
