"""Operator parameters as handlers see them: read in one call, cached, validated.

Powertools' SSM provider reads the whole parameter path (``GetParametersByPath``, ten parameters a
page) — or, for a function that needs only some (``by_name``: the catalog given is their scope),
those by name (``GetParameters``, ten names a call) — and caches them for the TTL; the catalog
parses each value. A value that does not
parse is never used: the last good value (or the default) stands in, and the
operator is alerted once per bad value. A parameter that is missing (deleted)
means its catalog default, in every container alike.

A read that fails for a transient reason (throttling, a server fault) does not
fail the work: a container that read the parameters before keeps its last good
settings for this invocation (and reads again on the next); a fresh one raises
the AWS error under its own name, which the state machines' Retry rules match.
Any other read error is final.
"""

from __future__ import annotations

import logging
from typing import Callable, Mapping

from aws_lambda_powertools.utilities.parameters import SSMProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import ClientError

from plugins import Catalog, InvalidParameterValue, Settings

from . import aws, errors

log = logging.getLogger(__name__)


class ParameterReader:
    def __init__(self, catalog: Catalog, path: str, ttl_seconds: int,
                 on_invalid: Callable[[InvalidParameterValue], None] | None = None, *,
                 provider: SSMProvider | None = None, by_name: bool = False):
        """``provider``: where the values come from (default: Parameter Store through this stack's client);
        ``by_name``: read the catalog's parameters by name rather than the whole path."""
        self.catalog, self.path, self.ttl, self.by_name = catalog, path.rstrip("/") + "/", ttl_seconds, by_name
        self.on_invalid = on_invalid
        self._provider = provider
        self._raw: Mapping[str, str] | None = None
        self._settings: Settings | None = None
        self.problems: list[InvalidParameterValue] = []

    @property
    def provider(self) -> SSMProvider:
        if self._provider is None:
            self._provider = SSMProvider(boto3_client=aws.client("ssm"))
        return self._provider

    def settings(self) -> Settings:
        try:
            raw = self._read()
        except (GetParameterError, ClientError) as exc:
            return self._unreadable(exc)
        if raw == self._raw and self._settings is not None:
            return self._settings  # unchanged since last parse: nothing new to report
        settings, problems = self.catalog.read(raw, fallback=self._settings)
        missing = [spec.name for spec in self.catalog if spec.name not in raw]
        if missing:
            log.warning("parameters missing (deleted?) under %s, defaults used: %s", self.path, ", ".join(missing))
        for problem in problems:
            log.warning("invalid parameter value ignored: %s", problem)
            if self.on_invalid:
                self.on_invalid(problem)
        self._raw, self._settings, self.problems = dict(raw), settings, problems
        return settings

    def _read(self) -> dict[str, str]:
        if not self.by_name:
            return self.provider.get_multiple(self.path, max_age=self.ttl, recursive=False)
        found = self.provider.get_parameters_by_name({self.path + spec.name: {} for spec in self.catalog},
                                                     max_age=self.ttl, raise_on_error=False)
        return {name[len(self.path):]: value for name, value in found.items() if name.startswith(self.path)}

    def _unreadable(self, exc: Exception) -> Settings:
        """The last good settings when the read failed for a transient reason; else the AWS error, by name."""
        cause = errors.unwrap(exc)
        if errors.is_transient(exc) and self._settings is not None:
            log.warning("parameters under %s could not be read (%s); the last good values are used", self.path,
                        errors.error_code(exc) or type(cause).__name__)
            return self._settings
        if isinstance(cause, ClientError):
            raise errors.named(cause) from exc
        raise cause  # a network error under its own name, which the Retry rules match
