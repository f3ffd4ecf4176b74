"""The core: admin store, registries, tiers, plugin host, and the boot rules that tie them."""

from __future__ import annotations

import logging
import os
import re
from typing import Any, Callable

import pluggy

from proxyd import hookspecs, schema
from proxyd.commands import CommandRegistry
from proxyd.config import Config, ConfigError, check_unclaimed, load_config
from proxyd.core_modules import CoreRuntime, as_modules, core_modules
from proxyd.errors import ProxydError, to_proxyd_error
from proxyd.plugin_host import Plugin, PluginHost
from proxyd.services import Services, _rename_ddl
from proxyd.stats import Stats
from proxyd.store import AdminStore, open_store
from proxyd.tiers import TableModule, TierManager, VariablesModule
from proxyd.variables import VariableRegistry, core_variables

log = logging.getLogger("proxyd")

VARIABLE_SECTIONS = {"admin_variables": "admin", "mysql_variables": "mysql"}


class Core:
    def __init__(self, config: Config, datadir: str, *, initial: bool = False, reload: bool = False):
        self.config, self.datadir = config, datadir
        self.initial, self.reload = initial, reload
        disk_path = os.path.join(datadir, "proxyd.db")
        self.backed_up = initial and os.path.exists(disk_path)
        if self.backed_up:
            os.replace(disk_path, disk_path + ".bak")
            log.info("--initial: previous admin db kept as %s.bak", disk_path)
        self.first_boot = not os.path.exists(disk_path)
        self.store: AdminStore = open_store(datadir)
        self.commands = CommandRegistry()
        self.variables = VariableRegistry()
        self.runtime = CoreRuntime()
        self.tiers = TierManager(self.store, self.commands, self.reread_config)
        self.plugin_manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.plugin_manager.add_hookspecs(hookspecs)
        self.plugins = PluginHost(self)
        self.plugin_listeners: list[Callable[[], None]] = []  # told when the set of loaded plugins changes
        self.plain_idle: set[str] = set()  # plugins whose pipeline hooks skip plain statements now
        self.pipeline_listeners: list[Callable[[], None]] = []  # told when plain_idle changes
        self.stats = Stats()
        self.gauges: dict[str, Callable[[], int]] = {}  # live values for stats_mysql_global
        self.stats_providers: dict[str, Callable[[], list[tuple]]] = {
            "stats_mysql_commands_counters": self.stats.commands.table_rows,
            "stats_mysql_query_digest": self.stats.digests.table_rows,
            "stats_mysql_query_digest_reset": lambda: self.stats.digests.table_rows(reset=True),
            "stats_mysql_global": lambda: self.stats.global_rows({k: f() for k, f in self.gauges.items()}),
        }
        self._refresh_re: re.Pattern | None = None
        self._core_tables: set[str] = set()
        with self.store.conn:  # one commit: each DDL/INSERT on the disk file would otherwise be its own (fsync)
            self._create_core_tables()

    # -- core schema --------------------------------------------------------------------------
    def _create_core_tables(self) -> None:
        for var in core_variables():
            self.variables.define(var)
        self.store.register_table("admin", "global_variables", schema.GLOBAL_VARIABLES, owner="core")
        self.store.register_table("config", "global_variables", schema.GLOBAL_VARIABLES, owner="core")
        self.store.register_table("admin", "runtime_global_variables",
                                  _rename_ddl(schema.GLOBAL_VARIABLES, "global_variables", "runtime_global_variables"),
                                  owner="core", refresh=self._refresh_runtime_variables)
        self.store.register_table("admin", "runtime_plugins", schema.RUNTIME_PLUGINS, owner="core",
                                  refresh=self._refresh_runtime_plugins)
        for module in as_modules(core_modules(self.runtime, self.variables)):
            if isinstance(module, TableModule):
                for name, ddl in module.obj.tables:
                    self.store.register_table("admin", name, ddl, owner="core")
                    self.store.register_table("config", name, ddl, owner="core")
                    self.store.register_table("admin", f"runtime_{name}", _rename_ddl(ddl, name, f"runtime_{name}"),
                                              owner="core", refresh=lambda m=module: m.refresh_runtime_tables(self.store))
            self.tiers.add(module)
        for name, ddl in schema.STATS_TABLES.items():
            self.store.register_table("stats", name, ddl, owner="core", refresh=self._stats_refresher(name))
        self._core_tables = {n for (_, n) in self.store.tables}
        for name in self.variables.defs:
            self.seed_variable(name)
        self.tables_changed()

    def plugins_changed(self) -> None:
        for fn in list(self.plugin_listeners):
            fn()
        loaded = list(self.plugins.plugins)
        for impl in self.plugin_manager.hook.plugins_changed.get_hookimpls():
            try:
                impl.function(loaded=loaded)
            except Exception:
                log.exception("plugin '%s' failed in plugins_changed", impl.plugin_name)

    def set_plain_interest(self, plugin: str, wanted: bool) -> None:
        """See Services.want_plain_statements."""
        if wanted == (plugin not in self.plain_idle):
            return
        if wanted:
            self.plain_idle.discard(plugin)
        else:
            self.plain_idle.add(plugin)
        for fn in list(self.pipeline_listeners):
            fn()

    def core_table_names(self) -> set[str]:
        return self._core_tables

    def seed_variable(self, name: str) -> None:
        """A defined variable always has a row: default in memory and (if absent) on disk."""
        value = self.variables.runtime[name]
        self.store.execute("INSERT OR IGNORE INTO main.global_variables VALUES (?,?)", (name, value))
        self.store.execute("INSERT OR IGNORE INTO disk.global_variables VALUES (?,?)", (name, value))

    def _refresh_runtime_variables(self) -> None:
        rows = sorted(self.variables.runtime.items())
        with self.store.conn:
            self.store.replace_rows("main", "runtime_global_variables", ["variable_name", "variable_value"], rows)

    def _refresh_runtime_plugins(self) -> None:
        with self.store.conn:
            self.store.replace_rows("main", "runtime_plugins",
                                    ["name", "version", "distribution", "state", "status_json"],
                                    self.plugins.status_rows())

    def _stats_refresher(self, table: str) -> Callable[[], None]:
        def refresh() -> None:
            provider = self.stats_providers.get(table)
            if provider is None:
                return
            rows = provider()
            cols = self.store.columns("stats", table)
            with self.store.conn:
                self.store.replace_rows("stats", table, cols, rows)
        return refresh

    # -- statement-time refresh of runtime_/stats_ tables ---------------------------------------
    def tables_changed(self) -> None:
        names = sorted((t.name for t in self.store.refreshable()), key=len, reverse=True)
        self._refresh_re = re.compile(r"(?<![A-Za-z0-9_])(" + "|".join(map(re.escape, names)) + r")(?![A-Za-z0-9_])",
                                      re.I) if names else None

    def refresh_tables_named_in(self, sql: str) -> None:
        if self._refresh_re is None:
            return
        wanted = {m.group(1).lower() for m in self._refresh_re.finditer(sql)}
        for tdef in self.store.refreshable():
            if tdef.name.lower() in wanted and tdef.refresh is not None:
                try:
                    with self.store.conn:  # one transaction: a refresh that fails keeps the old rows
                        tdef.refresh()
                except Exception as exc:
                    if tdef.owner == "core":
                        raise
                    raise to_proxyd_error(exc, who=tdef.owner) from exc

    # -- registrations by owner -------------------------------------------------------------
    def registration_snapshot(self) -> Any:
        return self.commands.snapshot()

    def rollback_registrations(self, owner: str, snap: Any, services: Services) -> None:
        self.commands.restore(snap)
        self.tiers.remove_owner(owner)
        self.store.drop_owner(owner, keep_disk=True)
        for name in services.created_disk_tables:  # nothing of a failed first init may remain
            self.store.execute(f'DROP TABLE IF EXISTS disk."{name}"')
        for name in services.created_disk_variables:
            self.store.execute("DELETE FROM disk.global_variables WHERE variable_name=?", (name,))
        self._drop_variables(owner)
        self.tables_changed()

    def remove_owner(self, owner: str) -> None:
        self.commands.unregister_owner(owner)
        self.tiers.remove_owner(owner)
        self.store.drop_owner(owner, keep_disk=True)
        self._drop_variables(owner)
        self.tables_changed()

    def _drop_variables(self, owner: str) -> None:
        names = [n for n, v in self.variables.defs.items() if v.owner == owner]
        self.variables.undefine_owner(owner)
        for n in names:
            self.store.execute("DELETE FROM main.global_variables WHERE variable_name=?", (n,))

    def check_plugin_cnf_sections(self, services: Services) -> None:
        """A plugin's variable section in the cnf must name only variables it defined."""
        for section in services.cnf_sections:
            if section.endswith("_variables") and section in self.config.extra_sections:
                prefix = section[: -len("_variables")]
                for name, value in (self.config.extra_sections[section] or {}).items():
                    full = f"{prefix}-{name}".lower()
                    if full not in self.variables.defs:
                        raise self.config.error(f"unknown variable '{prefix}-{name}'", section, name)
                    try:
                        self.variables.validate(full, str(value).lower() if isinstance(value, bool) else str(value))
                    except ProxydError as exc:
                        raise self.config.error(exc.message, section, name) from None

    # -- config -----------------------------------------------------------------------------
    def reread_config(self) -> Config:
        return load_config(self.config.path)

    def validate_core_variable_sections(self) -> None:
        for section, prefix in VARIABLE_SECTIONS.items():
            for name, value in getattr(self.config, section).items():
                full = f"{prefix}-{name}"
                if full.lower() not in self.variables.defs:
                    raise self.config.variable_error(prefix, name, f"unknown variable '{full}'")
                try:
                    self.variables.validate(full, value)
                except ProxydError as exc:
                    raise self.config.variable_error(prefix, name, exc.message) from None

    def claimed_sections(self) -> set[str]:
        claimed: set[str] = set()
        for p in self.plugins.plugins.values():
            if p.services:
                claimed |= p.services.cnf_sections
        return claimed

    # -- boot -------------------------------------------------------------------------------
    def seed(self, modules: list | None = None) -> None:
        """Fill MEMORY (and DISK) from the cnf on first boot / --initial / --reload, else from disk.

        A module whose disk tables did not exist before this boot (a plugin added to the cnf
        list since) counts as a first boot for itself.
        """
        modules = list(self.tiers.modules.values()) if modules is None else modules
        ignored: list[str] = []
        for m in modules:
            fresh = self.first_boot or self._fresh_owner(m.owner)
            if isinstance(m, VariablesModule) or not fresh:
                m.disk_to_memory(self.store)
            if fresh or self.initial or self.reload:
                if any(self._cnf_has(s) for s in m.cnf_sections):
                    m.from_config(self.store, self.config)
                m.memory_to_disk(self.store)
            else:
                ignored += [s for s in m.cnf_sections if self._cnf_has(s)]
        if ignored:
            log.info("cnf sections %s ignored: %s exists (use --initial or --reload)",
                     ", ".join(ignored), self.store.disk_path)

    def _fresh_owner(self, owner: str) -> bool:
        plugin = self.plugins.plugins.get(owner)
        return bool(plugin and plugin.services and plugin.services.created_disk_tables)

    def _cnf_has(self, section: str) -> bool:
        return section in self.config.positions

    def load_all_to_runtime(self, modules: list | None = None) -> None:
        modules = list(self.tiers.modules.values()) if modules is None else modules
        for m in modules:
            try:
                res = m.memory_to_runtime(self.store)
                for w in res.warnings:
                    log.warning("%s: %s", m.keyword, w.message)
            except ProxydError as exc:
                log.error("%s", exc.message)

    def seed_plugin(self, plugin: Plugin) -> None:
        """Hot load: the plugin's modules get disk (or cnf, the first time) into memory, then runtime."""
        modules = [m for m in self.tiers.modules.values() if m.owner == plugin.name]
        first = plugin.services is not None and bool(plugin.services.created_disk_tables)
        for m in modules:
            if first and any(self._cnf_has(s) for s in m.cnf_sections):
                m.from_config(self.store, self.config)
                m.memory_to_disk(self.store)
            else:
                m.disk_to_memory(self.store)
        for m in modules:
            m.memory_to_runtime(self.store)

    def discard_failed_boot(self) -> None:
        """Undo the db file a failed first boot created: left in place, it would make the next
        boot ignore the (fixed) cnf. After --initial the previous db comes back from .bak."""
        if not self.first_boot:
            return
        self.store.close()
        path = self.store.disk_path
        for p in (path, path + "-journal", path + "-wal", path + "-shm"):
            if os.path.exists(p):
                os.remove(p)
        if self.backed_up:
            os.replace(path + ".bak", path)

    def finish_plugin_config(self, plugins_disabled: bool) -> None:
        try:
            check_unclaimed(self.config, self.claimed_sections())
        except ConfigError as exc:
            if not plugins_disabled:
                raise
            log.warning("%s (ignored: plugins are disabled)", exc)
