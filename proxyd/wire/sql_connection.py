"""The SQL-port connection: typed result sets, multi-statements, prepared statements, field lists.

Extends :class:`proxyd.wire.connection.ProxydConnection` (shared with the admin port) with what
applications need: column types in result sets, the binary protocol (:mod:`proxyd.wire.binary`),
COM_FIELD_LIST, and status flags (in transaction, autocommit) taken from the session after every
command. The frontend does the work; this class speaks the protocol.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Sequence

from mysql_mimic import packets
from mysql_mimic.charset import CharacterSet
from mysql_mimic.constants import KillKind
from mysql_mimic.errors import MysqlError
from mysql_mimic.constants import DEFAULT_SERVER_CAPABILITIES
from mysql_mimic.results import ResultColumn
from mysql_mimic.types import Capabilities, ColumnType, uint_len

from proxyd.errors import ProxydError, to_proxyd_error
from proxyd.results import Ok, RawResultSet, ResultSet
from proxyd.wire import binary, fast_path
from proxyd.wire.connection import MORE_RESULTS, ProxydConnection
from proxyd.wire.fast_path import FastPath
from proxyd.wire.packets import eof_packet, err_packet, ok_packet

log = logging.getLogger("proxyd.wire")

SQL_CAPABILITIES = DEFAULT_SERVER_CAPABILITIES | Capabilities.CLIENT_MULTI_STATEMENTS \
    | Capabilities.CLIENT_MULTI_RESULTS | Capabilities.CLIENT_PS_MULTI_RESULTS | Capabilities.CLIENT_TRANSACTIONS \
    | Capabilities.CLIENT_FOUND_ROWS
_NUMERIC = {ColumnType.LONGLONG, ColumnType.LONG, ColumnType.SHORT, ColumnType.TINY, ColumnType.INT24,
            ColumnType.DOUBLE, ColumnType.FLOAT, ColumnType.YEAR, ColumnType.DECIMAL, ColumnType.NEWDECIMAL}
_BINARY_COLS: dict[int, list[ResultColumn]] = {}
_DEPRECATE_EOF = int(Capabilities.CLIENT_DEPRECATE_EOF)
_MULTI_STATEMENTS = int(Capabilities.CLIENT_MULTI_STATEMENTS)
_QUERY_ATTRIBUTES = int(Capabilities.CLIENT_QUERY_ATTRIBUTES)
_SESSION_FLAGS = 0x0003  # SERVER_STATUS_IN_TRANS | SERVER_STATUS_AUTOCOMMIT: what refresh_status reports
_MORE_RESULTS = int(MORE_RESULTS)
_MAX_PAYLOAD = 0xFFFFFF
COM_QUIT, COM_QUERY = 0x01, 0x03


def _text_columns(n: int) -> list[ResultColumn]:
    """Encoders for text rows: values are sent as their text whatever the declared type."""
    cols = _BINARY_COLS.get(n)
    if cols is None:
        cols = _BINARY_COLS[n] = [ResultColumn(name="", type=ColumnType.VAR_STRING, character_set=CharacterSet.utf8mb4)
                                  for _ in range(n)]
    return cols


def _charset_for(t: int, is_bytes: bool = False) -> int:
    return binary.BINARY_CHARSET if t in _NUMERIC or is_bytes or t == ColumnType.BLOB else 255


_COLUMN_PACKETS: dict[tuple[str, int], bytes] = {}


def _column_packet(name: Any, t: int) -> bytes:
    """Column definitions repeat with every result of a statement shape: build each once."""
    key = (name, t)
    pkt = _COLUMN_PACKETS.get(key)
    if pkt is None:
        if len(_COLUMN_PACKETS) > 4096:
            _COLUMN_PACKETS.clear()
        pkt = _COLUMN_PACKETS[key] = binary.column_definition(str(name), t, _charset_for(t))
    return pkt


class SqlConnection(ProxydConnection):
    """Connection on the SQL port (6033)."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("capabilities", SQL_CAPABILITIES)
        super().__init__(*args, **kwargs)
        self.statements: dict[int, binary.PreparedStatement] = {}
        self._next_stmt = 0
        # Plain-int copies of what the handshake negotiated: mysql-mimic's enum flags cost
        # microseconds per test, and the query path tests them several times per statement.
        self.caps = 0
        self.eof_deprecated = False
        self.codec = "utf-8"
        self.fast: FastPath | None = None

    @property
    def multi_statements(self) -> bool:
        return bool(self.caps & _MULTI_STATEMENTS)

    def deprecate_eof(self) -> bool:
        return self.eof_deprecated

    # -- the command loop -------------------------------------------------------------------------
    async def command_phase(self) -> None:
        """mysql-mimic's command loop, made lean for the SQL port: packets are read straight from
        the stream reader, commands dispatched on plain ints (COM_QUERY first), the response
        sequence follows the client's. Error and KILL QUERY handling are mysql-mimic's. On a mysql-backend
        session the plain statements take the callback fast path (:mod:`proxyd.wire.fast_path`) while
        this loop is parked."""
        self.caps = caps = int(self.capabilities)
        self.eof_deprecated = bool(caps & _DEPRECATE_EOF)
        self.codec = self.client_charset.codec
        handlers = {
            0x16: self.handle_stmt_prepare, 0x18: self.handle_stmt_send_long_data, 0x17: self.handle_stmt_execute,
            0x1C: self.handle_stmt_fetch, 0x1A: self.handle_stmt_reset, 0x19: self.handle_stmt_close,
            0x0E: self.handle_ping, 0x11: self.handle_change_user, 0x1F: self.handle_reset_connection,
            0x1B: self.handle_set_option, 0x09: self.handle_statistics, 0x0D: self.handle_debug,
            0x02: self.handle_init_db, 0x04: self.handle_field_list,
        }
        reader = self.stream.reader
        readexactly = reader.readexactly
        seq = self.stream.seq
        fast = self.fast = FastPath(self) if fast_path.usable_for(self) else None
        try:
            await self._commands(fast, handlers, reader, readexactly, seq)
        finally:
            if fast is not None:
                fast.close()

    async def _commands(self, fast: FastPath | None, handlers: dict, reader: asyncio.StreamReader,
                        readexactly: Any, seq: Any) -> None:
        caps = self.caps
        while True:
            if fast is not None and not reader._buffer and not reader.at_eof():  # type: ignore[attr-defined]
                try:  # the fast path reads commands until one needs this loop
                    await fast.park()
                except asyncio.CancelledError:
                    if self._kill != KillKind.QUERY:
                        raise
                    if self._task is not None:
                        self._task.uncancel()
                    self._kill = None  # KILL QUERY with no statement running: nothing to stop
                    continue
            try:
                header = await readexactly(4)
                size = header[0] | header[1] << 8 | header[2] << 16
                data = await readexactly(size) if size else b""
                number = header[3]
                while size == _MAX_PAYLOAD:  # a command split over several packets
                    header = await readexactly(4)
                    size = header[0] | header[1] << 8 | header[2] << 16
                    data += await readexactly(size)
                    number = header[3]
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            seq.value = (number + 1) & 0xFF
            if not data:
                continue
            command = data[0]
            try:
                if command == COM_QUERY:
                    await self.handle_query(data[1:])
                elif command == COM_QUIT:
                    return
                else:
                    handler = handlers.get(command)
                    if handler is None:
                        raise MysqlError(f"Unsupported Command: {hex(command)}", 1047)
                    await handler(data[1:])
            except MysqlError as e:
                await self.stream.write(self.error(msg=e.msg, code=e.code))
            except asyncio.CancelledError:
                if self._kill != KillKind.QUERY:
                    raise
                if self._task is not None:
                    self._task.uncancel()
                self._kill = None
                await self.stream.write(err_packet(caps, 1317, "70100", "Query execution was interrupted"))
            except Exception as e:
                log.exception("command 0x%02x failed", command)
                await self.stream.write(self.error(msg=e))

    async def handle_query(self, data: bytes) -> None:
        try:
            if self.caps & _QUERY_ATTRIBUTES:  # the text follows a (usually empty) attribute block
                sql = packets.parse_com_query(capabilities=self.capabilities, client_charset=self.client_charset,
                                              data=data).sql
            else:
                sql = data.decode(self.codec, "replace")
            results = await self.frontend.execute(self.proxyd_session, sql)
        except Exception as exc:  # a frontend bug must not kill the connection
            log.exception("statement failed")
            results = [to_proxyd_error(exc)]
        # SET NAMES & co. change what the client's next statements are written in (only statements
        # on this path can: the fast paths take none that set anything)
        codec = getattr(self.proxyd_session.backend, "client_codec", None)
        if codec is not None and codec != self.codec:
            self.codec = codec
        await self.write_results(results)

    def refresh_status(self) -> None:
        self.status_flags = self.frontend.status_flags(self.proxyd_session)  # a plain int: no Enum on the hot path

    # -- writing results ------------------------------------------------------------------------
    async def write_results(self, results: Sequence[Ok | ResultSet | ProxydError]) -> None:
        self.refresh_status()
        if len(results) == 1 and await self._relayed(results[0], False):
            return
        self._write_all(results, False)
        await self.stream.drain()

    def _write_all(self, results: Sequence[Ok | ResultSet | ProxydError], binary_rows: bool) -> None:
        """Several results of one command (multi-statements, a CALL) into the stream's buffer, each but
        the last flagged SERVER_MORE_RESULTS_EXISTS; an error ends them."""
        caps, status = self.caps, self.status_flags
        last = len(results) - 1
        for i, res in enumerate(results):
            more = _MORE_RESULTS if i < last else 0
            if res.__class__ is ResultSet:
                self.write_resultset(res, more, binary_rows=binary_rows)
            elif isinstance(res, ProxydError):
                self.stream.write_many([err_packet(caps, res.code, res.sqlstate, res.message)])
                break  # an error ends a multi-statement batch
            elif isinstance(res, ResultSet):
                self.write_resultset(res, more, binary_rows=binary_rows)
            else:
                self.stream.write_many([ok_packet(caps, status | more, res.affected_rows, res.last_insert_id,
                                                  len(res.warnings), res.info)])

    def _relayable(self, res: Any, binary: bool) -> bool:
        """Can a backend's reply go to the client as it came? Yes when nothing about it changed on
        the way: nobody read (so nobody replaced) its rows, same framing as this client, same session
        flags, no warnings to add. Saves decoding and re-encoding every value."""
        return (res.__class__ is RawResultSet and not res.decoded and res.binary is binary and not res.warnings
                and not res.more and res.eof_deprecated == self.eof_deprecated and self.stream.seq.value == 1
                and res.status & _SESSION_FLAGS == self.status_flags)

    async def _relayed(self, res: Any, binary: bool) -> bool:
        """Write a backend's reply as it came, if :meth:`_relayable`."""
        if self._relayable(res, binary):
            await self.stream.drain()
            self.stream.writer.write(res.packets)
            return True
        return False

    def write_now(self, res: Ok | ResultSet | ProxydError, binary: bool) -> None:
        """The reply to one statement, written without waiting (the fast path: it does not start a
        statement while the client's transport is paused for writing)."""
        self.refresh_status()
        stream = self.stream
        if self._relayable(res, binary):
            stream.writer.transport.write(res.packets)  # type: ignore[union-attr]
            return
        if getattr(res, "more", None):
            self._write_all([res, *res.more], binary)
        elif isinstance(res, ResultSet):
            self.write_resultset(res, binary_rows=binary)
        elif isinstance(res, ProxydError):
            stream.write_many([err_packet(self.caps, res.code, res.sqlstate, res.message)])
        else:
            stream.write_many([ok_packet(self.caps, self.status_flags, res.affected_rows, res.last_insert_id,
                                         len(res.warnings), res.info)])
        buf, stream._buffer = stream._buffer, bytearray()
        stream.writer.transport.write(buf)

    def kill(self, kind: KillKind = KillKind.CONNECTION) -> None:
        """KILL [QUERY]: a statement in flight on the fast path is stopped there (no task runs it)."""
        fast = self.fast
        if fast is not None and fast.busy:
            fast.interrupt()
            if kind == KillKind.QUERY:
                return
        super().kill(kind)

    def write_resultset(self, rs: ResultSet, more: int = 0, *, binary_rows: bool = False) -> None:
        n = len(rs.columns)
        types = list(rs.types) if rs.types is not None else [ColumnType.VAR_STRING] * n
        if binary_rows:
            types = binary.settle_types(rs.rows, types)
        pkts = [uint_len(n)]
        for name, t in zip(rs.columns, types):
            pkts.append(_column_packet(name, t))
        deprecate_eof, caps = self.eof_deprecated, self.caps
        if not deprecate_eof:
            pkts.append(eof_packet(caps, self.status_flags))
        if binary_rows:
            pkts.extend(binary.binary_row(r, types) for r in rs.rows)
            self.stream.write_many(pkts)
        else:
            self.stream.write_many(pkts)
            if rs.rows:
                self.stream.write_text_rows(rs.rows, _text_columns(n))
        status = self.status_flags | more
        warn = len(rs.warnings)
        if deprecate_eof:
            self.stream.write_many([ok_packet(caps, status, 0, 0, warn, eof=True)])
        else:
            self.stream.write_many([eof_packet(caps, status, warn)])

    # -- prepared statements ------------------------------------------------------------------
    async def handle_stmt_prepare(self, data: bytes) -> None:
        sql = self.client_charset.decode(data)
        self._next_stmt += 1
        stmt = binary.PreparedStatement(self._next_stmt, sql, 0)
        try:
            await self.frontend.prepare(self.proxyd_session, stmt)
        except Exception as exc:
            self.write_error(exc)
            await self.stream.drain()
            return
        self.statements[stmt.stmt_id] = stmt
        self.refresh_status()
        pkts = [b"\x00" + stmt.stmt_id.to_bytes(4, "little") + len(stmt.columns).to_bytes(2, "little")
                + stmt.num_params.to_bytes(2, "little") + b"\x00" + stmt.warnings.to_bytes(2, "little")]
        eof = not self.deprecate_eof()
        if stmt.num_params:
            pkts += [binary.column_definition("?", ColumnType.VAR_STRING, 63)] * stmt.num_params
            if eof:
                pkts.append(eof_packet(self.caps, self.status_flags))
        if stmt.columns:
            pkts += [binary.column_definition(name, t, _charset_for(t)) for name, t in stmt.columns]
            if eof:
                pkts.append(eof_packet(self.caps, self.status_flags))
        self.stream.write_many(pkts)
        await self.stream.drain()

    def _stmt(self, stmt_id: int) -> binary.PreparedStatement:
        stmt = self.statements.get(stmt_id)
        if stmt is None:
            raise ProxydError(f"Unknown prepared statement handler ({stmt_id}) given to mysqld_stmt_execute",
                              1243, "HY000")
        return stmt

    async def handle_stmt_execute(self, data: bytes) -> None:
        try:
            stmt_id, _flags = binary.parse_execute_header(data)
            stmt = self._stmt(stmt_id)
            params = binary.parse_execute_params(
                data, stmt, query_attributes=bool(self.caps & _QUERY_ATTRIBUTES))
            result = await self.frontend.execute_prepared(self.proxyd_session, stmt, params)
        except Exception as exc:
            result = to_proxyd_error(exc)
        self.refresh_status()
        if await self._relayed(result, True):
            return
        if getattr(result, "more", None):  # a CALL: every result, rows in binary
            self._write_all([result, *result.more], True)
            await self.stream.drain()
        elif isinstance(result, ResultSet):
            self.write_resultset(result, binary_rows=True)
            await self.stream.drain()
        else:
            await ProxydConnection.write_results(self, [result])

    async def handle_stmt_send_long_data(self, data: bytes) -> None:
        # No response is sent for COM_STMT_SEND_LONG_DATA, errors included (protocol rule).
        if len(data) < 6:
            return
        stmt = self.statements.get(int.from_bytes(data[0:4], "little"))
        if stmt is not None:
            stmt.long_data.setdefault(int.from_bytes(data[4:6], "little"), bytearray()).extend(data[6:])

    async def handle_stmt_reset(self, data: bytes) -> None:
        try:
            stmt = self._stmt(int.from_bytes(data[0:4], "little"))
            stmt.long_data.clear()
            self.stream.write_many([ok_packet(self.caps, self.status_flags)])
        except Exception as exc:
            self.write_error(exc)
        await self.stream.drain()

    async def handle_stmt_close(self, data: bytes) -> None:
        stmt = self.statements.pop(int.from_bytes(data[0:4], "little"), None)
        if stmt is not None:
            self.frontend.close_prepared(self.proxyd_session, stmt)

    async def handle_stmt_fetch(self, data: bytes) -> None:
        self.write_error(ProxydError("Cursors (COM_STMT_FETCH) are not supported", 1235, "42000"))
        await self.stream.drain()

    # -- other commands -----------------------------------------------------------------------
    async def handle_field_list(self, data: bytes) -> None:
        table = data.split(b"\x00", 1)[0].decode()
        try:
            fields = await self.frontend.field_list(self.proxyd_session, table)
        except Exception as exc:
            self.write_error(exc)
            await self.stream.drain()
            return
        pkts = [binary.column_definition(name, t, _charset_for(t), table=table, is_field_list=True)
                for name, t in fields]
        pkts.append(eof_packet(self.caps, self.status_flags))
        self.stream.write_many(pkts)
        await self.stream.drain()

    async def handle_set_option(self, data: bytes) -> None:
        """COM_SET_OPTION: mysql_set_server_option() turns multi-statements on (0) or off (1)."""
        option = int.from_bytes(data[:2], "little") if len(data) >= 2 else -1
        if option == 0:
            self.caps |= _MULTI_STATEMENTS
        elif option == 1:
            self.caps &= ~_MULTI_STATEMENTS
        else:
            self.write_error(ProxydError(f"Unknown option {option} for COM_SET_OPTION", 1047, "08S01"))
            await self.stream.drain()
            return
        self.stream.write_many([eof_packet(self.caps, self.status_flags)])
        await self.stream.drain()

    async def handle_statistics(self, data: bytes) -> None:
        """COM_STATISTICS (mysqladmin status): one human-readable line, as servers answer it."""
        self.stream.write_many([self.frontend.statistics_line().encode()])
        await self.stream.drain()

    async def handle_ping(self, data: bytes) -> None:
        self.stream.write_many([ok_packet(self.caps, self.status_flags)])
        await self.stream.drain()

    async def handle_reset_connection(self, data: bytes) -> None:
        try:
            await self.frontend.reset_session(self.proxyd_session)
            self.statements.clear()
            self.codec = self.client_charset.codec  # back to the handshake's character set
            self.refresh_status()
            self.stream.write_many([ok_packet(self.caps, self.status_flags)])
        except Exception as exc:
            self.write_error(exc)
        await self.stream.drain()


__all__ = ["SqlConnection", "SQL_CAPABILITIES", "MORE_RESULTS", "err_packet"]
