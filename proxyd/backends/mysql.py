"""The mysql backend: MySQL/MariaDB servers by hostgroup, pooled connections shared between clients.

Servers and pools
-----------------
* The servers are the runtime ``mysql_servers`` rows (not ``embedded`` ones; a hostname starting with
  ``/`` is the server's Unix socket, port 0, as in ProxySQL); the backend rebuilds its
  map when ``LOAD MYSQL SERVERS TO RUNTIME`` swaps the snapshot (a ``core.runtime.listeners`` callback).
  A server that stays keeps its pool and counters; a removed one is dropped: its idle connections are
  closed at once, busy ones when they are released. Only ``ONLINE`` servers get new work; a server
  leaving ONLINE has its idle connections closed, busy ones closed on release.
* A statement needing a connection picks a server of the hostgroup at random by ``weight`` among the
  ONLINE ones (skipping, for a second, one whose last connect failed, while another is available),
  then takes an idle connection of that server opened for the same credentials, preferring one already
  in the session's schema (newest first: warm connections), or opens one if ``max_connections`` allows.
  At the limit it closes an idle connection of another user to make room, or waits for a release.
* Connections are opened with the client's credentials (user name and password from ``mysql_users``,
  as ProxySQL does), so the server's own privileges apply; pools are per (server, user, password,
  CLIENT_FOUND_ROWS).
* Connecting is bounded by ``mysql-connect_timeout_server`` (ms, default 1000) for the whole attempt
  across the hostgroup's servers. When no server answers the statement fails with 9001 naming the
  hostgroup (like ProxySQL's "Max connect timeout reached while reaching hostgroup N"); the client
  connection stays usable. A hostgroup with no servers at all fails each statement the same way.
* The server's own errors (syntax, duplicate key, access denied when connecting…) reach the client
  with the server's code, SQLSTATE and message.

Sessions
--------
A :class:`MysqlSession` holds no connection between statements unless it must (see
:mod:`proxyd.backends.mysql_state`): an open transaction or ``autocommit=0`` (read from the server's
status flags after every statement), ``LOCK TABLES``, or state that lives on one connection (temporary
tables, user variables, named locks, SQL PREPARE…) pin the session to its connection. A transaction pin
ends with the transaction; the others last until the client disconnects or resets, after which the
connection is cleaned with COM_RESET_CONNECTION before it returns to the pool. What can be carried
(schema, ``SET NAMES``, session variables with literal values) is replayed on whichever pooled
connection the next statement gets, only when that connection differs.

Prepared statements run server-side (COM_STMT_PREPARE / COM_STMT_EXECUTE): parameters travel as
binary values, never pasted into SQL; see :mod:`proxyd.backends.mysql_conn`.

``SELECT LAST_INSERT_ID()`` on an unpinned session is answered from the session (the id of its last
INSERT), since the pooled connection that ran the INSERT may be serving someone else. For the same
reason ``CONNECTION_ID()`` is the id of whichever backend connection ran the statement (as with ProxySQL).

``SET NAMES`` / ``SET CHARACTER SET`` / ``character_set_*`` with a known character set, and
``autocommit=1`` when it is on already, are kept by the session without a round trip (drivers send them
on every connect) and reach a backend connection with the next statement; a collation the server lacks
(MySQL 8's ``utf8mb4_0900_ai_ci`` on MariaDB) falls back to the charset's default. SQL text is encoded in
the session's character set.

A statement whose client goes away (KILL, disconnect, cancelled task) loses its backend connection (the
reply is half read) and the server is told ``KILL QUERY`` in the background, so it stops working on it.
Idle connections beyond the working set are closed after 5 minutes.

Stats: :meth:`MysqlBackend.pool_rows` gives ``stats_mysql_connection_pool``; ``Latency_us`` is the time
of the last successful connect (TCP + handshake + authentication). ``Server_Connections_created`` /
``_aborted`` are counted in ``stats_mysql_global``.

Users whose password is stored hashed (``*HEX``) log in to backends with the SHA1 of their password
that their own login to proxyd proves (``hashed_passwords``: mysql_native_password backends only).

Known gaps: no TLS to backends; KILL QUERY ends the client's backend connection, so an open
transaction is lost (MySQL would keep it); the client's handshake character set is not carried
(backend connections start in utf8mb4 and the client's text is re-encoded; ``SET NAMES`` is carried).
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import random
import time
from typing import TYPE_CHECKING, Any, Sequence

from asyncmy.protocol import pack_binary_params
from mysql_mimic.types import ColumnType

from proxyd.backends import mysql_state

from proxyd.backends.mysql_conn import _FAST_LIMIT, COM_QUERY, COM_STMT_EXECUTE, SERVER_STATUS_AUTOCOMMIT, \
    SERVER_STATUS_IN_TRANS, BackendConn, connect, kill_query
from proxyd.backends.mysql_state import CHARSET_VARS, LAST_INSERT_ID, LOCK, SET, STICKY, UNLOCK, USE, classify
from proxyd.backends.parameterize import count_placeholders
from proxyd.errors import ProxydError
from proxyd.results import Ok, ResultSet

if TYPE_CHECKING:
    from proxyd.core import Core

__all__ = ["MysqlBackend", "MysqlSession", "ServerPool", "EMBEDDED_HOSTNAME"]

log = logging.getLogger("proxyd.mysql")

EMBEDDED_HOSTNAME = "embedded"
_UNREACHABLE = 9001
_RETRY_STATEMENT = (1615, 1243)  # ER_NEED_REPREPARE, ER_UNKNOWN_STMT_HANDLER: prepare again, once
_SHUN_SECONDS = 1.0
_UTF8 = ("utf-8", "utf8")  # codec names of utf8 / utf8mb4 (asyncmy says "utf8")
_IDLE_SECONDS = 300.0  # an idle pooled connection beyond the working set is closed after this


class ServerPool:
    """One runtime server: its settings, idle connections per credentials, and its counters."""

    def __init__(self, hostgroup: int, host: str, port: int):
        self.hostgroup, self.host, self.port = hostgroup, host, port
        self.status, self.weight, self.max_connections = "ONLINE", 1, 1000
        self.idle: dict[tuple, list[BackendConn]] = {}
        self.conns: set[BackendConn] = set()  # every open connection, busy or idle
        self.used = 0
        self.conn_ok = self.conn_err = self.max_used = 0
        self.queries = self.sent = self.recv = 0  # of connections already closed (live ones count their own)
        self.latency_us = 0
        self.shunned_until = 0.0
        self.removed = False
        self.waiters: list[asyncio.Future] = []

    @property
    def free(self) -> int:
        return sum(len(v) for v in self.idle.values())

    def live_status(self) -> str:
        if self.status == "ONLINE" and time.monotonic() < self.shunned_until:
            return "SHUNNED"
        return self.status

    def wake(self) -> None:
        while self.waiters:
            fut = self.waiters.pop(0)
            if not fut.done():
                fut.set_result(None)
                return

    def close_idle(self, keep: tuple | None = None) -> None:
        for key, conns in list(self.idle.items()):
            if key == keep:
                continue
            for bc in conns:
                self.forget(bc)
                bc.close()
            conns.clear()

    def forget(self, bc: BackendConn) -> None:
        """A connection leaves the pool for good: keep its counters."""
        if bc in self.conns:
            self.conns.discard(bc)
            self.queries += bc.queries
            self.sent += bc.sent
            self.recv += bc.recv


class _Hostgroup:
    """The servers of one hostgroup and the cumulative weights of the ONLINE ones."""

    __slots__ = ("id", "servers", "online", "cumulative", "total")

    def __init__(self, hg: int, servers: list[ServerPool]):
        self.id, self.servers = hg, servers
        self.online = [s for s in servers if s.status == "ONLINE" and s.weight > 0]
        self.cumulative, acc = [], 0
        for s in self.online:
            acc += s.weight
            self.cumulative.append(acc)
        self.total = acc

    def choose(self) -> ServerPool | None:
        online = self.online
        if len(online) == 1:
            return online[0]
        if not online:
            return None
        pick = online[bisect.bisect_right(self.cumulative, random.random() * self.total)]
        if pick.shunned_until and time.monotonic() < pick.shunned_until:
            others = [s for s in online if time.monotonic() >= s.shunned_until]
            if others:
                return random.choice(others)
        return pick

    def candidates(self, first: ServerPool) -> list[ServerPool]:
        """Servers to try, ``first`` then the other ONLINE ones by weight (not shunned first)."""
        rest = [s for s in self.online if s is not first]
        random.shuffle(rest)
        rest.sort(key=lambda s: (time.monotonic() < s.shunned_until, -s.weight))
        return [first, *rest]


class MysqlBackend:
    """Pools of backend connections for every runtime MySQL server."""

    def __init__(self, core: "Core"):
        self.core = core
        self.pools: dict[tuple[int, str, int], ServerPool] = {}
        self.hostgroups: dict[int, _Hostgroup] = {}
        self._snapshot: Any = None
        self._tasks: set[asyncio.Task] = set()
        self.connect_timeout = 1.0
        core.variables.on_change(lambda changed: self._read_variables())
        self._read_variables()
        core.runtime.listeners.append(self._runtime_changed)
        self.refresh()

    # -- configuration ----------------------------------------------------------------------------
    def _read_variables(self) -> None:
        self.connect_timeout = self.core.variables.get_int("mysql-connect_timeout_server") / 1000.0

    def _runtime_changed(self, what: str) -> None:
        if what == "servers":
            self.refresh()

    def refresh(self) -> None:
        """Follow the runtime servers snapshot: keep pools of servers that stay, drop the others."""
        snap = self.core.runtime.servers
        self._snapshot = snap
        pools: dict[tuple[int, str, int], ServerPool] = {}
        for row in snap.as_dicts():
            host = str(row["hostname"])
            if host == EMBEDDED_HOSTNAME:
                continue
            key = (int(row["hostgroup_id"]), host, int(row["port"]))
            pool = self.pools.get(key) or ServerPool(*key)
            pool.status = str(row["status"]).upper()
            pool.weight = int(row["weight"])
            pool.max_connections = int(row["max_connections"])
            if pool.status != "ONLINE":
                pool.close_idle()
            pools[key] = pool
        for key, pool in self.pools.items():
            if key not in pools:
                pool.removed = True
                pool.close_idle()
                for fut in pool.waiters:
                    if not fut.done():
                        fut.set_result(None)
        self.pools = pools
        by_hg: dict[int, list[ServerPool]] = {}
        for pool in pools.values():
            by_hg.setdefault(pool.hostgroup, []).append(pool)
        self.hostgroups = {hg: _Hostgroup(hg, servers) for hg, servers in by_hg.items()}

    def session(self, user_row: dict, hostgroup: int, schema: str | None = None, *,
                found_rows: bool = False, deprecate_eof: bool = False) -> "MysqlSession":
        return MysqlSession(self, user_row, hostgroup, schema, found_rows=found_rows, deprecate_eof=deprecate_eof)

    # -- connections -------------------------------------------------------------------------------
    def take(self, s: "MysqlSession") -> BackendConn | None:
        """An idle pooled connection for ``s`` without waiting (the per-statement path), or None."""
        hg = self.hostgroups.get(s.hostgroup)
        if hg is None:
            return None
        online = hg.online
        pool = online[0] if len(online) == 1 else hg.choose()
        if pool is None:
            return None
        idle = pool.idle.get(s.key)
        if not idle:
            return None
        bc = idle[-1]  # the newest: its schema is most likely the session's
        proto = bc.proto
        if bc.schema == s.schema and not bc.broken and not proto.eof and proto.exc is None:
            idle.pop()
        else:
            bc = _pick(idle, s.schema, pool)
            if bc is None:
                return None
        used = pool.used = pool.used + 1
        if used > pool.max_used:
            pool.max_used = used
        return bc

    async def acquire(self, s: "MysqlSession") -> BackendConn:
        """A connection for ``s``: an idle one, else a new one (see the module docstring)."""
        bc = self.take(s)
        if bc is not None:
            return bc
        hg = self.hostgroups.get(s.hostgroup)
        pool = hg.choose() if hg is not None else None
        if pool is None:
            raise _no_servers(s.hostgroup, hg)
        return await self._open(hg, pool, s)

    async def _open(self, hg: _Hostgroup, first: ServerPool, s: "MysqlSession") -> BackendConn:
        timeout = self.connect_timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        failures: list[str] = []
        timed_out = False
        for pool in hg.candidates(first):
            while len(pool.conns) >= pool.max_connections and not pool.removed:
                # At the limit: an idle connection of ours (any schema), else close idle connections of
                # other users to make room, else wait for a release.
                idle = pool.idle.get(s.key)
                while idle:
                    bc = idle.pop()
                    if bc.usable:
                        pool.used += 1
                        pool.max_used = max(pool.max_used, pool.used)
                        return bc
                    pool.forget(bc)
                    bc.close()
                if pool.free:
                    pool.close_idle(keep=s.key)
                    continue
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                fut = loop.create_future()
                pool.waiters.append(fut)
                try:
                    await asyncio.wait_for(fut, remaining)
                except asyncio.TimeoutError:
                    break
            if len(pool.conns) >= pool.max_connections:
                failures.append(f"{pool.host}:{pool.port}: max_connections ({pool.max_connections}) reached")
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                timed_out = True
                break
            started = time.perf_counter()
            try:
                bc = await connect(pool, s.key, s.user, s.password, found_rows=s.found_rows,
                                   deprecate_eof=s.deprecate_eof, timeout=remaining)
            except asyncio.TimeoutError:
                self._failed(pool)
                failures.append(f"{pool.host}:{pool.port}: no answer within {int(timeout * 1000)}ms")
                timed_out = True
                continue
            except ProxydError:
                self._failed(pool)
                raise
            except Exception as exc:
                self._failed(pool)
                args = getattr(exc, "args", ())
                if len(args) >= 2 and isinstance(args[0], int) and args[0] < 2000:
                    # the server answered (access denied, too many connections…): its own error
                    raise ProxydError(str(args[1]), args[0], getattr(exc, "sqlstate", None) or "HY000") from None
                failures.append(f"{pool.host}:{pool.port}: {_reason(exc)}")
                continue
            pool.latency_us = int((time.perf_counter() - started) * 1_000_000)
            pool.conn_ok += 1
            pool.shunned_until = 0.0
            self.core.stats.globals["Server_Connections_created"] += 1
            if pool.removed or pool.status != "ONLINE":
                bc.close()
                failures.append(f"{pool.host}:{pool.port}: server removed or offline")
                continue
            pool.conns.add(bc)
            pool.used += 1
            if pool.used > pool.max_used:
                pool.max_used = pool.used
            return bc
        ms = int(timeout * 1000)
        detail = "; ".join(failures) or "no ONLINE server"
        if timed_out:
            raise ProxydError(f"Max connect timeout reached while reaching hostgroup {hg.id} after {ms}ms "
                              f"({detail})", _UNREACHABLE, "HY000")
        raise ProxydError(f"Cannot connect to any server of hostgroup {hg.id} ({detail})", _UNREACHABLE, "HY000")

    def _failed(self, pool: ServerPool) -> None:
        pool.conn_err += 1
        pool.shunned_until = time.monotonic() + _SHUN_SECONDS
        self.core.stats.globals["Server_Connections_aborted"] += 1

    def release(self, bc: BackendConn) -> None:
        pool = bc.pool
        pool.used -= 1
        if bc.broken or pool.removed or pool.status != "ONLINE" or bc.proto.eof:
            self.discard(bc, counted=False)
            return
        idle = pool.idle.get(bc.key)
        if idle is None:
            idle = pool.idle[bc.key] = []
        now = time.monotonic()
        bc.idle_since = now
        idle.append(bc)
        # Newest-first reuse leaves surplus connections (after a burst) at the front, unused: let
        # one go per release once it has idled long enough, so the pool follows the load down.
        if len(idle) > 1 and now - idle[0].idle_since > _IDLE_SECONDS:
            old = idle.pop(0)
            pool.forget(old)
            old.close()
        if pool.waiters:
            pool.wake()

    def discard(self, bc: BackendConn, *, counted: bool = True) -> None:
        """Close a connection that is in use (``counted``: still counted as used)."""
        pool = bc.pool
        if counted:
            pool.used -= 1
        pool.forget(bc)
        bc.close()
        if pool.waiters:
            pool.wake()

    def kill_query(self, bc: BackendConn, user: str, password: str | None) -> None:
        """The statement running on ``bc`` lost its client: have the server stop it (in the background)."""
        self._spawn(kill_query(bc.pool, user, password, bc.thread_id, self.connect_timeout))

    def _spawn(self, coro: Any) -> None:
        try:
            task = asyncio.get_running_loop().create_task(coro)
        except RuntimeError:  # no running loop (shutdown)
            coro.close()
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def release_after_reset(self, bc: BackendConn) -> None:
        """A pinned connection whose client left: clean its session state, then pool it."""
        async def reset() -> None:
            try:
                await bc.reset()
            except BaseException:
                self.discard(bc)
                return
            self.release(bc)
        if not bc.usable:
            self.discard(bc)
            return
        self._spawn(reset())

    # -- stats -------------------------------------------------------------------------------------
    def pool_rows(self, reset: bool = False) -> list[tuple]:
        rows = []
        for pool in sorted(self.pools.values(), key=lambda p: (p.hostgroup, p.host, p.port)):
            queries, sent, recv = pool.queries, pool.sent, pool.recv
            for bc in pool.conns:
                queries += bc.queries
                sent += bc.sent
                recv += bc.recv
            rows.append((pool.hostgroup, pool.host, pool.port, pool.live_status(), pool.used, pool.free,
                         pool.conn_ok, pool.conn_err, pool.max_used, queries, 0, sent, recv, pool.latency_us))
            if reset:
                pool.queries = pool.sent = pool.recv = 0
                pool.conn_ok = pool.conn_err = 0
                pool.max_used = pool.used
                for bc in pool.conns:
                    bc.queries = bc.sent = bc.recv = 0
        return rows

    def connected(self) -> int:
        return sum(len(p.conns) for p in self.pools.values())

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self.close()

    def close(self) -> None:
        if self._runtime_changed in self.core.runtime.listeners:
            self.core.runtime.listeners.remove(self._runtime_changed)
        for pool in self.pools.values():
            pool.removed = True
            for bc in list(pool.conns):
                pool.forget(bc)
                bc.close()
            pool.idle.clear()


def _pick(idle: list[BackendConn], schema: str | None, pool: ServerPool) -> BackendConn | None:
    """An idle connection, newest first, preferring one already in ``schema`` (a few are looked at);
    dead ones are dropped. A session without a schema takes only a connection without one (MySQL
    cannot unselect a database); the caller opens a new one then."""
    while True:
        found = fallback = -1
        n = len(idle)
        for i in range(n - 1, max(-1, n - 9), -1):
            if idle[i].schema == schema:
                found = i
                break
            if fallback < 0:
                fallback = i
        if found < 0:
            if schema is None or fallback < 0:
                return None
            found = fallback
        bc = idle.pop(found)
        if bc.usable:
            return bc
        pool.forget(bc)
        bc.close()


def _no_servers(hg_id: int, hg: _Hostgroup | None) -> ProxydError:
    if hg is None or not hg.servers:
        return ProxydError(f"Hostgroup {hg_id} has no servers (mysql_servers)", _UNREACHABLE, "HY000")
    states = ", ".join(f"{s.host}:{s.port} {s.status}" for s in hg.servers)
    return ProxydError(f"Hostgroup {hg_id} has no ONLINE server ({states})", _UNREACHABLE, "HY000")


def _reason(exc: BaseException) -> str:
    cause = exc.__cause__ or exc
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    args = getattr(exc, "args", ())
    return str(args[1] if len(args) >= 2 else exc)


_LAST_ID_TYPES = (ColumnType.LONGLONG,)


class MysqlSession:
    """One client's session on the mysql backend (same interface as EmbeddedSession for the frontend)."""

    def __init__(self, backend: MysqlBackend, user_row: dict, hostgroup: int, schema: str | None = None, *,
                 found_rows: bool = False, deprecate_eof: bool = False):
        self._backend = backend
        self.user: str = user_row["username"]
        self.password: str | None = user_row.get("password")
        self.found_rows = found_rows
        # connections frame result sets as this client does, so their replies can be relayed as they come
        self.deprecate_eof = deprecate_eof
        self.key = (self.user, self.password, found_rows, deprecate_eof)
        self.hostgroup = hostgroup
        self.schema: str | None = schema or None  # what the client asked for (checked on its next statement)
        self._previous_schema: str | None = None  # where a refused use() goes back to
        self.autocommit = True
        self.in_transaction = False
        self.last_insert_id = 0
        self.connection_id = 0  # backend thread id of the pinned connection (diagnostics)
        self._pinned: BackendConn | None = None
        self._sticky: str | None = None  # why the session keeps its connection for good
        self._locked = False  # LOCK TABLES held
        self._vars: dict[str, str] = {}  # carried SET items by key, in the order they were set
        self._state: tuple = ()  # tuple(self._vars.items()): compared with each connection's
        self._confirmed: tuple = ()  # the last state a server accepted
        self._encoding = "utf-8"  # Python codec of the session's character_set_client (SQL text is sent in it)
        self._closed = False

    # -- frontend interface ----------------------------------------------------------------------
    @property
    def client_codec(self) -> str | None:
        """The Python codec the client now sends SQL text in, when it said so in this session (``SET
        NAMES``, ``SET CHARACTER SET``, ``character_set_client``); None before that (the handshake's
        character set stands)."""
        if "names" in self._vars or "character_set_client" in self._vars:
            return self._encoding
        return None

    def use(self, schema: str) -> None:
        """Switch schema; the server checks it on the next statement (1049 there if it does not exist,
        and the session goes back to the schema it had)."""
        self._previous_schema, self.schema = self.schema, schema

    def describe_params(self, sql: str) -> int:
        return count_placeholders(sql)

    async def prepare(self, sql: str) -> tuple[int, list[tuple[str, int]]]:
        """Prepare on the backend: the statement's parameter count and result columns."""
        bc = self._pinned or await self._backend.acquire(self)
        try:
            if bc.state != self._state or (bc.schema != self.schema and self.schema is not None):
                await self._sync(bc)
            st = await bc.prepared(sql, self._encoding)
        except BaseException as exc:
            self._failed(bc, exc)
            raise
        self._settle(bc)
        cols = st.columns
        return st.params, (list(zip(cols.names, cols.types)) if cols is not None else [])

    async def execute(self, sql: str, params: Sequence[Any] | None = None) -> Ok | ResultSet:
        if self._closed:
            raise ProxydError("The backend session is closed", 2006, "HY000")
        effect = classify(sql)
        if effect is not None:
            if effect.kind == LAST_INSERT_ID and self._pinned is None:
                return ResultSet(["LAST_INSERT_ID()"], [(self.last_insert_id,)], types=_LAST_ID_TYPES)
            if effect.local and (self.autocommit or not effect.autocommit_on):
                # SET NAMES and the like: kept here, sent with the next statement (see _sync)
                self._set_vars(effect.detail)  # type: ignore[arg-type]
                return Ok()
        bc = self._pinned
        if bc is None:
            bc = self._backend.take(self) or await self._backend.acquire(self)
        try:
            if bc.state is not self._state or (bc.schema != self.schema and self.schema is not None):
                if bc.state != self._state or (bc.schema != self.schema and self.schema is not None):
                    await self._sync(bc)
            if params is None:
                res = await bc.query(sql, self._encoding)
            else:
                res = await self._execute_prepared(bc, sql, params)
            bc.queries += 1
            if bc.warnings:
                res.warnings = await bc.show_warnings()
        except BaseException as exc:
            self._failed(bc, exc)
            raise
        if effect is not None:
            self._apply(effect, bc)
        if res.__class__ is Ok and res.last_insert_id:
            self.last_insert_id = res.last_insert_id
        self._settle(bc)
        return res

    # -- the callback fast path (see proxyd.wire.fast_path) --------------------------------------------
    def fast_send(self, sql: str, params: Sequence[Any] | None = None,
                  raw_params: tuple[int, bytes] | None = None) -> BackendConn | None:
        """Send a plain statement at once when nothing needs awaiting first: no session effect, a
        connection at hand (pinned, or idle in the pool) already in the session's schema and state,
        and for a prepared statement one already prepared on it. ``raw_params``: (count, the client's
        COM_STMT_EXECUTE parameter block), sent as it is (only when SQL text is utf-8 here, as the
        client's values are). None (nothing sent, nothing taken)
        otherwise: the caller takes the coroutine path. The reply is then read with
        :meth:`fast_reply` (from the connection's receive callback) or :meth:`fast_finish`."""
        if classify(sql) is not None:
            return None
        bc = self._fast_conn()
        if bc is None:
            return None
        try:
            if params is None and raw_params is None:
                bc._send(COM_QUERY, sql.encode(self._encoding, "replace"))
            else:
                key = (sql, bc.schema, bc.state)
                st = bc.stmts.get(key)
                if raw_params is not None:
                    count, block = raw_params
                    if st is None or count != st.params or self._encoding not in _UTF8:
                        self._give_back(bc)
                        return None
                    body = st.header + block if count else st.header
                else:
                    if st is None or len(params) != st.params:  # type: ignore[arg-type]
                        self._give_back(bc)
                        return None
                    body = st.header + pack_binary_params(tuple(params), self._encoding) if params else st.header
                bc.stmts.move_to_end(key)
                bc._send(COM_STMT_EXECUTE, body)
        except BaseException as exc:
            self._failed(bc, exc)
            raise
        return bc

    def _fast_conn(self) -> BackendConn | None:
        """The connection for a fast-path statement, if one is at hand (pinned, or idle in the pool)
        already in the session's schema and state, with nothing unread; else None."""
        if self._closed:
            return None
        bc = self._pinned
        if bc is None:
            bc = self._backend.take(self)
            if bc is None:
                return None
        elif not bc.usable:
            return None
        proto = bc.proto
        if (proto._read_waiter is not None or proto.length != proto.pos
                or (bc.state is not self._state and bc.state != self._state)
                or (bc.schema != self.schema and self.schema is not None)):
            self._give_back(bc)
            return None
        return bc

    def fast_take(self, nbytes: int) -> BackendConn | None:
        """For the C relay (``proxyd/wire/_native_relay.c``), which checked the statement itself and
        writes the client's COM_QUERY packet (``nbytes`` of payload) as it is: the connection, marked
        as having that command sent, or None. Only while the session's SQL text is utf-8, as the
        client's is."""
        if self._encoding not in _UTF8:
            return None
        bc = self._fast_conn()
        if bc is not None:
            bc.raw._next_seq_id = 1
            bc.sent += nbytes
        return bc

    def fast_take_stmt(self, sql: str, count: int, nbytes: int) -> tuple[BackendConn, bytes] | None:
        """:meth:`fast_take` for a COM_STMT_EXECUTE of ``sql`` with ``count`` parameters: the connection
        and the header of its own server-side statement (the C relay appends the client's parameter
        block), if that statement is prepared on it already; else None."""
        if self._encoding not in _UTF8:
            return None
        bc = self._fast_conn()
        if bc is None:
            return None
        key = (sql, bc.schema, bc.state)
        st = bc.stmts.get(key)
        if st is None or st.params != count:
            self._give_back(bc)
            return None
        bc.stmts.move_to_end(key)
        bc.raw._next_seq_id = 1
        bc.sent += nbytes
        return bc, st.header

    def _give_back(self, bc: BackendConn) -> None:
        if self._pinned is not bc:
            self._backend.release(bc)

    def fast_reply(self, bc: BackendConn, binary: bool) -> Ok | ResultSet | None:
        """The reply, if the receive buffer holds all of it and it is plain (see
        ``BackendConn._parse_buffered``), with the statement settled; else None: ``bc.slow_reply``
        says whether :meth:`fast_finish` must take over (an error, a large or unusual reply, a
        lost connection, warnings to fetch) or more bytes may complete it."""
        proto = bc.proto
        if proto.eof or proto.exc is not None or proto.length - proto.pos >= _FAST_LIMIT:
            bc._slow = True
            return None
        res = bc._parse_buffered(binary)
        if res is None or bc.warnings:
            if res is not None:
                bc.parked = res
                bc._slow = True
            return None
        bc.queries += 1
        if res.__class__ is Ok and res.last_insert_id:
            self.last_insert_id = res.last_insert_id
        self._settle(bc)
        return res

    async def fast_finish(self, bc: BackendConn, sql: str, params: Sequence[Any] | None,
                          binary: bool) -> Ok | ResultSet:
        """The rest of a statement :meth:`fast_reply` could not finish, as :meth:`execute` does it."""
        try:
            res, bc.parked = bc.parked, None
            if res is None:
                try:
                    res = await bc._result(binary)  # the general reader, from the unconsumed reply
                except ProxydError as exc:
                    if not binary or exc.code not in _RETRY_STATEMENT or bc.broken:
                        raise
                    bc.forget(sql)  # the server dropped or invalidated it: prepare again
                    enc = self._encoding
                    res = await bc.execute(await bc.prepared(sql, enc), params or (), enc)
            bc.queries += 1
            if bc.warnings:
                res.warnings = await bc.show_warnings()
        except BaseException as exc:
            self._failed(bc, exc)
            raise
        if res.__class__ is Ok and res.last_insert_id:
            self.last_insert_id = res.last_insert_id
        self._settle(bc)
        return res

    def fast_abort(self, bc: BackendConn) -> None:
        """The client went away (or KILL) while ``bc`` was answering: drop it, stop the server's work."""
        bc.proto._read_waiter = None
        bc.parked = None
        bc.broken = True
        self._failed(bc, asyncio.CancelledError())

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        bc, self._pinned = self._pinned, None
        if bc is not None:
            self._backend.release_after_reset(bc)

    # -- internals ----------------------------------------------------------------------------------
    async def _sync(self, bc: BackendConn) -> None:
        if self.schema is not None and bc.schema != self.schema:
            try:
                await bc.init_db(self.schema)
            except ProxydError:
                # a bad COM_INIT_DB (or default schema) leaves the schema the session had
                self.schema, self._previous_schema = self._previous_schema, None
                raise
        if bc.state != self._state:
            try:
                await self._send_vars(bc)
            except ProxydError as exc:
                names = self._vars.get("names")
                plain = mysql_state.without_collation(names) if names and exc.code == 1273 else None
                if plain is None:
                    # a SET kept locally was refused: forget what no server confirmed (a failed SET
                    # changes nothing on the connection, so it stays usable)
                    self._vars = {}
                    self._set_vars(self._confirmed)
                    raise
                # the server lacks the collation the client named: its charset's default instead
                self._set_vars((("names", plain),))
                await self._send_vars(bc)

    async def _send_vars(self, bc: BackendConn) -> None:
        """Bring ``bc``'s carried variables to this session's: reset the extra ones, set the others."""
        current = dict(bc.state)
        items = mysql_state.reset_items([k for k in current if k not in self._vars])
        items += [text for k, text in self._state if current.get(k) != text]
        if items:
            res = await bc.query("SET " + ", ".join(items))
            if not isinstance(res, Ok):
                bc.broken = True
                raise ProxydError("could not restore session variables on a pooled connection", 2014, "HY000")
        bc.state = self._confirmed = self._state

    async def _execute_prepared(self, bc: BackendConn, sql: str, params: Sequence[Any]) -> Ok | ResultSet:
        enc = self._encoding
        st = await bc.prepared(sql, enc)
        try:
            return await bc.execute(st, params, enc)
        except ProxydError as exc:
            if exc.code not in _RETRY_STATEMENT or bc.broken:
                raise
        bc.forget(sql)  # the server dropped or invalidated it (table changed): prepare again
        return await bc.execute(await bc.prepared(sql, enc), params, enc)

    def _apply(self, effect: mysql_state.Effect, bc: BackendConn) -> None:
        kind = effect.kind
        if kind == USE:
            self.schema = bc.schema = str(effect.detail)
        elif kind == SET:
            self._set_vars(effect.detail)  # type: ignore[arg-type]
            bc.state = self._confirmed = self._state
            if effect.sticky:
                self._pin_for_good(effect.sticky, bc)
        elif kind == STICKY:
            self._pin_for_good(str(effect.detail), bc)
        elif kind == LOCK:
            self._locked = True
        elif kind == UNLOCK:
            self._locked = False

    def _set_vars(self, items: tuple[tuple[str, str], ...]) -> None:
        for key, text in items:
            if key == "names":  # SET NAMES sets the three character_set_* and collation_connection
                for k in CHARSET_VARS:
                    self._vars.pop(k, None)
            self._vars.pop(key, None)
            self._vars[key] = text  # re-inserted: replayed after what it overrides
        self._state = tuple(self._vars.items())
        self._encoding = _encoding_of(self._vars.get("names"), self._vars.get("character_set_client"))

    def _pin_for_good(self, reason: str, bc: BackendConn) -> None:
        if self._sticky is None:
            log.debug("session of %s pinned to backend connection %d: %s", self.user, bc.thread_id, reason)
        self._sticky = reason

    def _settle(self, bc: BackendConn) -> None:
        """After a statement: keep the connection if the session must, else return it to the pool."""
        status = bc.status
        if status & SERVER_STATUS_IN_TRANS or not status & SERVER_STATUS_AUTOCOMMIT or self._sticky is not None \
                or self._locked:
            self.in_transaction = bool(status & SERVER_STATUS_IN_TRANS)
            self.autocommit = bool(status & SERVER_STATUS_AUTOCOMMIT)
            if self._closed:  # the client left meanwhile: clean the connection, do not keep it
                self._pinned = None
                self._backend.release_after_reset(bc)
                return
            self._pinned = bc
            self.connection_id = bc.thread_id
        else:
            self.in_transaction, self.autocommit = False, True
            self._pinned = None
            self._backend.release(bc)

    def _failed(self, bc: BackendConn, exc: BaseException) -> None:
        """A statement failed on ``bc``: drop a broken connection, else keep or release it as before."""
        if isinstance(exc, asyncio.CancelledError) and bc.thread_id:
            self._backend.kill_query(bc, self.user, self.password)
        if bc.broken or not bc.usable or not isinstance(exc, ProxydError):
            if self._pinned is bc:
                self._pinned = None
                self._sticky, self._locked = None, False
                self.in_transaction, self.autocommit = False, True
            self._backend.discard(bc)
        elif self._pinned is not bc:
            self._backend.release(bc)
        # a pinned connection stays pinned: the transaction is still open (the status flags of the
        # next statement tell if the error ended it)


def _encoding_of(names: str | None, client: str | None) -> str:
    """The Python codec for SQL text on a connection whose character set was set by ``names``
    (a carried ``NAMES …`` item) or ``client`` (``SESSION character_set_client = …``)."""
    charset = None
    if client is not None:
        charset = client.split("=", 1)[1]
    elif names is not None:
        parts = names.split()
        charset = parts[1] if len(parts) > 1 and parts[0].upper() == "NAMES" else parts[-1]
    if charset is None:
        return "utf-8"
    charset = charset.strip().strip("'\"`").lower()
    try:
        from asyncmy.charset import charset_by_name

        codec = charset_by_name(charset).encoding
        "".encode(codec)
        return codec
    except Exception:
        return "utf-8"
