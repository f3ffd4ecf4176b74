"""Statement kinds without parsing: the ``Command`` of stats_mysql_commands_counters, and plan names.

:func:`statement_kind` looks at the first one or two keywords after leading whitespace, comments and
``(``; it scans further only for ``WITH`` (to find the main statement), for ``SELECT … FOR UPDATE`` /
``LOCK IN SHARE MODE`` / ``FOR SHARE``, and for the object type of ``CREATE``/``DROP``/``ALTER`` (past
``OR REPLACE``, ``DEFINER = …``, ``ALGORITHM = …`` and such).
"""

from __future__ import annotations

import re

from .schema import COMMAND_KINDS

__all__ = ["statement_kind", "plan_name", "COMMAND_KINDS"]

_SP = " \t\r\n\f\v"
# Whitespace, comments (not /*! */) and opening parentheses before the statement.
_LEADING = re.compile(rf"(?:[{_SP}(]+|/\*(?!!)[^*]*(?:\*+[^*/][^*]*)*(?:\*+/|\**\Z)|(?:--(?=[{_SP}]|\Z)|#)[^\n]*)*")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_EXEC_COMMENT = re.compile(r"/\*![0-9]*")  # /*!40101 SET ... */ : the statement is inside
# Strings, quoted identifiers and comments, blanked out before scanning beyond the first keywords.
_OPAQUE = re.compile(
    r"""'[^'\\]*(?:(?:\\[\s\S]?|'')[^'\\]*)*(?:'|\Z)|"[^"\\]*(?:(?:\\[\s\S]?|"")[^"\\]*)*(?:"|\Z)"""
    r"""|`[^`]*(?:``[^`]*)*(?:`|\Z)|/\*[^*]*(?:\*+[^*/][^*]*)*(?:\*+/|\**\Z)|(?:--(?=\s|\Z)|#)[^\n]*""")
_WORDS_PARENS = re.compile(r"[A-Za-z_][A-Za-z_0-9$]*|[();]")
_DEFINER = re.compile(r"\bDEFINER\s*=\s*\S+", re.I)  # its user could be named "user"
_LOCKING = re.compile(r"\bFOR\s+(?:UPDATE|SHARE)\b|\bLOCK\s+IN\s+SHARE\s+MODE\b", re.I)

# Object types after CREATE / DROP / ALTER and the kind each gives; the other words of _OBJECT_TYPES
# are types without a kind of their own (CREATE PROCEDURE → UNKNOWN), listed so that the scan stops.
_CREATE = {"TABLE": "CREATE_TABLE", "TEMPORARY": "CREATE_TEMPORARY", "DATABASE": "CREATE_DATABASE",
           "SCHEMA": "CREATE_DATABASE", "INDEX": "CREATE_INDEX", "TRIGGER": "CREATE_TRIGGER",
           "USER": "CREATE_USER", "VIEW": "CREATE_VIEW"}
_DROP = {"TABLE": "DROP_TABLE", "TABLES": "DROP_TABLE", "TEMPORARY": "DROP_TABLE", "DATABASE": "DROP_DATABASE",
         "SCHEMA": "DROP_DATABASE", "INDEX": "DROP_INDEX", "TRIGGER": "DROP_TRIGGER", "USER": "DROP_USER",
         "VIEW": "DROP_VIEW", "PREPARE": "DEALLOCATE"}
_ALTER = {"TABLE": "ALTER_TABLE", "VIEW": "ALTER_VIEW"}
_OBJECT_TYPES = frozenset(
    "TABLE TABLES TEMPORARY DATABASE SCHEMA INDEX TRIGGER USER VIEW PREPARE PROCEDURE FUNCTION EVENT ROLE "
    "SERVER TABLESPACE LOGFILE INSTANCE RESOURCE AGGREGATE".split())

# Words after EXPLAIN / DESCRIBE / DESC that make it an EXPLAIN of a statement, not a table description.
_EXPLAIN_NEXT = frozenset(
    "SELECT INSERT UPDATE DELETE REPLACE WITH TABLE VALUES FORMAT ANALYZE EXTENDED PARTITIONS FOR".split())

# Statements decided by their first keyword alone.
_FIRST = {"INSERT": "INSERT", "REPLACE": "REPLACE", "UPDATE": "UPDATE", "DELETE": "DELETE", "SET": "SET",
          "BEGIN": "BEGIN", "COMMIT": "COMMIT", "USE": "USE", "SAVEPOINT": "SAVEPOINT", "PREPARE": "PREPARE",
          "EXECUTE": "EXECUTE", "DEALLOCATE": "DEALLOCATE", "KILL": "KILL", "CALL": "CALL", "GRANT": "GRANT",
          "REVOKE": "REVOKE", "FLUSH": "FLUSH", "LOAD": "LOAD", "TRUNCATE": "TRUNCATE_TABLE", "PURGE": "PURGE",
          "OPTIMIZE": "OPTIMIZE", "TABLE": "SELECT", "VALUES": "SELECT"}


def _skip_leading(sql: str, pos: int = 0) -> int:
    return _LEADING.match(sql, pos).end()  # type: ignore[union-attr]  # the pattern matches ""


def _next_word(sql: str, pos: int) -> tuple[str, int]:
    """The next keyword (upper-cased) after ``pos`` and the position after it; ``""`` if none."""
    pos = _skip_leading(sql, pos)
    m = _WORD.match(sql, pos)
    if m is None:
        return "", pos
    return m.group().upper(), m.end()


def _words(sql: str, pos: int) -> list[str]:
    """The words, parentheses and ``;`` from ``pos`` on, upper-cased, strings and comments left out."""
    return [w.upper() for w in _WORDS_PARENS.findall(_OPAQUE.sub(" ", sql[pos:]))]


def _object_kind(sql: str, pos: int, kinds: dict[str, str]) -> str:
    """For CREATE / DROP / ALTER: the kind of the first object-type word among the next few, past
    ``OR REPLACE``, ``ALGORITHM = …``, ``DEFINER = …``, ``SQL SECURITY …``, ``UNIQUE`` and such."""
    head = _DEFINER.sub(" ", _OPAQUE.sub(" ", sql[pos:pos + 400]))
    for w in _WORDS_PARENS.findall(head)[:12]:
        w = w.upper()
        if w in _OBJECT_TYPES:
            return kinds.get(w, "UNKNOWN")
    return "UNKNOWN"


def _locking(sql: str, pos: int) -> bool:
    """Whether the SELECT from ``pos`` locks rows (FOR UPDATE, FOR SHARE, LOCK IN SHARE MODE)."""
    if not _LOCKING.search(sql, pos):  # the cheap test first; strings may hold false positives
        return False
    body = _OPAQUE.sub(" ", sql[pos:]).split(";", 1)[0]
    return _LOCKING.search(body) is not None


def _after_with(sql: str, pos: int) -> str:
    """The main statement's keyword after ``WITH [RECURSIVE] name [(cols)] AS (…) [, …]``."""
    depth = 0
    for w in _words(sql, pos):
        if w == "(":
            depth += 1
        elif w == ")":
            depth -= 1
        elif w == ";":
            break
        elif depth == 0 and w in ("SELECT", "UPDATE", "DELETE", "INSERT", "REPLACE", "TABLE", "VALUES"):
            return w
    return ""


def statement_kind(sql: str) -> str:
    """The command kind of ``sql``: one of :data:`proxyd.schema.COMMAND_KINDS`, ``'UNKNOWN'`` if none fits.

    Also: ``TABLE t`` and ``VALUES ROW(…)`` count as SELECT; ``DROP PREPARE`` as DEALLOCATE;
    ``DESC``/``DESCRIBE``/``EXPLAIN`` followed by a table name are DESCRIBE, followed by a statement
    (or FORMAT=, ANALYZE, …) EXPLAIN; ``/*!NNNNN stmt */`` is classified by the statement inside.
    """
    pos = _skip_leading(sql)
    if sql.startswith("/*!", pos):
        pos = _skip_leading(sql, _EXEC_COMMENT.match(sql, pos).end())  # type: ignore[union-attr]
    m = _WORD.match(sql, pos)
    if m is None:
        return "UNKNOWN"
    w = m.group().upper()
    end = m.end()
    if w == "SELECT":
        return "SELECT_FOR_UPDATE" if _locking(sql, end) else "SELECT"
    kind = _FIRST.get(w)
    if kind is not None:
        return kind
    if w == "WITH":
        main = _after_with(sql, end)
        if main == "SELECT":
            return "SELECT_FOR_UPDATE" if _locking(sql, end) else "SELECT"
        return _FIRST.get(main, "UNKNOWN")
    w2, end2 = _next_word(sql, end)
    if w == "START":
        return "START_TRANSACTION" if w2 == "TRANSACTION" else "UNKNOWN"
    if w == "ROLLBACK":
        if w2 == "WORK":
            w2, end2 = _next_word(sql, end2)
        return "ROLLBACK_SAVEPOINT" if w2 == "TO" else "ROLLBACK"
    if w == "RELEASE":
        return "RELEASE_SAVEPOINT" if w2 == "SAVEPOINT" else "UNKNOWN"
    if w == "SHOW":
        if w2 == "TABLE":
            return "SHOW_TABLE_STATUS" if _next_word(sql, end2)[0] == "STATUS" else "SHOW"
        return "SHOW"
    if w == "CREATE":
        return _object_kind(sql, end, _CREATE)
    if w == "DROP":
        return _object_kind(sql, end, _DROP)
    if w == "ALTER":
        return _object_kind(sql, end, _ALTER)
    if w in ("DESC", "DESCRIBE", "EXPLAIN"):  # of a statement, or of a table (maybe `quoted`)
        return "EXPLAIN" if w2 in _EXPLAIN_NEXT else "DESCRIBE"
    if w == "LOCK":
        return "LOCK_TABLE" if w2 in ("TABLE", "TABLES") else "UNKNOWN"
    if w == "UNLOCK":
        return "UNLOCK_TABLES" if w2 in ("TABLE", "TABLES") else "UNKNOWN"
    if w == "ANALYZE":
        if w2 in ("NO_WRITE_TO_BINLOG", "LOCAL"):
            w2 = _next_word(sql, end2)[0]
        return "ANALYZE_TABLE" if w2 in ("TABLE", "TABLES") else "UNKNOWN"
    if w == "RENAME":
        return "RENAME_TABLE" if w2 in ("TABLE", "TABLES") else "UNKNOWN"
    if w == "CHANGE":  # CHANGE MASTER TO, or its new name CHANGE REPLICATION SOURCE TO
        if w2 == "MASTER" or (w2 == "REPLICATION" and _next_word(sql, end2)[0] == "SOURCE"):
            return "CHANGE_MASTER"
        return "UNKNOWN"
    if w == "RESET":
        if w2 == "MASTER" or w2 == "BINARY":  # RESET BINARY LOGS AND GTIDS is RESET MASTER's new name
            return "RESET_MASTER"
        if w2 in ("SLAVE", "REPLICA"):
            return "RESET_SLAVE"
        return "UNKNOWN"
    return "UNKNOWN"


_PLANS = {
    "SELECT": "Select", "SELECT_FOR_UPDATE": "Select", "INSERT": "Insert", "REPLACE": "Replace",
    "UPDATE": "Update", "DELETE": "Delete", "SET": "Set", "SHOW": "Show", "SHOW_TABLE_STATUS": "Show",
    "BEGIN": "Begin", "START_TRANSACTION": "Begin", "COMMIT": "Commit", "ROLLBACK": "Rollback",
    "SAVEPOINT": "Savepoint", "RELEASE_SAVEPOINT": "Release", "ROLLBACK_SAVEPOINT": "RollbackSavepoint",
    "USE": "Use", "LOAD": "Load", "FLUSH": "Flush", "LOCK_TABLE": "LockTables", "UNLOCK_TABLES": "UnlockTables",
    "CALL": "CallProcedure", "DESCRIBE": "OtherRead", "EXPLAIN": "OtherRead",
    **{k: "DDL" for k in ("ALTER_TABLE", "ALTER_VIEW", "CREATE_DATABASE", "CREATE_INDEX", "CREATE_TABLE",
                          "CREATE_TEMPORARY", "CREATE_TRIGGER", "CREATE_VIEW", "DROP_DATABASE", "DROP_INDEX",
                          "DROP_TABLE", "DROP_TRIGGER", "DROP_VIEW", "RENAME_TABLE", "TRUNCATE_TABLE")},
    **{k: "OtherAdmin" for k in ("ANALYZE_TABLE", "OPTIMIZE", "CHANGE_MASTER", "RESET_MASTER", "RESET_SLAVE",
                                 "PURGE", "KILL", "GRANT", "REVOKE", "CREATE_USER", "DROP_USER")},
}


def plan_name(kind: str) -> str:
    """The WeScale-style plan name of a command kind, as filters name statement types.

    ====================================================  =====================
    kind                                                  plan
    ====================================================  =====================
    SELECT, SELECT_FOR_UPDATE                             Select
    INSERT / REPLACE / UPDATE / DELETE                    Insert / Replace / Update / Delete
    SET                                                   Set
    SHOW, SHOW_TABLE_STATUS                               Show
    CREATE_*/DROP_* of tables, temporary tables,          DDL
    databases, indexes, triggers, views; ALTER_TABLE,
    ALTER_VIEW, RENAME_TABLE, TRUNCATE_TABLE
    BEGIN, START_TRANSACTION                              Begin
    COMMIT / ROLLBACK                                     Commit / Rollback
    SAVEPOINT / RELEASE_SAVEPOINT / ROLLBACK_SAVEPOINT    Savepoint / Release / RollbackSavepoint
    USE                                                   Use
    LOAD / FLUSH / CALL                                   Load / Flush / CallProcedure
    LOCK_TABLE / UNLOCK_TABLES                            LockTables / UnlockTables
    DESCRIBE, EXPLAIN                                     OtherRead
    ANALYZE_TABLE, OPTIMIZE, CHANGE_MASTER, RESET_MASTER,  OtherAdmin
    RESET_SLAVE, PURGE, KILL, GRANT, REVOKE, CREATE_USER,
    DROP_USER
    PREPARE, EXECUTE, DEALLOCATE, UNKNOWN, anything else  Other
    ====================================================  =====================

    The names follow WeScale's tablet plan types where one exists (Select, Insert, Update, Delete, DDL,
    Set, Show, Savepoint, Release, RollbackSavepoint, Load, Flush, LockTables, UnlockTables,
    CallProcedure, OtherRead, OtherAdmin); Replace, Begin, Commit, Rollback, Use and Other are proxyd's.
    """
    return _PLANS.get(kind, "Other")
