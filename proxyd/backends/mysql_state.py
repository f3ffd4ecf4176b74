"""What a statement does to a MySQL session that a connection pool must know about.

Backend connections are shared between clients (multiplexing), so every statement is asked one
question before it runs: does it leave state behind on the connection it runs on? Three answers:

* **carried** — state the pool can re-create on any pooled connection: the default schema (``USE``),
  ``SET NAMES`` / ``SET CHARACTER SET`` and session system variables set to literal values
  (``sql_mode``, ``time_zone``…). The session remembers them and replays them (one ``SET``) on a
  pooled connection that differs.
* **pinning** — state that lives only on that connection: user variables (``SET @x``, ``@x :=``,
  ``INTO @x``), temporary tables, named locks (``GET_LOCK``), SQL-level ``PREPARE``, ``HANDLER``, ``XA``,
  ``SQL_CALC_FOUND_ROWS`` (for the ``FOUND_ROWS()`` that follows), ``SET TRANSACTION`` (next transaction
  only), ``SET ROLE``, variables set from expressions (their value depends on the connection) and a few
  variables that only make sense on one connection (``insert_id``…). The client stays on that connection
  until it disconnects or resets. ``LOCK TABLES`` pins until ``UNLOCK TABLES``.
* nothing — the usual case, decided by one match of the leading word and a substring test.

Transactions are not classified here: the server says whether one is open (``SERVER_STATUS_IN_TRANS``
and ``SERVER_STATUS_AUTOCOMMIT`` in every OK/EOF packet), which covers BEGIN, START TRANSACTION,
``SET autocommit=0`` and XA-free implicit transactions exactly, so the session reads the status flags.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from proxyd.sqltext import split_top_level

# Effect kinds (None means "nothing to do").
USE = "use"  # detail: the schema name
SET = "set"  # detail: the carried assignments, as (key, SQL text of the assignment)
STICKY = "sticky"  # detail: why (shown in logs)
LOCK = "lock"
UNLOCK = "unlock"
LAST_INSERT_ID = "last_insert_id"  # SELECT LAST_INSERT_ID(): answered from the session


class Effect(NamedTuple):
    kind: str
    detail: object = None
    sticky: str | None = None  # a SET that carries some items may also pin (e.g. SET @x=1, NAMES latin1)
    local: bool = False  # a SET the session can take without asking the server (see _classify_set)
    autocommit_on: bool = False  # the SET turns autocommit on (a no-op only if it is on already)


# The leading word, after blanks and ordinary comments (an executable /*! */ comment is statement text).
_HEAD = re.compile(r"[\s;]*(?:(?:/\*(?!!).*?\*/|(?:#|--\s)[^\n]*(?:\n|$))[\s;]*)*([A-Za-z]+)", re.S)
_WORD = re.compile(r"([A-Za-z]+)")
_BLANKS = frozenset(" \t\r\n")
_PLAIN_WORDS = frozenset({"INSERT", "UPDATE", "DELETE", "REPLACE", "WITH", "SHOW", "CALL", "DO", "BEGIN", "COMMIT",
                          "ROLLBACK", "START", "SAVEPOINT", "RELEASE"})
_QUOTED = re.compile(r"""'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*"|`(?:[^`]|``)*`""", re.S)
_USER_VAR = re.compile(r"(?<!@)@(?!@)[\w$`'\"]")
_LAST_ID = re.compile(r"\s*SELECT\s+LAST_INSERT_ID\s*\(\s*\)\s*(?:(?:AS\s+)?(`(?:[^`]|``)+`|\w+))?\s*;?\s*", re.I)
_USE = re.compile(r"\s*USE\s+(`(?:[^`]|``)+`|[^\s`;]+)\s*;?\s*", re.I | re.S)
_TEMPORARY = re.compile(r"\s*CREATE\s+(?:OR\s+REPLACE\s+)?TEMPORARY\s", re.I)
_LOCK_TABLES = re.compile(r"\s*LOCK\s+TABLES?\s", re.I)
_UNLOCK_TABLES = re.compile(r"\s*UNLOCK\s+TABLES?\b", re.I)

#: Leading words whose statements keep state on the connection whatever follows.
_STICKY_WORDS = {"PREPARE": "PREPARE", "EXECUTE": "EXECUTE", "DEALLOCATE": "DEALLOCATE PREPARE",
                 "HANDLER": "HANDLER", "XA": "XA transaction"}
#: Session variables a pool cannot move between connections even with a literal value.
_STICKY_VARS = frozenset({"insert_id", "last_insert_id", "identity", "rand_seed1", "rand_seed2", "pseudo_thread_id",
                          "gtid_next", "gtid_seq_no", "profiling", "sql_log_bin", "transaction_isolation",
                          "tx_isolation", "transaction_read_only", "tx_read_only", "session_track_state_change",
                          "session_track_schema", "session_track_system_variables", "session_track_transaction_info"})
# A value that means the same on any connection, so it can be replayed: a literal. An expression
# (CONCAT(@@sql_mode, …), a subquery) may not: it pins instead.
_LITERAL = re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"  # a number
                      r"""|'(?:[^'\\]|\\.|'')*'"""  # a string in single quotes
                      r'''|"(?:[^"\\]|\\.|"")*"'''  # or double quotes
                      r"|[A-Za-z_][\w$]*")  # a word: ON, DEFAULT, utf8mb4…
_ASSIGN = re.compile(r"""\s*(?:(GLOBAL|SESSION|LOCAL|PERSIST|PERSIST_ONLY)\s+)?"""
                     r"""(?:@@(?:(global|session|local|persist|persist_only)\.)?)?"""
                     r"""([A-Za-z_][\w$]*)\s*(?::=|=)\s*(.*?)\s*$""",
                     re.I | re.S)
_NAMES = re.compile(r"\s*(?:NAMES|CHARACTER\s+SET|CHARSET)\s+\S.*$", re.I | re.S)


def classify(sql: str) -> Effect | None:
    """The effect of one statement on its backend connection; None for the usual statement.

    Costs well under a microsecond for a plain statement: the leading word, then substring tests
    (``_`` and ``@`` gate the rarer checks), with regexes only when a marker is present.
    """
    head = sql[:6]
    if (head == "SELECT" or head == "select") and sql[6:7] in _BLANKS:
        word, m = "SELECT", None  # the most common statement: skip the regex
    else:
        m = _WORD.match(sql)
        if m is None:
            m = _HEAD.match(sql)  # leading blanks or comments
        word = m.group(1).upper() if m else ""
    if word == "SELECT" or word in _PLAIN_WORDS:
        pass
    elif word == "SET":
        return _classify_set(sql[m.end():])
    elif word == "USE":
        u = _USE.fullmatch(sql)
        if u:
            name = u.group(1)
            return Effect(USE, name[1:-1].replace("``", "`") if name.startswith("`") else name)
        return None  # the server reports the syntax error
    elif word in _STICKY_WORDS:
        return Effect(STICKY, _STICKY_WORDS[word])
    elif word == "CREATE":
        if _TEMPORARY.match(sql, m.start(1)):
            return Effect(STICKY, "temporary table")
    elif word == "LOCK":
        if _LOCK_TABLES.match(sql, m.start(1)):
            return Effect(LOCK)
    elif word == "UNLOCK":
        if _UNLOCK_TABLES.match(sql, m.start(1)):
            return Effect(UNLOCK)
    # Any statement: named locks, FOUND_ROWS bookkeeping (a string literal naming them pins too:
    # harmless), user variables (outside quotes).
    if "_" in sql:
        up = sql.upper()
        if "GET_LOCK" in up:
            return Effect(STICKY, "GET_LOCK")
        if "SQL_CALC_FOUND_ROWS" in up:
            return Effect(STICKY, "SQL_CALC_FOUND_ROWS")
        if word == "SELECT" and "LAST_INSERT_ID" in up and _LAST_ID.fullmatch(sql):
            return Effect(LAST_INSERT_ID)
    if "@" in sql and _USER_VAR.search(_QUOTED.sub("''", sql)) is not None:
        return Effect(STICKY, "user variable")
    return None


def _classify_set(body: str) -> Effect | None:
    """``body``: the statement after the word SET.

    ``local`` marks a SET made only of character-set settings with names the server knows and
    ``autocommit`` turned on: drivers send those when they connect, and the session can keep them
    without a round trip (they reach a backend connection with the next statement). Anything else
    runs on the server at once, so its errors come back at once.
    """
    body = body.rstrip().rstrip(";")
    first = body.lstrip()[:12].upper()
    if first.startswith("STATEMENT"):
        return None  # MariaDB's SET STATEMENT … FOR …: scoped to that statement
    if first.startswith(("PASSWORD", "DEFAULT ROLE")):
        return None
    if first.startswith("ROLE"):
        return Effect(STICKY, "SET ROLE")
    if first.startswith("TRANSACTION"):
        return Effect(STICKY, "SET TRANSACTION")
    carried: list[tuple[str, str]] = []
    sticky: str | None = None
    local, autocommit_on = True, False
    scope = "session"
    for item in split_top_level(body):
        if _NAMES.match(item):
            carried.append(("names", item.strip()))
            local = local and _known_names(item)
            continue
        a = _ASSIGN.match(item)
        if a is None:
            local = False
            if item.lstrip().startswith("@"):
                sticky = "user variable"
                continue
            words = item.split()
            if len(words) >= 2 and words[0].upper() in ("SESSION", "LOCAL") and words[1].upper() == "TRANSACTION":
                sticky = "SET SESSION TRANSACTION"
                continue
            if len(words) >= 2 and words[0].upper() == "GLOBAL" and words[1].upper() == "TRANSACTION":
                continue
            return Effect(STICKY, "unrecognized SET")
        if a.group(1):
            scope = a.group(1).lower()
        item_scope = (a.group(2) or scope).lower()
        if a.group(2) is None and a.group(1) is None and item.lstrip().startswith("@@"):
            item_scope = "session"  # @@name is the session variable
        name, value = a.group(3).lower(), a.group(4)
        if item_scope in ("global", "persist", "persist_only"):
            local = False
            continue
        if name == "autocommit":
            # visible in the server status flags; turning it off pins (the server must see it)
            autocommit_on = value.strip("'\"").upper() in ("1", "ON", "TRUE")
            local = local and autocommit_on
            continue
        if name in _STICKY_VARS or not _LITERAL.fullmatch(value):
            sticky = f"SET {name}"
            local = False
            continue
        carried.append((name, f"SESSION {name} = {value}"))
        local = local and name in CHARSET_VARS and _known_charset_value(value)
    if not carried and sticky:
        return Effect(STICKY, sticky)
    if not carried and not local:
        return None  # GLOBAL settings, autocommit=0…: the server's business, nothing to carry
    return Effect(SET, tuple(carried), sticky, local and sticky is None, autocommit_on)


def without_collation(item: str) -> str | None:
    """``NAMES cs COLLATE x`` → ``NAMES cs`` (the charset's default collation), None if no COLLATE.
    For clients that name a collation the backend lacks (MySQL 8's utf8mb4_0900_ai_ci on MariaDB)."""
    m = _NAMES_PARTS.match(item)
    if m is None or m.group(2) is None:
        return None
    return f"NAMES {m.group(1)}"


_CHARSETS: frozenset[str] | None = None
_COLLATIONS: frozenset[str] = frozenset()
_NAMES_PARTS = re.compile(r"\s*(?:NAMES|CHARACTER\s+SET|CHARSET)\s+(\S+?)(?:\s+COLLATE\s+(\S+))?\s*$", re.I | re.S)


def _known() -> tuple[frozenset[str], frozenset[str]]:
    global _CHARSETS, _COLLATIONS
    if _CHARSETS is None:
        from asyncmy.charset import charset_by_id

        names, collations = set(), set()
        for i in range(1, 2048):
            try:
                c = charset_by_id(i)
            except KeyError:
                continue
            names.add(c.name.lower())
            collations.add(c.collation.lower())
        _CHARSETS, _COLLATIONS = frozenset(names), frozenset(collations)
    return _CHARSETS, _COLLATIONS


def _unquote(v: str) -> str:
    v = v.strip()
    return v[1:-1] if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"`" else v


def _known_names(item: str) -> bool:
    m = _NAMES_PARTS.match(item)
    if m is None:
        return False
    charsets, collations = _known()
    cs = _unquote(m.group(1)).lower()
    return cs in charsets and (m.group(2) is None or _unquote(m.group(2)).lower() in collations)


def _known_charset_value(value: str) -> bool:
    charsets, collations = _known()
    v = _unquote(value).lower()
    return v in charsets or v in collations or value.upper() == "NULL"


#: Variables a SET NAMES / SET CHARACTER SET overrides (dropped from the carried state when one runs).
CHARSET_VARS = frozenset({"character_set_client", "character_set_connection", "character_set_results",
                          "collation_connection"})


def reset_items(keys: list[str]) -> list[str]:
    """SET items that bring carried variables back to the connection's defaults."""
    out = []
    for k in keys:
        out.append("NAMES utf8mb4" if k == "names" else f"SESSION {k} = DEFAULT")
    return out
