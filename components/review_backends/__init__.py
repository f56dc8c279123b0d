"""What a review backend declares at deploy time (pure: no Pulumi, so the sandbox and the CLI read
it too). A backend's deploy module exposes a :class:`Deployable` as ``BACKEND``; the registry
(``handlers/review_backends/__init__.py``) names the module. The program asks the stack's backend
only, and nothing else in it asks which backend that is:

* its stack config: the ``labelloop:`` keys it reads (:attr:`Deployable.keys`), checked into its
  settings (:meth:`Deployable.settings`, kept as ``StackConfig.review_settings``);
* its functions (:attr:`Deployable.functions`) and what the core functions that call its run-time
  side need besides (:attr:`Deployable.open_grants`: those that open a review, StartReview;
  :attr:`Deployable.withdraw_grants`: those that take one back, the dataset's), with the ARNs those
  grants name (:meth:`Deployable.resources`) and what every function is told
  (:meth:`Deployable.environment`), both known before anything is deployed;
* its bucket needs (:attr:`Deployable.cors_rules`) and the bucket events it listens to
  (:meth:`Deployable.bucket_triggers`);
* its alarms and dashboard widgets (:meth:`Deployable.alarms`, :meth:`Deployable.dashboard`), which
  Observability creates;
* what deploying its own resource types takes (:attr:`Deployable.resource_access`,
  ``labelloop deployer-policy``);
* the component that creates the rest (:attr:`Deployable.component`: a
  :class:`components.review_stage.ReviewStage`), which deploys its functions and names its stack
  outputs.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping

from handlers.review_backends import backend, every

if TYPE_CHECKING:
    from components.deploy_access import Access
    from components.grants import FunctionSpec, Grant
    from components.naming import Naming
    from components.event_rule import Trigger


@dataclass(frozen=True)
class GaugeAlarm:
    """An alarm on one of the loop's gauges (namespace ``labelloop``, the stack's ``service``): above
    ``threshold`` in a five-minute period tells the topic; no data is not breaching. ``key`` names it
    (``labelloop-<stack>-alarm-<key>``)."""

    key: str
    metric: str
    threshold: float
    description: str


@dataclass(frozen=True)
class Widgets:
    """Observability's helpers for a backend's row of the dashboard: ``metric(title, metrics, x, width=8,
    **properties)`` places a graph in the row; ``loop_metric(name, stat, label)`` is one of the loop's
    metrics (namespace ``labelloop``, the stack's ``service``); ``divided(metric, id, by, shown_id, label)``
    graphs a metric divided by a number."""

    metric: Callable[..., dict]
    loop_metric: Callable[..., list]
    divided: Callable[..., list]


class Deployable:
    """A review backend at deploy time; a backend's deploy module subclasses it and exposes an instance
    as ``BACKEND``. The defaults are those of a backend that needs nothing of its own."""

    name: str
    component: str  # "module:Class" of its ComponentResource (a components.review_stage.ReviewStage)
    keys: tuple[str, ...] = ()  # its labelloop: config keys
    structured: tuple[str, ...] = ()  # of those, the ones whose values are YAML (lists, maps, numbers, booleans)
    settings_type: type | None = None  # its settings (a dataclass; its defaults: a stack of another backend)
    functions: tuple[FunctionSpec, ...] = ()  # its own functions
    open_grants: tuple[Grant, ...] = ()  # what ReviewBackend.open calls need (added to the functions that open)
    withdraw_grants: tuple[Grant, ...] = ()  # what ReviewBackend.withdrawn calls need (added to those that withdraw)
    cors_rules: tuple[Mapping[str, Any], ...] = ()  # the bucket's CORS rules (aws.s3 CORS rule arguments)
    resource_access: Mapping[str, tuple[Access, ...]] = {}  # its own resource types -> what deploying one takes

    def settings(self, raw: Mapping[str, Any], labels: tuple[str, ...], reviewer_emails: tuple[str, ...]) -> Any:
        """Its config values (``raw``: every ``labelloop:`` key set), checked; a problem is a
        ``components.config_values.ConfigError`` naming the key and the fix."""
        return self.settings_type() if self.settings_type else None

    def environment(self, naming: Naming, settings: Any, labels: tuple[str, ...], account) -> Mapping[str, Any]:
        """What every function of the stack is told about the backend: ``RuntimeConfig`` fields (a new
        backend's own go in ``review_settings``), as values or Pulumi Inputs; ``account`` is the
        ``Output[Account]`` the stack deploys to."""
        return {}

    def resources(self, naming: Naming, settings: Any, labels: tuple[str, ...], account) -> Mapping[str, Any]:
        """The ARNs of the kinds of resource its grants name (``Grant.resource``), before they exist."""
        return {}

    def bucket_triggers(self, bucket: str) -> list[Trigger]:
        """The bucket events its functions take (``components.triggers.Trigger``)."""
        return []

    def alarms(self, settings: Any) -> tuple[GaugeAlarm, ...]:
        return ()

    def dashboard(self, widgets: Widgets) -> list[dict]:
        """Its dashboard widgets, in a row of their own below the loop's."""
        return []

    def component_class(self) -> type:
        module, _, name = self.component.partition(":")
        return getattr(importlib.import_module(module), name)


def deployable(name: str) -> Deployable:
    """The review backend ``name`` at deploy time."""
    return backend(name, "deploy")


def every_backend() -> list[Deployable]:
    """Every registered review backend at deploy time, in the registry's order."""
    return every("deploy")
