"""Wiring of foreign tables into the wasm plugin: the ``WASM FDW`` tiered object, its variables and
stats tables, and the embedded engine (module registration on every session connection, the
virtual tables in each schema file, statements naming them run on worker threads)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import Any

import apsw

from plugins.wasm.fdw import guest as fdw
from plugins.wasm.fdw.importer import import_schema
from plugins.wasm.fdw.servers import (
    SERVERS_DDL,
    TABLES_DDL,
    FdwRuntime,
    ForeignTable,
    LoadedServer,
    LoadFailed,
    check_table,
    load_server,
    read_module,
)
from plugins.wasm.fdw.vtable import MODULE_NAME, FdwModule
from plugins.wasm.runtime import ModuleRefused, WasmEngine
from proxyd.errors import ProxydError
from proxyd.tiers import TieredObject
from proxyd.variables import boolean, int_range

log = logging.getLogger("proxyd.plugin.wasm.fdw")

VARIABLES = (
    ("call_timeout_ms", "5000", int_range(1, 600_000), "deadline of one foreign-table guest call"),
    ("fuel_per_call", "1000000000", int_range(0, 1 << 62), "fuel of one guest call (0 = unlimited)"),
    ("max_memory_mb", "64", int_range(1, 4096), "linear memory cap of one foreign-table instance"),
    ("http_timeout_ms", "3000", int_range(1, 600_000), "timeout of one http_request (clipped to the call deadline)"),
    ("http_max_bytes", "8388608", int_range(1, 1 << 31), "largest HTTP response (and request body) a guest may get"),
    ("batch_rows", "256", int_range(1, 100_000), "rows asked for per fdw_iter_scan call"),
    ("download_timeout_ms", "30000", int_range(1, 600_000), "timeout of downloading an http(s) module while loading"),
    ("download_max_bytes", "33554432", int_range(1, 1 << 31), "largest module download"),
    ("allow_unverified_files", "false", boolean, "let a file:// server have module_sha256='' (development only)"),
)

TABLE_STATS_DDL = """CREATE TABLE stats_wasm_fdw_tables (
    schema_name VARCHAR NOT NULL, table_name VARCHAR NOT NULL, server_name VARCHAR NOT NULL,
    scans INTEGER NOT NULL, rescans INTEGER NOT NULL, rows_out INTEGER NOT NULL, inserts INTEGER NOT NULL,
    updates INTEGER NOT NULL, deletes INTEGER NOT NULL, http_requests INTEGER NOT NULL,
    http_bytes_in INTEGER NOT NULL, errors INTEGER NOT NULL, timeouts INTEGER NOT NULL,
    fuel_exhausted INTEGER NOT NULL, traps INTEGER NOT NULL, guest_ms INTEGER NOT NULL,
    last_error VARCHAR NOT NULL, last_error_at VARCHAR NOT NULL,
    PRIMARY KEY (schema_name, table_name))"""

MODULE_STATS_DDL = """CREATE TABLE stats_wasm_fdw_modules (
    server_name VARCHAR NOT NULL PRIMARY KEY, sha256 VARCHAR NOT NULL, module_name VARCHAR NOT NULL,
    module_version VARCHAR NOT NULL, module_url VARCHAR NOT NULL, host_version_requirement VARCHAR NOT NULL,
    compiled_from VARCHAR NOT NULL, compile_ms INTEGER NOT NULL, verify_failures INTEGER NOT NULL,
    last_error VARCHAR NOT NULL, loaded_at VARCHAR NOT NULL)"""

COUNTER_STATS_DDL = """CREATE TABLE stats_wasm_fdw_guest_counters (
    server_name VARCHAR NOT NULL, name VARCHAR NOT NULL, value INTEGER NOT NULL,
    PRIMARY KEY (server_name, name))"""


class FdwService:
    """Foreign tables of the wasm plugin; the plugin calls init/start/stop/engine_opened."""

    def __init__(self, engine_factory: Callable[[], WasmEngine]):
        self._engine_factory = engine_factory
        self.services: Any = None
        self.runtime = FdwRuntime()
        self.stats: dict[tuple[str, str], fdw.TableStats] = {}
        self.verify_failures: dict[str, int] = {}
        self.load_errors: dict[str, str] = {}
        self.loaded_at: dict[str, str] = {}
        self.kv: dict[str, fdw.KvStore] = {}  # per server name: survives loads
        self.embedded: Any = None  # the EmbeddedEngine, from the historic hook
        self.live = False
        self.dropping = False
        self.module = FdwModule(self)
        self._hook = self._register_module

    # -- lifecycle ----------------------------------------------------------------------------------
    def init(self, services: Any) -> None:
        self.services = services
        services.register_tiered_object(TieredObject(
            name="WASM FDW",
            tables=[("wasm_fdw_servers", SERVERS_DDL), ("wasm_fdw_tables", TABLES_DDL)],
            load_to_runtime=self.load,
            save_from_runtime=lambda: {k: [dict(r) for r in v] for k, v in self.runtime.rows.items()},
            cnf_section={"wasm_fdw_servers": "wasm_fdw_servers", "wasm_fdw_tables": "wasm_fdw_tables"},
        ))
        for name, default, check, doc in VARIABLES:
            services.register_variable(f"wasm-fdw_{name}", default, check=check, doc=doc)
        services.register_command("IMPORT WASM FDW SCHEMA", lambda ctx, sql: import_schema(self, ctx, sql),
                                  prefix=True)
        services.register_table("stats", "stats_wasm_fdw_tables", TABLE_STATS_DDL, refresh=self.refresh_stats)
        services.register_table("stats", "stats_wasm_fdw_modules", MODULE_STATS_DDL, refresh=self.refresh_stats)
        services.register_table("stats", "stats_wasm_fdw_guest_counters", COUNTER_STATS_DDL, refresh=self.refresh_stats)

    def start(self) -> None:
        self.live = True
        self._attach()

    def stop(self) -> None:
        self.live = False
        if self.embedded is not None:
            self.embedded.remove_connection_hook(self._hook)
            self.embedded.offload_statements_matching(None)

    def engine_opened(self, engine: Any) -> None:
        self.embedded = engine
        if self.live:
            self._attach()

    # -- settings -----------------------------------------------------------------------------------
    def setting(self, name: str) -> int:
        value = self.services.get_variable(f"wasm-fdw_{name}")
        return int(value)

    def batch_rows(self) -> int:
        try:
            return self.setting("batch_rows")
        except (KeyError, ValueError):
            return 256

    def _flag(self, name: str) -> bool:
        try:
            return self.services.get_variable(f"wasm-fdw_{name}") == "true"
        except KeyError:
            return False

    def _int_or_default(self, name: str) -> int:
        try:
            return self.setting(name)
        except (KeyError, ValueError):  # not at runtime yet during the first load
            return int(next(d for n, d, _, _ in VARIABLES if n == name))

    # -- load ---------------------------------------------------------------------------------------
    def load(self, rows: dict[str, list[dict[str, Any]]]) -> None:
        """All or nothing once started; at start-up a failing server is left out (logged)."""
        lenient = not self.live
        server_rows = {r.get("server_name"): r for r in rows["wasm_fdw_servers"]}
        tables: dict[tuple[str, str], ForeignTable] = {}
        for row in rows["wasm_fdw_tables"]:
            if not row.get("active"):
                continue
            try:
                t = check_table(row, server_rows)
            except LoadFailed as exc:
                raise ProxydError(str(exc)) from None
            if (t.schema, t.name.lower()) in tables:
                raise ProxydError(f"table {t.label}: declared twice")
            tables[(t.schema, t.name.lower())] = t
        servers: dict[str, LoadedServer] = {}
        failed: dict[str, str] = {}
        engine = self._engine_factory()
        for name, row in server_rows.items():
            if not name or not str(name).strip():
                raise ProxydError("wasm_fdw_servers row with an empty server_name")
            if not row.get("active"):
                continue
            try:
                servers[name] = self._load_server(engine, row)
                self.load_errors.pop(name, None)
            except LoadFailed as exc:
                self.load_errors[name] = str(exc)
                if not lenient:
                    raise ProxydError(str(exc)) from None
                log.error("wasm fdw: %s (its tables fail until it loads)", exc)
                failed[name] = str(exc).split(": ", 1)[-1]
        if self.embedded is not None:
            self._check_collisions(tables)
        old = self.runtime
        self.runtime = FdwRuntime(MappingProxyType(servers), MappingProxyType(tables), MappingProxyType(failed),
                                  {k: [dict(r) for r in v] for k, v in rows.items()})
        if self.live and self.embedded is not None:
            self._reconcile(old)

    def _load_server(self, engine: WasmEngine, row: dict[str, Any]) -> LoadedServer:
        name = row["server_name"]
        try:
            wasm = read_module(row, allow_unverified=self._flag("allow_unverified_files"),
                               download_timeout_s=self._int_or_default("download_timeout_ms") / 1000,
                               download_max_bytes=self._int_or_default("download_max_bytes"),
                               blobs=Path(self.services.datadir) / "wasm" / "blobs")
        except ModuleRefused as exc:
            if "mismatch" in str(exc):
                self.verify_failures[name] = self.verify_failures.get(name, 0) + 1
            raise LoadFailed(f"server '{name}': {exc}") from None
        current = self.runtime.servers.get(name)
        if current is not None and current.row == row and current.module.sha256 == row.get("module_sha256"):
            return current  # bytes re-verified above; the compiled module and its pool are kept
        server = load_server(engine, row, wasm, self._int_or_default, self.kv.setdefault(name, fdw.KvStore()))
        self.loaded_at[name] = time.strftime("%Y-%m-%d %H:%M:%S")
        return server

    # -- what the virtual tables ask ------------------------------------------------------------------
    def resolve(self, schema: str, name: str) -> ForeignTable:
        """The definition a virtual table declares (while reconciling, also a just-removed one: SQLite
        connects a virtual table before it drops it)."""
        key = (schema.lower(), name.lower())
        table = self.runtime.tables.get(key)
        if table is None and self.dropping:
            table = self._previous.get(key)
        if table is None:
            raise ProxydError(f"Table '{schema}.{name}' doesn't exist", 1146, "42S02")
        return table

    _previous: Any = MappingProxyType({})

    def live_server(self, table: ForeignTable) -> LoadedServer:
        if not self.live:
            raise ProxydError(f"foreign table {table.label}: the wasm plugin is not loaded", 1105, "HY000")
        current = self.runtime.tables.get((table.schema, table.name.lower()))
        if current is None:
            raise ProxydError(f"Table '{table.label}' doesn't exist", 1146, "42S02")
        server = self.runtime.servers.get(current.server)
        if server is None:
            reason = self.runtime.failed.get(current.server, "not active")
            raise ProxydError(f"wasm fdw {table.label}: server '{current.server}' is not loaded: {reason}", 1105, "HY000")
        return server

    def table_stats(self, table: ForeignTable) -> fdw.TableStats:
        key = (table.schema, table.name.lower())
        found = self.stats.get(key)
        if found is None:
            found = self.stats.setdefault(key, fdw.TableStats())
        return found

    # -- the embedded engine --------------------------------------------------------------------------
    def _register_module(self, conn: apsw.Connection) -> None:
        conn.create_module(MODULE_NAME, self.module, use_bestindex_object=True)

    def _attach(self) -> None:
        if self.embedded is None:
            return
        if self._hook not in self.embedded.connection_hooks:
            self.embedded.add_connection_hook(self._hook)
        # re-create every virtual table: sessions that connected them through an earlier plugin
        # instance (UNLOAD/LOAD/RELOAD PLUGIN) see the schema change and connect them again through us
        self._reconcile(FdwRuntime(), force=True)

    def _check_collisions(self, tables: dict[tuple[str, str], ForeignTable]) -> None:
        eng = self.embedded
        for (schema, name), t in tables.items():
            if eng.epoch(schema) is None:
                continue
            conn = apsw.Connection(eng.path(schema), flags=apsw.SQLITE_OPEN_READONLY)
            try:
                found = conn.execute("SELECT sql FROM sqlite_master WHERE type='table' AND name=? COLLATE NOCASE",
                                     (name,)).fetchall()
            finally:
                conn.close()
            if found and f"USING {MODULE_NAME}" not in (found[0][0] or ""):
                raise ProxydError(f"table {t.label}: a regular table of that name exists in the embedded backend")

    def _reconcile(self, old: FdwRuntime, *, force: bool = False) -> None:
        """Make each schema file's virtual tables match the runtime (create, drop, re-create)."""
        eng = self.embedded
        wanted: dict[str, dict[str, str]] = {}
        for (schema, _), t in self.runtime.tables.items():
            decl = ", ".join(f"{c.name} {c.type}" for c in t.columns).replace("'", "''")
            wanted.setdefault(schema, {})[t.name.lower()] = (
                f'CREATE VIRTUAL TABLE "{t.name}" USING {MODULE_NAME}(\'{t.label}\', \'{decl}\')')
        self._previous = old.tables
        self.dropping = True
        changed = False
        try:
            for schema in sorted(set(eng.schemas()) | set(wanted)):
                if eng.epoch(schema) is None:
                    eng.create_schema(schema)
                conn = apsw.Connection(eng.path(schema))
                try:
                    conn.set_busy_timeout(5000)
                    self._register_module(conn)
                    have = {name.lower(): (name, sql) for name, sql in conn.execute(
                        "SELECT name, sql FROM sqlite_master WHERE type='table' AND sql LIKE ?",
                        (f"%USING {MODULE_NAME}%",))}
                    want = wanted.get(schema, {})
                    for key, (name, sql) in have.items():
                        if force or want.get(key) != sql:
                            conn.execute(f'DROP TABLE "{name}"')
                            changed = True
                    for key, sql in want.items():
                        if force or have.get(key, (None, None))[1] != sql:
                            conn.execute(sql)
                            changed = True
                finally:
                    conn.close()
        finally:
            self.dropping = False
            self._previous = MappingProxyType({})
        names = sorted({t.name for t in self.runtime.tables.values()})
        pattern = re.compile(r"\b(?:" + "|".join(map(re.escape, names)) + r")\b", re.IGNORECASE) if names else None
        eng.offload_statements_matching(pattern)
        if changed:
            eng.ddl_changed()

    # -- stats ---------------------------------------------------------------------------------------
    def refresh_stats(self) -> None:
        db = self.services.stats_db
        db.execute("DELETE FROM stats.stats_wasm_fdw_tables")
        for (schema, _), t in sorted(self.runtime.tables.items()):
            s = self.table_stats(t)
            db.execute("INSERT INTO stats.stats_wasm_fdw_tables VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", (
                schema, t.name, t.server, s.scans, s.rescans, s.rows_out, s.inserts, s.updates, s.deletes,
                s.http_requests, s.http_bytes_in, s.errors, s.timeouts, s.fuel_exhausted, s.traps,
                s.guest_us // 1000, s.last_error, s.last_error_at))
        db.execute("DELETE FROM stats.stats_wasm_fdw_modules")
        names = {r.get("server_name") for r in self.runtime.rows["wasm_fdw_servers"]} | set(self.load_errors)
        for name in sorted(n for n in names if n):
            srv = self.runtime.servers.get(name)
            row = srv.row if srv is not None else next(
                (r for r in self.runtime.rows["wasm_fdw_servers"] if r.get("server_name") == name), {})
            db.execute("INSERT INTO stats.stats_wasm_fdw_modules VALUES (?,?,?,?,?,?,?,?,?,?,?)", (
                name, srv.module.sha256 if srv else "", row.get("module_name") or "", row.get("module_version") or "",
                row.get("module_url") or "", srv.requirement if srv else "", srv.module.compiled_from if srv else "",
                int(srv.module.compile_ms) if srv else 0, self.verify_failures.get(name, 0),
                self.load_errors.get(name, ""), self.loaded_at.get(name, "")))
        db.execute("DELETE FROM stats.stats_wasm_fdw_guest_counters")
        for name, srv in sorted(self.runtime.servers.items()):
            with srv.lock:
                counters = sorted(srv.counters.items())
            for cname, value in counters:
                db.execute("INSERT INTO stats.stats_wasm_fdw_guest_counters VALUES (?,?,?)", (name, cname, value))
