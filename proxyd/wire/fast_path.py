"""The SQL port's callback fast path: plain statements to a mysql backend without coroutines.

Why: on the coroutine path a statement wakes the connection's task twice (client bytes, backend
bytes), each time resuming a chain of about ten coroutine frames and a stream reader's futures. That
costs more CPU per statement than the relaying itself. Here the common statement is handled inside
the transports' receive callbacks: the client's command is parsed in ``data_received``, sent to the
backend at once, and the reply is written to the client from the backend connection's receive
callback. No task, no future.

How: after the handshake, :class:`FastPath` is put in front of the client transport's
StreamReaderProtocol (which mysql-mimic's stream reads from). While the command coroutine is parked
(:meth:`FastPath.park`), this protocol reads the commands itself. A command qualifies when it is a
COM_QUERY or COM_STMT_EXECUTE of one statement, no pipeline hook is loaded, the session does not
answer it itself (``KILL``, ``SHOW WARNINGS``), it has no session effect (see
:func:`proxyd.backends.mysql_state.classify`), and a backend connection is at hand without waiting,
already in the session's schema and state (``MysqlSession.fast_send``). Anything else — and every
byte after it — is handed to the StreamReaderProtocol and the coroutine takes over, in order, until
its reader is empty again. A reply that is not small and plain (an error, warnings, a large result,
a lost connection) is finished by a task running the coroutine code (``MysqlSession.fast_finish``).

The backend side needs no protocol of its own: asyncmy's receive protocol wakes its reader by
calling ``done()`` / ``set_result()`` on ``_read_waiter``; a :class:`_Wake` placed there is called
synchronously when backend bytes arrive (or the connection is lost).

In C: when the optional extension ``proxyd.wire._native_relay`` is built (and ``PROXYD_NO_NATIVE``
is not set), its ``RelayCore`` is FastPath's base class and takes the commonest case without running
Python code per packet: a plain SELECT/INSERT/UPDATE/DELETE/REPLACE as COM_QUERY, whose packet is
forwarded as the client framed it, and a small plain reply (one result set, or an OK without insert
id), relayed to the client; Python then only settles the connection and counts the statement
(:meth:`FastPath._native_done`). Whatever the C code does not accept goes to the Python code below,
which handles every case, from the same unconsumed bytes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import TYPE_CHECKING, Any

from proxyd.digest import shape_of
from proxyd.errors import ProxydError, to_proxyd_error
from proxyd.wire.binary import parse_execute_params

try:
    from proxyd.wire._native_relay import RelayCore
except ImportError:  # not built (no C compiler at install time): the Python code does everything
    RelayCore = None

if TYPE_CHECKING:
    from proxyd.wire.sql_connection import SqlConnection

log = logging.getLogger("proxyd.wire")

COM_QUERY, COM_STMT_EXECUTE = 0x03, 0x17
_QUERY_ATTRIBUTES = 1 << 27
_MAX_PAYLOAD = 0xFFFFFF
_BIG_COMMAND = 1 << 16  # a command this large is read by the coroutine path (bounded buffering here)
_PAUSE_AT = 1 << 20  # bytes buffered behind a statement in flight before reading pauses
_INTERRUPTED = (1317, "70100", "Query execution was interrupted")
# PROXYD_NO_FAST_PATH=1 in the daemon's environment: every statement takes the coroutine path
# (for A/B measurements, and to rule the fast path out when chasing a bug).
DISABLED = bool(os.environ.get("PROXYD_NO_FAST_PATH"))
# PROXYD_NO_NATIVE=1: the C half is not used even when built (A/B measurements, ruling it out).
NATIVE = RelayCore is not None and not os.environ.get("PROXYD_NO_NATIVE")
_BASES: tuple = (RelayCore, asyncio.Protocol) if NATIVE else (asyncio.Protocol,)
_UTF8_CODECS = frozenset({"utf-8", "utf8", "utf_8"})
_PROTOCOL_41 = 1 << 9
_AUTOCOMMIT = 0x0002  # SERVER_STATUS_AUTOCOMMIT


class _Wake:
    """Stands in for asyncmy's read-waiter future: its receive callback calls ``set_result``."""

    __slots__ = ("fn",)

    def __init__(self, fn: Any):
        self.fn = fn

    def done(self) -> bool:
        return False

    def set_result(self, _value: Any) -> None:
        self.fn()


def usable_for(conn: "SqlConnection") -> bool:
    """A plain TCP/Unix client transport read through a StreamReaderProtocol (not TLS), and a
    session on a backend that supports the fast path."""
    transport = conn.stream.writer.transport
    return (not DISABLED and type(transport.get_protocol()) is asyncio.StreamReaderProtocol
            and transport.get_extra_info("sslcontext") is None
            and hasattr(getattr(conn.proxyd_session, "backend", None), "fast_send"))


class FastPath(*_BASES):  # type: ignore[misc]
    """The client transport's protocol during the command phase (see the module docstring)."""

    def __init__(self, conn: "SqlConnection"):
        self.conn = conn
        self.native = False  # the C half may take statements (decided in park())
        self.transport = conn.stream.writer.transport
        self.inner: asyncio.StreamReaderProtocol = self.transport.get_protocol()  # the coroutine's reader
        self.buf = bytearray()
        self.parked = False  # the command coroutine waits in park(): commands are read here
        self.waiter: asyncio.Future | None = None
        self.eof = self.closed = self.reading_paused = False
        # the statement in flight
        self.bc: Any = None
        self.backend: Any = None
        self.task: asyncio.Task | None = None
        self.schema: str | None = None  # the session's schema when the statement started (its stats row)
        self.sql = ""
        self.params: list | None = None
        self.binary = False
        self.start_ns = 0
        self.exec_data = b""  # a COM_STMT_EXECUTE in flight and its statement
        self.exec_stmt: Any = None
        self.types: dict[int, tuple[list, bytes]] = {}  # statement id -> (its param_types, as wire bytes)
        self.wake = _Wake(self._backend_data)
        self.counters = conn.frontend.core.stats.globals  # stats_mysql_global
        # what the C half reads (see _native_relay.c)
        self.hooks = conn.frontend.hooks
        self.seq = conn.stream.seq
        self.query_attrs = bool(conn.caps & _QUERY_ATTRIBUTES)
        self.session = self.take = None
        self.memo: dict = {}  # statement shape -> where its stats go (SqlFrontend.native_count)
        self.transport.set_protocol(self)

    @property
    def busy(self) -> bool:
        return self.bc is not None or self.task is not None

    # -- transport callbacks ------------------------------------------------------------------------
    def _py_data_received(self, data: bytes) -> None:
        """``data_received`` in Python (the C half calls it for what it does not take)."""
        if not self.parked:
            self.inner.data_received(data)
            return
        if not self.buf and self.bc is None and self.task is None:  # the usual case: one whole command
            n = len(data) - 4
            if 0 < n < _MAX_PAYLOAD and data[0] | data[1] << 8 | data[2] << 16 == n:
                if self._safe_start(data[3], data[4:]):
                    return
                self.buf += data
                self._hand_over()
                return
        self.buf += data
        if self.busy:
            if len(self.buf) > _PAUSE_AT and not self.reading_paused:
                self.reading_paused = True
                self.transport.pause_reading()
            return
        self._next()

    def eof_received(self) -> bool:
        if not self.parked:
            return bool(self.inner.eof_received())
        self.eof = True
        if self.busy:  # a client that stops sending is gone (MySQL has no half-close): stop its statement
            self.closed = True
            self.buf.clear()
            self._abort()
        self._next()
        return True  # half-closed: the coroutine sees the EOF and ends the connection

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._abort()
        self.buf.clear()
        self.parked = False
        self.inner.connection_lost(exc)  # the reader ends, drain waiters wake
        self._wake_coroutine()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    # -- the command coroutine's side -------------------------------------------------------------
    async def park(self) -> None:
        """Read commands here until one needs the coroutine path (its bytes are then in the
        stream reader) or the client is gone."""
        if self.closed:
            return
        self.parked = True
        if NATIVE:
            self._native_setup()
        self.waiter = fut = asyncio.get_running_loop().create_future()
        if self.buf or self.eof:
            self._next()
        try:
            await fut
        finally:
            self.waiter = None

    def _native_setup(self) -> None:
        """May the C half take statements now? Only what it forwards unchanged: utf-8 both sides (it
        does not re-encode the statement), protocol 4.1 OK packets. Re-decided on every park(): the
        session changes (SET NAMES, COM_RESET_CONNECTION) only on the coroutine path."""
        conn = self.conn
        session = conn.proxyd_session
        backend = getattr(session, "backend", None)
        take = getattr(backend, "fast_take", None)
        self.session, self.backend, self.take = session, backend, take
        self.take_stmt = getattr(backend, "fast_take_stmt", None)
        self.statements = conn.statements
        self.native = bool(take is not None and conn.caps & _PROTOCOL_41 and conn.codec.lower() in _UTF8_CODECS)

    def _native_done(self, bc: Any, status: int, affected: int, rows: int, nbytes: int, end_ns: int) -> None:
        """The C half answered the client: settle the backend connection, count the statement."""
        try:
            bc.status, bc.warnings = status, 0
            bc.recv += nbytes
            bc.queries += 1
            self.backend._settle(bc)
            conn = self.conn
            conn.status_flags = _AUTOCOMMIT  # what the relayed reply said (only such replies come here)
            frontend, sql = conn.frontend, self.sql
            shape = sql if self.binary else shape_of(sql, frontend.digest_options)  # a prepared text is its own
            frontend.native_count(conn.proxyd_session, sql, shape, self.schema, affected, rows,
                                  (end_ns - self.start_ns) // 1000, self.memo)
            counters = self.counters
            counters["Queries_fast_path"] += 1
            counters["Queries_fast_path_native"] += 1
        except Exception:
            log.exception("fast path: statement bookkeeping failed")
        if self.buf:
            self._next()

    def _native_failed(self, bc: Any, exc: BaseException) -> None:
        """The C half could not write the statement to ``bc``: the statement's error, as fast_send's."""
        err = ProxydError(f"MySQL server has gone away ({exc})", 2006, "HY000")
        bc.broken = True
        try:
            self.backend._failed(bc, err)
        except Exception:
            log.exception("fast path: dropping a backend connection failed")
        self._finish(err)
        self._next()

    def interrupt(self) -> None:
        """KILL (QUERY or CONNECTION) of the statement in flight: the client gets error 1317."""
        if self.task is not None:
            self.task.cancel()  # the task answers 1317 (see _finish_slow)
        elif self.bc is not None:
            self._abort()
            self._finish(ProxydError(_INTERRUPTED[2], _INTERRUPTED[0], _INTERRUPTED[1]))
            self._next()

    def close(self) -> None:
        """The command phase ended: nothing may stay in flight."""
        self._abort()
        self.parked = False

    # -- internals ------------------------------------------------------------------------------
    def _wake_coroutine(self) -> None:
        fut = self.waiter
        if fut is not None and not fut.done():
            fut.set_result(None)

    def _abort(self) -> None:
        if self.task is not None:
            self.task.cancel()  # its own handler drops the backend connection
        elif self.bc is not None:
            bc, self.bc = self.bc, None
            try:
                self.backend.fast_abort(bc)
            except Exception:
                log.exception("dropping a backend connection failed")

    def _hand_over(self) -> None:
        """From here on the coroutine reads: give it every byte not consumed yet."""
        self.parked = False
        if self.reading_paused:
            self.reading_paused = False
            self.transport.resume_reading()
        if self.buf:
            data = bytes(self.buf)
            self.buf.clear()
            self.inner.data_received(data)
        if self.eof:
            self.inner.eof_received()
        self._wake_coroutine()

    def _next(self) -> None:
        """Start the buffered commands one after the other, while they qualify."""
        buf = self.buf
        while self.parked and not self.busy:
            have = len(buf)
            if have < 4:
                if self.eof:
                    self._hand_over()
                break
            n = buf[0] | buf[1] << 8 | buf[2] << 16
            if have - 4 < n:
                if n > _BIG_COMMAND or self.eof:
                    self._hand_over()
                break
            if n == 0 or n >= _MAX_PAYLOAD or not self._safe_start(buf[3], bytes(buf[4:4 + n])):
                self._hand_over()
                return
            del buf[:4 + n]
        if self.reading_paused and len(buf) < _PAUSE_AT // 2:
            self.reading_paused = False
            self.transport.resume_reading()

    def _safe_start(self, number: int, payload: bytes) -> bool:
        try:
            return self._start(number, payload)
        except Exception:  # a bug here must cost this connection at most, never the event loop
            log.exception("fast path: starting a statement failed; closing the client connection")
            self.closed = True
            self.buf.clear()
            self.transport.close()
            return True

    def _start(self, number: int, payload: bytes) -> bool:
        """Send the command to the backend if it qualifies; False leaves it to the coroutine."""
        conn = self.conn
        if self.inner._paused:  # type: ignore[attr-defined]  # the client reads slowly: let drain() wait
            return False
        command = payload[0]
        if command == COM_QUERY:
            if conn.caps & _QUERY_ATTRIBUTES:
                if payload[1:3] != b"\x00\x01":  # only "no attributes" here
                    return False
                sql = payload[3:].decode(conn.codec, "replace")
            else:
                sql = payload[1:].decode(conn.codec, "replace")
            if ";" in sql and conn.multi_statements:
                return False
            params, binary = None, False
        elif command == COM_STMT_EXECUTE:
            data = payload[1:]
            stmt = conn.statements.get(int.from_bytes(data[0:4], "little")) if len(data) >= 9 else None
            if stmt is None or stmt.state is None or stmt.long_data:
                return False  # the coroutine path reports what is wrong
            block = None
            if stmt.param_map is None and not conn.caps & _QUERY_ATTRIBUTES:
                block = self._param_block(data, stmt)
            if block is None:  # decode the values (the backend statement gets them re-encoded)
                try:
                    params = parse_execute_params(data, stmt, query_attributes=bool(conn.caps & _QUERY_ATTRIBUTES))
                except Exception:
                    return False
                if stmt.param_map is not None:
                    params = [params[i] for i in stmt.param_map[1]]
            else:
                params = None
            self.exec_data, self.exec_stmt = data, stmt
            sql, binary = stmt.state, True
        else:
            return False
        session = conn.proxyd_session
        backend = session.backend
        if not hasattr(backend, "fast_send") or not conn.frontend.fast_eligible(session, sql):
            return False
        start = time.perf_counter_ns()
        try:
            bc = backend.fast_send(sql, params, block) if binary else backend.fast_send(sql)
        except Exception as exc:  # the connection broke as we wrote: the statement's error
            bc, failure = None, to_proxyd_error(exc)
        else:
            if bc is None:
                return False
            failure = None
        conn.stream.seq.value = (number + 1) & 0xFF
        self.backend, self.sql, self.params, self.binary, self.start_ns = backend, sql, params, binary, start
        self.schema = conn.frontend.fast_begin(session, sql)
        if failure is not None:
            self._finish(failure)
            return True
        self.bc = bc
        bc.proto._read_waiter = self.wake
        if bc.proto.length != bc.proto.pos:  # hardly possible: the reply is already there
            self._backend_data()
        return True

    def _param_block(self, data: bytes, stmt: Any) -> tuple[int, bytes] | None:
        """``(parameter count, the client's parameter bytes)`` of a COM_STMT_EXECUTE payload, framed for
        the backend statement: the values travel as the client encoded them (no decoding and
        re-encoding). A pooled backend connection may not have seen the types of an earlier execute,
        so they are always sent. None when the payload is not as expected (the decoding path then
        reports it)."""
        count = stmt.num_params
        if count == 0:
            return 0, b""
        at = 9 + ((count + 7) >> 3)  # stmt id, flags, iteration count, NULL bitmap
        if len(data) <= at:
            return None
        if data[at]:  # types bound with this execute: the block is as the backend wants it
            end = at + 1 + 2 * count
            if len(data) < end:
                return None
            types = data[at + 1:end]
            stmt.param_types = known = [(types[i], bool(types[i + 1] & 0x80)) for i in range(0, 2 * count, 2)]
            self.types[stmt.stmt_id] = (known, types)
            return count, data[9:]
        known = stmt.param_types
        if known is None or len(known) < count:
            return None
        cached = self.types.get(stmt.stmt_id)
        if cached is None or cached[0] is not known:  # types bound by the decoding path
            cached = self.types[stmt.stmt_id] = (known, b"".join(bytes((t, 0x80 if u else 0)) for t, u in known[:count]))
        return count, data[9:at] + b"\x01" + cached[1] + data[at + 1:]

    def _backend_data(self) -> None:
        """Backend bytes arrived (or its connection ended) for the statement in flight."""
        bc = self.bc
        if bc is None:
            return
        try:
            res = self.backend.fast_reply(bc, self.binary)
        except Exception as exc:
            log.exception("fast path: reading the reply failed")
            self._abort()
            self._finish(to_proxyd_error(exc))
            self._next()
            return
        if res is None:
            if bc._slow:
                self.task = asyncio.get_running_loop().create_task(self._finish_slow(bc))
            else:
                bc.proto._read_waiter = self.wake  # part of the reply: wait for the rest
            return
        self.bc = None
        self._finish(res)
        self._next()

    async def _finish_slow(self, bc: Any) -> None:
        """The coroutine code finishes what the callback could not (see module docstring)."""
        try:
            params = self.params
            if params is None and self.binary:  # values passed through undecoded: needed to re-execute
                params = parse_execute_params(self.exec_data, self.exec_stmt, query_attributes=False)
            out: Any = await self.backend.fast_finish(bc, self.sql, params, self.binary)
        except asyncio.CancelledError:
            if self.closed:
                self.bc = self.task = None
                self._next()  # the EOF goes to the coroutine
                return
            out = ProxydError(_INTERRUPTED[2], _INTERRUPTED[0], _INTERRUPTED[1])
        except Exception as exc:
            out = to_proxyd_error(exc)
        self.bc = self.task = None
        if self.closed:
            return
        self._finish(out)
        self._next()

    def _finish(self, out: Any) -> None:
        """The reply to the client, then stats and diagnostics as the coroutine path keeps them
        (written first: the client and the server work on while the bookkeeping runs)."""
        self.bc = None
        conn = self.conn
        end_ns = time.perf_counter_ns()
        try:
            conn.write_now(out, self.binary)
        except Exception:  # called from transport callbacks: never let it reach the event loop
            log.exception("fast path: writing the reply failed; closing the client connection")
            self.transport.close()
        try:
            conn.frontend.fast_done(conn.proxyd_session, self.sql, self.schema, out, self.start_ns, end_ns)
            self.counters["Queries_fast_path"] += 1
        except Exception:
            log.exception("fast path: statement bookkeeping failed")


if not NATIVE:
    FastPath.data_received = FastPath._py_data_received  # type: ignore[method-assign]
