"""The admin store: one apsw connection holding the admin, config and stats databases.

``main`` (admin, in memory) holds the editable MEMORY tier and the ``runtime_*`` projections,
``disk`` (``<datadir>/proxyd.db``) the DISK tier, ``stats`` (in memory) the ``stats_*`` tables.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import apsw
import apsw.ext

from proxyd.errors import RegistrationError, from_sqlite

#: db kind (as plugins name it) -> SQLite schema name
SCHEMAS = {"admin": "main", "config": "disk", "stats": "stats"}


@dataclass
class TableDef:
    kind: str  # admin | config | stats
    name: str
    ddl: str
    owner: str
    refresh: Callable[[], None] | None = None  # refill before a statement that names the table


class Database:
    """A handle on one schema of the store, as a plugin sees it."""

    def __init__(self, store: "AdminStore", kind: str):
        self._store = store
        self.kind = kind
        self.schema = SCHEMAS[kind]

    def execute(self, sql: str, bindings: Sequence[Any] | dict | None = None) -> list[tuple]:
        """Run SQL on the store and return all rows. Qualify tables with ``self.schema``."""
        return self._store.execute(sql, bindings)

    def table(self, name: str) -> str:
        return f"{self.schema}.{name}"


class AdminStore:
    def __init__(self, disk_path: str):
        self.disk_path = disk_path
        self.conn = apsw.Connection(":memory:")
        self.conn.setbusytimeout(2000)
        self.conn.execute(f"ATTACH DATABASE {_quote(disk_path)} AS disk")
        self.conn.execute("ATTACH DATABASE ':memory:' AS stats")
        self.tables: dict[tuple[str, str], TableDef] = {}
        self.databases = {kind: Database(self, kind) for kind in SCHEMAS}

    # -- SQL --------------------------------------------------------------------------------
    def execute(self, sql: str, bindings: Sequence[Any] | dict | None = None) -> list[tuple]:
        return list(self.conn.execute(sql, bindings))

    def run(self, sql: str, bindings: Any = None) -> tuple[list[str] | None, list[tuple]]:
        """Run SQL; return (column names or None when it returns no result set, rows). Raises apsw errors."""
        cur = self.conn.cursor()
        rows = list(cur.execute(sql, bindings))
        try:
            return [d[0] for d in cur.getdescription()], rows
        except apsw.ExecutionCompleteError:
            pass
        # A query that returned no rows completed before we could ask: prepare it again to learn its columns.
        try:
            desc = apsw.ext.query_info(self.conn, sql, bindings).description
        except Exception:
            desc = None
        return ([d[0] for d in desc] if desc else None), rows

    def query(self, sql: str, bindings: Any = None) -> tuple[list[str], list[tuple]]:
        """Run one statement; return (column names, rows), errors as ProxydError."""
        try:
            cols, rows = self.run(sql, bindings)
        except apsw.Error as exc:
            raise from_sqlite(exc) from exc
        return cols or [], rows

    def columns(self, schema: str, table: str) -> list[str]:
        return [r[1] for r in self.conn.execute(f"PRAGMA {schema}.table_info({_ident(table)})")]

    def table_exists(self, schema: str, table: str) -> bool:
        return bool(self.execute(
            f"SELECT 1 FROM {schema}.sqlite_master WHERE type='table' AND name=? COLLATE NOCASE", (table,)))

    def transaction(self):
        """A savepoint context: everything inside commits or rolls back as one."""
        return self.conn

    # -- table registry ---------------------------------------------------------------------
    def register_table(self, kind: str, name: str, ddl: str, *, owner: str,
                       refresh: Callable[[], None] | None = None, create: bool = True) -> TableDef:
        if kind not in SCHEMAS:
            raise RegistrationError(f"unknown db kind '{kind}' (use admin, config or stats)")
        if not name or not ddl:
            raise RegistrationError("table name and DDL must not be empty")
        key = (kind, name.lower())
        if key in self.tables:
            other = self.tables[key].owner
            raise RegistrationError(f"table '{name}' ({kind}) is already registered by {other}")
        if kind == "config":
            twin = self.tables.get(("admin", name.lower()))
            if twin and _norm_ddl(twin.ddl) != _norm_ddl(ddl):
                raise RegistrationError(f"table '{name}': config DDL differs from the admin DDL")
        tdef = TableDef(kind, name, ddl, owner, refresh)
        if create:
            self.create(tdef)
        self.tables[key] = tdef
        return tdef

    def create(self, tdef: TableDef) -> None:
        schema = SCHEMAS[tdef.kind]
        ddl = _qualify_ddl(tdef.ddl, schema, tdef.name)
        try:
            self.conn.execute(ddl)
        except apsw.Error as exc:
            raise RegistrationError(f"table '{tdef.name}': bad DDL: {exc}") from exc

    def drop_owner(self, owner: str, *, keep_disk: bool) -> None:
        """Forget (and drop) every table an owner registered; disk tables may be kept."""
        for key, tdef in list(self.tables.items()):
            if tdef.owner != owner:
                continue
            del self.tables[key]
            if tdef.kind == "config" and keep_disk:
                continue
            self.conn.execute(f"DROP TABLE IF EXISTS {SCHEMAS[tdef.kind]}.{_ident(tdef.name)}")

    def refreshable(self) -> list[TableDef]:
        return [t for t in self.tables.values() if t.refresh is not None]

    def replace_rows(self, schema: str, table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> int:
        """Full replace of a table's rows (caller holds a transaction)."""
        self.conn.execute(f"DELETE FROM {schema}.{_ident(table)}")
        return self.insert_rows(schema, table, columns, rows)

    def insert_rows(self, schema: str, table: str, columns: Sequence[str], rows: Iterable[Sequence],
                    *, verb: str = "INSERT") -> int:
        rows = list(rows)
        if not rows:
            return 0
        cols = ",".join(_ident(c) for c in columns)
        marks = ",".join("?" * len(columns))
        self.conn.executemany(f"{verb} INTO {schema}.{_ident(table)} ({cols}) VALUES ({marks})", rows)
        return len(rows)

    def close(self) -> None:
        self.conn.close()


def open_store(datadir: str) -> AdminStore:
    os.makedirs(datadir, exist_ok=True)
    return AdminStore(os.path.join(datadir, "proxyd.db"))


def _quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _norm_ddl(ddl: str) -> str:
    return " ".join(ddl.split()).rstrip(";").lower()


def _qualify_ddl(ddl: str, schema: str, name: str) -> str:
    """Make ``CREATE TABLE name`` create the table in ``schema`` (unqualified DDL is the norm)."""
    pattern = re.compile(r"^\s*CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?(\w+\.)?[`\"]?(\w+)[`\"]?", re.I)
    m = pattern.match(ddl)
    if not m:
        raise RegistrationError(f"table '{name}': DDL must start with CREATE TABLE")
    if m.group(3).lower() != name.lower():
        raise RegistrationError(f"table '{name}': DDL creates '{m.group(3)}'")
    name_sql = m.group(3) if re.fullmatch(r"[A-Za-z_]\w*", m.group(3)) else _ident(m.group(3))
    return f"CREATE TABLE IF NOT EXISTS {schema}.{name_sql}" + ddl[m.end():]
