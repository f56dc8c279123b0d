"""Per-container singletons: configuration, engine, state table, parameters, notifier.

Built on first use and kept for the container's life (a Lambda container
serves many invocations). ``reset()`` drops them (tests, the sandbox).
"""

from __future__ import annotations

import logging
from functools import cache

from aws_lambda_powertools import Logger, Metrics

from plugins import Engine, InvalidParameterValue, LoopEvent, Settings

from . import config as _config
from .notify import Notifier
from .settings import ParameterReader
from .clock import now_iso
from .state import StateTable

# The service name (POWERTOOLS_SERVICE_NAME, "labelloop-<stack>") is the metrics' stack dimension.
logger = Logger()
metrics = Metrics(namespace="labelloop")
log = logging.getLogger(__name__)


@cache
def engine() -> Engine:
    return Engine.load()


@cache
def table() -> StateTable:
    return StateTable(_config.current().table)


@cache
def notifier() -> Notifier:
    cfg = _config.current()
    return Notifier(cfg.topic_arn, cfg.stack)


@cache
def parameters() -> ParameterReader:
    cfg = _config.current()
    return ParameterReader(engine().catalog, cfg.parameter_path, cfg.parameter_ttl_seconds, _alert_invalid)


@cache
def decision_parameters(hook: str) -> ParameterReader:
    """The reader of the parameters a function that asks only the decision ``hook`` needs, by name."""
    cfg = _config.current()
    return ParameterReader(engine().catalog.scope(hook), cfg.parameter_path, cfg.parameter_ttl_seconds,
                           _alert_invalid, by_name=True)


def settings(hook: str | None = None) -> Settings:
    """The operator parameters; with ``hook``, only those of that decision (and of every decision), read by
    name in one call for up to ten — what the detection pays when its cache has expired."""
    return (decision_parameters(hook) if hook else parameters()).settings()


def _alert_invalid(problem: InvalidParameterValue) -> None:
    if table().first_alert(problem.name, problem.value, str(problem)):
        announce("parameter_invalid", f"Parameter {problem.name} has an invalid value; the last good value is used",
                 {"parameter": problem.name, "value": problem.value, "allowed": problem.allowed},
                 notify=True, footer=f"Fix: labelloop params set {problem.name} <value>")


def announce(kind: str, summary: str, detail: dict | None = None, *, notify: bool = False, footer: str = "") -> None:
    """Tell the policies' observers, log it, and — for what an operator must know — send a notification."""
    detail = dict(detail or {})
    engine().emit(LoopEvent(kind, summary, detail, now_iso()))
    logger.info(summary, extra={"event_kind": kind, **{f"detail_{k}": v for k, v in detail.items()}})
    if notify:
        try:
            notifier().send(summary, summary, detail, footer)
        except Exception:  # a notification must never fail the work it reports on
            log.exception("could not send notification %r", summary)


def reset() -> None:
    for fn in (engine, table, notifier, parameters, decision_parameters, _config.current):
        fn.cache_clear()
