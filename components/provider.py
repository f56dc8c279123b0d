"""The stack's own AWS provider: every resource and every read of the program goes through it, so the
stack's tags are its default tags (on every resource that takes tags, each resource's own added) and
no resource threads them by hand.

An explicit provider does not read the stack's ``aws:`` configuration the way the default one does,
so :func:`provider_args` hands it every ``aws:`` key the stack sets (``aws:region``, ``aws:profile``,
``aws:assumeRoles``, …, secrets kept secret), and adds the stack's tags to ``aws:defaultTags``.
Pulumi moves the resources of a stack deployed with the default provider to this one in place: the
provider's configuration is the same, so nothing is replaced.
"""

from __future__ import annotations

import inspect
import json
import re
from typing import Any, Callable, Mapping

import pulumi
import pulumi_aws as aws

from components.config_values import ConfigError

NAMESPACE = "aws:"
DEFAULT_TAGS = "defaultTags"


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _settings() -> dict[str, Any]:
    """The provider's arguments (snake_case) and what each takes: text, or a YAML value."""
    parameters = inspect.signature(aws.ProviderArgs.__init__).parameters
    return {name: p.annotation for name, p in parameters.items() if not name.startswith("_")}


def _fields(value: Any) -> Any:
    """A structured value's own fields in the provider's spelling (a map's keys inside them, such as
    tag names, as they are)."""
    if isinstance(value, list):
        return [_fields(item) for item in value]
    if isinstance(value, dict):
        return {_snake(key): item for key, item in value.items()}
    return value


def provider_args(config: Mapping[str, Any], tags: Mapping[str, str],
                  secret: Callable[[str], bool] = lambda key: False) -> dict[str, Any]:
    """``aws.Provider`` keyword arguments from the stack's configuration (``config``: every key with its
    namespace, a structured value as its JSON text; ``secret``: whether a key is a secret) and the
    stack's tags, which the stack's ``aws:defaultTags`` may add to."""
    settings, args = _settings(), {}
    for key, value in config.items():
        if not key.startswith(NAMESPACE) or key == NAMESPACE + DEFAULT_TAGS:
            continue
        name = _snake(key[len(NAMESPACE):])
        if name not in settings:
            raise ConfigError(key, "is not a setting of the AWS provider", "remove it, or spell it as the "
                              "provider's documentation does (e.g. aws:region, aws:profile, aws:assumeRoles)")
        takes_text = str(settings[name]).startswith("typing.Union[str,")
        args[name] = value if takes_text else _fields(_json(key, value))
        if secret(key):
            args[name] = pulumi.Output.secret(args[name])
    extra = _json(NAMESPACE + DEFAULT_TAGS, config.get(NAMESPACE + DEFAULT_TAGS) or "{}")
    args["default_tags"] = {"tags": {**(extra.get("tags") or {}), **tags}}
    return args


def _json(key: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ConfigError(key, f"cannot be read ({exc})",
                          "check its YAML in Pulumi.<stack>.yaml") from exc


def stack_provider(name: str, tags: Mapping[str, str], *, parent: pulumi.Resource) -> aws.Provider:
    """The provider every resource of the stack is created with (``name``, under ``parent``)."""
    from pulumi.runtime import config as runtime_config

    config = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return aws.Provider(name, **provider_args(config, tags, runtime_config.is_config_secret),
                        opts=pulumi.ResourceOptions(parent=parent))
