"""The services object a plugin receives in ``init``: its only handle on the host.

Every registration is recorded under the plugin's name, so the host can roll back a failed
``init`` and remove a plugin on ``UNLOAD PLUGIN`` without the plugin's help.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable

from proxyd.errors import ProxydError, RegistrationError
from proxyd.snapshots import Snapshot
from proxyd.store import Database
from proxyd.tiers import TableModule, TieredObject, VariablesModule
from proxyd.variables import Variable, text

if TYPE_CHECKING:
    from proxyd.core import Core


def _level(level: int) -> int:
    """ProxySQL severities (3 error, 4 warning, other small values info) or logging levels."""
    if level >= 10:
        return level
    return {3: logging.ERROR, 4: logging.WARNING}.get(level, logging.INFO)


class Services:
    def __init__(self, core: "Core", plugin: str):
        self._core = core
        self.plugin = plugin
        self.log = logging.getLogger(f"proxyd.plugin.{plugin}")
        self._db_live = False
        self.created_disk_tables: list[str] = []
        self.created_disk_variables: list[str] = []  # disk rows a failed init must take back
        self.cnf_sections: set[str] = set()
        core.plain_idle.discard(plugin)  # a (re)loaded plugin starts out seeing every statement

    # -- registration -------------------------------------------------------------------------
    def register_table(self, db_kind: str, name: str, ddl: str, *, refresh: Callable[[], None] | None = None) -> None:
        """Create table ``name`` in the admin (``main``), config (``disk``) or stats database.

        A config table is registered twice, ``admin`` and ``config``, with identical DDL.
        ``refresh`` (stats and runtime tables) refills the table just before an admin statement
        that names it; do it with plain SQL on ``stats_db``/``admin_db``.
        """
        store = self._core.store
        if name.lower() in self._core.core_table_names():
            raise RegistrationError(f"table '{name}' clashes with a core table")
        if db_kind == "config" and not store.table_exists("disk", name):
            self.created_disk_tables.append(name)
        store.register_table(db_kind, name, ddl, owner=self.plugin, refresh=refresh)
        self._core.tables_changed()

    def register_command(self, sql: str, callback: Callable[..., Any], *, prefix: bool = False) -> None:
        """Answer the admin statement ``sql`` (canonical form) with ``callback(ctx, canonical_sql)``.

        With ``prefix=True`` any statement starting with those words matches and ``ctx.args``
        holds the untouched rest. The callback returns :class:`proxyd.results.Ok`, a
        :class:`proxyd.results.ResultSet`, ``None`` (OK, 0 rows) or raises ``ProxydError``.
        """
        self._core.commands.register(sql, callback, owner=self.plugin, prefix=prefix)

    def register_command_alias(self, canonical: str, alias: str) -> None:
        self._core.commands.register_alias(canonical, alias, owner=self.plugin)

    def register_tiered_object(self, obj: TieredObject) -> None:
        """Declare configuration living in DISK/MEMORY/RUNTIME; the host does the rest.

        Creates each table in ``main`` and ``disk`` plus a ``runtime_<table>`` projection, and
        generates ``LOAD/SAVE <NAME> …`` (all 14 spellings), ``LOAD <NAME> FROM CONFIG`` and
        ``CHECKSUM [DISK|MEMORY|MEM|RUNTIME] <NAME>``.
        """
        module = TableModule(obj, self.plugin)
        for name, ddl in obj.tables:
            self.register_table("admin", name, ddl)
            self.register_table("config", name, ddl)
            self.register_table("admin", f"runtime_{name}", _rename_ddl(ddl, name, f"runtime_{name}"),
                                refresh=lambda m=module: m.refresh_runtime_tables(self._core.store))
        self.cnf_sections.update(obj.cnf_sections())
        self._core.tiers.add(module)

    def register_variable(self, name: str, default: Any, *, check: Callable[[str], str] = text,
                          readonly: bool = False, doc: str = "") -> None:
        """Define global variable ``<prefix>-<name>`` (the prefix is the plugin's own).

        ``check(value) -> normalized text`` raises ValueError on a bad value. The first variable of
        a prefix creates the ``<PREFIX> VARIABLES`` family and the cnf section ``<prefix>_variables``.
        """
        prefix = name.split("-", 1)[0].lower()
        reg = self._core.variables
        owners = {v.owner for v in reg.defs.values() if v.prefix == prefix}
        if owners - {self.plugin}:
            raise RegistrationError(f"variable prefix '{prefix}-' belongs to {owners.pop()}")
        reg.define(Variable(name, str(default) if not isinstance(default, bool) else str(default).lower(),
                            check, readonly, self.plugin, doc))
        if not owners:
            self._core.tiers.add(VariablesModule(prefix, reg, self.plugin))
            self.cnf_sections.add(f"{prefix}_variables")
        if not self._core.store.execute("SELECT 1 FROM disk.global_variables WHERE variable_name=?",
                                        (name.lower(),)):
            self.created_disk_variables.append(name.lower())
        self._core.seed_variable(name.lower())

    def add_hookspecs(self, module_or_class: Any) -> None:
        """Publish hookspecs of this plugin for other plugins to implement."""
        pm = self._core.plugin_manager
        for name in dir(module_or_class):
            if pm.parse_hookspec_opts(module_or_class, name) is None:
                continue
            caller = getattr(pm.hook, name, None)
            # pluggy cannot forget a spec, so after UNLOAD/RELOAD the plugin's (re-imported) specs
            # find their old selves: replace those. A different owner's spec still clashes.
            if (caller is not None and caller.spec is not None
                    and _qualname(caller.spec.namespace) == _qualname(module_or_class)):
                caller.spec = None
        pm.add_hookspecs(module_or_class)

    def on_variables_changed(self, fn: Callable[[dict[str, str]], None]) -> None:
        """Call ``fn(changed)`` each time runtime variable values change (``LOAD … VARIABLES TO
        RUNTIME``, ``SET``), with ``{name: new value}`` of every variable that changed, any plugin's.
        Use it to cache a value your hot path would otherwise read per statement. Dropped when the
        plugin unloads."""
        self._core.variables.on_change(fn, owner=self.plugin)

    def want_plain_statements(self, wanted: bool) -> None:
        """Say whether this plugin's pipeline hooks need the plain statements now: those starting with
        SELECT, INSERT, UPDATE, DELETE or REPLACE (``proxyd.pipeline.plain_dml``). Every plugin wants
        them until it says otherwise. While no loaded plugin with a pipeline hook wants them, plain
        statements skip every pipeline hook and may take the SQL port's fast path (in C when built);
        other statements still pass every hook. Say it whenever it changes, e.g. a filter plugin
        with no filters configured wants nothing, and wants everything again once one is."""
        self._core.set_plain_interest(self.plugin, wanted)

    @property
    def hook(self) -> Any:
        """The pluggy hook relay: call hooks other plugins implement."""
        return self._core.plugin_manager.hook

    # -- logging, variables -------------------------------------------------------------------
    def log_message(self, level: int, message: str) -> None:
        self.log.log(_level(level), "[%s] %s", self.plugin, message)

    def get_variable(self, name: str) -> str:
        """Runtime value of any global variable."""
        return self._core.variables.get(name)

    # -- databases (from start() on) ----------------------------------------------------------
    def _db(self, kind: str) -> Database:
        if not self._db_live:
            raise ProxydError(f"plugin '{self.plugin}': databases are usable from start() on, not during init()")
        return self._core.store.databases[kind]

    @property
    def admin_db(self) -> Database:
        return self._db("admin")

    @property
    def config_db(self) -> Database:
        return self._db("config")

    @property
    def stats_db(self) -> Database:
        return self._db("stats")

    # -- snapshots ----------------------------------------------------------------------------
    @property
    def datadir(self) -> str:
        """The daemon's data directory, for a plugin's own files (caches and the like)."""
        return self._core.datadir

    def get_mysql_users_snapshot(self) -> Snapshot:
        return self._core.runtime.users

    def get_mysql_servers_snapshot(self) -> Snapshot:
        return self._core.runtime.servers

    def get_mysql_group_replication_hostgroups_snapshot(self) -> Snapshot:
        return self._core.runtime.group_replication_hostgroups


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', getattr(obj, '__name__', ''))}"


def _rename_ddl(ddl: str, old: str, new: str) -> str:
    import re

    return re.sub(rf"^(\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?)[`\"]?{re.escape(old)}[`\"]?",
                  rf"\g<1>{new}", ddl, count=1, flags=re.I)
