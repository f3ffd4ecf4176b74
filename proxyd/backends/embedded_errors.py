"""SQLite errors → the MySQL errors a client of the embedded backend expects (one function).

| SQLite                                        | MySQL                                                    |
|-----------------------------------------------|----------------------------------------------------------|
| UNIQUE constraint failed: t.a, t.b            | 1062 23000 Duplicate entry '<v1>-<v2>' for key 't.<key>' |
| NOT NULL constraint failed: t.c               | 1048 23000 Column 'c' cannot be null                     |
| CHECK constraint failed: name                 | 3819 HY000 Check constraint 'name' is violated.          |
| FOREIGN KEY constraint failed                 | 1452 (insert/update) / 1451 (delete) 23000               |
| no such table: db.t                           | 1146 42S02 Table 'db.t' doesn't exist                    |
| no such column: c                             | 1054 42S22 Unknown column 'c' in 'field list'            |
| table t already exists                        | 1050 42S01 Table 't' already exists                      |
| index k already exists                        | 1061 42000 Duplicate key name 'k'                        |
| duplicate column name: c                      | 1060 42S21 Duplicate column name 'c'                     |
| near "x": syntax error, incomplete input, …   | 1064 42000 You have an error in your SQL syntax; … near  |
| no such function: F                           | 1305 42000 FUNCTION db.F does not exist                  |
| wrong number of arguments to function F()     | 1582 42000 Incorrect parameter count … 'F'               |
| ambiguous column name: c                      | 1052 23000 Column 'c' in field list is ambiguous         |
| … columns but … values were supplied          | 1136 21S01 Column count doesn't match value count at row 1 |
| sub-select returns N columns / row value misused | 1241 21000 Operand should contain 1 column(s)         |
| no such savepoint: s                          | 1305 42000 SAVEPOINT s does not exist                    |
| misuse of aggregate                           | 1111 HY000 Invalid use of group function                 |
| datatype mismatch                             | 1366 HY000 Incorrect value …                             |
| integer overflow                              | 1690 22003 BIGINT value is out of range                  |
| database is locked / busy (after the wait)    | 1205 HY000 Lock wait timeout exceeded; …                 |
| anything else                                 | 1105 HY000 SQLite's message                              |

The duplicate-key message needs the conflicting value and the key's name, which only the session
can look up (it has the statement's bindings and the catalog): it passes ``describe_duplicate``.
"""

from __future__ import annotations

import re
from typing import Callable

import apsw

from proxyd.backends.translate import syntax_error
from proxyd.errors import (CheckConstraintError, DuplicateEntryError, LockedError, NotNullError, ProxydError,
                           UnknownColumnError, UnknownTableError)

__all__ = ["map_sqlite_error", "lock_wait_timeout", "deadlock", "DescribeDuplicate"]

# (table, columns) -> (value text, key name); None when the session cannot tell
DescribeDuplicate = Callable[[str, list[str]], "tuple[str, str] | None"]

_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)$")
_UNIQUE_COLS = re.compile(r"(?:(\w+)\.)?(\w+)")
_UNIQUE_INDEX = re.compile(r"index '([^']+)'")
_NOT_NULL = re.compile(r"NOT NULL constraint failed: (?:[^.]+\.)?(.+)$")
_CHECK = re.compile(r"CHECK constraint failed: (.+)$")
_NO_TABLE = re.compile(r"no such table: (?:([^.\s]+)\.)?(\S+)")
_NO_COLUMN = re.compile(r"no such column: (.+?)(?: - should this be a string literal.*)?$")
_TABLE_EXISTS = re.compile(r'(?:table|view) "?(.+?)"? already exists')
_INDEX_EXISTS = re.compile(r'index "?(.+?)"? already exists')
_NO_INDEX = re.compile(r"no such index: (.+)$")
_DUP_COLUMN = re.compile(r"duplicate column name: (.+)$")
_NEAR = re.compile(r'near "(.*)": syntax error', re.S)
_NO_FUNCTION = re.compile(r"no such function: (\S+)")
_ARGS = re.compile(r"wrong number of arguments to function (\w+)\(\)")
_AMBIGUOUS = re.compile(r"ambiguous column name: (.+)$")
_VALUES = re.compile(r"(?:has \d+ columns but \d+ values were supplied|\d+ values for \d+ columns)")
_OPERAND = re.compile(r"sub-select returns \d+ columns|row value misused")
_SAVEPOINT = re.compile(r"no such savepoint: (\S+)")


def lock_wait_timeout() -> LockedError:
    return LockedError("Lock wait timeout exceeded; try restarting transaction")


def deadlock() -> ProxydError:
    return ProxydError("Deadlock found when trying to get lock; try restarting transaction", 1213, "40001")


def _index_key(name: str, table: str) -> str:
    # SQLite index names are "<table>.<key>"
    return name if name.startswith(table + ".") else f"{table}.{name.split('.', 1)[-1]}"


def map_sqlite_error(exc: apsw.Error, *, kind: str, schema: str | None, sql: str = "",
                     describe_duplicate: DescribeDuplicate | None = None) -> ProxydError:
    """The MySQL error for an apsw error raised by a statement of ``kind`` ('select', 'insert',
    'update', 'delete', 'ddl', …) run with current schema ``schema``."""
    msg = str(exc)
    if isinstance(exc, (apsw.BusyError, apsw.LockedError)):
        return lock_wait_timeout()
    if isinstance(exc, apsw.ConstraintError):
        if m := _UNIQUE.search(msg):
            target = m.group(1)
            if im := _UNIQUE_INDEX.match(target):
                name = im.group(1)
                table = name.split(".", 1)[0]
                return DuplicateEntryError(f"Duplicate entry for key '{_index_key(name, table)}'")
            pairs = _UNIQUE_COLS.findall(target)
            table = pairs[0][0] if pairs else ""
            cols = [c for _, c in pairs]
            found = describe_duplicate(table, cols) if describe_duplicate is not None else None
            if found is not None:
                value, key = found
                return DuplicateEntryError(f"Duplicate entry '{value}' for key '{table}.{key}'")
            return DuplicateEntryError(f"Duplicate entry for key '{table}.{'-'.join(cols)}'")
        if m := _NOT_NULL.search(msg):
            return NotNullError(f"Column '{m.group(1)}' cannot be null")
        if m := _CHECK.search(msg):
            name = m.group(1)
            if name.startswith("proxyd_enum_"):  # the CHECK that stands for an ENUM's value list
                return ProxydError(f"Data truncated for column '{name[len('proxyd_enum_'):]}' at row 1", 1265, "01000")
            return CheckConstraintError(f"Check constraint '{name}' is violated.")
        if "FOREIGN KEY constraint failed" in msg:
            if kind == "delete" or kind == "ddl":
                return ProxydError("Cannot delete or update a parent row: a foreign key constraint fails",
                                   1451, "23000")
            return ProxydError("Cannot add or update a child row: a foreign key constraint fails", 1452, "23000")
        return ProxydError(msg, 1105, "HY000")
    if isinstance(exc, apsw.MismatchError):
        return ProxydError(f"Incorrect value for a column of this type ({msg})", 1366, "HY000")
    if isinstance(exc, apsw.InterruptError):
        return ProxydError("Query execution was interrupted", 1317, "70100")
    if isinstance(exc, apsw.TooBigError):
        return ProxydError("Result of the statement is larger than SQLite's limits", 1105, "HY000")
    if m := _NO_TABLE.search(msg):
        db = m.group(1) or schema or ""
        if kind == "drop":
            return ProxydError(f"Unknown table '{db}.{m.group(2)}'", 1051, "42S02")
        return UnknownTableError(f"Table '{db}.{m.group(2)}' doesn't exist")
    if m := _NO_COLUMN.search(msg):
        return UnknownColumnError(f"Unknown column '{m.group(1).replace(chr(34), '')}' in 'field list'")
    if m := _TABLE_EXISTS.search(msg):
        return ProxydError(f"Table '{m.group(1)}' already exists", 1050, "42S01")
    if m := _INDEX_EXISTS.search(msg):
        return ProxydError(f"Duplicate key name '{m.group(1).split('.', 1)[-1]}'", 1061, "42000")
    if m := _NO_INDEX.search(msg):
        return ProxydError(f"Can't DROP '{m.group(1).split('.', 1)[-1]}'; check that column/key exists", 1091, "42000")
    if m := _DUP_COLUMN.search(msg):
        return ProxydError(f"Duplicate column name '{m.group(1)}'", 1060, "42S21")
    if m := _NEAR.search(msg):
        near = m.group(1)
        pos = sql.find(near) if sql else -1
        return syntax_error(sql[pos:] if pos >= 0 else near)
    if "incomplete input" in msg or "unrecognized token" in msg:
        return syntax_error(sql[-40:] if sql else msg)
    if m := _NO_FUNCTION.search(msg):
        return ProxydError(f"FUNCTION {schema or 'mysql'}.{m.group(1)} does not exist", 1305, "42000")
    if m := _ARGS.search(msg):
        return ProxydError(f"Incorrect parameter count in the call to native function '{m.group(1)}'", 1582, "42000")
    if m := _AMBIGUOUS.search(msg):
        return ProxydError(f"Column '{m.group(1)}' in field list is ambiguous", 1052, "23000")
    if _VALUES.search(msg):
        return ProxydError("Column count doesn't match value count at row 1", 1136, "21S01")
    if _OPERAND.search(msg):
        return ProxydError("Operand should contain 1 column(s)", 1241, "21000")
    if m := _SAVEPOINT.search(msg):
        return ProxydError(f"SAVEPOINT {m.group(1)} does not exist", 1305, "42000")
    if "misuse of aggregate" in msg or "misuse of window function" in msg:
        return ProxydError("Invalid use of group function", 1111, "HY000")
    if "integer overflow" in msg:
        return ProxydError("BIGINT value is out of range", 1690, "22003")
    return ProxydError(msg, 1105, "HY000")
