"""The plugin host: entry points, ABI and dependency checks, lifecycle, hot plugging."""

from __future__ import annotations

import importlib
import inspect
import json
import logging
import sys
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from proxyd import HOST_ABI
from proxyd.config import ConfigError
from proxyd.errors import PluginError, ProxydError
from proxyd.services import Services

if TYPE_CHECKING:
    from proxyd.core import Core

GROUP = "proxyd.plugins"
log = logging.getLogger("proxyd.plugins")


class StartupError(ProxydError):
    """Plugins could not be loaded or ordered; nothing was initialized."""


@dataclass
class Plugin:
    name: str
    entry_point: EntryPoint
    obj: Any = None
    abi: str = ""
    requires: tuple[str, ...] = ()
    state: str = "resolved"  # resolved | initialized | running | stopped
    services: Services | None = None
    order: int = 0

    @property
    def distribution(self) -> str:
        dist = getattr(self.entry_point, "dist", None)
        return dist.name if dist else ""

    @property
    def version(self) -> str:
        dist = getattr(self.entry_point, "dist", None)
        return dist.version if dist else ""


@dataclass
class PluginHost:
    core: "Core"
    plugins: dict[str, Plugin] = field(default_factory=dict)  # loaded, in load order

    # -- resolution -------------------------------------------------------------------------
    @staticmethod
    def available() -> dict[str, EntryPoint]:
        return {ep.name: ep for ep in entry_points(group=GROUP)}

    def resolve(self, name: str, *, reimport: bool = False) -> Plugin:
        ep = self.available().get(name)
        if ep is None:
            raise StartupError(f"plugin '{name}': no entry point '{name}' in group '{GROUP}' (is it installed?)")
        try:
            if reimport:
                _reimport(ep)
            target = ep.load()
            obj = target() if inspect.isclass(target) else target
        except Exception as exc:
            raise StartupError(f"plugin '{name}' failed in import: {type(exc).__name__}: {exc}") from exc
        abi = getattr(obj, "PROXYD_ABI", None)
        if not isinstance(abi, str):
            raise StartupError(f"plugin '{name}' declares no PROXYD_ABI requirement (e.g. \">=1.0,<2\")")
        try:
            ok = Version(HOST_ABI) in SpecifierSet(abi)
        except InvalidSpecifier:
            raise StartupError(f"plugin '{name}' has an invalid PROXYD_ABI requirement '{abi}'") from None
        if not ok:
            raise StartupError(f"plugin '{name}' needs ABI {abi}; host provides {HOST_ABI}")
        requires = tuple(getattr(obj, "PROXYD_REQUIRES", ()) or ())
        return Plugin(name, ep, obj, abi, requires)

    @staticmethod
    def order(plugins: list[Plugin], loaded: set[str] = frozenset()) -> list[Plugin]:
        """Dependency order, ties in the given (cnf) order; missing or cyclic requirements refused."""
        by_name = {p.name: p for p in plugins}
        for p in plugins:
            for r in p.requires:
                if r not in by_name and r not in loaded:
                    raise StartupError(f"plugin '{p.name}' requires '{r}', which is not configured")
        done: list[Plugin] = []
        state: dict[str, str] = {}

        def visit(p: Plugin, path: list[str]) -> None:
            if state.get(p.name) == "done":
                return
            if state.get(p.name) == "visiting":
                cycle = path[path.index(p.name):] + [p.name]
                raise StartupError(f"plugin dependency cycle: {' -> '.join(cycle)}")
            state[p.name] = "visiting"
            for r in p.requires:
                if r in by_name:
                    visit(by_name[r], path + [p.name])
            state[p.name] = "done"
            done.append(p)

        for p in plugins:
            visit(p, [])
        return done

    # -- lifecycle --------------------------------------------------------------------------
    def _call(self, plugin: Plugin, hook: str, **kwargs: Any) -> Any:
        caller = getattr(self.core.plugin_manager.hook, hook)
        for impl in caller.get_hookimpls():
            if impl.plugin is plugin.obj:
                return impl.function(**kwargs)
        return None  # the plugin does not implement this hook

    def init(self, plugin: Plugin) -> None:
        """Register and ``init`` a plugin; on failure every registration of it is rolled back."""
        names = {p.name for p in self.plugins.values()}
        if plugin.name in names:
            raise ProxydError(f"plugin '{plugin.name}' is already loaded")
        for r in plugin.requires:
            if r not in names:
                raise PluginError(plugin.name, "init()", f"requires '{r}', which is not loaded")
        core = self.core
        snap = core.registration_snapshot()
        services = Services(core, plugin.name)
        try:
            core.plugin_manager.register(plugin.obj, name=plugin.name)
            result = self._call(plugin, "init", services=services)
            if result is False:
                raise PluginError(plugin.name, "init()", "returned False")
            core.check_plugin_cnf_sections(services)
        except Exception as exc:
            core.rollback_registrations(plugin.name, snap, services)
            if core.plugin_manager.is_registered(plugin.obj):
                core.plugin_manager.unregister(plugin.obj)
            if isinstance(exc, (PluginError, ConfigError)):  # a bad cnf section exits 2 at boot
                raise
            raise PluginError(plugin.name, "init()", _reason(exc)) from exc
        plugin.services, plugin.state = services, "initialized"
        plugin.order = max((p.order for p in self.plugins.values()), default=0) + 1
        self.plugins[plugin.name] = plugin
        self.core.plugins_changed()

    def start(self, plugin: Plugin) -> None:
        assert plugin.services is not None
        plugin.services._db_live = True
        try:
            result = self._call(plugin, "start")
        except Exception as exc:
            raise PluginError(plugin.name, "start()", _reason(exc)) from exc
        if result is False:
            raise PluginError(plugin.name, "start()", "returned False")
        plugin.state = "running"

    def stop(self, plugin: Plugin) -> None:
        """``stop()`` for one plugin; failures are logged, never raised."""
        try:
            if self._call(plugin, "stop") is False:
                log.warning("plugin '%s' stop() returned False", plugin.name)
        except Exception:
            log.exception("plugin '%s' failed in stop()", plugin.name)
        plugin.state = "stopped"

    def stop_all(self) -> None:
        for plugin in reversed(list(self.plugins.values())):
            if plugin.state in ("initialized", "running"):
                self.stop(plugin)

    def start_all(self) -> None:
        for plugin in self.plugins.values():
            if plugin.state in ("initialized", "stopped"):
                self.start(plugin)

    def remove(self, plugin: Plugin) -> None:
        """Forget a stopped plugin: hookimpls, commands, tables (disk rows kept)."""
        self.core.remove_owner(plugin.name)
        if self.core.plugin_manager.is_registered(plugin.obj):
            self.core.plugin_manager.unregister(plugin.obj)
        self.plugins.pop(plugin.name, None)
        self.core.plugins_changed()

    # -- hot plugging -----------------------------------------------------------------------
    def dependents(self, name: str) -> list[str]:
        return [p.name for p in self.plugins.values() if name in p.requires]

    def hot_load(self, name: str, *, reimport: bool = False) -> Plugin:
        if name in self.plugins:
            raise ProxydError(f"plugin '{name}' is already loaded")
        try:
            plugin = self.resolve(name, reimport=reimport)
        except StartupError as exc:
            raise ProxydError(str(exc)) from exc
        try:
            self.init(plugin)
        except ConfigError as exc:  # at runtime that is the client's ERR, not an exit
            raise PluginError(name, "init()", str(exc)) from exc
        try:
            self.core.seed_plugin(plugin)
            self.start(plugin)
        except Exception as exc:
            self.stop(plugin)
            self.remove(plugin)
            if isinstance(exc, PluginError):
                raise
            raise PluginError(name, "load to runtime", _reason(exc)) from exc
        return plugin

    def unload(self, name: str) -> None:
        plugin = self.plugins.get(name)
        if plugin is None:
            raise ProxydError(f"plugin '{name}' is not loaded")
        deps = self.dependents(name)
        if deps:
            raise ProxydError(f"plugin '{name}' cannot be unloaded: required by {', '.join(sorted(deps))}")
        self.stop(plugin)
        self.remove(plugin)

    def reload(self, name: str) -> list[str]:
        """Stop a plugin and its dependents, re-import it, init/start them again in order."""
        if name not in self.plugins:
            raise ProxydError(f"plugin '{name}' is not loaded")
        affected: list[str] = []

        def collect(n: str) -> None:
            for d in self.dependents(n):
                if d not in affected:
                    collect(d)
            if n not in affected:
                affected.append(n)

        collect(name)  # dependents first: that is the stop order
        for n in affected:
            p = self.plugins[n]
            self.stop(p)
            self.remove(p)
        for n in reversed(affected):
            self.hot_load(n, reimport=(n == name))
        return list(reversed(affected))

    # -- introspection ----------------------------------------------------------------------
    def status_rows(self) -> list[tuple[str, str, str, str, str]]:
        rows = []
        for p in self.plugins.values():
            try:
                status = self._call(p, "status_json")
                text = status if isinstance(status, str) else json.dumps(status if status is not None else {})
            except Exception as exc:
                text = json.dumps({"error": _reason(exc)})
            rows.append((p.name, p.version, p.distribution, p.state, text))
        return rows


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ProxydError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


def _reimport(ep: EntryPoint) -> None:
    """Re-import the module an entry point names (and its submodules) for RELOAD PLUGIN."""
    root = ep.module
    for mod in sorted((m for m in list(sys.modules) if m == root or m.startswith(root + ".")), reverse=True):
        try:
            importlib.reload(sys.modules[mod])
        except Exception:
            if mod == root:
                raise
    importlib.invalidate_caches()
