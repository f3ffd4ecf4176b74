"""One connection to a MySQL/MariaDB server: asyncmy for the handshake, lean command I/O here.

Why not asyncmy's cursors: a cursor round trip builds a result object, a field-descriptor object per
column and converted Python values per query, and asyncmy's ``prepare()`` discards the column
definitions COM_STMT_PREPARE returns (which our clients need). A proxy needs less: the column names
and types (identical for every execution of the same statement, so parsed once and cached by their
raw bytes), and row values it can hand to the client writer without re-encoding. So asyncmy does the
connect / TLS / authentication, and this module writes command packets straight to its transport and
reads replies from its receive buffer, using asyncmy's Cython row parsers (``parse_rows_from_buffer``,
``parse_binary_rows_from_buffer``) and its ``pack_binary_params`` for COM_STMT_EXECUTE.

Row values handed to the frontend:

* text protocol (COM_QUERY): every value is the server's bytes, unchanged (the text protocol writer
  sends bytes as they are), NULL is None;
* binary protocol (COM_STMT_EXECUTE): integers and floating-point values are Python numbers, DATE /
  DATETIME / TIMESTAMP / TIME are their MySQL text (bytes; asyncmy would turn zero dates into None),
  everything else the server's bytes.

Column types follow the server's, except that text BLOBs (TEXT columns) are reported as VAR_STRING and
binary strings (BINARY/VARBINARY) as BLOB: the frontend derives a column's character set from its type,
so this keeps "text" and "bytes" apart for the client.

Server-side prepared statements (the binary protocol) live per connection: :meth:`BackendConn.prepared`
prepares a statement on first use on this connection and keeps it (LRU, 256 per connection), so a
pooled connection that has not seen a statement prepares it transparently.
"""

from __future__ import annotations

import asyncio
import struct
from collections import OrderedDict
from functools import partial
from typing import TYPE_CHECKING, Any, Sequence

from asyncmy import errors as my_errors
from asyncmy.connection import Connection as _AsyncmyConnection
from asyncmy.protocol import pack_binary_params, parse_binary_rows_from_buffer, parse_rows_from_buffer, \
    skip_packets_from_buffer
from mysql_mimic.types import ColumnType

from proxyd.backends.hashed_passwords import backend_password
from proxyd.errors import ProxydError
from proxyd.results import Ok, RawResultSet, ResultSet, Warning_

if TYPE_CHECKING:
    from proxyd.backends.mysql import ServerPool

__all__ = ["BackendConn", "Columns", "connect", "SERVER_STATUS_IN_TRANS", "SERVER_STATUS_AUTOCOMMIT"]

COM_QUIT, COM_INIT_DB, COM_QUERY, COM_PING = 0x01, 0x02, 0x03, 0x0E
COM_STMT_PREPARE, COM_STMT_EXECUTE, COM_STMT_CLOSE, COM_RESET_CONNECTION = 0x16, 0x17, 0x19, 0x1F
SERVER_STATUS_IN_TRANS, SERVER_STATUS_AUTOCOMMIT, SERVER_MORE_RESULTS_EXISTS = 0x01, 0x02, 0x08
_CLIENT_FOUND_ROWS, _CLIENT_MULTI_STATEMENTS, _CLIENT_DEPRECATE_EOF = 1 << 1, 1 << 16, 1 << 24
_MAX_PAYLOAD = 0xFFFFFF
_FAST_LIMIT = 1 << 16  # replies up to this size are parsed in one go from the receive buffer
_STMT_CACHE = 256  # server-side statements kept per connection (MariaDB's global cap is 16382)
_LOST = (2006, 2013, 2055)  # CR_SERVER_GONE_ERROR, CR_SERVER_LOST, CR_SERVER_LOST_EXTENDED

_COMMAND_BYTES = [bytes((i,)) for i in range(256)]
_header = struct.Struct("<I")
_u16 = struct.Struct("<H")
_TEXT_BLOBS = {ColumnType.TINY_BLOB, ColumnType.MEDIUM_BLOB, ColumnType.LONG_BLOB, ColumnType.BLOB}
_BYTE_STRINGS = {ColumnType.VARCHAR, ColumnType.VAR_STRING, ColumnType.STRING}
_TEMPORAL = {ColumnType.DATE, ColumnType.DATETIME, ColumnType.TIMESTAMP, ColumnType.TIME, 14}  # 14: NEWDATE
_BINARY_CHARSET = 63
_UNSIGNED = 32


class Columns:
    """The column definitions of a result, parsed once per distinct definition bytes."""

    __slots__ = ("names", "types", "text_specs", "binary_specs", "temporal")

    def __init__(self, defs: list[tuple[str, int, int, int, int]]):
        self.names = tuple(d[0] for d in defs)
        self.types = tuple(_client_type(t, charset) for _, t, charset, _, _ in defs)
        # asyncmy row-parser specs: code 0 = keep the bytes, no converter
        self.text_specs = tuple((0, None, None) for _ in defs)
        # temporal values are read as length-prefixed bytes (their binary encoding is exactly that)
        self.binary_specs = tuple(
            (ColumnType.VAR_STRING if t in _TEMPORAL else t, bool(flags & _UNSIGNED), 0, None, None)
            for _, t, _, flags, _ in defs)
        self.temporal = tuple((i, t, dec) for i, (_, t, _, _, dec) in enumerate(defs) if t in _TEMPORAL)


def _client_type(t: int, charset: int) -> int:
    if t in _TEXT_BLOBS and charset != _BINARY_CHARSET:
        return ColumnType.VAR_STRING
    if t in _BYTE_STRINGS and charset == _BINARY_CHARSET:
        return ColumnType.BLOB
    return t


_COLUMNS: dict[bytes, Columns] = {}
_COLUMNS_MAX = 4096


def _lenenc(data: bytes, pos: int) -> tuple[int, int]:
    c = data[pos]
    if c < 0xFB:
        return c, pos + 1
    if c == 0xFC:
        return data[pos + 1] | data[pos + 2] << 8, pos + 3
    if c == 0xFD:
        return data[pos + 1] | data[pos + 2] << 8 | data[pos + 3] << 16, pos + 4
    return int.from_bytes(data[pos + 1:pos + 9], "little"), pos + 9


def _incomplete(buf: bytearray, pos: int, end: int) -> bool:
    """The packet at ``pos`` is not all in the buffer yet."""
    return end - pos < 4 or end - pos - 4 < (buf[pos] | buf[pos + 1] << 8 | buf[pos + 2] << 16)


def _column_def(payload: bytes) -> tuple[str, int, int, int, int]:
    """(name, type, charset, flags, decimals) of a column definition packet (protocol 4.1)."""
    pos = 0
    for _ in range(4):  # catalog, schema, table, org_table
        n, pos = _lenenc(payload, pos)
        pos += n
    n, pos = _lenenc(payload, pos)
    name = payload[pos:pos + n].decode("utf-8", "replace")
    pos += n
    n, pos = _lenenc(payload, pos)  # org_name
    pos += n + 1  # and the length of the fixed fields (0x0c)
    charset, _length, col_type, flags, decimals = struct.unpack_from("<HIBHB", payload, pos)
    return name, col_type, charset, flags, decimals


def _columns_from_block(block: bytes, count: int) -> Columns:
    """Parse ``count`` framed column definition packets (4-byte headers included)."""
    defs, pos = [], 0
    for _ in range(count):
        n = block[pos] | block[pos + 1] << 8 | block[pos + 2] << 16
        defs.append(_column_def(block[pos + 4:pos + 4 + n]))
        pos += 4 + n
    return Columns(defs)


def backend_error(exc: BaseException) -> ProxydError:
    """An asyncmy exception as the ProxydError a client sees: the server's own code and SQLSTATE."""
    if isinstance(exc, ProxydError):
        return exc
    args = getattr(exc, "args", ())
    if len(args) >= 2 and isinstance(args[0], int):
        code, message = args[0], str(args[1])
    else:
        code, message = 2013, f"Lost connection to the backend server ({type(exc).__name__}: {exc})"
    sqlstate = getattr(exc, "sqlstate", None) or "HY000"
    return ProxydError(message, code, sqlstate)


class Prepared:
    """A server-side statement on one connection."""

    __slots__ = ("stmt_id", "params", "header", "columns")

    def __init__(self, stmt_id: int, params: int, columns: Columns | None):
        self.stmt_id, self.params, self.columns = stmt_id, params, columns
        # statement id, no cursor, one iteration: fixed for every execute
        self.header = stmt_id.to_bytes(4, "little") + b"\x00\x01\x00\x00\x00"


class BackendConn:
    """A pooled connection and what the pool knows about its session state."""

    __slots__ = ("raw", "proto", "transport", "pool", "key", "schema", "state", "status", "stmts", "thread_id",
                 "warnings", "queries", "sent", "recv", "idle_since", "broken", "_slow", "parked")

    def __init__(self, raw: _AsyncmyConnection, pool: "ServerPool", key: tuple):
        self.raw = raw
        self.proto = raw._proto
        self.transport = raw._transport
        self.pool, self.key = pool, key
        self.schema: str | None = None  # the connection's default database
        self.state: tuple = ()  # carried SET items applied, in order; () = as connected
        self.status = raw.server_status  # status flags of the last OK/EOF
        self.stmts: OrderedDict[tuple, Prepared] = OrderedDict()  # (sql, schema, state) -> statement
        self.thread_id = raw.server_thread_id[0] if raw.server_thread_id else 0
        self.warnings = 0  # warning count of the last reply
        self.queries = self.sent = self.recv = 0  # statements and payload bytes (the pool's stats)
        self.idle_since = 0.0  # monotonic time it was last pooled
        self.broken = False
        self._slow = False
        self.parked: Ok | ResultSet | None = None  # a reply read on the fast path, awaiting its warnings

    # -- state -----------------------------------------------------------------------------------
    @property
    def usable(self) -> bool:
        """Still connected and in sync (the server may have closed an idle connection: the protocol
        then saw EOF; asyncmy's close() clears ``_connected``)."""
        p = self.proto
        return not self.broken and not p.eof and p.exc is None and self.raw._connected

    def close(self) -> None:
        self.broken = True
        try:
            if self.raw._connected and self.transport is not None and not self.transport.is_closing():
                self.transport.write(b"\x01\x00\x00\x00\x01")  # COM_QUIT
        except Exception:
            pass
        self.raw.close()

    # -- commands ----------------------------------------------------------------------------------
    def _send(self, command: int, body: bytes) -> None:
        n = len(body) + 1
        if n >= _MAX_PAYLOAD:
            self._send_large(command, body)
            return
        try:
            self.transport.write(b"".join((_header.pack(n), _COMMAND_BYTES[command], body)))  # sequence id 0
        except Exception as exc:
            self.broken = True
            raise ProxydError(f"MySQL server has gone away ({exc})", 2006, "HY000") from exc
        self.raw._next_seq_id = 1
        self.sent += n

    def _send_large(self, command: int, body: bytes) -> None:
        data, seq = bytes((command,)) + body, 0
        while True:
            chunk, data = data[:_MAX_PAYLOAD], data[_MAX_PAYLOAD:]
            self.transport.write(_header.pack(len(chunk) | seq << 24) + chunk)
            seq = (seq + 1) & 0xFF
            if len(chunk) < _MAX_PAYLOAD:
                break
        self.raw._next_seq_id = seq
        self.sent += len(body) + 1

    async def _packet(self) -> bytes:
        """The next packet's payload; an ERR packet raises the server's error."""
        try:
            pkt = await self.raw.read_packet()
        except my_errors.MySQLError as exc:
            err = backend_error(exc)
            if err.code in _LOST or not isinstance(exc, (my_errors.DatabaseError,)):
                self.broken = True
            raise err from None
        except (asyncio.CancelledError, Exception):
            self.broken = True  # a half-read reply: the stream is out of sync
            raise
        data = pkt.get_all_data()
        self.recv += len(data) + 4
        return data

    async def query(self, sql: str, encoding: str = "utf-8") -> Ok | ResultSet:
        """``encoding``: the connection's character_set_client (the session's SET NAMES)."""
        self._send(COM_QUERY, sql.encode(encoding, "replace"))
        return await self._reply(False)

    async def _reply(self, binary: bool) -> Ok | ResultSet:
        """The reply to the command just sent. A small plain reply (one OK, or one result set) is
        parsed straight from asyncmy's receive buffer once it is all there: one wait, no packet
        objects. Anything else (errors, large results, several results) takes the general reader;
        nothing is consumed before the fast path succeeds, so it can always fall back."""
        proto = self.proto
        while True:
            try:  # the previous reply was consumed whole: anything buffered is new, wait for more
                await self.raw._fill_buffer(proto.length - proto.pos + 1)
            except my_errors.MySQLError as exc:
                self.broken = True
                raise backend_error(exc) from None
            except BaseException:
                self.broken = True
                raise
            if proto.length - proto.pos >= _FAST_LIMIT:
                break
            res = self._parse_buffered(binary)
            if res is not None:
                return res
            if self._slow:
                break
        return await self._result(binary)

    def _parse_buffered(self, binary: bool) -> Ok | ResultSet | None:
        """The whole reply if the buffer holds it and it is plain; else None, with ``_slow`` set
        when waiting for more bytes would not help."""
        proto, raw = self.proto, self.raw
        buf, start, end, seq = proto.buffer, proto.pos, proto.length, raw._next_seq_id
        if end - start < 5:
            self._slow = False
            return None
        n = buf[start] | buf[start + 1] << 8 | buf[start + 2] << 16
        body = start + 4
        if end - body < n:
            self._slow = False
            return None
        self._slow = True
        if buf[start + 3] != seq or n >= _MAX_PAYLOAD or n == 0:
            return None
        first = buf[body]
        if first == 0:  # OK
            affected = buf[body + 1]
            if affected < 0xFB and buf[body + 2] < 0xFB:  # both one-byte numbers: the usual case
                insert_id, pos = buf[body + 2], body + 3
            else:
                affected, pos = _lenenc(buf, body + 1)
                insert_id, pos = _lenenc(buf, pos)
            status = buf[pos] | buf[pos + 1] << 8
            if status & SERVER_MORE_RESULTS_EXISTS:
                return None
            self.status = status
            self.warnings = buf[pos + 2] | buf[pos + 3] << 8
            info = bytes(buf[pos + 4:body + n]).decode("utf-8", "replace") if pos + 4 < body + n else ""
            proto.pos = body + n
            raw._next_seq_id = (seq + 1) & 0xFF
            self.recv += 4 + n
            return Ok(affected, insert_id, info)
        if first >= 0xFB:  # an error, LOCAL INFILE, or over 250 columns
            return None
        # a result set: column definitions, then (unless DEPRECATE_EOF) an EOF, rows, terminator
        cols_start = body + n
        pos, seq, got = skip_packets_from_buffer(buf, cols_start, end, (seq + 1) & 0xFF, first)
        if got != first:
            self._slow = not _incomplete(buf, pos, end)
            return None
        defs_end = pos
        deprecate_eof = raw._deprecate_eof
        if not deprecate_eof:
            pos, seq, got = skip_packets_from_buffer(buf, pos, end, seq, 1)
            if got != 1:
                self._slow = not _incomplete(buf, pos, end)
                return None
        key = bytes(buf[cols_start:defs_end])  # the same for every run of a statement
        cols = _COLUMNS.get(key)
        if cols is None:
            if len(_COLUMNS) >= _COLUMNS_MAX:
                _COLUMNS.clear()
            cols = _COLUMNS[key] = _columns_from_block(key, first)
        rows_at, rows_seq = pos, seq
        scanned = _skip_rows(buf, pos, end, seq, deprecate_eof)  # rows stay the server's bytes: only counted
        if scanned is None:
            self._slow = not _incomplete_rows(buf, pos, end, deprecate_eof)
            return None
        pos, seq, count = scanned
        if _incomplete(buf, pos, end):
            self._slow = False
            return None
        n = buf[pos] | buf[pos + 1] << 8 | buf[pos + 2] << 16
        body = pos + 4
        if buf[pos + 3] != seq or buf[body] != 0xFE or n >= _MAX_PAYLOAD or (not deprecate_eof and n >= 9):
            return None  # an error after some rows, or a row the bulk parser leaves (16 MB)
        if deprecate_eof:  # an OK packet with a 0xFE header (affected rows and insert id: 0 here)
            if buf[body + 1] < 0xFB and buf[body + 2] < 0xFB:
                p = body + 3
            else:
                p = _lenenc(buf, _lenenc(buf, body + 1)[1])[1]
            status, warnings = buf[p] | buf[p + 1] << 8, buf[p + 2] | buf[p + 3] << 8
        else:  # EOF: warnings, status
            warnings, status = buf[body + 1] | buf[body + 2] << 8, buf[body + 3] | buf[body + 4] << 8
        if status & SERVER_MORE_RESULTS_EXISTS:
            return None
        self.status, self.warnings = status, warnings
        proto.pos = body + n
        raw._next_seq_id = (seq + 1) & 0xFF
        self.recv += body + n - start
        reply = bytes(buf[start:body + n])
        return RawResultSet(reply, count, deprecate_eof, status,
                            partial(_decode, reply, rows_at - start, rows_seq, cols, deprecate_eof, binary), binary=binary)

    async def init_db(self, schema: str) -> None:
        self._send(COM_INIT_DB, schema.encode())
        self._ok(await self._packet())
        self.schema = schema

    async def reset(self) -> None:
        """COM_RESET_CONNECTION: rolls back, drops temporary tables, user variables, locks and
        server-side statements; session variables back to their global values."""
        self._send(COM_RESET_CONNECTION, b"")
        self._ok(await self._packet())
        self.stmts.clear()
        self.state = (("names", "NAMES utf8mb4"),)  # unknown after a reset: forces a SET NAMES on next use

    async def ping(self) -> None:
        self._send(COM_PING, b"")
        self._ok(await self._packet())

    async def show_warnings(self) -> list[Warning_]:
        res = await self.query("SHOW WARNINGS")
        if not isinstance(res, ResultSet):
            return []
        return [Warning_(_text(r[0]), int(r[1]), _text(r[2])) for r in res.rows]

    # -- prepared statements -------------------------------------------------------------------------
    async def prepared(self, sql: str, encoding: str = "utf-8") -> Prepared:
        # The server resolves unqualified names in the default database (and parses with the
        # sql_mode) of prepare time: a statement is only reused in the same schema and SET state.
        key = (sql, self.schema, self.state)
        st = self.stmts.get(key)
        if st is not None:
            self.stmts.move_to_end(key)  # least recently used goes first
            return st
        self._send(COM_STMT_PREPARE, sql.encode(encoding, "replace"))
        data = await self._packet()
        stmt_id = int.from_bytes(data[1:5], "little")
        ncols, nparams = _u16.unpack_from(data, 5)[0], _u16.unpack_from(data, 7)[0]
        eof = not self.raw._deprecate_eof
        for _ in range(nparams + (1 if nparams and eof else 0)):
            await self._packet()  # parameter definitions: the server says VAR_STRING for every "?"
        columns = await self._columns(ncols) if ncols else None
        st = Prepared(stmt_id, nparams, columns)
        self.stmts[key] = st
        if len(self.stmts) > _STMT_CACHE:
            _, old = self.stmts.popitem(last=False)
            self._send(COM_STMT_CLOSE, old.stmt_id.to_bytes(4, "little"))  # no reply
        return st

    def forget(self, sql: str) -> None:
        st = self.stmts.pop((sql, self.schema, self.state), None)
        if st is not None and self.usable:
            self._send(COM_STMT_CLOSE, st.stmt_id.to_bytes(4, "little"))

    async def execute(self, st: Prepared, params: Sequence[Any], encoding: str = "utf-8") -> Ok | ResultSet:
        if len(params) != st.params:
            raise ProxydError("Incorrect arguments to mysqld_stmt_execute", 1210, "HY000")
        body = st.header + pack_binary_params(tuple(params), encoding) if params else st.header
        self._send(COM_STMT_EXECUTE, body)
        return await self._reply(True)

    # -- replies -----------------------------------------------------------------------------------
    def _ok(self, data: bytes) -> Ok:
        if data[0] != 0:
            self.broken = True
            raise ProxydError("Commands out of sync: expected an OK packet from the backend", 2014, "HY000")
        affected, pos = _lenenc(data, 1)
        insert_id, pos = _lenenc(data, pos)
        self.status = data[pos] | data[pos + 1] << 8
        self.warnings = data[pos + 2] | data[pos + 3] << 8
        info = data[pos + 4:].decode("utf-8", "replace") if len(data) > pos + 4 else ""
        return Ok(affected, insert_id, info)

    async def _columns(self, n: int) -> Columns:
        """Read ``n`` column definitions (and the EOF after them unless DEPRECATE_EOF)."""
        raw, proto = self.raw, self.proto
        eof = 0 if raw._deprecate_eof else 1
        start = proto.pos
        end, seq, got = skip_packets_from_buffer(proto.buffer, start, proto.length, raw._next_seq_id, n)
        if got == n:  # all in the buffer (the usual case): one bytes object is the cache key
            key = bytes(memoryview(proto.buffer)[start:end])
            proto.pos, raw._next_seq_id = end, seq
            self.recv += end - start
            cols = _COLUMNS.get(key)
            if cols is None:
                if len(_COLUMNS) >= _COLUMNS_MAX:
                    _COLUMNS.clear()
                cols = _COLUMNS[key] = _columns_from_block(key, n)
        else:
            cols = Columns([_column_def(await self._packet()) for _ in range(n)])
        if eof:
            await self._packet()
        return cols

    async def _result(self, binary: bool) -> Ok | ResultSet:
        """The reply to COM_QUERY / COM_STMT_EXECUTE; further results of the same statement (a CALL)
        go to the first one's ``more``."""
        data = await self._packet()
        first = data[0]
        if first == 0:
            out: Ok | ResultSet = self._ok(data)
        elif first == 0xFB:
            # LOCAL INFILE request (asyncmy does not advertise it, so a server should not send one)
            self._send_raw_empty()
            try:
                await self._packet()
            finally:
                self.broken = True
            raise ProxydError("LOAD DATA LOCAL INFILE is not supported through proxyd", 1148, "42000")
        else:
            out = await self._rows(_lenenc(data, 0)[0], binary)
        more: list[Ok | ResultSet] = []
        while self.status & SERVER_MORE_RESULTS_EXISTS:
            data = await self._packet()
            more.append(self._ok(data) if data[0] == 0 else await self._rows(_lenenc(data, 0)[0], binary))
        if more:
            out.more = more
        return out

    def _send_raw_empty(self) -> None:
        self.transport.write(b"\x00\x00\x00" + bytes((self.raw._next_seq_id,)))
        self.raw._next_seq_id = (self.raw._next_seq_id + 1) & 0xFF

    async def _rows(self, ncols: int, binary: bool) -> ResultSet:
        cols = await self._columns(ncols)
        raw, proto = self.raw, self.proto
        deprecate_eof = raw._deprecate_eof
        rows: list[tuple] = []
        if binary:
            specs, parse = cols.binary_specs, parse_binary_rows_from_buffer
        else:
            specs, parse = cols.text_specs, parse_rows_from_buffer
        while True:
            start = proto.pos
            pos, raw._next_seq_id = parse(proto.buffer, start, proto.length, specs, raw._next_seq_id, rows,
                                          deprecate_eof)
            proto.pos = pos
            self.recv += pos - start
            data = await self._packet()  # the end of the rows, or one the bulk parser left (large, split)
            if data[0] == 0xFE and (len(data) < 9 or (deprecate_eof and len(data) < _MAX_PAYLOAD)):
                break
            rows.append(_one_row(data, specs, binary))
        if deprecate_eof:  # an OK packet with an 0xFE header
            _, pos = _lenenc(data, 1)
            _, pos = _lenenc(data, pos)
            self.status = data[pos] | data[pos + 1] << 8
            self.warnings = data[pos + 2] | data[pos + 3] << 8
        else:  # EOF: warnings, status
            self.warnings = data[1] | data[2] << 8
            self.status = data[3] | data[4] << 8
        if binary and cols.temporal:
            rows = [_temporal_text(r, cols.temporal) for r in rows]
        return ResultSet(cols.names, rows, types=cols.types)


def _skip_rows(buf: bytearray, pos: int, end: int, seq: int, deprecate_eof: bool) -> tuple[int, int, int] | None:
    """Count the text rows at ``pos`` up to their terminator (EOF, or OK with a 0xFE header):
    ``(terminator position, its sequence id, rows)``; None if the buffer ends first or anything
    unusual comes (an error after some rows, a 16 MB row): the general reader handles those."""
    count = 0
    while end - pos >= 5:
        n = buf[pos] | buf[pos + 1] << 8 | buf[pos + 2] << 16
        if end - pos - 4 < n or buf[pos + 3] != seq or n >= _MAX_PAYLOAD or n == 0:
            return None
        first = buf[pos + 4]
        if first == 0xFE and (n < 9 or deprecate_eof):
            return pos, seq, count
        if first == 0xFF:
            return None
        count += 1
        pos += 4 + n
        seq = (seq + 1) & 0xFF
    return None


def _incomplete_rows(buf: bytearray, pos: int, end: int, deprecate_eof: bool) -> bool:
    """True if waiting for more bytes may let :func:`_skip_rows` finish."""
    while end - pos >= 5:
        n = buf[pos] | buf[pos + 1] << 8 | buf[pos + 2] << 16
        if end - pos - 4 < n:
            return True
        if n >= _MAX_PAYLOAD or n == 0 or buf[pos + 4] == 0xFF or (buf[pos + 4] == 0xFE and (n < 9 or deprecate_eof)):
            return False
        pos += 4 + n
    return True


def _decode(reply: bytes, rows_at: int, seq: int, cols: Columns, deprecate_eof: bool,
            binary: bool) -> tuple[Sequence[str], list[tuple], Sequence[int]]:
    """Decode a relayed reply's rows (on demand: bound with functools.partial), as the general
    reader would have."""
    rows: list[tuple] = []
    if binary:
        parse_binary_rows_from_buffer(bytearray(reply), rows_at, len(reply), cols.binary_specs, seq, rows,
                                      deprecate_eof)
        if cols.temporal:
            rows = [_temporal_text(r, cols.temporal) for r in rows]
    else:
        parse_rows_from_buffer(bytearray(reply), rows_at, len(reply), cols.text_specs, seq, rows, deprecate_eof)
    return cols.names, rows, cols.types


def _one_row(data: bytes, specs: tuple, binary: bool) -> tuple:
    """A row the bulk parser did not take (e.g. one over 16 MB): parse it from its own bytes."""
    buf = bytearray(_header.pack(len(data)) if len(data) < _MAX_PAYLOAD else b"\xfe\xff\xff\x00") + data
    rows: list[tuple] = []
    if len(data) < _MAX_PAYLOAD:
        parse = parse_binary_rows_from_buffer if binary else parse_rows_from_buffer
        parse(buf, 0, len(buf), specs, 0, rows, False)
        if rows:
            return rows[0]
    # Too large for the bulk parsers: asyncmy's packet object parses any size.
    from asyncmy.protocol import MysqlPacket

    pkt = MysqlPacket(bytes(data), "utf8")
    return pkt.read_binary_row(specs) if binary else pkt.read_row(specs)


def _temporal_text(row: tuple, temporal: tuple) -> tuple:
    out = list(row)
    for i, t, dec in temporal:
        v = out[i]
        if v is not None:
            out[i] = _temporal(v, t, dec)
    return tuple(out)


def _temporal(b: bytes, t: int, dec: int) -> bytes:
    """A binary-protocol DATE/DATETIME/TIMESTAMP/TIME value (without its length byte) as MySQL text."""
    n = len(b)
    frac = ""
    if t == ColumnType.TIME:
        if n == 0:
            text = "00:00:00"
        else:
            neg, days = b[0], int.from_bytes(b[1:5], "little")
            text = f"{'-' if neg else ''}{days * 24 + b[5]:02d}:{b[6]:02d}:{b[7]:02d}"
            us = int.from_bytes(b[8:12], "little") if n >= 12 else 0
            if 0 < dec <= 6:
                frac = "." + f"{us:06d}"[:dec]
        return (text + frac).encode()
    y, mo, d = (int.from_bytes(b[0:2], "little"), b[2], b[3]) if n >= 4 else (0, 0, 0)
    text = f"{y:04d}-{mo:02d}-{d:02d}"
    if t == ColumnType.DATE or t == 14:
        return text.encode()
    h, mi, s = (b[4], b[5], b[6]) if n >= 7 else (0, 0, 0)
    us = int.from_bytes(b[7:11], "little") if n >= 11 else 0
    if 0 < dec <= 6:
        frac = "." + f"{us:06d}"[:dec]
    return f"{text} {h:02d}:{mi:02d}:{s:02d}{frac}".encode()


def _text(v: Any) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, (bytes, bytearray)) else str(v)


def _address(pool: "ServerPool") -> dict[str, Any]:
    """A hostname starting with "/" is the server's Unix socket (port 0), as in ProxySQL: cheaper
    than TCP for a server on the same host."""
    if pool.host.startswith("/"):
        return {"unix_socket": pool.host}
    return {"host": pool.host, "port": pool.port}


async def kill_query(pool: "ServerPool", user: str, password: str | None, thread_id: int, timeout: float) -> None:
    """Ask the server to stop a statement whose client went away (KILL, disconnect): closing our
    end alone would leave it running until it next writes to the socket. Best effort."""
    try:
        raw = _AsyncmyConnection(user=user, password=backend_password(user, password), autocommit=None,
                                 connect_timeout=max(timeout, 0.001), program_name="proxyd", **_address(pool))
        await asyncio.wait_for(raw.connect(), timeout)
        try:
            await asyncio.wait_for(raw.query(f"KILL QUERY {int(thread_id)}"), timeout)
        finally:
            raw.close()
    except Exception:
        pass


class _FramedConnection(_AsyncmyConnection):
    """asyncmy's connection, taking CLIENT_DEPRECATE_EOF only when the client it serves does: result
    sets then come framed exactly as that client expects them, and the SQL port can relay them."""

    deprecate_eof = True

    async def _get_server_information(self) -> None:
        await super()._get_server_information()
        if not self.deprecate_eof:
            self.server_capabilities &= ~_CLIENT_DEPRECATE_EOF  # asyncmy asks for what the server offers


async def connect(pool: "ServerPool", key: tuple, user: str, password: str | None, *, found_rows: bool,
                  timeout: float, deprecate_eof: bool = True) -> BackendConn:
    """Open and authenticate a connection to the pool's server with the client's credentials.

    Multi-statements are switched off on the backend (a client that did not ask for them must get a
    syntax error, not a second statement); CLIENT_FOUND_ROWS follows the client's choice.
    """
    raw = _FramedConnection(user=user, password=backend_password(user, password), charset="utf8mb4", autocommit=None,
                            connect_timeout=max(timeout, 0.001), program_name="proxyd", **_address(pool))
    raw.deprecate_eof = deprecate_eof
    raw._client_flag &= ~_CLIENT_MULTI_STATEMENTS
    if found_rows:
        raw._client_flag |= _CLIENT_FOUND_ROWS
    await asyncio.wait_for(raw.connect(), timeout)
    return BackendConn(raw, pool, key)
