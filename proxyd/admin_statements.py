"""Built-in admin statements that are not commands: SHOW …, SET …, SELECT @@…, client probes.

Each handler takes the session and the regex match and returns an Ok or a ResultSet. They are
tried in order after the command registry and before plain SQLite SQL.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Callable

from proxyd import __version__
from proxyd.errors import (
    CommandDeniedError,
    ParseError,
    ProxydError,
    UnknownDatabaseError,
    UnknownTableError,
    UnknownVariableError,
)
from proxyd.results import Ok, ResultSet
from proxyd.sqltext import split_top_level

if TYPE_CHECKING:
    from proxyd.admin import AdminFrontend, AdminSession

VERSION_COMMENT = "(proxyd Admin Module)"

#: Fixed answers for the session variables connectors and GUI tools probe on connect.
MYSQL_SESSION_VARIABLES: dict[str, Any] = {
    "version_comment": VERSION_COMMENT, "auto_increment_increment": 1, "autocommit": 1,
    "character_set_client": "utf8", "character_set_connection": "utf8", "character_set_results": "utf8",
    "character_set_server": "utf8", "character_set_database": "utf8", "collation_server": "utf8_general_ci",
    "collation_connection": "utf8_general_ci", "init_connect": "", "interactive_timeout": 28800,
    "license": "GPL", "lower_case_table_names": 0, "max_allowed_packet": 67108864, "net_buffer_length": 16384,
    "net_write_timeout": 60, "performance_schema": 0, "query_cache_size": 0, "query_cache_type": "OFF",
    "sql_mode": "", "system_time_zone": "UTC", "time_zone": "SYSTEM", "transaction_isolation": "REPEATABLE-READ",
    "tx_isolation": "REPEATABLE-READ", "wait_timeout": 28800, "sql_auto_is_null": 0, "sql_select_limit": None,
    "transaction_read_only": 0, "tx_read_only": 0, "session_track_schema": 1, "protocol_version": 10,
}

CHARSETS = [("utf8mb4", "UTF-8 Unicode", "utf8mb4_general_ci", 4), ("utf8", "UTF-8 Unicode", "utf8_general_ci", 3),
            ("latin1", "cp1252 West European", "latin1_swedish_ci", 1), ("ascii", "US ASCII", "ascii_general_ci", 1),
            ("binary", "Binary pseudo charset", "binary", 1)]
COLLATIONS = [("utf8mb4_general_ci", "utf8mb4", 45, "Yes", "Yes", 1), ("utf8_general_ci", "utf8", 33, "Yes", "Yes", 1),
              ("latin1_swedish_ci", "latin1", 8, "Yes", "Yes", 1), ("ascii_general_ci", "ascii", 11, "Yes", "Yes", 1),
              ("binary", "binary", 63, "Yes", "Yes", 1)]

Handler = Callable[["AdminFrontend", "AdminSession", re.Match], Ok | ResultSet]
_HANDLERS: list[tuple[re.Pattern, Handler]] = []


def statement(pattern: str) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        _HANDLERS.append((re.compile(pattern, re.I | re.S), fn))
        return fn
    return deco


def match_builtin(canonical: str) -> tuple[Handler, re.Match] | None:
    for rx, fn in _HANDLERS:
        m = rx.fullmatch(canonical)
        if m:
            return fn, m
    return None


def unquote_ident(name: str) -> str:
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "`\"'":
        return name[1:-1]
    return name


def parse_literal(text: str) -> str:
    """A SET value: quoted string (SQL escapes) or a bare word/number, as text."""
    text = text.strip()
    if len(text) >= 2 and text[0] in "'\"" and text[-1] == text[0]:
        q = text[0]
        body = text[1:-1]
        if re.search(rf"(?<!{q}){q}(?!{q})", body.replace(q * 2, "")):
            raise ParseError(f"bad string literal: {text}")
        return body.replace(q * 2, q).replace("\\" + q, q)
    if not text or re.search(r"\s", text):
        raise ParseError(f"bad value: '{text}' (quote values that contain spaces)")
    return text


# -- client compatibility ---------------------------------------------------------------------
@statement(r"(BEGIN|START TRANSACTION.*|COMMIT|ROLLBACK|UNLOCK TABLES|LOCK TABLES? .*|USE \S+|/\*!.*\*/|"
           r"SET (NAMES|CHARACTER SET|CHARSET|AUTOCOMMIT|SESSION|@@|@|SQL_|CHARACTER_SET_|TRANSACTION|TIME_ZONE|"
           r"FOREIGN_KEY_CHECKS|UNIQUE_CHECKS|OLD_|NET_|WAIT_|INTERACTIVE_|GLOBAL (?!\w+-)).*)")
def compat_noop(fe, session, m):
    return Ok()


@statement(r"SELECT ((?:CURRENT_)?USER)\(\)")
def select_user(fe, session, m):
    # MySQL names the column in lower case whatever the spelling (SQLite would echo the text).
    return ResultSet([m.group(1).lower() + "()"], [(f"{session.user}@{session.client_host}",)])


# -- SET <prefix>-<name> = value --------------------------------------------------------------
@statement(r"SET (?:GLOBAL )?(\w+-\w+)\s*(?:=|:=|\s)\s*(.+)")
def set_variable(fe, session, m):
    fe.check_writable(session)
    name, raw = m.group(1).lower(), m.group(2)
    value = parse_literal(raw)
    var = fe.core.variables.get_def(name)
    if var.readonly:
        raise ProxydError(f"Variable '{name}' is a read only variable", 1238, "HY000")
    value = fe.core.variables.validate(name, value)
    fe.core.store.execute("INSERT OR REPLACE INTO main.global_variables VALUES (?,?)", (name, value))
    return Ok(affected_rows=1)


# -- SELECT @@… -------------------------------------------------------------------------------
_VAR = r"@@(?:(?:global|session|local)\.)?[\w]+(?:-[\w]+)?"
_ALIAS = r"(?:\s+(?:AS\s+)?(?:`[^`]+`|'[^']+'|\"[^\"]+\"|\w+))?"


@statement(rf"SELECT\s+({_VAR}{_ALIAS}(?:\s*,\s*{_VAR}{_ALIAS})*)(?:\s+LIMIT\s+\d+)?")
def select_variables(fe, session, m):
    cols, values = [], []
    for item in re.finditer(rf"({_VAR})({_ALIAS})", m.group(1), re.I):
        expr, alias = item.group(1), item.group(2).strip()
        if alias:
            alias = unquote_ident(re.sub(r"^AS\s+", "", alias, flags=re.I))
        cols.append(alias or expr)
        values.append(fe.variable_value(session, expr))
    return ResultSet(cols, [tuple(values)])


# -- SHOW … -----------------------------------------------------------------------------------
@statement(r"SHOW (?:DATABASES|SCHEMAS)")
def show_databases(fe, session, m):
    cols, rows = fe.core.store.query("PRAGMA database_list")
    if session.role == "stats":
        rows = [r for r in rows if r[1] == "stats"]
    return ResultSet(["seq", "name", "file"], [tuple(r[:3]) for r in rows])


@statement(r"SHOW (?:FULL )?TABLES(?: (?:FROM|IN) (\S+))?(?: LIKE (.+))?")
def show_tables(fe, session, m):
    schema = unquote_ident(m.group(1)) if m.group(1) else ("stats" if session.role == "stats" else "main")
    schema = schema.lower()
    if schema not in ("main", "disk", "stats") or (session.role == "stats" and schema != "stats"):
        raise UnknownDatabaseError(f"Unknown database '{schema}'")
    sql = f"SELECT name FROM {schema}.sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
    args: tuple = ()
    if m.group(2):
        sql += " AND name LIKE ?"
        args = (parse_literal(m.group(2)),)
    return ResultSet(["tables"], fe.core.store.execute(sql + " ORDER BY name", args))


def _split_table(ref: str, session) -> tuple[str, str]:
    ref = ref.strip()
    parts = [unquote_ident(p) for p in re.split(r"\.(?=(?:[^`]*`[^`]*`)*[^`]*$)", ref)]
    if len(parts) == 2:
        return parts[0].lower(), parts[1]
    return ("stats" if session.role == "stats" else "main"), parts[0]


def _existing_table(fe, session, ref: str) -> tuple[str, str, str]:
    schema, table = _split_table(ref, session)
    if schema not in ("main", "disk", "stats"):
        raise UnknownDatabaseError(f"Unknown database '{schema}'")
    if session.role == "stats" and schema != "stats":
        raise CommandDeniedError(f"SELECT command denied to user '{session.user}' for table '{table}'")
    rows = fe.core.store.execute(f"SELECT name, sql FROM {schema}.sqlite_master WHERE type='table' "
                                 "AND name=? COLLATE NOCASE", (table,))
    if not rows:
        raise UnknownTableError(f"Table '{schema}.{table}' doesn't exist")
    return schema, rows[0][0], rows[0][1]


def format_ddl(sql: str) -> str:
    """SQLite DDL with one column (or constraint) per line, indented four spaces."""
    head, sep, body = sql.partition("(")
    if not sep:
        return sql
    body = body.rstrip()
    if body.endswith(")"):
        body = body[:-1]
    parts = [p.strip() for p in split_top_level(body)]
    return head.strip() + " (\n" + ",\n".join("    " + " ".join(p.split()) for p in parts if p) + ")"


@statement(r"SHOW CREATE TABLE (.+)")
def show_create_table(fe, session, m):
    _, name, sql = _existing_table(fe, session, m.group(1))
    return ResultSet(["table", "Create Table"], [(name, format_ddl(sql))])


@statement(r"SHOW (?:FULL )?(?:FIELDS|COLUMNS) (?:FROM|IN) (\S+)(?: (?:FROM|IN) (\S+))?(?: LIKE (.+))?")
def show_fields(fe, session, m):
    ref = f"{m.group(2)}.{m.group(1)}" if m.group(2) else m.group(1)
    schema, name, _ = _existing_table(fe, session, ref)
    rows = fe.core.store.execute(f'PRAGMA {schema}.table_info("{name}")')
    pat = re.compile(_like_to_regex(parse_literal(m.group(3))), re.I) if m.group(3) else None
    out = [(r[1], r[2] or "", "NO" if r[3] or r[5] else "YES", "PRI" if r[5] else "", r[4], "")
           for r in rows if not pat or pat.fullmatch(r[1])]
    return ResultSet(["Field", "Type", "Null", "Key", "Default", "Extra"], out)


def _like_to_regex(pattern: str) -> str:
    out = ""
    for ch in pattern:
        out += ".*" if ch == "%" else "." if ch == "_" else re.escape(ch)
    return out


@statement(r"SHOW TABLE STATUS(?: (?:FROM|IN) (\S+))?(?: LIKE (.+))?")
def show_table_status(fe, session, m):
    tables = show_tables(fe, session, m).rows
    cols = ["Name", "Engine", "Version", "Row_format", "Rows", "Avg_row_length", "Data_length", "Max_data_length",
            "Index_length", "Data_free", "Auto_increment", "Create_time", "Update_time", "Check_time", "Collation",
            "Checksum", "Create_options", "Comment"]
    return ResultSet(cols, [(t[0], "SQLite", 10, "Dynamic", 0, 0, 0, 0, 0, 0, None, None, None, None,
                             "utf8_general_ci", None, "", "") for t in tables])


@statement(r"SHOW (?:(GLOBAL|SESSION|ALL|\w+) )?VARIABLES(?: (LIKE|WHERE) (.+))?")
def show_variables(fe, session, m):
    scope = (m.group(1) or "").lower()
    sql = "SELECT variable_name AS Variable_name, variable_value AS Value FROM main.global_variables"
    conds, args = [], []
    if scope and scope not in ("global", "session", "all"):
        if scope not in fe.core.variables.prefixes():
            raise ParseError(f"Unknown variable module '{m.group(1)}' in SHOW {m.group(1)} VARIABLES")
        conds.append("variable_name LIKE ?")
        args.append(scope + "-%")
    if session.role == "stats":  # stats users must not read the admin/stats passwords
        conds.append("Variable_name NOT LIKE '%credentials'")
    if m.group(2):
        if m.group(2).upper() == "LIKE":
            conds.append("variable_name LIKE ?")
            args.append(parse_literal(m.group(3)))
        else:
            conds.append("(" + re.sub(r"\bVariable_name\b", "variable_name", m.group(3), flags=re.I) + ")")
    if conds:
        sql = f"SELECT * FROM ({sql}) WHERE " + " AND ".join(c.replace("variable_name", "Variable_name")
                                                            for c in conds)
    cols, rows = fe.core.store.query(sql + " ORDER BY 1", args)
    return ResultSet(["Variable_name", "Value"], rows)


@statement(r"SHOW MYSQL (USERS|SERVERS)")
def show_mysql_table(fe, session, m):
    table = "mysql_" + m.group(1).lower()
    if session.role == "stats":  # main tables (user passwords) are not the stats schema
        raise CommandDeniedError(f"SELECT command denied to user '{session.user}' for table '{table}'")
    order = "username, backend" if table == "mysql_users" else "hostgroup_id, hostname, port"
    cols, rows = fe.core.store.query(f"SELECT * FROM main.{table} ORDER BY {order}")
    return ResultSet(cols, rows)


@statement(r"SHOW MYSQL STATUS")
def show_mysql_status(fe, session, m):
    fe.core.refresh_tables_named_in("stats_mysql_global")
    return ResultSet(["Variable_name", "Value"],
                     fe.core.store.execute("SELECT * FROM stats.stats_mysql_global ORDER BY 1"))


@statement(r"SHOW (FULL )?PROCESSLIST")
def show_processlist(fe, session, m):
    fe.core.refresh_tables_named_in("stats_mysql_processlist")
    cols, rows = fe.core.store.query("SELECT * FROM stats.stats_mysql_processlist ORDER BY SessionID")
    if not m.group(1):
        keep = ["SessionID", "user", "db", "hostgroup", "command", "time_ms", "info"]
        idx = [cols.index(c) for c in keep]
        return ResultSet(keep, [tuple(r[i] for i in idx) for r in rows])
    return ResultSet(cols, rows)


@statement(r"SHOW (?:CHARSET|CHARACTER SET)(?: LIKE (.+))?")
def show_charset(fe, session, m):
    rows = CHARSETS
    if m.group(1):
        rx = re.compile(_like_to_regex(parse_literal(m.group(1))), re.I)
        rows = [r for r in rows if rx.fullmatch(r[0])]
    return ResultSet(["Charset", "Description", "Default collation", "Maxlen"], rows)


@statement(r"SHOW COLLATION(?: LIKE (.+))?")
def show_collation(fe, session, m):
    rows = COLLATIONS
    if m.group(1):
        rx = re.compile(_like_to_regex(parse_literal(m.group(1))), re.I)
        rows = [r for r in rows if rx.fullmatch(r[0])]
    return ResultSet(["Collation", "Charset", "Id", "Default", "Compiled", "Sortlen"], rows)


@statement(r"SHOW (WARNINGS|ERRORS)(?: LIMIT (?:(\d+)\s*,\s*)?(\d+))?")
def show_warnings(fe, session, m):
    ws = session.last_warnings
    if m.group(1).upper() == "ERRORS":
        ws = [w for w in ws if w.level == "Error"]
    rows = [(w.level, w.code, w.message) for w in ws]
    if m.group(3):
        off = int(m.group(2) or 0)
        rows = rows[off: off + int(m.group(3))]
    return ResultSet(["Level", "Code", "Message"], rows)


@statement(r"SHOW COUNT\(\*\) (WARNINGS|ERRORS)")
def show_count_warnings(fe, session, m):
    ws = session.last_warnings
    n = len(ws) if m.group(1).upper() == "WARNINGS" else len([w for w in ws if w.level == "Error"])
    return ResultSet([f"@@session.{m.group(1).lower()[:-1]}_count"], [(n,)])


def session_variable(name: str) -> Any:
    key = name.lower()
    if key == "version":
        return f"8.0.11 (proxyd {__version__})"
    if key in MYSQL_SESSION_VARIABLES:
        return MYSQL_SESSION_VARIABLES[key]
    raise UnknownVariableError(f"Unknown system variable '{name}'")
