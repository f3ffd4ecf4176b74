"""The embedded backend's catalog: SHOW, DESCRIBE and information_schema, read from SQLite's schema.

Everything here reads the catalogs of the schema files attached to a session's connection
(``sqlite_master`` and the ``table_xinfo`` / ``index_list`` / ``index_xinfo`` pragmas) and presents
them the way MySQL 8 does:

* Types are the declared types, which the DDL translator keeps in MySQL's spelling; shown
  lower-cased (``varchar(20)``, ``int unsigned``). An AUTO_INCREMENT column is stored as SQLite's
  ``INTEGER PRIMARY KEY AUTOINCREMENT`` and shows as ``int``; ENUM columns show as ``enum``.
* SQLite index names are ``<table>.<key>`` (SQLite's index names are per schema, MySQL's per table);
  the prefix is removed here. The primary key is ``PRIMARY``.
* ``TABLE_ROWS``/``Rows`` are estimates (``MAX(rowid)``), as InnoDB's are; ``AUTO_INCREMENT`` comes
  from ``sqlite_sequence``.
* ``information_schema`` is an in-memory database attached to the session's connection
  (``SCHEMATA``, ``TABLES``, ``COLUMNS``, ``STATISTICS`` with MySQL's column names), refilled from
  the catalogs before a statement that reads it when any DDL ran since the last fill, so any SQL
  (joins, WHERE, ORDER BY) works on it.

SHOW … LIKE uses MySQL's LIKE (case-insensitive, ``%``/``_``, backslash escapes); SHOW … WHERE is
evaluated by SQLite over the rows. Unknown SHOW statements are a syntax error (1064).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence

import apsw

from proxyd.backends.column_types import column_types
from proxyd.backends.parameterize import scan
from proxyd.backends.translate import INFO_SCHEMA, NoDatabaseSelected, parse_mysql, quote_ident, syntax_error, to_sqlite
from proxyd.errors import UnknownDatabaseError, UnknownTableError
from proxyd.results import ResultSet, Warning_

__all__ = ["ColumnInfo", "IndexInfo", "tables", "table_kind", "columns", "indexes", "mysql_index_name",
           "create_table_sql", "show", "describe", "refresh_information_schema", "DEFAULT_VARIABLES",
           "attach_information_schema", "like_regex", "ShowContext"]

CHARSET = "utf8mb4"
COLLATION = "utf8mb4_0900_ai_ci"

# Session/global variables as SHOW VARIABLES lists them; the session overlays what SET changed.
DEFAULT_VARIABLES: dict[str, str] = {
    "auto_increment_increment": "1", "auto_increment_offset": "1", "autocommit": "ON",
    "character_set_client": CHARSET, "character_set_connection": CHARSET, "character_set_database": CHARSET,
    "character_set_results": CHARSET, "character_set_server": CHARSET, "character_set_system": "utf8mb3",
    "collation_connection": COLLATION, "collation_database": COLLATION, "collation_server": COLLATION,
    "default_storage_engine": "InnoDB", "default_week_format": "0", "div_precision_increment": "4",
    "explicit_defaults_for_timestamp": "ON", "foreign_key_checks": "ON", "group_concat_max_len": "1024",
    "have_ssl": "DISABLED", "init_connect": "", "innodb_lock_wait_timeout": "50", "interactive_timeout": "28800",
    "license": "Apache-2.0", "lock_wait_timeout": "31536000", "lower_case_table_names": "2",
    "max_allowed_packet": "67108864", "max_connections": "151", "max_execution_time": "0",
    "net_buffer_length": "16384", "net_read_timeout": "30", "net_write_timeout": "60",
    "performance_schema": "OFF", "protocol_version": "10", "query_cache_size": "0", "query_cache_type": "OFF",
    "read_only": "OFF", "sql_auto_is_null": "OFF", "sql_mode": "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,"
    "NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION",
    "sql_safe_updates": "OFF", "sql_select_limit": "18446744073709551615", "storage_engine": "InnoDB",
    "system_time_zone": "UTC", "time_zone": "SYSTEM", "transaction_isolation": "REPEATABLE-READ",
    "transaction_read_only": "OFF", "tx_isolation": "REPEATABLE-READ", "tx_read_only": "OFF",
    "unique_checks": "ON", "version_comment": "proxyd embedded backend (SQLite)", "version_compile_machine":
    "x86_64", "version_compile_os": "Linux", "wait_timeout": "28800",
}


class ShowContext(Protocol):
    """What SHOW needs from the session."""

    conn: apsw.Connection
    schema: str | None
    last_warnings: list[Warning_]
    connection_id: int
    user: str

    def schema_names(self) -> list[str]: ...

    def variables(self) -> dict[str, str]: ...

    def ensure_attached(self, schema: str) -> None: ...


# --------------------------------------------------------------------------------------------------
# Catalog reads


@dataclass(slots=True)
class ColumnInfo:
    name: str
    decltype: str
    nullable: bool
    default: str | None  # as MySQL shows it (unquoted text), None for no default / NULL
    pk: int  # 1-based position in the primary key, 0 if not in it
    auto_increment: bool
    generated: str  # '', 'VIRTUAL GENERATED', 'STORED GENERATED'
    key: str = ""  # 'PRI' | 'UNI' | 'MUL' | ''
    enum: str | None = None  # "'a','b'" for an ENUM column

    @property
    def mysql_type(self) -> str:
        if self.auto_increment and self.decltype.upper() == "INTEGER":
            return "int"
        if self.enum is not None:
            return f"enum({self.enum})"
        t = self.decltype.lower() or "blob"
        t = re.sub(r"\s*,\s*", ",", t)
        return "int" if t == "integer" else t


@dataclass(slots=True)
class IndexInfo:
    name: str  # MySQL name; PRIMARY for the primary key
    sqlite_name: str | None  # None for a rowid primary key (no separate index)
    unique: bool
    columns: list[str]
    primary: bool


def _q(schema: str) -> str:
    return quote_ident(schema)


def tables(conn: apsw.Connection, schema: str) -> list[tuple[str, str]]:
    """(name, 'BASE TABLE' | 'VIEW') of a schema's tables, sorted by name."""
    rows = conn.execute(
        f"SELECT name, type FROM {_q(schema)}.sqlite_master WHERE type IN ('table', 'view') "
        "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name").fetchall()
    return [(n, "VIEW" if t == "view" else "BASE TABLE") for n, t in rows]


def table_kind(conn: apsw.Connection, schema: str, table: str) -> str | None:
    row = conn.execute(f"SELECT type FROM {_q(schema)}.sqlite_master WHERE type IN ('table', 'view') "
                       "AND name = ? COLLATE NOCASE", (table,)).fetchone()
    return None if row is None else ("VIEW" if row[0] == "view" else "BASE TABLE")


def _table_sql(conn: apsw.Connection, schema: str, table: str) -> str:
    row = conn.execute(f"SELECT sql FROM {_q(schema)}.sqlite_master WHERE type IN ('table', 'view') "
                       "AND name = ? COLLATE NOCASE", (table,)).fetchone()
    return (row[0] or "") if row else ""


def _show_default(text: str | None) -> str | None:
    if text is None or text.upper() == "NULL":
        return None
    if text.upper() in ("(NOW())", "NOW()", "CURRENT_TIMESTAMP", "(CURRENT_TIMESTAMP)"):
        return "CURRENT_TIMESTAMP"
    if len(text) >= 2 and text[0] == "'" and text[-1] == "'":
        return text[1:-1].replace("''", "'")
    return text


# the CHECK the DDL translator writes for an ENUM column (see translate_ddl.ENUM_CHECK_PREFIX)
_ENUM_CHECK = re.compile(r'CONSTRAINT "proxyd_enum_(?:[^"]|"")+" CHECK \("((?:[^"]|"")+)" IN \(((?:\'(?:[^\']|\'\')*\'\s*,?\s*)+)\)\)')


def columns(conn: apsw.Connection, schema: str, table: str) -> list[ColumnInfo]:
    rows = conn.execute(f"PRAGMA {_q(schema)}.table_xinfo({quote_ident(table)})").fetchall()
    sql = _table_sql(conn, schema, table)
    autoinc = "AUTOINCREMENT" in sql.upper()
    enums = {m.group(1).replace('""', '"').lower(): re.sub(r"\s*,\s*", ",", m.group(2))
             for m in _ENUM_CHECK.finditer(sql)}
    out = []
    for _cid, name, decl, notnull, dflt, pk, hidden in rows:
        if hidden == 1:
            continue  # a virtual table's hidden column
        ai = bool(autoinc and pk and (decl or "").upper() == "INTEGER")
        out.append(ColumnInfo(name=name, decltype=decl or "", nullable=not notnull and not pk,
                              default=_show_default(dflt), pk=pk, auto_increment=ai,
                              generated={2: "VIRTUAL GENERATED", 3: "STORED GENERATED"}.get(hidden, ""),
                              enum=enums.get(name.lower())))
    if not out:
        return out
    idx = indexes(conn, schema, table)
    first_cols: dict[str, str] = {}
    for ix in idx:
        if ix.primary:
            continue
        col = ix.columns[0].lower() if ix.columns else ""
        kind = "UNI" if ix.unique and len(ix.columns) == 1 else "MUL"
        if first_cols.get(col) != "UNI":
            first_cols[col] = kind
    for c in out:
        c.key = "PRI" if c.pk else first_cols.get(c.name.lower(), "")
    return out


def mysql_index_name(sqlite_name: str, table: str) -> str:
    prefix = table + "."
    if sqlite_name.lower().startswith(prefix.lower()):
        return sqlite_name[len(prefix):]
    return sqlite_name.split(".", 1)[1] if "." in sqlite_name else sqlite_name


def indexes(conn: apsw.Connection, schema: str, table: str) -> list[IndexInfo]:
    q = _q(schema)
    out: list[IndexInfo] = []
    has_pk_index = False
    for _seq, name, unique, origin, _partial in conn.execute(f"PRAGMA {q}.index_list({quote_ident(table)})").fetchall():
        cols = [r[2] if r[2] is not None else "(expression)" for r in
                conn.execute(f"PRAGMA {q}.index_info({quote_ident(name)})").fetchall()]
        if origin == "pk":
            has_pk_index = True
            out.append(IndexInfo("PRIMARY", name, True, cols, True))
        elif origin == "u":
            out.append(IndexInfo(cols[0] if cols else name, name, True, cols, False))
        else:
            out.append(IndexInfo(mysql_index_name(name, table), name, bool(unique), cols, False))
    if not has_pk_index:  # an INTEGER PRIMARY KEY is the rowid: no index of its own
        pk = [r for r in conn.execute(f"PRAGMA {q}.table_info({quote_ident(table)})").fetchall() if r[5]]
        if pk:
            out.append(IndexInfo("PRIMARY", None, True, [r[1] for r in sorted(pk, key=lambda r: r[5])], True))
    out.sort(key=lambda i: (not i.primary, i.name.lower()))
    return out


def _next_autoinc(conn: apsw.Connection, schema: str, table: str) -> int | None:
    try:
        row = conn.execute(f"SELECT seq FROM {_q(schema)}.sqlite_sequence WHERE name = ? COLLATE NOCASE",
                           (table,)).fetchone()
    except apsw.SQLError:
        return None  # no AUTOINCREMENT table in this schema yet
    return (row[0] if row else 0) + 1


def _row_estimate(conn: apsw.Connection, schema: str, table: str) -> int:
    try:
        row = conn.execute(f"SELECT MAX(rowid) FROM {_q(schema)}.{quote_ident(table)}").fetchone()
    except apsw.SQLError:
        return 0
    return int(row[0] or 0) if row else 0


def _bq(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def create_table_sql(conn: apsw.Connection, schema: str, table: str) -> str:
    """SHOW CREATE TABLE's text, rebuilt from the catalog in MySQL's format."""
    cols = columns(conn, schema, table)
    lines = []
    for c in cols:
        parts = [_bq(c.name), c.mysql_type]
        if not c.nullable:
            parts.append("NOT NULL")
        if c.auto_increment:
            parts.append("AUTO_INCREMENT")
        elif c.default is not None:
            d = c.default
            literal = not (d == "CURRENT_TIMESTAMP" or d.startswith("("))
            parts.append("DEFAULT " + ("'" + d.replace("'", "''") + "'" if literal else d))
        elif c.nullable:
            parts.append("DEFAULT NULL")
        lines.append("  " + " ".join(parts))
    for ix in indexes(conn, schema, table):
        cl = ",".join(_bq(c) for c in ix.columns)
        if ix.primary:
            lines.append(f"  PRIMARY KEY ({cl})")
        else:
            lines.append(f"  {'UNIQUE KEY' if ix.unique else 'KEY'} {_bq(ix.name)} ({cl})")
    auto = ""
    if any(c.auto_increment for c in cols):
        nxt = _next_autoinc(conn, schema, table)
        auto = f" AUTO_INCREMENT={nxt}" if nxt and nxt > 1 else ""
    body = ",\n".join(lines)
    return (f"CREATE TABLE {_bq(table)} (\n{body}\n) ENGINE=InnoDB{auto} DEFAULT CHARSET={CHARSET} "
            f"COLLATE={COLLATION}")


# --------------------------------------------------------------------------------------------------
# SHOW


_ID = r"(?:`(?:[^`]|``)+`|[^\x00-\x23\x25-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]+)"
_STR = r"""(?:'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")"""
_FILTER = rf"(?:\s+LIKE\s+(?P<like>{_STR})|\s+WHERE\s+(?P<where>.+))?"


def _unq(name: str | None) -> str | None:
    if name is None:
        return None
    return name[1:-1].replace("``", "`") if name.startswith("`") else name


def _unstr(s: str) -> str:
    q = s[0]
    body = s[1:-1]
    return re.sub(r"\\(.)", r"\1", body.replace(q + q, q))


def like_regex(pattern: str) -> re.Pattern[str]:
    """MySQL LIKE as a regex: %, _, backslash escapes; case-insensitive."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "%" else "." if c == "_" else re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z", re.I | re.S)


def _result(ctx: ShowContext, names: Sequence[str], rows: list[tuple[Any, ...]], like: str | None = None,
            where: str | None = None, like_col: int = 0) -> ResultSet:
    if like is not None:
        rx = like_regex(_unstr(like))
        rows = [r for r in rows if r[like_col] is not None and rx.match(str(r[like_col]))]
    if where is not None:
        rows = _filter_where(ctx.conn, names, rows, where)
    return ResultSet(columns=list(names), rows=rows, types=column_types([None] * len(names), rows))


def _quote_names(cond: str, names: Sequence[str]) -> str:
    """Backquote the result's column names in a condition (Charset, Collation, Key… are keywords)."""
    s = scan(cond)
    words = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    quoted = re.sub(rf"(?<![`\w.])({words})(?![`\w])", r"`\1`", s.template, flags=re.I)
    parts = quoted.split("?")
    return parts[0] + "".join((raw if raw is not None else "?") + part for raw, part in zip(s.raws, parts[1:]))


def _filter_where(conn: apsw.Connection, names: Sequence[str], rows: list[tuple[Any, ...]], where: str) -> list[tuple[Any, ...]]:
    """Evaluate a SHOW … WHERE condition with SQLite over the rows."""
    if not rows:
        return rows
    tree = parse_mysql(f"SELECT 1 FROM _show WHERE {_quote_names(where, names)}")
    cond = to_sqlite(tree.args["where"].this)
    cols = ", ".join(quote_ident(n) for n in names)
    ph = "(" + ", ".join("?" * len(names)) + ")"
    values = ", ".join([ph] * len(rows))
    binds = [v for r in rows for v in r]
    sql = f"WITH _show({cols}) AS (VALUES {values}) SELECT * FROM _show WHERE {cond}"
    return [tuple(r) for r in conn.execute(sql, binds).fetchall()]


def _target_schema(ctx: ShowContext, db: str | None) -> str:
    """The schema a SHOW names (FROM db) or the current one, attached."""
    name = _unq(db) if db is not None else ctx.schema
    if name is None:
        raise NoDatabaseSelected()
    schema = name.lower()
    if schema != INFO_SCHEMA and schema not in ctx.schema_names():
        raise UnknownDatabaseError(f"Unknown database '{schema}'")
    ctx.ensure_attached(schema)
    return schema


def _require_table(ctx: ShowContext, schema: str, table: str) -> str:
    kind = table_kind(ctx.conn, schema, table)
    if kind is None:
        raise UnknownTableError(f"Table '{schema}.{table}' doesn't exist")
    return kind


def _show_columns(ctx: ShowContext, full: bool, table: str, db: str | None, like: str | None,
                  where: str | None) -> ResultSet:
    t = _unq(table) or ""
    if "." in t and db is None and not table.startswith("`"):
        db, t = t.split(".", 1)
    schema = _target_schema(ctx, db)
    _require_table(ctx, schema, t)
    rows = []
    for c in columns(ctx.conn, schema, t):
        extra = "auto_increment" if c.auto_increment else c.generated
        if c.default == "CURRENT_TIMESTAMP" and not extra:
            extra = "DEFAULT_GENERATED"
        null = "YES" if c.nullable else "NO"
        if full:
            textual = any(k in c.decltype.upper() for k in ("CHAR", "TEXT", "ENUM", "SET"))
            rows.append((c.name, c.mysql_type, COLLATION if textual else None, null, c.key, c.default, extra,
                         "select,insert,update,references", ""))
        else:
            rows.append((c.name, c.mysql_type, null, c.key, c.default, extra))
    names = (["Field", "Type", "Collation", "Null", "Key", "Default", "Extra", "Privileges", "Comment"] if full
             else ["Field", "Type", "Null", "Key", "Default", "Extra"])
    return _result(ctx, names, rows, like, where)


def describe(ctx: ShowContext, table: str, column: str | None = None) -> ResultSet:
    """DESCRIBE t [col]: SHOW COLUMNS, optionally one column (or a LIKE pattern)."""
    col = _unq(column)
    like = None
    if col is not None:
        like = "'" + col.replace("'", "''") + "'"
    return _show_columns(ctx, False, table, None, like, None)


def _show_index(ctx: ShowContext, table: str, db: str | None, where: str | None) -> ResultSet:
    t = _unq(table) or ""
    if "." in t and db is None and not table.startswith("`"):
        db, t = t.split(".", 1)
    schema = _target_schema(ctx, db)
    _require_table(ctx, schema, t)
    cols = {c.name.lower(): c for c in columns(ctx.conn, schema, t)}
    rows = []
    for ix in indexes(ctx.conn, schema, t):
        for seq, col in enumerate(ix.columns, 1):
            c = cols.get(col.lower())
            rows.append((t, 0 if ix.unique else 1, ix.name, seq, col, "A", None, None, None,
                         "YES" if c is not None and c.nullable else "", "BTREE", "", "", "YES", None))
    names = ["Table", "Non_unique", "Key_name", "Seq_in_index", "Column_name", "Collation", "Cardinality",
             "Sub_part", "Packed", "Null", "Index_type", "Comment", "Index_comment", "Visible", "Expression"]
    return _result(ctx, names, rows, None, where)


def _show_table_status(ctx: ShowContext, db: str | None, like: str | None, where: str | None) -> ResultSet:
    schema = _target_schema(ctx, db)
    rows = []
    for name, kind in tables(ctx.conn, schema):
        if kind == "VIEW":
            rows.append((name,) + (None,) * 16 + ("VIEW",))
            continue
        est = _row_estimate(ctx.conn, schema, name)
        auto = _next_autoinc(ctx.conn, schema, name) if any(
            c.auto_increment for c in columns(ctx.conn, schema, name)) else None
        rows.append((name, "InnoDB", 10, "Dynamic", est, 0, 0, 0, 0, 0, auto, None, None, None, COLLATION, None,
                     "", ""))
    names = ["Name", "Engine", "Version", "Row_format", "Rows", "Avg_row_length", "Data_length",
             "Max_data_length", "Index_length", "Data_free", "Auto_increment", "Create_time", "Update_time",
             "Check_time", "Collation", "Checksum", "Create_options", "Comment"]
    return _result(ctx, names, rows, like, where)


_SHOW_PATTERNS: list[tuple[re.Pattern[str], str]] = [(re.compile(p, re.I | re.S), name) for p, name in [
    (rf"SHOW\s+(?:DATABASES|SCHEMAS){_FILTER}", "databases"),
    (rf"SHOW\s+(?P<full>FULL\s+)?TABLES(?:\s+(?:FROM|IN)\s+(?P<db>{_ID}))?{_FILTER}", "tables"),
    (rf"SHOW\s+(?P<full>FULL\s+)?(?:COLUMNS|FIELDS)\s+(?:FROM|IN)\s+(?P<table>{_ID}(?:\.{_ID})?)"
     rf"(?:\s+(?:FROM|IN)\s+(?P<db>{_ID}))?{_FILTER}", "columns"),
    (rf"SHOW\s+(?:EXTENDED\s+)?(?:INDEX|INDEXES|KEYS)\s+(?:FROM|IN)\s+(?P<table>{_ID}(?:\.{_ID})?)"
     rf"(?:\s+(?:FROM|IN)\s+(?P<db>{_ID}))?(?:\s+WHERE\s+(?P<where>.+))?", "index"),
    (rf"SHOW\s+CREATE\s+(?:TABLE|VIEW)\s+(?P<table>{_ID}(?:\.{_ID})?)", "create_table"),
    (rf"SHOW\s+CREATE\s+(?:DATABASE|SCHEMA)\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<db>{_ID})", "create_database"),
    (rf"SHOW\s+TABLE\s+STATUS(?:\s+(?:FROM|IN)\s+(?P<db>{_ID}))?{_FILTER}", "table_status"),
    (rf"SHOW\s+(?:GLOBAL\s+|SESSION\s+|LOCAL\s+)?VARIABLES{_FILTER}", "variables"),
    (rf"SHOW\s+(?:GLOBAL\s+|SESSION\s+|LOCAL\s+)?STATUS{_FILTER}", "status"),
    (r"SHOW\s+(?P<kind>WARNINGS|ERRORS)(?:\s+LIMIT\s+(?:\d+\s*,\s*)?(?P<limit>\d+))?", "warnings"),
    (r"SHOW\s+COUNT\s*\(\s*\*\s*\)\s+(?P<kind>WARNINGS|ERRORS)", "count_warnings"),
    (r"SHOW\s+(?:STORAGE\s+)?ENGINES", "engines"),
    (rf"SHOW\s+(?:CHARACTER\s+SET|CHARSET){_FILTER}", "charset"),
    (rf"SHOW\s+COLLATION{_FILTER}", "collation"),
    (r"SHOW\s+(?:FULL\s+)?PROCESSLIST", "processlist"),
    (r"SHOW\s+GRANTS(?:\s+FOR\s+.+)?", "grants"),
    (rf"SHOW\s+(?:TRIGGERS|EVENTS)(?:\s+(?:FROM|IN)\s+{_ID})?{_FILTER}", "empty_triggers"),
    (rf"SHOW\s+(?:PROCEDURE|FUNCTION)\s+STATUS{_FILTER}", "empty_routines"),
    (r"SHOW\s+(?:MASTER|BINARY\s+LOG|REPLICA|SLAVE)\s+STATUS", "empty"),
    (r"SHOW\s+(?:PLUGINS|PRIVILEGES|PROFILES|OPEN\s+TABLES.*|(?:BINARY|MASTER)\s+LOGS)", "empty"),
]]


def show(ctx: ShowContext, text: str) -> ResultSet:
    """Answer a SHOW statement (``text`` without comments or trailing ``;``)."""
    text = text.strip().rstrip(";").strip()
    for rx, name in _SHOW_PATTERNS:
        m = rx.fullmatch(text)
        if m is not None:
            return _HANDLERS[name](ctx, m)
    raise syntax_error(text[4:].strip() if len(text) > 4 else text)


def _h_databases(ctx: ShowContext, m: re.Match[str]) -> ResultSet:
    rows = [(INFO_SCHEMA,)] + [(s,) for s in sorted(ctx.schema_names())]
    return _result(ctx, ["Database"], rows, m.group("like"), m.group("where"))


def _h_tables(ctx: ShowContext, m: re.Match[str]) -> ResultSet:
    schema = _target_schema(ctx, m.group("db"))
    names = [f"Tables_in_{schema}"] + (["Table_type"] if m.group("full") else [])
    rows = [((n, k) if m.group("full") else (n,)) for n, k in tables(ctx.conn, schema)]
    return _result(ctx, names, rows, m.group("like"), m.group("where"))


def _h_columns(ctx: ShowContext, m: re.Match[str]) -> ResultSet:
    return _show_columns(ctx, bool(m.group("full")), m.group("table"), m.group("db"), m.group("like"),
                         m.group("where"))


def _h_index(ctx: ShowContext, m: re.Match[str]) -> ResultSet:
    return _show_index(ctx, m.group("table"), m.group("db"), m.group("where"))


def _h_create_table(ctx: ShowContext, m: re.Match[str]) -> ResultSet:
    raw = m.group("table")
    db = None
    parts = re.findall(_ID, raw)
    if len(parts) == 2:
        db, raw = parts
    t = _unq(raw) or ""
    schema = _target_schema(ctx, db)
    kind = _require_table(ctx, schema, t)
    if kind == "VIEW":
        body = _table_sql(ctx.conn, schema, t)
        sel = re.split(r"\bAS\b", body, maxsplit=1, flags=re.I)[-1].strip()
        rows = [(t, f"CREATE ALGORITHM=UNDEFINED DEFINER=CURRENT_USER SQL SECURITY DEFINER VIEW {_bq(t)} AS {sel}",
                 CHARSET, COLLATION)]
        return _result(ctx, ["View", "Create View", "character_set_client", "collation_connection"], rows)
    return _result(ctx, ["Table", "Create Table"], [(t, create_table_sql(ctx.conn, schema, t))])


def _h_create_database(ctx: ShowContext, m: re.Match[str]) -> ResultSet:
    db = (_unq(m.group("db")) or "").lower()
    if db != INFO_SCHEMA and db not in ctx.schema_names():
        raise UnknownDatabaseError(f"Unknown database '{db}'")
    text = (f"CREATE DATABASE {_bq(db)} /*!40100 DEFAULT CHARACTER SET {CHARSET} COLLATE {COLLATION} */ "
            "/*!80016 DEFAULT ENCRYPTION='N' */")
    return _result(ctx, ["Database", "Create Database"], [(db, text)])


def _h_table_status(ctx: ShowContext, m: re.Match[str]) -> ResultSet:
    return _show_table_status(ctx, m.group("db"), m.group("like"), m.group("where"))


def _h_variables(ctx: ShowContext, m: re.Match[str]) -> ResultSet:
    rows = sorted(ctx.variables().items())
    return _result(ctx, ["Variable_name", "Value"], rows, m.group("like"), m.group("where"))


def _h_status(ctx: ShowContext, m: re.Match[str]) -> ResultSet:
    rows = [("Threads_connected", "1"), ("Uptime", "0")]
    return _result(ctx, ["Variable_name", "Value"], rows, m.group("like"), m.group("where"))


def _h_warnings(ctx: ShowContext, m: re.Match[str]) -> ResultSet:
    errors_only = m.group("kind").upper() == "ERRORS"
    rows = [(w.level, w.code, w.message) for w in ctx.last_warnings if not errors_only or w.level == "Error"]
    if m.group("limit") is not None:
        rows = rows[:int(m.group("limit"))]
    return ResultSet(columns=["Level", "Code", "Message"], rows=rows, types=column_types(["TEXT", "INT", "TEXT"], rows))


def _h_count_warnings(ctx: ShowContext, m: re.Match[str]) -> ResultSet:
    errors_only = m.group("kind").upper() == "ERRORS"
    n = sum(1 for w in ctx.last_warnings if not errors_only or w.level == "Error")
    name = f"@@session.{'error' if errors_only else 'warning'}_count"
    return ResultSet(columns=[name], rows=[(n,)], types=column_types(["INT"], [(n,)]))


def _h_engines(ctx: ShowContext, m: re.Match[str]) -> ResultSet:
    rows = [("InnoDB", "DEFAULT", "SQLite files under the proxyd datadir", "YES", "NO", "YES")]
    return _result(ctx, ["Engine", "Support", "Comment", "Transactions", "XA", "Savepoints"], rows)


def _h_charset(ctx: ShowContext, m: re.Match[str]) -> ResultSet:
    rows = [(CHARSET, "UTF-8 Unicode", COLLATION, 4)]
    return _result(ctx, ["Charset", "Description", "Default collation", "Maxlen"], rows, m.group("like"), m.group("where"))


def _h_collation(ctx: ShowContext, m: re.Match[str]) -> ResultSet:
    rows = [(COLLATION, CHARSET, 255, "Yes", "Yes", 0, "NO PAD"), ("utf8mb4_bin", CHARSET, 46, "", "Yes", 1, "PAD SPACE")]
    return _result(ctx, ["Collation", "Charset", "Id", "Default", "Compiled", "Sortlen", "Pad_attribute"], rows,
                   m.group("like"), m.group("where"))


def _h_processlist(ctx: ShowContext, m: re.Match[str]) -> ResultSet:
    rows = [(ctx.connection_id, ctx.user, "localhost", ctx.schema, "Query", 0, "executing", "SHOW PROCESSLIST")]
    return _result(ctx, ["Id", "User", "Host", "db", "Command", "Time", "State", "Info"], rows)


def _h_grants(ctx: ShowContext, m: re.Match[str]) -> ResultSet:
    user = ctx.user.split("@")[0] or "root"
    name = f"Grants for {user}@%"
    return _result(ctx, [name], [(f"GRANT ALL PRIVILEGES ON *.* TO `{user}`@`%`",)])


def _h_empty_triggers(ctx: ShowContext, m: re.Match[str]) -> ResultSet:
    return _result(ctx, ["Trigger", "Event", "Table", "Statement", "Timing", "Created", "sql_mode", "Definer",
                         "character_set_client", "collation_connection", "Database Collation"], [])


def _h_empty_routines(ctx: ShowContext, m: re.Match[str]) -> ResultSet:
    return _result(ctx, ["Db", "Name", "Type", "Definer", "Modified", "Created", "Security_type", "Comment",
                         "character_set_client", "collation_connection", "Database Collation"], [])


def _h_empty(ctx: ShowContext, m: re.Match[str]) -> ResultSet:
    return ResultSet(columns=["Value"], rows=[], types=column_types([None], []))


_HANDLERS: dict[str, Callable[[ShowContext, re.Match[str]], ResultSet]] = {
    name[3:]: fn for name, fn in globals().items() if name.startswith("_h_")
}


# --------------------------------------------------------------------------------------------------
# information_schema

_IS_TABLES = {
    "SCHEMATA": [("CATALOG_NAME", "VARCHAR(64)"), ("SCHEMA_NAME", "VARCHAR(64)"),
                 ("DEFAULT_CHARACTER_SET_NAME", "VARCHAR(64)"), ("DEFAULT_COLLATION_NAME", "VARCHAR(64)"),
                 ("SQL_PATH", "BINARY(0)"), ("DEFAULT_ENCRYPTION", "VARCHAR(3)")],
    "TABLES": [("TABLE_CATALOG", "VARCHAR(64)"), ("TABLE_SCHEMA", "VARCHAR(64)"), ("TABLE_NAME", "VARCHAR(64)"),
               ("TABLE_TYPE", "VARCHAR(64)"), ("ENGINE", "VARCHAR(64)"), ("VERSION", "INT"),
               ("ROW_FORMAT", "VARCHAR(10)"), ("TABLE_ROWS", "BIGINT UNSIGNED"), ("AVG_ROW_LENGTH", "BIGINT UNSIGNED"),
               ("DATA_LENGTH", "BIGINT UNSIGNED"), ("MAX_DATA_LENGTH", "BIGINT UNSIGNED"),
               ("INDEX_LENGTH", "BIGINT UNSIGNED"), ("DATA_FREE", "BIGINT UNSIGNED"),
               ("AUTO_INCREMENT", "BIGINT UNSIGNED"), ("CREATE_TIME", "TIMESTAMP"), ("UPDATE_TIME", "DATETIME"),
               ("CHECK_TIME", "DATETIME"), ("TABLE_COLLATION", "VARCHAR(64)"), ("CHECKSUM", "BIGINT"),
               ("CREATE_OPTIONS", "VARCHAR(256)"), ("TABLE_COMMENT", "TEXT")],
    "COLUMNS": [("TABLE_CATALOG", "VARCHAR(64)"), ("TABLE_SCHEMA", "VARCHAR(64)"), ("TABLE_NAME", "VARCHAR(64)"),
                ("COLUMN_NAME", "VARCHAR(64)"), ("ORDINAL_POSITION", "INT UNSIGNED"), ("COLUMN_DEFAULT", "TEXT"),
                ("IS_NULLABLE", "VARCHAR(3)"), ("DATA_TYPE", "LONGTEXT"), ("CHARACTER_MAXIMUM_LENGTH", "BIGINT"),
                ("CHARACTER_OCTET_LENGTH", "BIGINT"), ("NUMERIC_PRECISION", "BIGINT UNSIGNED"),
                ("NUMERIC_SCALE", "BIGINT UNSIGNED"), ("DATETIME_PRECISION", "INT UNSIGNED"),
                ("CHARACTER_SET_NAME", "VARCHAR(64)"), ("COLLATION_NAME", "VARCHAR(64)"), ("COLUMN_TYPE", "MEDIUMTEXT"),
                ("COLUMN_KEY", "VARCHAR(3)"), ("EXTRA", "VARCHAR(256)"), ("PRIVILEGES", "VARCHAR(154)"),
                ("COLUMN_COMMENT", "TEXT"), ("GENERATION_EXPRESSION", "LONGTEXT"), ("SRS_ID", "INT UNSIGNED")],
    "STATISTICS": [("TABLE_CATALOG", "VARCHAR(64)"), ("TABLE_SCHEMA", "VARCHAR(64)"), ("TABLE_NAME", "VARCHAR(64)"),
                   ("NON_UNIQUE", "INT"), ("INDEX_SCHEMA", "VARCHAR(64)"), ("INDEX_NAME", "VARCHAR(64)"),
                   ("SEQ_IN_INDEX", "INT UNSIGNED"), ("COLUMN_NAME", "VARCHAR(64)"), ("COLLATION", "VARCHAR(1)"),
                   ("CARDINALITY", "BIGINT"), ("SUB_PART", "BIGINT"), ("PACKED", "BINARY(0)"),
                   ("NULLABLE", "VARCHAR(3)"), ("INDEX_TYPE", "VARCHAR(11)"), ("COMMENT", "VARCHAR(8)"),
                   ("INDEX_COMMENT", "VARCHAR(2048)"), ("IS_VISIBLE", "VARCHAR(3)"), ("EXPRESSION", "LONGTEXT")],
}


def attach_information_schema(conn: apsw.Connection) -> None:
    """Attach the (empty) in-memory information_schema database with MySQL's table layouts."""
    conn.execute(f"ATTACH DATABASE ':memory:' AS {INFO_SCHEMA}")
    for name, cols in _IS_TABLES.items():
        body = ", ".join(f"{quote_ident(c)} {t}" for c, t in cols)
        conn.execute(f"CREATE TABLE {INFO_SCHEMA}.{quote_ident(name)} ({body})")


_LEN = re.compile(r"\((\d+)(?:\s*,\s*(\d+))?\)")
_NUMERIC_PRECISION = {"tinyint": 3, "smallint": 5, "mediumint": 7, "int": 10, "integer": 10, "bigint": 19,
                      "float": 12, "double": 22, "real": 22}


def _column_row(schema: str, table: str, pos: int, c: ColumnInfo) -> tuple[Any, ...]:
    ctype = c.mysql_type
    data_type = ctype.split("(")[0].split()[0] if ctype else ""
    m = _LEN.search(ctype)
    textual = any(k in data_type for k in ("char", "text", "enum", "set"))
    char_len = int(m.group(1)) if m and textual else (65535 if data_type == "text" else None)
    num_prec = num_scale = None
    if data_type in ("decimal", "numeric"):
        num_prec = int(m.group(1)) if m else 10
        num_scale = int(m.group(2)) if m and m.group(2) else 0
    elif data_type in _NUMERIC_PRECISION:
        num_prec = _NUMERIC_PRECISION[data_type]
        num_scale = 0 if "int" in data_type else None
    extra = "auto_increment" if c.auto_increment else c.generated
    return ("def", schema, table, c.name, pos, c.default, "YES" if c.nullable else "NO", data_type, char_len,
            char_len * 4 if char_len else None, num_prec, num_scale,
            0 if data_type in ("datetime", "timestamp", "time") else None,
            CHARSET if textual else None, COLLATION if textual else None, ctype, c.key, extra,
            "select,insert,update,references", "", "", None)


def refresh_information_schema(conn: apsw.Connection, schemas: Sequence[str]) -> None:
    """Refill information_schema from the catalogs of ``schemas`` (all attached to ``conn``)."""
    s_rows, t_rows, c_rows, i_rows = [], [], [], []
    s_rows.append(("def", INFO_SCHEMA, "utf8mb3", "utf8mb3_general_ci", None, "NO"))
    for schema in sorted(schemas):
        s_rows.append(("def", schema, CHARSET, COLLATION, None, "NO"))
        for name, kind in tables(conn, schema):
            if kind == "VIEW":
                t_rows.append(("def", schema, name, "VIEW") + (None,) * 16 + ("VIEW",))
            else:
                cols = columns(conn, schema, name)
                auto = _next_autoinc(conn, schema, name) if any(c.auto_increment for c in cols) else None
                t_rows.append(("def", schema, name, "BASE TABLE", "InnoDB", 10, "Dynamic",
                               _row_estimate(conn, schema, name), 0, 0, 0, 0, 0, auto, None, None, None,
                               COLLATION, None, "", ""))
                for ix in indexes(conn, schema, name):
                    for seq, col in enumerate(ix.columns, 1):
                        i_rows.append(("def", schema, name, 0 if ix.unique else 1, schema, ix.name, seq, col, "A",
                                       None, None, None, "", "BTREE", "", "", "YES", None))
            for pos, c in enumerate(columns(conn, schema, name), 1):
                c_rows.append(_column_row(schema, name, pos, c))
    with conn:
        for name, rows in (("SCHEMATA", s_rows), ("TABLES", t_rows), ("COLUMNS", c_rows), ("STATISTICS", i_rows)):
            conn.execute(f"DELETE FROM {INFO_SCHEMA}.{name}")
            if rows:
                ph = ", ".join("?" * len(rows[0]))
                conn.executemany(f"INSERT INTO {INFO_SCHEMA}.{name} VALUES ({ph})", rows)
