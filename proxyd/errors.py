"""Error types, and the one place where failures become MySQL errors.

Everything a client can see is a :class:`ProxydError` carrying a MySQL error code, an SQLSTATE
and a message naming what is wrong. Other exceptions (SQLite's, a plugin's) are translated by
:func:`to_proxyd_error`.
"""

from __future__ import annotations

import re

import apsw


class ProxydError(Exception):
    """A failure a MySQL client can be told about: code, SQLSTATE, message."""

    code: int = 1105
    sqlstate: str = "HY000"

    def __init__(self, message: str, code: int | None = None, sqlstate: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if sqlstate is not None:
            self.sqlstate = sqlstate

    def __str__(self) -> str:
        return self.message


class ParseError(ProxydError):
    code, sqlstate = 1064, "42000"


class UnknownCommandError(ParseError):
    """A LOAD/SAVE/CHECKSUM/PROXYD-looking statement that matches no command."""


class AccessDeniedError(ProxydError):
    code, sqlstate = 1045, "28000"


class UnknownTableError(ProxydError):
    code, sqlstate = 1146, "42S02"


class UnknownColumnError(ProxydError):
    code, sqlstate = 1054, "42S22"


class UnknownDatabaseError(ProxydError):
    code, sqlstate = 1049, "42000"


class DuplicateEntryError(ProxydError):
    code, sqlstate = 1062, "23000"


class CheckConstraintError(ProxydError):
    code, sqlstate = 3819, "HY000"


class NotNullError(ProxydError):
    code, sqlstate = 1048, "23000"


class UnknownVariableError(ProxydError):
    code, sqlstate = 1193, "HY000"


class WrongValueError(ProxydError):
    code, sqlstate = 1231, "42000"


class ReadOnlyError(ProxydError):
    code, sqlstate = 1290, "HY000"


class CommandDeniedError(ProxydError):
    code, sqlstate = 1142, "42000"


class LockedError(ProxydError):
    code, sqlstate = 1205, "HY000"


class PluginError(ProxydError):
    """A plugin failed in a named step (start-up, hot load, a callback)."""

    def __init__(self, plugin: str, step: str, reason: str):
        super().__init__(f"plugin '{plugin}' failed in {step}: {reason}")
        self.plugin, self.step, self.reason = plugin, step, reason


class RegistrationError(ProxydError):
    """A plugin registered something invalid or colliding (table, command, variable)."""


class TierError(ProxydError):
    """LOAD ... TO RUNTIME (or another tier move) refused; the old state stays."""


_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)$")
_PK_COLS = re.compile(r"(\w+)\.(\w+)")
_NOT_NULL = re.compile(r"NOT NULL constraint failed: (?:\w+\.)?(\w+)")
_CHECK = re.compile(r"CHECK constraint failed: (.+)$")
_NO_TABLE = re.compile(r"no such table: (?:(\w+)\.)?(\w+)")
_NO_COLUMN = re.compile(r"no such column: (\S+)")
_UNKNOWN_DB = re.compile(r"unknown database:? (\S+)")


def from_sqlite(exc: apsw.Error, sql: str | None = None) -> ProxydError:
    """Map an SQLite (apsw) error on the admin store to the MySQL error a client expects."""
    text = str(exc)
    # apsw prefixes messages with the exception class name, e.g. "SQLError: near ..."
    msg = text.split(": ", 1)[1] if ": " in text and text.split(": ", 1)[0].endswith("Error") else text
    if isinstance(exc, apsw.ConstraintError):
        if m := _UNIQUE.search(msg):
            cols = ", ".join(c for _, c in _PK_COLS.findall(m.group(1)))
            return DuplicateEntryError(f"Duplicate entry for key ({cols}): {msg}")
        if m := _NOT_NULL.search(msg):
            return NotNullError(f"Column '{m.group(1)}' cannot be null")
        if m := _CHECK.search(msg):
            return CheckConstraintError(f"Check constraint violated: {m.group(1)}")
        return ProxydError(msg)
    if isinstance(exc, (apsw.BusyError, apsw.LockedError)):
        return LockedError(msg)
    if isinstance(exc, apsw.ReadOnlyError):
        return ReadOnlyError(f"The admin store is read-only: {msg}")
    if m := _NO_TABLE.search(msg):
        if m.group(1) and m.group(1).lower() not in ("main", "disk", "stats", "temp"):
            return UnknownDatabaseError(f"Unknown database '{m.group(1)}'")
        name = f"{m.group(1)}.{m.group(2)}" if m.group(1) else m.group(2)
        return UnknownTableError(f"Table '{name}' doesn't exist")
    if m := _NO_COLUMN.search(msg):
        return UnknownColumnError(f"Unknown column '{m.group(1)}'")
    if m := _UNKNOWN_DB.search(msg):
        return UnknownDatabaseError(f"Unknown database '{m.group(1)}'")
    if "syntax error" in msg or "incomplete input" in msg or "unrecognized token" in msg:
        return ParseError(msg)
    return ProxydError(msg)


def to_proxyd_error(exc: BaseException, *, who: str | None = None) -> ProxydError:
    """Turn any exception into a ProxydError; ``who`` names the plugin a stray exception came from."""
    if isinstance(exc, ProxydError):
        return exc
    if isinstance(exc, apsw.Error):
        return from_sqlite(exc)
    detail = f"{type(exc).__name__}: {exc}"
    if who:
        return ProxydError(f"plugin '{who}' raised {detail}")
    return ProxydError(f"internal error: {detail}")
