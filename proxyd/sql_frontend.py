"""The SQL port: who may connect, and how each statement travels the pipeline to a backend."""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING, Any

from mysql_mimic.types import ColumnType, ServerStatus

from proxyd.digest import DigestOptions, digest
from proxyd.errors import ProxydError
from proxyd.pipeline import HookRunner, QueryContext, kind_of, run_statement
from proxyd.results import Ok, ResultSet, Warning_, row_count
from proxyd.sqltext import split_statements
from proxyd.stats import CommandCounters, DigestEntry
from proxyd.wire.auth import Account

if TYPE_CHECKING:
    from proxyd.core import Core
    from proxyd.wire.binary import PreparedStatement

log = logging.getLogger("proxyd.sql")

_SESSION_STMT = re.compile(r"\s*(?:/\*.*?\*/\s*)*(SHOW\s+(?:COUNT\(\*\)\s+)?(?:WARNINGS|ERRORS)\b.*|"
                           r"KILL\s+(?:(CONNECTION|QUERY)\s+)?(\d+))\s*;?\s*$", re.I | re.S)
_AUTOCOMMIT, _IN_TRANS = int(ServerStatus.SERVER_STATUS_AUTOCOMMIT), int(ServerStatus.SERVER_STATUS_IN_TRANS)
_SHOW_WARN = re.compile(r"SHOW\s+(COUNT\(\*\)\s+)?(WARNINGS|ERRORS)(?:\s+LIMIT\s+(?:(\d+)\s*,\s*)?(\d+))?\s*;?\s*$",
                        re.I)


class SqlSession:
    """One client connection on the SQL port."""

    def __init__(self, frontend: "SqlFrontend", conn: Any, account: dict, connection_id: int):
        self.frontend, self.conn, self.account = frontend, conn, account
        self.user: str = account["username"]
        self.connection_id = connection_id
        self.client_host, self.client_port = conn.client_host, conn.client_port
        self.client_address = f"{conn.client_host}:{conn.client_port}"
        self.hostgroup: int = int(account.get("default_hostgroup") or 0)
        self.backend: Any = None
        self.last_warnings: list[Warning_] = []
        self.command = "Sleep"
        self.info: str | None = None
        self.since = time.monotonic()
        self.task: Any = None

    @property
    def schema(self) -> str | None:
        return self.backend.schema if self.backend is not None else None


class SqlFrontend:
    def __init__(self, core: "Core", engine: Any, hooks: HookRunner, backends: Any = None):
        from proxyd.backends.router import Backends

        self.core, self.engine, self.hooks = core, engine, hooks
        self.backends = backends if backends is not None else Backends(core, engine, None)
        self.sessions: dict[int, SqlSession] = {}
        self._next_id = 0
        self.started = time.monotonic()
        self.digest_options = DigestOptions()
        self.commands_stats = self.query_digests = True
        self.track_hostname = False
        self.stats_generation = 0  # changes with the variables above (see native_count)
        core.variables.on_change(lambda changed: self.apply_variables())
        self.apply_variables()

    def apply_variables(self) -> None:
        v = self.core.variables
        self.stats_generation += 1
        self.commands_stats = v.get_bool("mysql-commands_stats")
        self.query_digests = v.get_bool("mysql-query_digests")
        self.track_hostname = v.get_bool("mysql-query_digests_track_hostname")
        self.digest_options = DigestOptions(
            lowercase=v.get_bool("mysql-query_digests_lowercase"), no_digits=v.get_bool("mysql-query_digests_no_digits"),
            replace_null=v.get_bool("mysql-query_digests_replace_null"),
            keep_comment=v.get_bool("mysql-query_digests_keep_comment"),
            grouping_limit=v.get_int("mysql-query_digests_grouping_limit"),
            groups_grouping_limit=v.get_int("mysql-query_digests_groups_grouping_limit"),
            max_digest_length=v.get_int("mysql-query_digests_max_digest_length"),
            max_query_length=v.get_int("mysql-query_digests_max_query_length"))

    # -- connections --------------------------------------------------------------------------
    def lookup_account(self, username: str, host: str) -> Account | None:
        user = self.core.runtime.users_by_name.get(username)
        if user is None or not user.get("frontend", 1):
            return None
        denied = None
        if len(self.sessions) >= self.core.variables.get_int("mysql-max_connections"):
            denied = ProxydError("Too many connections", 1040, "08004")
        elif sum(1 for s in self.sessions.values() if s.user == username) >= int(user.get("max_connections") or 0):
            denied = ProxydError(f"User '{username}' has exceeded the 'max_user_connections' resource", 1226, "42000")
        return Account(username, user.get("password"), "user", denied)

    def new_session(self, conn: Any, account: Account | None) -> SqlSession:
        assert account is not None
        self._next_id += 1
        row = self.core.runtime.users_by_name.get(account.name) or {"username": account.name}
        session = SqlSession(self, conn, row, self._next_id)
        schema = conn.session.database or row.get("default_schema") or None
        session.backend = self.backends.session_for(row, schema, client_flags=int(conn.capabilities))
        self.sessions[session.connection_id] = session
        self.core.stats.globals["Client_Connections_created"] += 1
        return session

    def closed(self, session: SqlSession | None) -> None:
        if session is None:
            return
        self.sessions.pop(session.connection_id, None)
        try:
            session.backend.close()
        except Exception:
            log.exception("closing backend session failed")

    def status_flags(self, session: SqlSession | None) -> int:
        b = session.backend if session is not None else None
        if b is None:
            return _AUTOCOMMIT
        return (_AUTOCOMMIT if b.autocommit else 0) | (_IN_TRANS if b.in_transaction else 0)

    async def init_db(self, session: SqlSession, schema: str) -> Ok:
        session.backend.use(schema)
        return Ok()

    async def reset_session(self, session: SqlSession) -> None:
        session.backend.close()
        session.backend = self.backends.session_for(session.account, session.account.get("default_schema") or None,
                                                    client_flags=int(session.conn.capabilities))
        session.last_warnings = []

    # -- statements ---------------------------------------------------------------------------
    async def execute(self, session: SqlSession, sql: str) -> list[Ok | ResultSet | ProxydError]:
        pieces = split_statements(sql) if session.conn.multi_statements else [sql]
        results: list[Ok | ResultSet | ProxydError] = []
        for piece in pieces:
            res = await self.run(session, piece)
            results.append(res)
            if isinstance(res, ProxydError):
                break
            more = getattr(res, "more", None)
            if more:  # a CALL's further results
                results.extend(more)
        return results

    async def run(self, session: SqlSession, sql: str, params: list | None = None,
                  rewrite: bool = True) -> Ok | ResultSet | ProxydError:
        c = sql[:1]
        if (c in "Kk/ \t\r\n" or (c in "Ss" and sql[1:2] in "Hh")) and (m := _SESSION_STMT.match(sql)):
            return self._session_statement(session, m)
        ctx = self.begin(session, sql, params)
        start = time.perf_counter_ns()
        out = await run_statement(ctx, self.hooks, self._execute, rewrite=rewrite)
        self.end(session, ctx, out, start)
        return out

    def fast_eligible(self, session: SqlSession, sql: str) -> bool:
        """May this statement take the SQL port's callback fast path (:mod:`proxyd.wire.fast_path`)?
        Not when a pipeline hook may want it, nor for the statements the session answers itself."""
        if self.hooks.wants(sql):
            return False
        c = sql[:1]
        return not ((c in "Kk/ \t\r\n" or (c in "Ss" and sql[1:2] in "Hh")) and _SESSION_STMT.match(sql))

    def fast_done(self, session: SqlSession, sql: str, schema: str | None, out: Any, start_ns: int,
                  end_ns: int) -> None:
        """:meth:`end` for a statement no hook saw (the fast path): no QueryContext, same stats."""
        if isinstance(out, ProxydError):
            warnings, affected, sent = [Warning_("Error", out.code, out.message)], 0, 0
        else:
            warnings = out.warnings
            sent = row_count(out) if isinstance(out, ResultSet) else 0
            affected = out.affected_rows if isinstance(out, Ok) else 0
        self.fast_count(session, sql, schema, affected, sent, (end_ns - start_ns) // 1000, warnings)

    def fast_count(self, session: SqlSession, sql: str, schema: str | None, affected: int, sent: int,
                   elapsed: int, warnings: list | None = None) -> tuple[DigestEntry | None, list[int] | None]:
        """The stats of a fast-path statement; the digest entry and command row it counted in."""
        session.command, session.info = "Sleep", None
        session.last_warnings = warnings if warnings is not None else []
        stats = self.core.stats
        stats.globals["Questions"] += 1
        d = entry = row = None
        if self.query_digests:
            d = digest(sql, self.digest_options)
            key = (session.hostgroup, schema or "", session.user, session.client_host if self.track_hostname else "",
                   d.hex)
            entry = stats.digests.record(key, d.text, elapsed, affected, sent)
        if self.commands_stats:
            row = stats.commands.record(kind_of(sql, d), elapsed)
        return entry, row

    def native_count(self, session: SqlSession, sql: str, shape: str | None, schema: str | None, affected: int,
                     sent: int, elapsed: int, memo: dict) -> None:
        """:meth:`fast_count` for the C relay, with the connection's ``memo``: statements of one
        ``shape`` (the text with its literals masked, as the digest cache keys it; a prepared
        statement's own text) count in the same digest entry and command row, so a repeat skips the
        digest, the key and the lookups. Valid while the stats were not reset and the variables
        that shape them did not change."""
        entries = self.core.stats.digests.entries
        hit = memo.get(shape) if shape is not None else None
        if hit is None or hit[0] is not entries or hit[1] != self.stats_generation or hit[2] != schema:
            entry, row = self.fast_count(session, sql, schema, affected, sent, elapsed)
            if shape is not None:
                if len(memo) >= 256:
                    memo.clear()
                memo[shape] = (entries, self.stats_generation, schema, entry, row)
            return
        session.command, session.info = "Sleep", None
        session.last_warnings = []
        self.core.stats.globals["Questions"] += 1
        if hit[3] is not None:
            hit[3].add(elapsed, affected, sent)
        if hit[4] is not None:
            CommandCounters.add(hit[4], elapsed)

    def fast_begin(self, session: SqlSession, sql: str) -> str | None:
        """:meth:`begin` for the fast path: the processlist shows the statement; its schema."""
        session.command, session.info, session.since = "Query", sql, time.monotonic()
        return session.schema

    def begin(self, session: SqlSession, sql: str, params: list | None = None) -> QueryContext:
        """A statement starts: its context, and the session shows it (processlist)."""
        session.command, session.info, session.since = "Query", sql, time.monotonic()
        return QueryContext(sql, user=session.user, client_address=session.client_address, schema=session.schema,
                            connection_id=session.connection_id, hostgroup=session.hostgroup, params=params,
                            session=session, digest_options=self.digest_options)

    def end(self, session: SqlSession, ctx: QueryContext, out: Any, start_ns: int) -> None:
        """A statement ended with ``out``: diagnostics for SHOW WARNINGS, and the stats."""
        elapsed = (time.perf_counter_ns() - start_ns) // 1000
        session.command, session.info = "Sleep", None
        if isinstance(out, ProxydError):
            session.last_warnings = [*ctx.warnings, Warning_("Error", out.code, out.message)]
        else:
            if ctx.warnings:
                out.warnings = [*ctx.warnings, *out.warnings]
            session.last_warnings = out.warnings
        self._count(ctx, out, elapsed)

    async def _execute(self, ctx: QueryContext) -> Ok | ResultSet:
        return await ctx.session.backend.execute(ctx.sql, ctx.params)

    def _count(self, ctx: QueryContext, out: Any, elapsed_us: int) -> None:
        stats = self.core.stats
        stats.globals["Questions"] += 1
        if self.query_digests:
            d = ctx.digest  # first: the kind below is then a lookup by digest
            sent = row_count(out) if isinstance(out, ResultSet) else 0
            affected = out.affected_rows if isinstance(out, Ok) else 0
            key = (ctx.hostgroup, ctx.schema or "", ctx.user, ctx.client_address.rsplit(":", 1)[0]
                   if self.track_hostname else "", d.hex)
            stats.digests.record(key, d.text, elapsed_us, affected, sent)
        if self.commands_stats:
            stats.commands.record(ctx.kind, elapsed_us)

    def _session_statement(self, session: SqlSession, m: re.Match) -> Ok | ResultSet | ProxydError:
        text = m.group(1)
        if text[:1] in "Kk":
            target = int(m.group(3))
            if not self.kill(target, query_only=(m.group(2) or "").upper() == "QUERY"):
                return ProxydError(f"Unknown thread id: {target}", 1094, "HY000")
            return Ok()
        w = _SHOW_WARN.match(text)
        if not w:
            return ProxydError(f"You have an error in your SQL syntax near '{text[:40]}'", 1064, "42000")
        ws = session.last_warnings
        if w.group(2).upper() == "ERRORS":
            ws = [x for x in ws if x.level == "Error"]
        if w.group(1):
            return ResultSet([f"@@session.{w.group(2).lower()[:-1]}_count"], [(len(ws),)], types=[ColumnType.LONGLONG])
        rows = [(x.level, x.code, x.message) for x in ws]
        if w.group(4):
            off = int(w.group(3) or 0)
            rows = rows[off: off + int(w.group(4))]
        return ResultSet(["Level", "Code", "Message"], rows,
                         types=[ColumnType.VAR_STRING, ColumnType.LONGLONG, ColumnType.VAR_STRING])

    def kill(self, connection_id: int, query_only: bool = False) -> bool:
        from mysql_mimic.constants import KillKind

        target = self.sessions.get(connection_id)
        if target is None:
            return False
        target.conn.kill(KillKind.QUERY if query_only else KillKind.CONNECTION)
        return True

    # -- prepared statements ------------------------------------------------------------------
    async def prepare(self, session: SqlSession, stmt: "PreparedStatement") -> None:
        ctx = QueryContext(stmt.sql, user=session.user, client_address=session.client_address,
                           schema=session.schema, connection_id=session.connection_id, hostgroup=session.hostgroup,
                           session=session, digest_options=self.digest_options)
        if self.hooks.wants(stmt.sql):
            await self.hooks.rewrite(ctx)  # rewrite plugins act once, at prepare time
        stmt.state = ctx.sql
        stmt.warnings, stmt.param_map = len(ctx.warnings), ctx.param_map
        session.last_warnings = list(ctx.warnings)  # a rewrite's Note is this prepare's diagnostics
        backend_prepare = getattr(session.backend, "prepare", None)
        if backend_prepare is not None:  # a server-side prepare (mysql backend): its own counts and errors
            stmt.num_params, stmt.columns = await backend_prepare(ctx.sql)
        else:
            stmt.num_params = session.backend.describe_params(ctx.sql)
            describe = getattr(session.backend, "describe_columns", None)
            if describe is not None:
                stmt.columns = describe(ctx.sql)
        if ctx.param_map is not None:  # the client binds the parameters of the text it sent
            stmt.num_params = ctx.param_map[0]

    async def execute_prepared(self, session: SqlSession, stmt: "PreparedStatement", params: list) -> Any:
        if stmt.param_map is not None:
            params = [params[i] for i in stmt.param_map[1]]
        return await self.run(session, stmt.state, params=params, rewrite=False)

    def close_prepared(self, session: SqlSession, stmt: "PreparedStatement") -> None:
        stmt.state = None

    async def field_list(self, session: SqlSession, table: str) -> list[tuple[str, int]]:
        res = await session.backend.execute(f"SHOW COLUMNS FROM `{table.replace('`', '``')}`")
        return [(r[0].decode() if isinstance(r[0], bytes) else str(r[0]), ColumnType.VAR_STRING) for r in res.rows]

    # -- introspection ------------------------------------------------------------------------
    def statistics_line(self) -> str:
        g = self.core.stats.globals
        return (f"Uptime: {int(time.monotonic() - self.started)}  Threads: {len(self.sessions)}  "
                f"Questions: {g['Questions']}  Slow queries: 0  Opens: 0  Open tables: 0  "
                f"Queries per second avg: {g['Questions'] / max(time.monotonic() - self.started, 1e-9):.3f}")

    def processlist_rows(self) -> list[tuple]:
        now = time.monotonic()
        return [(0, s.connection_id, s.user, s.schema, s.client_host, s.client_port, s.hostgroup, "", 0, "", 0,
                 s.command, int((now - s.since) * 1000), s.info, 0, "") for s in self.sessions.values()]


