"""Loading policies: defaults, configured modules, then installed packages.

Every problem fails here, at load, with the module's name — never later and
never silently.
"""

from __future__ import annotations

import importlib
import os
import typing
from types import MappingProxyType
from typing import Iterable, Mapping, Sequence

import pluggy

from . import hookspecs
from .parameters import Catalog, CatalogError

DEFAULTS = "policies.defaults"
POLICIES_ENV = "LABELLOOP_POLICIES"
REPLACE_DEFAULTS_ENV = "LABELLOOP_REPLACE_DEFAULTS"
ENTRY_POINTS_ENV = "LABELLOOP_LOAD_ENTRY_POINTS"


def _specs() -> dict[str, dict]:
    """Every hook specification, in the order :mod:`.hookspecs` defines them: name -> pluggy's options."""
    marker = f"{hookspecs.PROJECT}_spec"
    return {name: getattr(fn, marker) for name, fn in vars(hookspecs).items() if callable(fn) and hasattr(fn, marker)}


def _decision_type(name: str) -> type:
    """What a decision hook returns besides ``None``, from its annotation (``Decision | None``)."""
    returns = typing.get_type_hints(getattr(hookspecs, name))["return"]
    (decision,) = [t for t in typing.get_args(returns) if t is not type(None)]
    return decision


HOOK_SPECS = _specs()
# The firstresult hooks, asked one policy at a time until one decides: name -> the decision's type.
DECISION_HOOKS: Mapping[str, type] = MappingProxyType(
    {name: _decision_type(name) for name, options in HOOK_SPECS.items() if options.get("firstresult")})


class PolicyLoadError(RuntimeError):
    """A policy module could not be loaded; the message names it and the fix."""


def modules_from_env(environ: dict | None = None) -> list[str]:
    """The policy modules named in ``LABELLOOP_POLICIES`` (comma-separated)."""
    raw = (environ if environ is not None else os.environ).get(POLICIES_ENV, "")
    return [name.strip() for name in raw.split(",") if name.strip()]


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def load(
    modules: Sequence[str] | None = None,
    *,
    replace_defaults: bool | None = None,
    entry_points: bool | Iterable[str] | None = None,
) -> pluggy.PluginManager:
    """A plugin manager with the policies of this stack registered and checked.

    ``modules`` defaults to ``LABELLOOP_POLICIES``; ``replace_defaults`` to
    ``LABELLOOP_REPLACE_DEFAULTS``. ``entry_points``: ``True`` loads every
    installed ``labelloop`` entry point, ``False`` none, an iterable of names only
    those; by default ``LABELLOOP_LOAD_ENTRY_POINTS`` (a comma list) limits them.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    modules = modules_from_env() if modules is None else [m.strip() for m in modules if m.strip()]
    if replace_defaults is None:
        replace_defaults = _truthy(os.environ.get(REPLACE_DEFAULTS_ENV))
    if not replace_defaults and DEFAULTS not in modules:
        _register(pm, DEFAULTS, importlib.import_module(DEFAULTS))
    for name in dict.fromkeys(modules):
        _register(pm, name, _import(name))
    _load_entry_points(pm, entry_points)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PolicyLoadError(f"policy {_plugin_name(pm, exc.plugin)} {_explain(exc)}") from exc
    missing = [hook for hook in DECISION_HOOKS if not getattr(pm.hook, hook).get_hookimpls()]
    if missing:
        raise PolicyLoadError(
            f"no loaded policy implements {', '.join(missing)}; {DEFAULTS} was replaced, so the "
            f"policies {modules or '[]'} must decide every one of them (or keep the defaults)"
        )
    _check_no_wrappers(pm)
    catalog(pm)  # a parameter clash is a load error too
    return pm


def _import(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        hint = (f"searched {', '.join(search_path())}; check the spelling, and put the module in one of these "
                "folders, install it, or bundle it (stack config `policies`)")
        if exc.name != name and not name.startswith(f"{exc.name}."):
            hint = f"it imports {exc.name!r}, which is not installed"
        raise PolicyLoadError(f"policy module {name!r} cannot be imported: {exc}; {hint}") from exc
    except Exception as exc:  # a policy's own import-time error
        raise PolicyLoadError(f"policy module {name!r} failed while importing: {type(exc).__name__}: {exc}") from exc


def search_path() -> list[str]:
    """Where a policy module is looked for: the folders on ``sys.path`` (the current directory for ``''``),
    the standard library left out."""
    import sys
    import sysconfig

    stdlib = {os.path.realpath(sysconfig.get_paths()[key]) for key in ("stdlib", "platstdlib")}
    folders = [os.path.realpath(p or os.getcwd()) for p in sys.path if not p.endswith(".zip")]
    keep = [f for f in folders if not any(f == s or f.startswith(s + os.sep) and "-packages" not in f for s in stdlib)]
    return list(dict.fromkeys(keep))


def _register(pm: pluggy.PluginManager, name: str, plugin: object) -> None:
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        raise PolicyLoadError(f"policy {name!r} {_explain(exc)}") from exc
    except ValueError as exc:  # already registered under another name
        raise PolicyLoadError(f"policy {name!r} cannot be registered: {exc}") from exc


def _load_entry_points(pm: pluggy.PluginManager, selection: bool | Iterable[str] | None) -> None:
    from importlib.metadata import entry_points

    if selection is None:
        raw = os.environ.get(ENTRY_POINTS_ENV)
        selection = True if raw is None else [n.strip() for n in raw.split(",") if n.strip()]
    if selection is False:
        return
    allowed = None if selection is True else set(selection)
    for ep in entry_points(group=hookspecs.PROJECT):
        if allowed is not None and ep.name not in allowed:
            continue
        plugin = _load_entry_point(ep)
        if not (pm.has_plugin(ep.name) or pm.is_registered(plugin)):
            _register(pm, ep.name, plugin)


def _load_entry_point(ep):
    try:
        return ep.load()
    except Exception as exc:
        raise PolicyLoadError(
            f"policy package entry point {ep.name!r} ({ep.value}) failed to load: {type(exc).__name__}: {exc}"
        ) from exc


def _explain(exc: pluggy.PluginValidationError) -> str:
    text = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    if "unknown hook" in text:
        known = ", ".join(sorted(HOOK_SPECS))
        return f"implements a hook that does not exist: {text}. Known hooks: {known}"
    return f"does not match its hook specification: {text}"


def _plugin_name(pm: pluggy.PluginManager, plugin: object) -> str:
    return repr(pm.get_name(plugin) or getattr(plugin, "__name__", plugin))


def _check_no_wrappers(pm: pluggy.PluginManager) -> None:
    # The engine asks implementations one by one to know which policy decided;
    # a wrapper would be skipped silently, so it is refused instead.
    for hook in DECISION_HOOKS:
        for impl in getattr(pm.hook, hook).get_hookimpls():
            if impl.hookwrapper or impl.wrapper:
                raise PolicyLoadError(
                    f"policy {impl.plugin_name!r} wraps {hook}; decision hooks do not support wrappers — "
                    "return a decision or None instead"
                )


def catalog(pm: pluggy.PluginManager) -> Catalog:
    """The parameter catalog of the loaded policies (defaults' parameters included)."""
    contributions = []
    for impl in pm.hook.labelloop_parameters.get_hookimpls():  # the defaults (trylast) first
        try:
            contributions.append((impl.plugin_name, impl.function() or []))
        except Exception as exc:
            raise PolicyLoadError(f"policy {impl.plugin_name!r} failed in labelloop_parameters: {exc}") from exc
    try:
        return Catalog.merge(contributions)
    except CatalogError as exc:
        raise PolicyLoadError(str(exc)) from exc
