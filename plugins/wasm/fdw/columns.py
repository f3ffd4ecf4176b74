"""Declared columns of a foreign table and the conversion of guest cells to stored values.

A table's ``columns`` is a MySQL column list (``id BIGINT NOT NULL, type VARCHAR(32)``), parsed once
at load with sqlglot. Each column gets a *kind* saying how its JSON cells are read (docs/wasm-fdw.md):
int, bool, real, decimal, text, date, datetime, json, blob.
"""

from __future__ import annotations

import base64
import json
import operator
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlglot
from sqlglot import exp

_INT_RANGES = {
    "TINYINT": 8, "SMALLINT": 16, "MEDIUMINT": 24, "INT": 32, "INTEGER": 32, "BIGINT": 64,
}
_KINDS = {
    **{t: "int" for t in _INT_RANGES},
    "BOOL": "bool", "BOOLEAN": "bool",
    "FLOAT": "real", "DOUBLE": "real", "REAL": "real", "DECIMAL": "decimal", "NUMERIC": "decimal",
    "CHAR": "text", "VARCHAR": "text", "TINYTEXT": "text", "TEXT": "text", "MEDIUMTEXT": "text",
    "LONGTEXT": "text", "ENUM": "text", "DATE": "date", "DATETIME": "datetime", "TIMESTAMP": "datetime",
    "JSON": "json", "BINARY": "blob", "VARBINARY": "blob", "TINYBLOB": "blob", "BLOB": "blob",
    "MEDIUMBLOB": "blob", "LONGBLOB": "blob",
}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?")


class ColumnError(ValueError):
    """A column list that cannot be served (bad syntax, unsupported type)."""


@dataclass(frozen=True)
class Column:
    name: str
    num: int          # 1-based, as in the guest's context
    type: str         # the MySQL type as declared (``VARCHAR(32)``)
    kind: str
    not_null: bool
    bits: int = 0     # int kinds: width; ``unsigned`` widens the range
    unsigned: bool = False

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "num": self.num, "type": self.type, "kind": self.kind}


def parse_columns(text: str) -> tuple[Column, ...]:
    """Parse a MySQL column list; raise ColumnError naming what is wrong."""
    try:
        tree = sqlglot.parse_one(f"CREATE TABLE t ({text})", read="mysql")
    except sqlglot.errors.ParseError as exc:
        raise ColumnError(f"columns do not parse: {str(exc).splitlines()[0]}") from None
    schema = tree.this if isinstance(tree, exp.Create) else None
    defs = [e for e in (schema.expressions if isinstance(schema, exp.Schema) else []) if isinstance(e, exp.ColumnDef)]
    if not defs:
        raise ColumnError("columns must list at least one column")
    out: list[Column] = []
    seen: set[str] = set()
    for i, d in enumerate(defs, 1):
        name = d.name
        if name.lower() in seen:
            raise ColumnError(f"column '{name}' is declared twice")
        seen.add(name.lower())
        dtype = d.args.get("kind")
        if dtype is None:
            raise ColumnError(f"column '{name}' has no type")
        sql = dtype.sql(dialect="mysql")
        base = sql.split("(", 1)[0].split()[0].upper()
        kind = _KINDS.get(base)
        if kind is None:
            raise ColumnError(f"column '{name}': type {sql} is not supported by foreign tables")
        unsigned = "UNSIGNED" in sql.upper()
        not_null = any(isinstance(c.args.get("kind"), exp.NotNullColumnConstraint) and not c.args["kind"].args.get("allow_null")
                       for c in d.args.get("constraints") or [])
        out.append(Column(name, i, sql, kind, not_null, _INT_RANGES.get(base, 0), unsigned))
    return tuple(out)


def declaration(columns: tuple[Column, ...]) -> str:
    """The CREATE TABLE a virtual table declares to SQLite (MySQL type names kept for DESCRIBE)."""
    parts = []
    for c in columns:
        name = c.name.replace('"', '""')
        extra = " NOT NULL" if c.not_null else ""
        collate = " COLLATE NOCASE" if c.kind == "text" else ""
        parts.append(f'"{name}" {c.type}{extra}{collate}')
    return f"CREATE TABLE x ({', '.join(parts)})"


def _bad(col: Column, row: int, expected: str, value: Any) -> ValueError:
    shown = json.dumps(value)[:64]
    return ValueError(f"column '{col.name}' row {row}: expected {expected}, got {shown}")


def to_sqlite(col: Column, value: Any, row: int) -> Any:
    """One guest cell as the embedded backend stores it; ValueError says what is wrong."""
    if value is None:
        if col.not_null:
            raise ValueError(f"column '{col.name}' row {row}: NULL in a NOT NULL column")
        return None
    kind = col.kind
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(col, row, "an integer", value)
        lo, hi = ((0, (1 << col.bits) - 1) if col.unsigned else (-(1 << (col.bits - 1)), (1 << (col.bits - 1)) - 1))
        if not lo <= value <= hi:
            raise _bad(col, row, f"an integer within {col.type}", value)
        return value
    if kind == "text":
        if not isinstance(value, str):
            raise _bad(col, row, "a string", value)
        return value
    if kind == "datetime":
        if isinstance(value, str):
            if _DATETIME.fullmatch(value):
                return value
            try:
                parsed = datetime.fromisoformat(value)  # 3.11 reads "Z" itself
            except ValueError:
                parsed = None
            if parsed is not None and parsed.tzinfo is not None:
                return parsed.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        raise _bad(col, row, f"a {col.type.split('(')[0]} string", value)
    if kind == "date":
        if isinstance(value, str) and _DATE.fullmatch(value):
            return value
        raise _bad(col, row, "a DATE string", value)
    if kind == "bool":
        if isinstance(value, bool) or value in (0, 1):
            return int(value)
        raise _bad(col, row, "true or false", value)
    if kind == "real":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _bad(col, row, "a number", value)
        return float(value)
    if kind == "decimal":
        if isinstance(value, str):
            try:
                float(value)
            except ValueError:
                raise _bad(col, row, "a decimal", value) from None
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise _bad(col, row, "a decimal", value)
    if kind == "json":
        return json.dumps(value, separators=(",", ":"))
    if kind == "blob":
        if not isinstance(value, str):
            raise _bad(col, row, "a base64 string", value)
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:
            raise _bad(col, row, "a base64 string", value) from None
    raise AssertionError(kind)


def to_guest(col: Column, value: Any) -> Any:
    """A stored (or bound) SQLite value as the guest's JSON cell."""
    if value is None:
        return None
    kind = col.kind
    if kind == "bool":
        return bool(value)
    if kind == "json" and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if kind == "blob" and isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if kind == "decimal" and isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    return value


class _Slow(Exception):
    """A cell the fast converter does not take as it is: the exact conversion decides (and names the error)."""


def _fast(col: Column) -> Any:
    """A converter for the common, already-correct cells; anything else raises _Slow."""
    nullable = not col.not_null
    if col.kind == "int":
        lo, hi = ((0, (1 << col.bits) - 1) if col.unsigned else (-(1 << (col.bits - 1)), (1 << (col.bits - 1)) - 1))

        def conv(v: Any) -> Any:
            if type(v) is int and lo <= v <= hi or (v is None and nullable):
                return v
            raise _Slow
    elif col.kind == "text":
        def conv(v: Any) -> Any:
            if type(v) is str or (v is None and nullable):
                return v
            raise _Slow
    elif col.kind == "real":
        def conv(v: Any) -> Any:
            if type(v) is float or (v is None and nullable):
                return v
            raise _Slow
    elif col.kind in ("datetime", "date"):
        match = (_DATETIME if col.kind == "datetime" else _DATE).fullmatch

        def conv(v: Any) -> Any:
            if type(v) is str and match(v) or (v is None and nullable):
                return v
            raise _Slow
    else:
        def conv(v: Any) -> Any:
            raise _Slow
    return conv


def row_converter(columns: tuple[Column, ...]) -> Any:
    """``convert(rows, first_row_number) -> list[tuple]``: guest rows as stored values, in one pass
    of C-level ``map`` calls per row; ValueError (naming column and row) for a bad row."""
    fast = tuple(_fast(c) for c in columns)
    width = len(columns)

    def exact(row: Any, number: int) -> tuple[Any, ...]:
        if not isinstance(row, list) or len(row) != width:
            got = len(row) if isinstance(row, list) else "no"
            raise ValueError(f"row {number} has {got} cells, expected {width}")
        return tuple(to_sqlite(c, v, number) for c, v in zip(columns, row))

    def convert(rows: list[Any], first: int) -> list[tuple[Any, ...]]:
        out = []
        append = out.append
        for row in rows:
            try:
                if len(row) != width or type(row) is not list:
                    raise _Slow
                append(tuple(map(operator.call, fast, row)))
            except (_Slow, TypeError):
                append(exact(row, first + len(out)))
        return out

    return convert
