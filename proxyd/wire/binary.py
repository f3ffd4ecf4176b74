"""The binary protocol of prepared statements, done safely.

mysql-mimic pastes parameter values into the SQL text (an injection hole), refuses a re-execute
without re-sent parameter types (``new-params-bound-flag`` = 0, which libmysqlclient and sysbench
send) and rejects DATE/DATETIME/TIME/DECIMAL parameters. Here the values are decoded into Python
objects that travel as bindings, the types of the last execute are remembered per statement,
and every type a client may send is read.
"""

from __future__ import annotations

import datetime
import struct
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Sequence

from mysql_mimic.types import ColumnType, uint_len

from proxyd.errors import ProxydError

_INT_TYPES = {ColumnType.TINY: ("<b", "<B", 1), ColumnType.SHORT: ("<h", "<H", 2), ColumnType.YEAR: ("<h", "<H", 2),
              ColumnType.LONG: ("<i", "<I", 4), ColumnType.INT24: ("<i", "<I", 4),
              ColumnType.LONGLONG: ("<q", "<Q", 8)}
_STRINGY = {ColumnType.VARCHAR, ColumnType.VAR_STRING, ColumnType.STRING, ColumnType.BLOB, ColumnType.TINY_BLOB,
            ColumnType.MEDIUM_BLOB, ColumnType.LONG_BLOB, ColumnType.DECIMAL, ColumnType.NEWDECIMAL,
            ColumnType.JSON, ColumnType.ENUM, ColumnType.SET, ColumnType.BIT, ColumnType.GEOMETRY}


@dataclass
class PreparedStatement:
    stmt_id: int
    sql: str
    num_params: int
    columns: list[tuple[str, int]] = field(default_factory=list)  # (name, type) known at prepare time
    param_types: list[tuple[int, bool]] | None = None  # remembered for re-executes without types
    long_data: dict[int, bytearray] = field(default_factory=dict)
    state: Any = None  # the frontend's own data (rewritten SQL, backend handle, …)
    warnings: int = 0  # conditions raised at prepare time (a rewrite's Note), reported in PREPARE_OK
    param_map: tuple[int, tuple[int, ...]] | None = None  # see QueryContext.param_map


class _Reader:
    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes, pos: int = 0):
        self.buf, self.pos = buf, pos

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.buf):
            raise ProxydError("Malformed COM_STMT_EXECUTE packet", 1835, "HY000")
        out = self.buf[self.pos: self.pos + n]
        self.pos += n
        return out

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "little")

    def lenenc(self) -> int:
        first = self.uint(1)
        if first < 0xFB:
            return first
        return self.uint({0xFC: 2, 0xFD: 3, 0xFE: 8}.get(first, 0) or 1)

    def lenstr(self) -> bytes:
        return self.take(self.lenenc())


def parse_execute_header(data: bytes) -> tuple[int, int]:
    """(statement id, cursor flags) of a COM_STMT_EXECUTE payload (command byte removed)."""
    if len(data) < 9:
        raise ProxydError("Malformed COM_STMT_EXECUTE packet", 1835, "HY000")
    return int.from_bytes(data[0:4], "little"), data[4]


def parse_execute_params(data: bytes, stmt: PreparedStatement, *, query_attributes: bool,
                         charset: str = "utf-8") -> list[Any]:
    """Decode the parameter values of COM_STMT_EXECUTE for ``stmt`` (a list, one per ``?``)."""
    r = _Reader(data, 9)  # stmt id (4), flags (1), iteration count (4)
    count = stmt.num_params
    if query_attributes and (count > 0 or (data[4] & 0x08)):
        count = r.lenenc()  # statement parameters followed by query attributes
    if count == 0:
        return []
    nulls = r.take((count + 7) // 8)
    bound = r.uint(1)
    if bound:
        types = []
        for _ in range(count):
            t, flags = r.uint(1), r.uint(1)
            if query_attributes:
                r.lenstr()  # parameter name: empty for statement parameters
            types.append((t, bool(flags & 0x80)))
        stmt.param_types = types
    elif stmt.param_types is None or len(stmt.param_types) < count:
        raise ProxydError("COM_STMT_EXECUTE without parameter types before any typed execute", 1210, "HY000")
    types = stmt.param_types
    values: list[Any] = []
    for i in range(count):
        if nulls[i // 8] & (1 << (i % 8)):
            values.append(None)
        elif i in stmt.long_data:
            values.append(_text_or_bytes(bytes(stmt.long_data[i]), charset))
        else:
            t, unsigned = types[i]
            values.append(_read_value(r, t, unsigned, charset))
    stmt.long_data.clear()
    return values[: stmt.num_params]


def _text_or_bytes(raw: bytes, charset: str) -> str | bytes:
    try:
        return raw.decode(charset)
    except UnicodeDecodeError:
        return raw  # binary data stays bytes (bound as a BLOB)


def _read_value(r: _Reader, t: int, unsigned: bool, charset: str) -> Any:
    if t in _INT_TYPES:
        signed_fmt, unsigned_fmt, size = _INT_TYPES[t]
        return struct.unpack(unsigned_fmt if unsigned else signed_fmt, r.take(size))[0]
    if t == ColumnType.DOUBLE:
        return struct.unpack("<d", r.take(8))[0]
    if t == ColumnType.FLOAT:
        return struct.unpack("<f", r.take(4))[0]
    if t == ColumnType.NULL:
        return None
    if t in (ColumnType.DATE, ColumnType.DATETIME, ColumnType.TIMESTAMP):
        n = r.uint(1)
        if n == 0:
            return "0000-00-00 00:00:00" if t != ColumnType.DATE else "0000-00-00"
        body = r.take(n)
        y, mo, d = struct.unpack("<HBB", body[:4])
        if t == ColumnType.DATE or n == 4:
            return f"{y:04d}-{mo:02d}-{d:02d}" + ("" if t == ColumnType.DATE else " 00:00:00")
        h, mi, s = body[4], body[5], body[6]
        us = struct.unpack("<I", body[7:11])[0] if n >= 11 else 0
        return f"{y:04d}-{mo:02d}-{d:02d} {h:02d}:{mi:02d}:{s:02d}" + (f".{us:06d}" if us else "")
    if t == ColumnType.TIME:
        n = r.uint(1)
        if n == 0:
            return "00:00:00"
        body = r.take(n)
        neg, days = body[0], struct.unpack("<I", body[1:5])[0]
        h, mi, s = body[5], body[6], body[7]
        us = struct.unpack("<I", body[8:12])[0] if n >= 12 else 0
        return f"{'-' if neg else ''}{days * 24 + h:02d}:{mi:02d}:{s:02d}" + (f".{us:06d}" if us else "")
    if t in (ColumnType.DECIMAL, ColumnType.NEWDECIMAL):
        text = r.lenstr().decode("ascii")
        return Decimal(text) if "." in text or "e" in text.lower() else int(text)
    if t in _STRINGY:
        return _text_or_bytes(r.lenstr(), charset)
    raise ProxydError(f"Unsupported parameter type {t} in COM_STMT_EXECUTE", 1235, "42000")


# -- results ------------------------------------------------------------------------------------
BINARY_CHARSET = 63


def column_definition(name: str, col_type: int, charset: int = 33, *, length: int = 0, decimals: int = 0,
                      flags: int = 0, table: str = "", schema: str = "", is_field_list: bool = False) -> bytes:
    n = name.encode()
    parts = [b"\x03def", uint_len(len(schema.encode())), schema.encode(),
             uint_len(len(table.encode())), table.encode(), uint_len(len(table.encode())), table.encode(),
             uint_len(len(n)), n, uint_len(len(n)), n, b"\x0c",
             struct.pack("<HIBHB", charset, length or _default_length(col_type), col_type, flags, decimals),
             b"\x00\x00"]
    if is_field_list:
        parts.append(b"\xfb")
    return b"".join(parts)


def _default_length(t: int) -> int:
    return {ColumnType.LONGLONG: 20, ColumnType.DOUBLE: 22, ColumnType.TINY: 4}.get(t, 1024)


def settle_types(rows: Sequence[Sequence[Any]], types: Sequence[int]) -> list[int]:
    """Downgrade a column to a string type when a value does not fit its declared binary type."""
    out = list(types)
    for i, t in enumerate(out):
        if t in _INT_TYPES:
            if any(not isinstance(r[i], int) or isinstance(r[i], bool) for r in rows if r[i] is not None):
                out[i] = ColumnType.VAR_STRING
        elif t in (ColumnType.DOUBLE, ColumnType.FLOAT):
            if any(not isinstance(r[i], (int, float)) for r in rows if r[i] is not None):
                out[i] = ColumnType.VAR_STRING
            else:
                out[i] = ColumnType.DOUBLE
        elif t not in _STRINGY:
            out[i] = ColumnType.VAR_STRING
    return out


def binary_row(row: Sequence[Any], types: Sequence[int]) -> bytes:
    n = len(row)
    nulls = bytearray((n + 9) // 8)
    parts: list[bytes] = []
    for i, v in enumerate(row):
        if v is None:
            nulls[(i + 2) // 8] |= 1 << ((i + 2) % 8)
            continue
        t = types[i]
        if t in _INT_TYPES:
            signed_fmt, unsigned_fmt, _ = _INT_TYPES[t]
            parts.append(struct.pack(unsigned_fmt if v >= 1 << 63 else signed_fmt, v) if t == ColumnType.LONGLONG
                         else struct.pack(signed_fmt, v))
        elif t == ColumnType.DOUBLE:
            parts.append(struct.pack("<d", float(v)))
        else:
            b = v if isinstance(v, bytes) else _to_text(v).encode()
            parts.append(uint_len(len(b)) + b)
    return b"\x00" + bytes(nulls) + b"".join(parts)


def _to_text(v: Any) -> str:
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
        return v.isoformat(sep=" ") if isinstance(v, datetime.datetime) else v.isoformat()
    return str(v)


def text_value(v: Any) -> bytes | None:
    if v is None:
        return None
    if isinstance(v, bytes):
        return v
    return _to_text(v).encode()
