"""Checking stack config values (pure): the error that names the key and the fix, and the checks
the core config (:mod:`components.config`) and the review backends' own keys share."""

from __future__ import annotations

from typing import Any, Mapping


class ConfigError(ValueError):
    """A missing or invalid stack config value; the message names the key (``labelloop:`` unless it
    names its own namespace, as ``aws:region``) and the fix."""

    def __init__(self, key: str, problem: str, fix: str):
        self.key = key
        super().__init__(f"{key if ':' in key else 'labelloop:' + key} {problem}. Fix: {fix}")


def number(raw: Mapping[str, Any], key: str, default: float, low: float, high: float, what: str) -> float:
    """A number within [low, high]; ``what`` says what it is, in the fix."""
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ConfigError(key, f"is {value!r}", f"set a number from {low:g} to {high:g}: the {what}")
    return value
