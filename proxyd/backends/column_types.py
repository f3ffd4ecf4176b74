"""MySQL column type codes for the embedded backend's result sets.

A column's type comes from its declared type when it is a table column (the DDL translator keeps
MySQL's type names in SQLite's schema, so ``VARCHAR(20)``, ``INT UNSIGNED``, ``DATETIME`` are what
``cursor.getdescription()`` reports), else from the values: the first non-NULL value decides.

Declared type → code: integer types (and BOOL, YEAR, BIT) → LONGLONG, DECIMAL/NUMERIC →
NEWDECIMAL, FLOAT/DOUBLE/REAL → DOUBLE, DATETIME → DATETIME, TIMESTAMP → TIMESTAMP, DATE → DATE,
TIME → TIME, BLOB/BINARY → BLOB, everything else (CHAR, TEXT, ENUM, JSON…) → VAR_STRING.
Value → code: int → LONGLONG, float → DOUBLE, bytes → BLOB, str → VAR_STRING; a column of NULLs
only → NULL.
"""

from __future__ import annotations

from typing import Any, Sequence

from mysql_mimic.types import ColumnType

__all__ = ["from_decltype", "from_value", "column_types"]

_LONGLONG = int(ColumnType.LONGLONG)
_DOUBLE = int(ColumnType.DOUBLE)
_VAR_STRING = int(ColumnType.VAR_STRING)
_BLOB = int(ColumnType.BLOB)
_NULL = int(ColumnType.NULL)

_cache: dict[str, int] = {}


def from_decltype(decl: str) -> int:
    """The type code of a declared column type (cached: few distinct strings exist)."""
    code = _cache.get(decl)
    if code is None:
        code = _cache[decl] = _classify(decl.upper())
    return code


def _classify(d: str) -> int:
    base = d.split("(", 1)[0].strip()
    if "INT" in base or base in ("BOOL", "BOOLEAN", "YEAR", "BIT", "SERIAL"):
        return _LONGLONG
    if base.startswith(("DECIMAL", "NUMERIC", "DEC", "FIXED")):
        return int(ColumnType.NEWDECIMAL)
    if base.startswith(("DOUBLE", "FLOAT", "REAL")):
        return _DOUBLE
    if base.startswith("DATETIME"):
        return int(ColumnType.DATETIME)
    if base.startswith("TIMESTAMP"):
        return int(ColumnType.TIMESTAMP)
    if base == "DATE":
        return int(ColumnType.DATE)
    if base == "TIME":
        return int(ColumnType.TIME)
    if "BLOB" in base or "BINARY" in base:
        return _BLOB
    return _VAR_STRING


def from_value(v: Any) -> int:
    if isinstance(v, int):
        return _LONGLONG
    if isinstance(v, float):
        return _DOUBLE
    if isinstance(v, bytes):
        return _BLOB
    return _VAR_STRING


def column_types(decltypes: Sequence[str | None], rows: Sequence[Sequence[Any]]) -> list[int]:
    """Type codes for a result: declared types first, else the first non-NULL value's type."""
    out: list[int] = []
    for i, decl in enumerate(decltypes):
        if decl:
            out.append(from_decltype(decl))
            continue
        code = _NULL if rows else _VAR_STRING
        for row in rows:
            v = row[i]
            if v is not None:
                code = from_value(v)
                break
        out.append(code)
    return out
