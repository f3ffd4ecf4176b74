"""The admin port: who may log in, and how an admin statement is answered.

Order of dispatch: the command registry (plugin commands and aliases, then core commands), the
built-in statements of :mod:`proxyd.admin_statements`, a refusal for unknown LOAD/SAVE/CHECKSUM/
PROXYD forms, and otherwise plain SQLite SQL on the admin store. Statements are serialized.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import apsw

from proxyd import __version__
from proxyd.admin_statements import VERSION_COMMENT, match_builtin, session_variable
from proxyd.commands import CommandContext, canonicalize
from proxyd.errors import (
    CommandDeniedError,
    ParseError,
    ProxydError,
    ReadOnlyError,
    UnknownCommandError,
    UnknownVariableError,
    from_sqlite,
    to_proxyd_error,
)
from proxyd.results import Ok, ResultSet, Warning_
from proxyd.tiers import SPELLINGS
from proxyd.wire.auth import Account

if TYPE_CHECKING:
    from proxyd.core import Core

log = logging.getLogger("proxyd.admin")
LOCAL_HOSTS = {"127.0.0.1", "::1", "localhost", "::ffff:127.0.0.1"}
COMMAND_WORDS = {"LOAD", "SAVE", "CHECKSUM", "PROXYD", "PROXYSQL"}
_WRITE_OPS = {getattr(apsw, n) for n in dir(apsw) if n.startswith("SQLITE_") and (
    n[7:].startswith(("CREATE_", "DROP_")) or n[7:] in ("INSERT", "UPDATE", "DELETE", "ALTER_TABLE", "ATTACH",
                                                          "DETACH", "REINDEX", "ANALYZE"))
    and isinstance(getattr(apsw, n), int)}
_AT_VAR = re.compile(r"@@(?:(?:global|session|local)\.)?\w+(?:-\w+)?", re.I)


@dataclass(eq=False)
class AdminSession:
    user: str
    role: str  # 'admin' | 'stats'
    client_host: str
    client_port: int
    connection_id: int
    last_warnings: list[Warning_] = field(default_factory=list)

    @property
    def client_address(self) -> str:
        return f"{self.client_host}:{self.client_port}"


def parse_credentials(value: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in filter(None, value.split(";")):
        user, _, password = pair.partition(":")
        out.setdefault(user, password)
    return out


class AdminFrontend:
    def __init__(self, core: "Core"):
        self.core = core
        self.lock = asyncio.Lock()
        self.read_only = False  # PROXYD READONLY (admin-read_only applies too)
        self.sessions: set[AdminSession] = set()
        self._next_id = 0
        self._current: AdminSession | None = None
        self._register_sql_functions()

    # -- accounts ---------------------------------------------------------------------------
    def lookup_account(self, username: str, host: str) -> Account | None:
        v = self.core.variables
        for role, var in (("admin", "admin-admin_credentials"), ("stats", "admin-stats_credentials")):
            creds = parse_credentials(v.get(var))
            if username in creds:
                denied = None
                if username == role and host not in LOCAL_HOSTS:
                    denied = f"User '{username}' can only connect locally"
                return Account(username, creds[username], role, denied)
        return None

    def new_session(self, conn: Any, account: Account | None) -> AdminSession:
        self._next_id += 1
        s = AdminSession(account.name, account.role, conn.client_host, conn.client_port, self._next_id)
        self.sessions.add(s)
        return s

    def closed(self, session: AdminSession) -> None:
        self.sessions.discard(session)

    async def init_db(self, session: AdminSession, schema: str) -> Ok:
        return Ok()

    # -- statements -------------------------------------------------------------------------
    async def execute(self, session: AdminSession, sql: str) -> list[Ok | ResultSet | ProxydError]:
        async with self.lock:
            self._current = session
            try:
                result = await self.run(session, sql)
                warnings = result.warnings
            except Exception as exc:
                err = to_proxyd_error(exc)
                if not isinstance(exc, ProxydError) and not isinstance(exc, apsw.Error):
                    log.exception("admin statement failed: %s", sql)
                result, warnings = err, [Warning_("Error", err.code, err.message)]
            finally:
                self._current = None
            if not (isinstance(result, ResultSet) and re.match(r"\s*SHOW\s+(COUNT\(\*\)\s+)?(WARNINGS|ERRORS)",
                                                                sql, re.I)):
                session.last_warnings = warnings
            return [result]

    async def run(self, session: AdminSession, sql: str) -> Ok | ResultSet:
        canonical = canonicalize(sql)
        if not canonical:
            raise ProxydError("Empty query", 1065, "42000")
        found = self.core.commands.lookup(sql)
        if found is not None:
            cmd, canon, args = found
            # SELECT CONFIG … would hand a stats user every password (and write files): admin only
            if session.role == "stats" and (not canon.upper().startswith(("CHECKSUM", "SHOW", "SELECT"))
                                            or canon.upper().startswith("SELECT CONFIG")):
                raise CommandDeniedError(f"Command '{cmd.canonical}' denied to read-only user '{session.user}'")
            ctx = CommandContext(self.core.store.databases["admin"], self.core.store.databases["config"],
                                 self.core.store.databases["stats"], session.user, session.client_address,
                                 canon, args, session)
            try:
                result = cmd.callback(ctx, canon)
                if inspect.isawaitable(result):
                    result = await result
            except ProxydError:
                raise
            except apsw.Error as exc:
                raise from_sqlite(exc) from exc
            except Exception as exc:
                who = cmd.owner if cmd.owner != "core" else None
                log.exception("command '%s' failed", cmd.canonical)
                raise to_proxyd_error(exc, who=who) from exc
            return Ok() if result is None else result
        builtin = match_builtin(canonical)
        if builtin is not None:
            fn, m = builtin
            return fn(self, session, m)
        first = canonical.split(" ", 1)[0].upper()
        if first in COMMAND_WORDS:
            raise UnknownCommandError(self._unknown_command_message(canonical))
        return self.run_sql(session, sql)

    def _unknown_command_message(self, canonical: str) -> str:
        msg = f"Unknown admin command: {canonical}"
        upper = canonical.upper()
        for kw in sorted(self.core.tiers.keywords(), key=len, reverse=True):
            if f" {kw} " in f" {upper} ":
                spellings = [s.format(M=kw) for group in SPELLINGS.values() for s in group]
                spellings.append(f"LOAD {kw} FROM CONFIG")
                return msg + f" (valid for {kw}: " + "; ".join(spellings) + ")"
        return msg

    # -- plain SQL on the store ----------------------------------------------------------------
    def check_writable(self, session: AdminSession) -> None:
        if session.role == "stats":
            raise CommandDeniedError(f"Write denied to read-only user '{session.user}'")
        if self.is_read_only():
            raise ReadOnlyError("The admin interface is read-only (PROXYD READWRITE or admin-read_only=false)")

    def is_read_only(self) -> bool:
        return self.read_only or self.core.variables.get_bool("admin-read_only")

    def run_sql(self, session: AdminSession, sql: str) -> Ok | ResultSet:
        if "@@" in sql:
            sql = _AT_VAR.sub(lambda m: _sql_literal(self.variable_value(session, m.group(0))), sql)
        self.core.refresh_tables_named_in(sql)
        conn = self.core.store.conn
        restricted = session.role == "stats" or self.is_read_only()
        if restricted:
            conn.authorizer = self._authorizer(session)
        try:
            cols, rows = self.core.store.run(sql)
        except apsw.AuthError as exc:
            if session.role == "stats":
                raise CommandDeniedError(f"Command denied to read-only user '{session.user}': {exc}") from exc
            raise ReadOnlyError("The admin interface is read-only (PROXYD READWRITE or admin-read_only=false)") \
                from exc
        except apsw.Error as exc:
            raise from_sqlite(exc) from exc
        finally:
            if restricted:
                conn.authorizer = None
        if cols is not None:
            return ResultSet(cols, rows)
        return Ok(affected_rows=conn.changes() if _is_dml(sql) else 0)

    def _authorizer(self, session: AdminSession):
        stats_only = session.role == "stats"

        def authorize(op, p1, p2, dbname, trigger):
            if op in _WRITE_OPS or (op == apsw.SQLITE_PRAGMA and p2 is not None):
                return apsw.SQLITE_DENY
            if stats_only and op == apsw.SQLITE_READ and dbname not in ("stats", "temp", None):
                return apsw.SQLITE_DENY
            return apsw.SQLITE_OK
        return authorize

    # -- variables and SQL functions ------------------------------------------------------
    def variable_value(self, session: AdminSession, expr: str) -> Any:
        name = re.sub(r"^@@((global|session|local)\.)?", "", expr, flags=re.I)
        key = name.lower()
        if key == "version_comment":
            return VERSION_COMMENT
        if key == "read_only":
            return self.core.variables.get("admin-read_only")
        if session.role == "stats" and key.endswith("_credentials"):
            raise CommandDeniedError(f"Variable '{name}' is not readable by read-only user '{session.user}'")
        if key in self.core.variables.defs:
            rows = self.core.store.execute("SELECT variable_value FROM main.global_variables WHERE variable_name=?",
                                           (key,))
            return rows[0][0] if rows else self.core.variables.runtime[key]
        self.core.refresh_tables_named_in("stats_mysql_global")
        rows = self.core.store.execute("SELECT Variable_Value FROM stats.stats_mysql_global "
                                       "WHERE Variable_Name = ? COLLATE NOCASE", (name,))
        if rows:
            return rows[0][0]
        return session_variable(name)

    def _register_sql_functions(self) -> None:
        conn = self.core.store.conn

        def current() -> AdminSession | None:
            return self._current

        def database() -> str:
            s = current()
            return "stats" if s and s.role == "stats" else "admin"

        def user() -> str:
            s = current()
            return f"{s.user}@{s.client_host}" if s else ""

        conn.create_scalar_function("database", database, 0)
        conn.create_scalar_function("schema", database, 0)
        conn.create_scalar_function("user", user, 0)
        conn.create_scalar_function("current_user", user, 0)
        conn.create_scalar_function("session_user", user, 0)
        conn.create_scalar_function("system_user", user, 0)
        conn.create_scalar_function("connection_id", lambda: 0, 0)
        conn.create_scalar_function("version", lambda: f"8.0.11 (proxyd {__version__})", 0)


def _is_dml(sql: str) -> bool:
    return bool(re.match(r"\s*(?:/\*.*?\*/\s*)*(INSERT|UPDATE|DELETE|REPLACE)\b", sql, re.I | re.S))


def _sql_literal(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, (int, float)):
        return str(v)
    return "'" + str(v).replace("'", "''") + "'"


__all__ = ["AdminFrontend", "AdminSession", "ParseError", "UnknownVariableError"]
