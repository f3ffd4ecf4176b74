"""The SQL-port connection: typed result sets, multi-statements, prepared statements, field lists.

Extends :class:`proxyd.wire.connection.ProxydConnection` (shared with the admin port) with what
applications need: column types in result sets, the binary protocol (:mod:`proxyd.wire.binary`),
COM_FIELD_LIST, and status flags (in transaction, autocommit) taken from the session after every
command. The frontend does the work; this class speaks the protocol.
"""

from __future__ import annotations

from typing import Any, Sequence

from mysql_mimic.charset import CharacterSet
from mysql_mimic.constants import DEFAULT_SERVER_CAPABILITIES
from mysql_mimic.results import ResultColumn
from mysql_mimic.types import Capabilities, ColumnType, uint_len

from proxyd.errors import ProxydError, to_proxyd_error
from proxyd.results import Ok, ResultSet
from proxyd.wire import binary
from proxyd.wire.connection import MORE_RESULTS, ProxydConnection
from proxyd.wire.packets import eof_packet, err_packet, ok_packet

SQL_CAPABILITIES = DEFAULT_SERVER_CAPABILITIES | Capabilities.CLIENT_MULTI_STATEMENTS \
    | Capabilities.CLIENT_MULTI_RESULTS | Capabilities.CLIENT_PS_MULTI_RESULTS | Capabilities.CLIENT_TRANSACTIONS \
    | Capabilities.CLIENT_FOUND_ROWS
_NUMERIC = {ColumnType.LONGLONG, ColumnType.LONG, ColumnType.SHORT, ColumnType.TINY, ColumnType.INT24,
            ColumnType.DOUBLE, ColumnType.FLOAT, ColumnType.YEAR, ColumnType.DECIMAL, ColumnType.NEWDECIMAL}
_BINARY_COLS: dict[int, list[ResultColumn]] = {}


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

    @property
    def multi_statements(self) -> bool:
        return bool(self.capabilities & Capabilities.CLIENT_MULTI_STATEMENTS)

    def refresh_status(self) -> None:
        self.status_flags = self.frontend.status_flags(self.proxyd_session)  # a plain int: no Enum on the hot path

    # -- writing results ------------------------------------------------------------------------
    async def write_results(self, results: Sequence[Ok | ResultSet | ProxydError]) -> None:
        self.refresh_status()
        await super().write_results(results)

    def write_resultset(self, rs: ResultSet, more: int = 0, *, binary_rows: bool = False) -> None:
        n = len(rs.columns)
        types = list(rs.types) if rs.types is not None else [ColumnType.VAR_STRING] * n
        if binary_rows:
            types = binary.settle_types(rs.rows, types)
        pkts = [uint_len(n)]
        for name, t in zip(rs.columns, types):
            pkts.append(_column_packet(name, t))
        deprecate_eof = self.deprecate_eof()
        if not deprecate_eof:
            pkts.append(eof_packet(self.capabilities, self.status_flags))
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
            self.stream.write_many([ok_packet(self.capabilities, status, 0, 0, warn, eof=True)])
        else:
            self.stream.write_many([eof_packet(self.capabilities, status, warn)])

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
                + stmt.num_params.to_bytes(2, "little") + b"\x00\x00\x00"]
        eof = not self.deprecate_eof()
        if stmt.num_params:
            pkts += [binary.column_definition("?", ColumnType.VAR_STRING, 63)] * stmt.num_params
            if eof:
                pkts.append(eof_packet(self.capabilities, self.status_flags))
        if stmt.columns:
            pkts += [binary.column_definition(name, t, _charset_for(t)) for name, t in stmt.columns]
            if eof:
                pkts.append(eof_packet(self.capabilities, self.status_flags))
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
                data, stmt, query_attributes=bool(self.capabilities & Capabilities.CLIENT_QUERY_ATTRIBUTES))
            result = await self.frontend.execute_prepared(self.proxyd_session, stmt, params)
        except Exception as exc:
            result = to_proxyd_error(exc)
        self.refresh_status()
        if isinstance(result, ResultSet):
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
            self.stream.write_many([ok_packet(self.capabilities, self.status_flags)])
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
        pkts.append(eof_packet(self.capabilities, self.status_flags))
        self.stream.write_many(pkts)
        await self.stream.drain()

    async def handle_ping(self, data: bytes) -> None:
        self.stream.write_many([ok_packet(self.capabilities, self.status_flags)])
        await self.stream.drain()

    async def handle_reset_connection(self, data: bytes) -> None:
        try:
            await self.frontend.reset_session(self.proxyd_session)
            self.statements.clear()
            self.refresh_status()
            self.stream.write_many([ok_packet(self.capabilities, self.status_flags)])
        except Exception as exc:
            self.write_error(exc)
        await self.stream.drain()


__all__ = ["SqlConnection", "SQL_CAPABILITIES", "MORE_RESULTS", "err_packet"]
