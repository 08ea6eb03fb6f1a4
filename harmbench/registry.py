"""The plugin manager: discovers plugins in the ``harmbench`` entry-point group.

Set ``HARMBENCH_DISABLE_PLUGINS=a,b`` (entry-point names) to block plugins.
"""

from __future__ import annotations

import difflib
import functools
import os
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import pluggy

from harmbench import hookspecs
from harmbench.errors import DataError, PluginError
from harmbench.runspec import parse_one

ENTRY_POINT_GROUP = "harmbench"
DISABLE_ENV = "HARMBENCH_DISABLE_PLUGINS"


@dataclass(frozen=True)
class Registered:
    """A registered object and the plugin it came from."""

    name: str
    obj: Any
    source: str


def disabled_plugins() -> set[str]:
    return {s.strip() for s in os.environ.get(DISABLE_ENV, "").split(",") if s.strip()}


def _new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    blocked = disabled_plugins()
    for name in blocked:
        pm.set_blocked(name)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in blocked or pm.is_registered(ep.name) or pm.get_plugin(ep.name) is not None:
            continue
        try:
            plugin = ep.load()
        except Exception as exc:
            raise PluginError(f"plugin {ep.name!r} ({ep.value}) failed to import: {exc}") from exc
        pm.register(plugin, name=ep.name)
    return pm


_extra: list[tuple[str, Any]] = []


@functools.lru_cache(maxsize=1)
def plugin_manager() -> pluggy.PluginManager:
    pm = _new_manager()
    for name, plugin in _extra:
        if name not in disabled_plugins():
            pm.register(plugin, name=name)
    return pm


def register_plugin(plugin: Any, name: str) -> None:
    """Register a plugin object at run time (tests, notebooks); same rules as entry points."""
    _extra.append((name, plugin))
    reset()


def unregister_plugin(name: str) -> None:
    _extra[:] = [(n, p) for n, p in _extra if n != name]
    reset()


def reset() -> None:
    """Forget cached discovery (after changing the environment or registering plugins)."""
    plugin_manager.cache_clear()
    _collect.cache_clear()


@functools.lru_cache(maxsize=8)
def _collect(hook: str) -> dict[str, Registered]:
    pm = plugin_manager()
    out: dict[str, Registered] = {}
    caller = getattr(pm.hook, hook)
    for impl in caller.get_hookimpls():
        source = pm.get_name(impl.plugin) or repr(impl.plugin)
        items = impl.function() or []
        for obj in items:
            name = getattr(obj, "name", None)
            if not name:
                raise PluginError(f"plugin {source!r} returned an unnamed object from {hook}: {obj!r}")
            if name in out:
                raise PluginError(
                    f"{hook[len('harmbench_'):].rstrip('s')} name {name!r} is registered twice: "
                    f"by plugin {out[name].source!r} and by plugin {source!r}"
                )
            out[name] = Registered(name, obj, source)
    return dict(sorted(out.items()))


def methods() -> dict[str, Registered]:
    return _collect("harmbench_methods")


def datasets() -> dict[str, Registered]:
    return _collect("harmbench_datasets")


def metrics() -> dict[str, Registered]:
    return _collect("harmbench_metrics")


def _lookup(kind: str, table: dict[str, Registered], name: str) -> Any:
    if name in table:
        return table[name].obj
    close = difflib.get_close_matches(name, list(table), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(table) or 'none'}"
    raise PluginError(f"unknown {kind} {name!r}{hint}")


def get_method(name: str) -> Any:
    return _lookup("method", methods(), name)


def get_dataset(name: str) -> Any:
    return _lookup("dataset", datasets(), name)


def get_metric(name: str) -> Any:
    return _lookup("metric", metrics(), name)


def build_method(name: str, params: dict[str, Any] | None = None, *, check: bool = True) -> Any:
    """The one way a run spec becomes a method: the registered class, ``params`` set, validated.

    Args:
        name: registered method name (``oml-cyclegan``).
        params: constructor parameters to override (unknown names raise ``DataError``).
        check: run :meth:`~harmbench.method.BaseMethod.check_params` (declared constraints,
            presets, network sizes) so a bad value fails here, with one line, before any data
            is read or any model fitted.
    """
    method = get_method(name)()
    method.set_params(**(params or {}))
    if check:
        method.check_params()
    return method


def build_run(spec: str, *, preset: str | None = None, device: str | None = None) -> Any:
    """The method of one run spec such as ``nyul[n_landmarks=11]`` (``fit``, ``harmonize``).

    Parses ``spec`` (:mod:`harmbench.runspec`), gives ``preset`` and ``device`` to a method that
    has parameters of those names and whose spec does not set them, and builds it with
    :func:`build_method`, so bad parameters fail here with one line.

    Raises:
        DataError: ``spec`` does not parse, expands to several runs (``nyul[n_landmarks=5,11]``),
            or sets an unknown or invalid parameter.
        PluginError: no method of that name is registered.
    """
    runs = parse_one(spec)
    if len(runs) != 1:
        raise DataError(f"{spec!r} expands to {len(runs)} runs; give one value per parameter")
    run = runs[0]
    params = dict(run.params)
    names = get_method(run.method).param_defaults()
    for key, value in (("preset", preset), ("device", device)):
        if value is not None and key in names:
            params.setdefault(key, value)
    return build_method(run.method, params)
