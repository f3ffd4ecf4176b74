"""The live side of the plugin: the action registry, building and swapping runtime filter sets."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from plugins.filters.actions import FilterAction, action_key
from plugins.filters.engine import FilterStats, RuntimeFilter, RuntimeSet
from plugins.filters.errors import FilterValueError
from plugins.filters.model import FilterDef
from plugins.filters.pattern import compile_pattern
from proxyd.errors import ProxydError

log = logging.getLogger("proxyd.plugin.filters")


class FilterRuntime:
    """Owns the current :class:`RuntimeSet`, the registry of action classes and per-filter stats."""

    def __init__(self, collect: Callable[[], Iterable[tuple[str, Any]]]):
        self._collect = collect  # (plugin name, list of classes) per filters_actions implementation
        self.actions: dict[str, type[FilterAction]] = {}
        self.providers: dict[str, str] = {}  # action name -> plugin that contributed it
        self.current = RuntimeSet([])
        self.stats: dict[str, FilterStats] = {}
        self.on_install: Callable[[RuntimeSet], None] | None = None  # told of every new current set

    # -- registry ---------------------------------------------------------------------------------
    def refresh_actions(self) -> None:
        """Re-collect the action classes; filters whose action appeared or went are rebuilt."""
        found: dict[str, type[FilterAction]] = {}
        providers: dict[str, str] = {}
        for plugin, contributed in self._collect():
            for cls in contributed or ():
                if not is_action_class(cls):
                    log.warning("filters_actions returned %r, not a named FilterAction subclass; ignored", cls)
                    continue
                key = action_key(cls.name)
                if key in found and found[key] is not cls:
                    log.warning("filter action %s contributed twice; keeping %s", key, found[key].__qualname__)
                    continue
                found[key] = cls
                providers[key] = plugin
        changed = {k for k in found.keys() | self.actions.keys() if found.get(k) is not self.actions.get(k)}
        self.actions, self.providers = found, providers
        if changed and any(f.definition.action in changed for f in self.current.filters):
            self.install(self.build([f.definition for f in self.current.filters], lenient=True))

    # -- building ---------------------------------------------------------------------------------
    def make_action(self, f: FilterDef, strict: bool) -> FilterAction | None:
        cls = self.actions.get(f.action)
        if cls is None:
            if strict:
                raise FilterValueError("action", f"unknown action '{f.action}' "
                                                 f"(registered: {', '.join(sorted(self.actions)) or 'none'})")
            return None
        if f.action_args and not cls.takes_args:
            raise FilterValueError("action_args", f"action {f.action} does not support action_args")
        try:
            return cls(f.name, f.action_args)
        except ProxydError:
            raise
        except Exception as exc:
            raise FilterValueError("action_args", f"action {f.action}: {type(exc).__name__}: {exc}") from exc

    def build(self, defs: Iterable[FilterDef], strict: Iterable[str] = (), lenient: bool = False) -> RuntimeSet:
        """Compile ``defs`` into a new set, reusing the action instances of unchanged filters.

        Raises (naming the filter and field) without side effects: instances made so far are closed.
        For the filters named in ``strict`` (those a DDL statement writes) an action nobody registered
        is an error; any other such filter is kept inert. ``lenient`` (start-up, an action plugin
        coming or going): a filter whose action refuses its arguments is kept inert and logged
        instead of failing the whole set.
        """
        strict = set(strict)
        old = {f.name: f for f in self.current.filters}
        made: list[FilterAction] = []
        out: list[RuntimeFilter] = []
        try:
            for d in defs:
                try:
                    pattern = compile_pattern(d)
                    prev = old.get(d.name)
                    if (prev is not None and prev.action is not None and prev.definition.action == d.action
                            and prev.definition.action_args == d.action_args
                            and type(prev.action) is self.actions.get(d.action)):
                        action = prev.action
                    else:
                        try:
                            action = self.make_action(d, d.name in strict)
                        except ProxydError as exc:
                            if not lenient:
                                raise
                            log.error("filter '%s' is inert: %s", d.name, exc.message)
                            action = None
                        if action is not None:
                            made.append(action)
                        elif d.active:
                            log.warning("filter '%s': action %s is not registered; the filter is inert until a "
                                        "plugin provides it", d.name, d.action)
                except ProxydError as exc:
                    exc.message = f"filter '{d.name}': {exc.message}"
                    exc.args = (exc.message,)
                    raise
                stats = self.stats.get(d.name) or FilterStats()
                if action is not None and hasattr(action, "filter_stats"):
                    action.filter_stats = stats  # counters of actions that keep their own (CONCURRENCY_CONTROL)
                out.append(RuntimeFilter(d, pattern, action, stats))
        except BaseException:
            for a in made:
                _close(a)
            raise
        return RuntimeSet(out)

    def install(self, new: RuntimeSet) -> None:
        """Make ``new`` live; close the action instances it no longer uses; drop stats of gone filters."""
        keep = {id(f.action) for f in new.filters if f.action is not None}
        old, self.current = self.current, new
        self.stats = {f.name: f.stats for f in new.filters}
        if self.on_install is not None:
            self.on_install(new)
        for f in old.filters:
            if f.action is not None and id(f.action) not in keep:
                _close(f.action)

    def discard(self, new: RuntimeSet) -> None:
        """Close the instances a built but never installed set made (a DDL whose write failed)."""
        live = {id(f.action) for f in self.current.filters if f.action is not None}
        for f in new.filters:
            if f.action is not None and id(f.action) not in live:
                _close(f.action)

    def close_all(self) -> None:
        old, self.current = self.current, RuntimeSet([])
        if self.on_install is not None:
            self.on_install(self.current)
        for f in old.filters:
            if f.action is not None:
                _close(f.action)


def is_action_class(cls: Any) -> bool:
    """A named FilterAction subclass. Compared by name, not identity: RELOAD PLUGIN filters re-imports
    this package, and a plugin that subclassed the previous import's FilterAction is still valid."""
    return (isinstance(cls, type) and bool(getattr(cls, "name", "")) and
            any(b.__name__ == "FilterAction" and b.__module__ == FilterAction.__module__ for b in cls.__mro__))


def _close(action: FilterAction) -> None:
    try:
        action.close()
    except Exception:
        log.exception("closing filter action %s of '%s' failed", action.name, getattr(action, "filter_name", "?"))
