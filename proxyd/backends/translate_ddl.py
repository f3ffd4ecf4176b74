"""MySQL DDL → SQLite DDL for the embedded backend.

DDL is rare, so it is parsed on every execution (no cache) and may read the catalog.

CREATE TABLE (parsed with sqlglot's MySQL dialect, emitted by hand because sqlglot's SQLite output
drops or garbles most of it):

* Types keep MySQL's spelling (``VARCHAR(20)``, ``INT UNSIGNED``, ``DATETIME``): SQLite derives the
  same affinities from them, and DESCRIBE / result types read them back. ``ENUM('a','b')`` becomes
  ``ENUM`` plus ``CHECK (c IN ('a','b'))`` (SQLite type names cannot hold strings).
  ``UNSIGNED``/``ZEROFILL``/display widths are kept as text but not enforced.
* ``AUTO_INCREMENT`` on the primary key → ``INTEGER PRIMARY KEY AUTOINCREMENT`` (ids are never
  reused, like InnoDB's persistent counter); ``AUTO_INCREMENT=n`` seeds ``sqlite_sequence``.
  AUTO_INCREMENT on a column that is not the whole primary key is refused.
* Primary key columns are NOT NULL (MySQL's rule; SQLite would allow NULLs).
* ``KEY``/``INDEX``/``UNIQUE KEY`` become ``CREATE [UNIQUE] INDEX "<table>.<key>"`` (SQLite index
  names are per schema, MySQL's per table); prefix lengths ``c(10)`` are dropped, FULLTEXT/SPATIAL
  keys become plain indexes.
* Text columns get ``COLLATE NOCASE`` (MySQL's default ``utf8mb4_0900_ai_ci`` compares
  case-insensitively; NOCASE folds ASCII only) unless their collation is ``*_bin``.
* ``DEFAULT CURRENT_TIMESTAMP`` → ``DEFAULT (NOW())`` (local time like MySQL, not SQLite's UTC).
  ``ON UPDATE CURRENT_TIMESTAMP``, comments, character sets, ENGINE/CHARSET/ROW_FORMAT options are
  dropped. FOREIGN KEYs and CHECKs are kept (foreign keys are enforced: the session turns
  ``PRAGMA foreign_keys`` on), and must reference a table in the same schema.

ALTER TABLE supports ADD/DROP/RENAME COLUMN, ADD/DROP INDEX/KEY/UNIQUE, RENAME TO, and (by
rebuilding the table: create, copy, drop, rename, re-create indexes) MODIFY, CHANGE and ALTER
COLUMN SET/DROP DEFAULT; FIRST/AFTER are ignored; ADD/DROP PRIMARY KEY is refused (1235).
Also: CREATE/DROP INDEX, DROP TABLE/VIEW, CREATE VIEW (same-schema references only), CREATE TABLE
… LIKE / … AS SELECT, TRUNCATE (also resets AUTO_INCREMENT), RENAME TABLE (within a schema).
CREATE TEMPORARY TABLE is refused (1235).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

import apsw
from sqlglot import exp

from proxyd.sqltext import split_top_level
from proxyd.backends import embedded_show as catalog
from proxyd.backends.translate import NoDatabaseSelected, build_plan, parse_mysql, quote_ident, syntax_error, to_sqlite
from proxyd.errors import ProxydError, UnknownDatabaseError, UnknownTableError

__all__ = ["DdlPlan", "DdlCatalog", "translate_ddl", "is_ddl", "NotSupported", "ENUM_CHECK_PREFIX"]

ENUM_CHECK_PREFIX = "proxyd_enum_"


class NotSupported(ProxydError):
    code, sqlstate = 1235, "42000"

    def __init__(self, what: str):
        super().__init__(f"This version of MySQL doesn't yet support '{what}' (embedded backend)")


class DdlCatalog(Protocol):
    conn: apsw.Connection

    def schema_names(self) -> list[str]: ...

    def ensure_attached(self, schema: str) -> None: ...


@dataclass
class DdlPlan:
    kind: str  # create_table, drop_table, create_index, drop_index, alter_table, truncate, rename,
    #            create_view, drop_view, create_database, drop_database
    statements: list[str] = field(default_factory=list)
    schema: str | None = None
    tables: list[str] = field(default_factory=list)  # tables named by the statement
    if_exists: bool = False
    if_not_exists: bool = False
    database: str | None = None  # CREATE/DROP DATABASE
    rebuild: bool = False  # runs with foreign keys off (table rebuild)
    exists_note: bool = False  # CREATE TABLE IF NOT EXISTS of an existing table: Note 1050


_ID = r"(?:`(?:[^`]|``)+`|[^\x00-\x23\x25-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]+)"
_QNAME = rf"{_ID}(?:\s*\.\s*{_ID})?"

_DDL_START = re.compile(
    r"\s*(?:CREATE\s+(?:OR\s+REPLACE\s+)?(?:(?:ALGORITHM\s*=\s*\w+|DEFINER\s*=\s*\S+|SQL\s+SECURITY\s+\w+)\s+)*"
    r"(?:TEMPORARY\s+)?(?:UNIQUE\s+|FULLTEXT\s+|SPATIAL\s+)?(?:TABLE|INDEX|VIEW|DATABASE|SCHEMA)\b"
    r"|DROP\s+(?:TEMPORARY\s+)?(?:TABLE|TABLES|INDEX|VIEW|DATABASE|SCHEMA)\b|ALTER\s+TABLE\b"
    r"|TRUNCATE\b|RENAME\s+TABLES?\b)", re.I)


def is_ddl(text: str) -> bool:
    return _DDL_START.match(text) is not None


def _unq(name: str) -> str:
    name = name.strip()
    return name[1:-1].replace("``", "`") if name.startswith("`") else name


def _split_qname(raw: str, schema: str | None) -> tuple[str, str]:
    parts = re.findall(_ID, raw)
    if len(parts) == 2:
        return _unq(parts[0]).lower(), _unq(parts[1])
    if schema is None:
        raise NoDatabaseSelected()
    return schema, _unq(parts[0])


def _require_schema(cat: DdlCatalog, schema: str) -> None:
    if schema not in cat.schema_names():
        raise UnknownDatabaseError(f"Unknown database '{schema}'")
    cat.ensure_attached(schema)


def _index_stmt(schema: str, table: str, name: str, cols: list[str], unique: bool, if_not_exists: bool = False) -> str:
    return (f"CREATE {'UNIQUE ' if unique else ''}INDEX {'IF NOT EXISTS ' if if_not_exists else ''}"
            f"{quote_ident(schema)}.{quote_ident(f'{table}.{name}')} ON {quote_ident(table)} ({', '.join(cols)})")


# --------------------------------------------------------------------------------------------------
# CREATE TABLE

_TEXT_TYPES = {exp.DType.CHAR, exp.DType.VARCHAR, exp.DType.NCHAR, exp.DType.NVARCHAR, exp.DType.TEXT,
               exp.DType.TINYTEXT, exp.DType.MEDIUMTEXT, exp.DType.LONGTEXT, exp.DType.ENUM, exp.DType.SET}
_INT_TYPES = {exp.DType.TINYINT, exp.DType.SMALLINT, exp.DType.MEDIUMINT, exp.DType.INT, exp.DType.BIGINT,
              exp.DType.UTINYINT, exp.DType.USMALLINT, exp.DType.UMEDIUMINT, exp.DType.UINT, exp.DType.UBIGINT}


def _type_sql(dt: exp.DataType) -> str:
    if dt.this in (exp.DType.ENUM, exp.DType.SET):
        return dt.this.name
    text = dt.sql(dialect="mysql")
    return text if re.fullmatch(r"[\w ]+(\(\s*\d+\s*(,\s*\d+\s*)?\))?[\w ]*", text) else text.split("(")[0]


def _default_sql(e: exp.Expr) -> str:
    if isinstance(e, (exp.CurrentTimestamp, exp.Localtimestamp, exp.Localtime)) or (
            isinstance(e, exp.Anonymous) and e.name.upper() in ("NOW", "LOCALTIMESTAMP", "LOCALTIME")):
        return "(NOW())"
    if isinstance(e, exp.CurrentDate):
        return "(CURDATE())"
    if isinstance(e, (exp.Literal, exp.Null, exp.Boolean)):
        return to_sqlite(e)
    if isinstance(e, exp.Neg) and isinstance(e.this, exp.Literal):
        return to_sqlite(e)
    return f"({to_sqlite(e.this if isinstance(e, exp.Paren) else e)})"


def _index_columns(items: list[exp.Expr]) -> list[str]:
    cols = []
    for it in items:
        desc = ""
        if isinstance(it, exp.Ordered):
            desc = " DESC" if it.args.get("desc") else ""
            it = it.this
        if isinstance(it, (exp.Column, exp.Identifier)):
            cols.append(quote_ident(it.name) + desc)
        elif isinstance(it, exp.Anonymous) and len(it.expressions) == 1 and isinstance(it.expressions[0], exp.Literal):
            cols.append(quote_ident(it.name) + desc)  # name(10): the prefix length is dropped
        elif isinstance(it, exp.Paren):
            cols.append(f"({to_sqlite(it.this)}){desc}")  # functional key part
        else:
            cols.append(to_sqlite(it) + desc)
    return cols


def _first_col_name(items: list[exp.Expr]) -> str:
    it = items[0]
    if isinstance(it, exp.Ordered):
        it = it.this
    return it.name or "key"


class _TableBuilder:
    """Emits the CREATE TABLE and CREATE INDEX statements of one MySQL CREATE TABLE."""

    def __init__(self, schema: str, table: str):
        self.schema, self.table = schema, table
        self.indexes: list[tuple[str, list[str], bool]] = []  # (name, columns, unique)
        self.names: set[str] = set()

    def add_index(self, name: str | None, cols: list[str], unique: bool, hint: str) -> None:
        base = name or hint
        n, i = base, 2
        while n.lower() in self.names:
            n = f"{base}_{i}"
            i += 1
        self.names.add(n.lower())
        self.indexes.append((n, cols, unique))

    def column(self, col: exp.ColumnDef, pk_cols: set[str], autoinc: str | None) -> str:
        name = col.name
        dt = col.args.get("kind")
        is_auto = autoinc is not None and name.lower() == autoinc.lower()
        parts = [quote_ident(name)]
        if is_auto:
            parts.append("INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT")
        elif isinstance(dt, exp.DataType):
            parts.append(_type_sql(dt))
        textual = isinstance(dt, exp.DataType) and dt.this in _TEXT_TYPES
        collate = "NOCASE" if textual else None
        not_null = name.lower() in pk_cols and not is_auto
        for cc in col.constraints:
            k = cc.kind
            if isinstance(k, exp.NotNullColumnConstraint):
                if not k.args.get("allow_null") and not is_auto:
                    not_null = True
            elif isinstance(k, exp.DefaultColumnConstraint):
                parts.append("DEFAULT " + _default_sql(k.this))
            elif isinstance(k, exp.UniqueColumnConstraint):
                self.add_index(None, [quote_ident(name)], True, name)
            elif isinstance(k, exp.CollateColumnConstraint):
                coll = k.this.name.lower()
                collate = "BINARY" if coll.endswith("_bin") or coll == "binary" else "NOCASE"
            elif isinstance(k, exp.CheckColumnConstraint):
                parts.append(f"CHECK ({to_sqlite(k.this)})")
            elif isinstance(k, exp.ComputedColumnConstraint):
                stored = " STORED" if k.args.get("persisted") else " VIRTUAL"
                parts.append(f"AS ({to_sqlite(k.this)}){stored}")
            elif isinstance(k, exp.Reference):
                parts.append(to_sqlite(k))
            # PRIMARY KEY / AUTO_INCREMENT are handled by the caller; COMMENT, CHARACTER SET,
            # ON UPDATE, ZEROFILL, VISIBLE… have no SQLite meaning and are dropped.
        if not_null:
            parts.insert(2, "NOT NULL")
        if collate and not is_auto:
            parts.append(f"COLLATE {collate}")
        if isinstance(dt, exp.DataType) and dt.this == exp.DType.ENUM and dt.expressions:
            values = ", ".join(to_sqlite(v) for v in dt.expressions)
            # named so that a violation maps to MySQL's "Data truncated" and SHOW can list the values
            parts.append(f"CONSTRAINT {quote_ident(ENUM_CHECK_PREFIX + name)} CHECK ({quote_ident(name)} IN ({values}))")
        return " ".join(parts)


def _pk_items(e: exp.PrimaryKey) -> list[str]:
    names = []
    for it in e.expressions:
        if isinstance(it, exp.Ordered):
            it = it.this
        names.append(it.name)
    return names


def _create_table(tree: exp.Create, schema: str | None, cat: DdlCatalog) -> DdlPlan:
    target = tree.this
    tbl = target.this if isinstance(target, exp.Schema) else target
    if not isinstance(tbl, exp.Table):
        raise syntax_error(tree.sql(dialect="mysql")[:80])
    db = tbl.args.get("db")
    schema = db.name.lower() if db is not None and db.name else schema
    if schema is None:
        raise NoDatabaseSelected()
    _require_schema(cat, schema)
    table = tbl.name
    props = tree.args.get("properties")
    prop_list = props.expressions if props is not None else []
    if any(isinstance(p, exp.TemporaryProperty) for p in prop_list):
        raise NotSupported("CREATE TEMPORARY TABLE")
    if_not_exists = bool(tree.args.get("exists"))
    plan = DdlPlan("create_table", schema=schema, tables=[table], if_not_exists=if_not_exists)
    if if_not_exists and catalog.table_kind(cat.conn, schema, table) is not None:
        plan.exists_note = True
        return plan
    qname = f"{quote_ident(schema)}.{quote_ident(table)}"
    ine = "IF NOT EXISTS " if if_not_exists else ""

    like = next((p for p in prop_list if isinstance(p, exp.LikeProperty)), None)
    if like is not None:
        return _create_like(plan, like.this, schema, table, cat)
    if tree.expression is not None:  # CREATE TABLE t AS SELECT …
        sel = build_plan(tree.expression.sql(dialect="mysql"), schema)
        plan.statements.append(f"CREATE TABLE {ine}{qname} AS {sel.sql}")
        return plan
    if not isinstance(target, exp.Schema):
        raise syntax_error(table)

    coldefs = [e for e in target.expressions if isinstance(e, exp.ColumnDef)]
    pk_cols: list[str] = []
    autoinc = None
    for c in coldefs:
        for cc in c.constraints:
            if isinstance(cc.kind, exp.PrimaryKeyColumnConstraint):
                pk_cols = [c.name]
            elif isinstance(cc.kind, exp.AutoIncrementColumnConstraint):
                autoinc = c.name
    constraints = [e for e in target.expressions if not isinstance(e, exp.ColumnDef)]
    for e in constraints:
        inner = e.expressions[0] if isinstance(e, exp.Constraint) and e.expressions else e
        if isinstance(inner, exp.PrimaryKey):
            pk_cols = _pk_items(inner)
    if autoinc is not None and [p.lower() for p in pk_cols] != [autoinc.lower()]:
        raise NotSupported("AUTO_INCREMENT on a column that is not the whole primary key")

    b = _TableBuilder(schema, table)
    pk_set = {p.lower() for p in pk_cols}
    body = [b.column(c, pk_set, autoinc) for c in coldefs]
    if pk_cols and autoinc is None:
        body.append(f"PRIMARY KEY ({', '.join(quote_ident(p) for p in pk_cols)})")
    for e in constraints:
        name = e.name if isinstance(e, exp.Constraint) else None
        inner = e.expressions[0] if isinstance(e, exp.Constraint) and e.expressions else e
        if isinstance(inner, exp.PrimaryKey):
            continue
        if isinstance(inner, exp.UniqueColumnConstraint):
            sch = inner.this
            items = sch.expressions if isinstance(sch, exp.Schema) else []
            key = sch.this.name if isinstance(sch, exp.Schema) and sch.this is not None else name
            b.add_index(key or None, _index_columns(items), True, _first_col_name(items))
        elif isinstance(inner, exp.IndexColumnConstraint):
            items = inner.expressions
            b.add_index(inner.name or None, _index_columns(items), False, _first_col_name(items))
        elif isinstance(inner, exp.ForeignKey):
            prefix = f"CONSTRAINT {quote_ident(name)} " if name else ""
            body.append(prefix + to_sqlite(inner))
        elif isinstance(inner, exp.CheckColumnConstraint):
            prefix = f"CONSTRAINT {quote_ident(name)} " if name else ""
            body.append(f"{prefix}CHECK ({to_sqlite(inner.this)})")
    plan.statements.append(f"CREATE TABLE {ine}{qname} ({', '.join(body)})")
    for name, cols, unique in b.indexes:
        plan.statements.append(_index_stmt(schema, table, name, cols, unique, if_not_exists))
    seed = next((p for p in prop_list if isinstance(p, exp.AutoIncrementProperty)), None)
    if seed is not None and autoinc is not None:
        start = int(seed.this.name or 1)
        if start > 1:
            plan.statements.append(f"INSERT INTO {quote_ident(schema)}.sqlite_sequence (name, seq) "
                                   f"VALUES ({to_sqlite(exp.Literal.string(table))}, {start - 1})")
    return plan


_CREATE_HEAD = re.compile(r'^\s*CREATE\s+TABLE\s+(?:"(?:[^"]|"")+"|\S+)\s*', re.I)
_INDEX_HEAD = re.compile(r'^\s*CREATE\s+(UNIQUE\s+)?INDEX\s+(?:"((?:[^"]|"")+)"|(\S+))\s+ON\s+(?:"(?:[^"]|"")+"|\S+)\s*', re.I)


def _create_like(plan: DdlPlan, src: exp.Expr, schema: str, table: str, cat: DdlCatalog) -> DdlPlan:
    src_schema = src.args["db"].name.lower() if src.args.get("db") is not None else schema
    _require_schema(cat, src_schema)
    q = quote_ident(src_schema)
    row = cat.conn.execute(f"SELECT sql FROM {q}.sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE",
                           (src.name,)).fetchone()
    if row is None:
        raise UnknownTableError(f"Table '{src_schema}.{src.name}' doesn't exist")
    ine = "IF NOT EXISTS " if plan.if_not_exists else ""
    plan.statements.append(_CREATE_HEAD.sub(f"CREATE TABLE {ine}{quote_ident(schema)}.{quote_ident(table)} ",
                                            row[0], count=1))
    for ix in catalog.indexes(cat.conn, src_schema, src.name):
        if ix.sqlite_name is None or ix.primary or ix.sqlite_name.startswith("sqlite_autoindex"):
            continue
        sql = cat.conn.execute(f"SELECT sql FROM {q}.sqlite_master WHERE type = 'index' AND name = ?",
                               (ix.sqlite_name,)).fetchone()[0]
        m = _INDEX_HEAD.match(sql)
        if m is None:
            continue
        plan.statements.append(f"CREATE {'UNIQUE ' if m.group(1) else ''}INDEX {quote_ident(schema)}."
                               f"{quote_ident(table + '.' + ix.name)} ON {quote_ident(table)} {sql[m.end():]}")
    return plan


# --------------------------------------------------------------------------------------------------
# Indexes

_CREATE_INDEX = re.compile(
    rf"\s*CREATE\s+(?P<kind>UNIQUE\s+|FULLTEXT\s+|SPATIAL\s+)?INDEX\s+(?P<ine>IF\s+NOT\s+EXISTS\s+)?(?P<name>{_ID})"
    rf"(?:\s+USING\s+\w+)?\s+ON\s+(?P<table>{_QNAME})\s*\((?P<cols>.*)\)(?P<rest>[^)]*)$", re.I | re.S)
_KEYS = re.compile(rf"\s*ALTER\s+TABLE\s+(?P<table>{_QNAME})\s+(?:DISABLE|ENABLE)\s+KEYS\s*$", re.I | re.S)
_DROP_INDEX = re.compile(rf"\s*DROP\s+INDEX\s+(?P<name>{_ID})\s+ON\s+(?P<table>{_QNAME})\s*(?:ALGORITHM.*|LOCK.*)?$",
                         re.I | re.S)


def _split_top(text: str) -> list[str]:
    """Top-level comma-separated items, stripped, empty ones dropped."""
    return [p.strip() for p in split_top_level(text) if p.strip()]


def _key_parts(text: str) -> list[str]:
    cols = []
    for part in _split_top(text):
        m = re.fullmatch(rf"({_ID})\s*(?:\(\s*\d+\s*\))?\s*(ASC|DESC)?", part, re.I)
        if m is not None:
            cols.append(quote_ident(_unq(m.group(1))) + (" DESC" if (m.group(2) or "").upper() == "DESC" else ""))
        elif part.startswith("("):
            inner = parse_mysql(f"SELECT {part}").expressions[0]
            cols.append(f"({to_sqlite(inner.this if isinstance(inner, exp.Paren) else inner)})")
        else:
            raise syntax_error(part)
    return cols


def _existing_table(cat: DdlCatalog, sch: str, table: str, *, base_only: bool = False) -> None:
    """Refuse with 1146 unless ``sch.table`` exists (a base table, not a view, when ``base_only``)."""
    _require_schema(cat, sch)
    kind = catalog.table_kind(cat.conn, sch, table)
    if kind is None or (base_only and kind != "BASE TABLE"):
        raise UnknownTableError(f"Table '{sch}.{table}' doesn't exist")


def _create_index(m: re.Match[str], schema: str | None, cat: DdlCatalog) -> DdlPlan:
    sch, table = _split_qname(m.group("table"), schema)
    _existing_table(cat, sch, table)
    name = _unq(m.group("name"))
    unique = (m.group("kind") or "").strip().upper() == "UNIQUE"
    existing = {ix.name.lower() for ix in catalog.indexes(cat.conn, sch, table)}
    plan = DdlPlan("create_index", schema=sch, tables=[table])
    if name.lower() in existing:
        if m.group("ine"):
            return plan
        raise ProxydError(f"Duplicate key name '{name}'", 1061, "42000")
    plan.statements.append(_index_stmt(sch, table, name, _key_parts(m.group("cols")), unique))
    return plan


def _sqlite_index_name(cat: DdlCatalog, schema: str, table: str, name: str) -> str:
    for ix in catalog.indexes(cat.conn, schema, table):
        if ix.name.lower() == name.lower() and not ix.primary and ix.sqlite_name:
            if ix.sqlite_name.startswith("sqlite_autoindex"):
                raise NotSupported("dropping an inline UNIQUE constraint")
            return ix.sqlite_name
    raise ProxydError(f"Can't DROP '{name}'; check that column/key exists", 1091, "42000")


def _drop_index(m: re.Match[str], schema: str | None, cat: DdlCatalog) -> DdlPlan:
    sch, table = _split_qname(m.group("table"), schema)
    _existing_table(cat, sch, table)
    name = _unq(m.group("name"))
    if name.upper() == "PRIMARY":
        raise NotSupported("DROP PRIMARY KEY")
    plan = DdlPlan("drop_index", schema=sch, tables=[table])
    plan.statements.append(f"DROP INDEX {quote_ident(sch)}.{quote_ident(_sqlite_index_name(cat, sch, table, name))}")
    return plan


# --------------------------------------------------------------------------------------------------
# DROP TABLE / VIEW, TRUNCATE, RENAME, CREATE VIEW

_DROP_TABLE = re.compile(rf"\s*DROP\s+(?P<temp>TEMPORARY\s+)?(?P<kind>TABLES?|VIEW)\s+(?P<ie>IF\s+EXISTS\s+)?"
                         rf"(?P<names>{_QNAME}(?:\s*,\s*{_QNAME})*)\s*(?:RESTRICT|CASCADE)?\s*$", re.I | re.S)
_TRUNCATE = re.compile(rf"\s*TRUNCATE\s+(?:TABLE\s+)?(?P<table>{_QNAME})\s*$", re.I | re.S)
_RENAME = re.compile(r"\s*RENAME\s+TABLES?\s+(?P<pairs>.+)$", re.I | re.S)
_PAIR = re.compile(rf"\s*(?P<a>{_QNAME})\s+TO\s+(?P<b>{_QNAME})\s*$", re.I | re.S)
_CREATE_VIEW = re.compile(
    rf"\s*CREATE\s+(?P<orrep>OR\s+REPLACE\s+)?(?:(?:ALGORITHM\s*=\s*\w+|DEFINER\s*=\s*\S+|SQL\s+SECURITY\s+\w+)\s+)*"
    rf"VIEW\s+(?P<name>{_QNAME})\s*(?:\((?P<cols>[^)]*)\))?\s+AS\s+(?P<select>.+?)"
    rf"(?:\s+WITH\s+(?:CASCADED\s+|LOCAL\s+)?CHECK\s+OPTION)?\s*$", re.I | re.S)
_DATABASE = re.compile(rf"\s*(?P<verb>CREATE|DROP)\s+(?:DATABASE|SCHEMA)\s+(?P<ie>IF\s+(?:NOT\s+)?EXISTS\s+)?"
                       rf"(?P<name>{_ID})(?P<rest>.*)$", re.I | re.S)


def _drop_tables(m: re.Match[str], schema: str | None) -> DdlPlan:
    if m.group("temp"):
        raise NotSupported("DROP TEMPORARY TABLE")
    view = m.group("kind").upper() == "VIEW"
    plan = DdlPlan("drop_view" if view else "drop_table", if_exists=bool(m.group("ie")))
    for raw in _split_top(m.group("names")):
        sch, table = _split_qname(raw, schema)
        plan.tables.append(f"{sch}.{table}")
        kw = "VIEW" if view else "TABLE"
        plan.statements.append(f"DROP {kw} IF EXISTS {quote_ident(sch)}.{quote_ident(table)}")
    return plan


def _truncate(m: re.Match[str], schema: str | None, cat: DdlCatalog) -> DdlPlan:
    sch, table = _split_qname(m.group("table"), schema)
    _existing_table(cat, sch, table, base_only=True)
    plan = DdlPlan("truncate", schema=sch, tables=[table])
    plan.statements.append(f"DELETE FROM {quote_ident(sch)}.{quote_ident(table)}")
    has_seq = cat.conn.execute(f"SELECT 1 FROM {quote_ident(sch)}.sqlite_master WHERE name = 'sqlite_sequence'").fetchone()
    if has_seq:
        plan.statements.append(f"DELETE FROM {quote_ident(sch)}.sqlite_sequence WHERE name = "
                               f"{to_sqlite(exp.Literal.string(table))} COLLATE NOCASE")
    return plan


def _rename(m: re.Match[str], schema: str | None, cat: DdlCatalog) -> DdlPlan:
    plan = DdlPlan("rename")
    for pair in _split_top(m.group("pairs")):
        p = _PAIR.match(pair)
        if p is None:
            raise syntax_error(pair)
        s1, t1 = _split_qname(p.group("a"), schema)
        s2, t2 = _split_qname(p.group("b"), schema)
        if s1 != s2:
            raise NotSupported("RENAME TABLE across databases")
        _require_schema(cat, s1)
        if catalog.table_kind(cat.conn, s1, t1) is None:
            raise UnknownTableError(f"Table '{s1}.{t1}' doesn't exist")
        plan.schema = s1
        plan.tables.append(t1)
        plan.statements.append(f"ALTER TABLE {quote_ident(s1)}.{quote_ident(t1)} RENAME TO {quote_ident(t2)}")
    return plan


def _create_view(m: re.Match[str], schema: str | None, cat: DdlCatalog) -> DdlPlan:
    sch, name = _split_qname(m.group("name"), schema)
    _require_schema(cat, sch)
    sel = build_plan(m.group("select"), sch)
    if sel.kind != "select" or sel.nbind:
        raise syntax_error(m.group("select"))
    foreign = sel.schemas - {sch}
    if foreign:
        raise NotSupported("a view that reads another database")
    plan = DdlPlan("create_view", schema=sch, tables=[name])
    qname = f"{quote_ident(sch)}.{quote_ident(name)}"
    if m.group("orrep"):
        plan.statements.append(f"DROP VIEW IF EXISTS {qname}")
    elif catalog.table_kind(cat.conn, sch, name) is not None:
        raise ProxydError(f"Table '{name}' already exists", 1050, "42S01")
    cols = m.group("cols")
    col_sql = f" ({', '.join(quote_ident(_unq(c)) for c in _split_top(cols))})" if cols else ""
    # a view's body may only name its own schema's tables, unqualified or qualified with that name
    plan.statements.append(f"CREATE VIEW {qname}{col_sql} AS {sel.sql}")
    return plan


# --------------------------------------------------------------------------------------------------
# ALTER TABLE


def _alter_table(tree: exp.Alter, schema: str | None, cat: DdlCatalog) -> DdlPlan:
    tbl = tree.this
    sch = tbl.args["db"].name.lower() if tbl.args.get("db") is not None else schema
    if sch is None:
        raise NoDatabaseSelected()
    table = tbl.name
    _existing_table(cat, sch, table, base_only=True)
    plan = DdlPlan("alter_table", schema=sch, tables=[table])
    qname = f"{quote_ident(sch)}.{quote_ident(table)}"
    replacements: dict[str, str | None] = {}  # column → new definition (rebuild)
    renames: dict[str, str] = {}
    defaults: dict[str, str | None] = {}  # ALTER COLUMN … SET/DROP DEFAULT
    b = _TableBuilder(sch, table)
    b.names = {ix.name.lower() for ix in catalog.indexes(cat.conn, sch, table)}
    for action in tree.args.get("actions") or []:
        if isinstance(action, exp.ColumnDef):
            if any(isinstance(cc.kind, (exp.PrimaryKeyColumnConstraint, exp.AutoIncrementColumnConstraint))
                   for cc in action.constraints):
                raise NotSupported("ADD COLUMN with PRIMARY KEY or AUTO_INCREMENT")
            plan.statements.append(f"ALTER TABLE {qname} ADD COLUMN {b.column(action, set(), None)}")
        elif isinstance(action, exp.AddConstraint):
            for c in action.expressions:
                inner = c.expressions[0] if isinstance(c, exp.Constraint) and c.expressions else c
                if isinstance(inner, exp.UniqueColumnConstraint):
                    sch_ = inner.this
                    items = sch_.expressions if isinstance(sch_, exp.Schema) else []
                    key = sch_.this.name if isinstance(sch_, exp.Schema) and sch_.this is not None else None
                    b.add_index(key, _index_columns(items), True, _first_col_name(items))
                elif isinstance(inner, exp.IndexColumnConstraint):
                    b.add_index(inner.name or None, _index_columns(inner.expressions), False,
                                _first_col_name(inner.expressions))
                else:
                    raise NotSupported(f"ALTER TABLE ADD {type(inner).__name__}")
        elif isinstance(action, exp.Drop):
            kind = (action.args.get("kind") or "").upper()
            for target in action.args.get("tables") or []:
                if kind == "COLUMN":
                    col = target.name
                    for ix in catalog.indexes(cat.conn, sch, table):
                        if ix.sqlite_name and not ix.primary and col.lower() in (c.lower() for c in ix.columns):
                            plan.statements.append(f"DROP INDEX {quote_ident(sch)}.{quote_ident(ix.sqlite_name)}")
                    plan.statements.append(f"ALTER TABLE {qname} DROP COLUMN {quote_ident(col)}")
                elif kind in ("INDEX", "KEY"):
                    real = _sqlite_index_name(cat, sch, table, target.name)
                    plan.statements.append(f"DROP INDEX {quote_ident(sch)}.{quote_ident(real)}")
                else:
                    raise NotSupported(f"ALTER TABLE DROP {kind or 'PRIMARY KEY'}")
        elif isinstance(action, exp.RenameColumn):
            plan.statements.append(f"ALTER TABLE {qname} RENAME COLUMN {quote_ident(action.this.name)} TO "
                                   f"{quote_ident(action.args['to'].name)}")
        elif isinstance(action, exp.AlterRename):
            new = action.this
            if new.args.get("db") is not None and new.args["db"].name.lower() != sch:
                raise NotSupported("RENAME TO another database")
            plan.statements.append(f"ALTER TABLE {qname} RENAME TO {quote_ident(new.name)}")
            table = new.name
            qname = f"{quote_ident(sch)}.{quote_ident(table)}"
        elif isinstance(action, exp.ModifyColumn):
            coldef = action.this
            old = action.args.get("rename_from")
            old_name = old.name if old is not None else coldef.name
            if old is not None and old.name.lower() != coldef.name.lower():
                renames[old_name.lower()] = coldef.name
            replacements[old_name.lower()] = b.column(coldef, set(), None)
        elif isinstance(action, exp.AlterColumn):
            col = action.name
            replacements.setdefault(col.lower(), None)
            if action.args.get("drop"):
                defaults[col.lower()] = None
            elif action.args.get("default") is not None:
                defaults[col.lower()] = _default_sql(action.args["default"])
            else:
                raise NotSupported("this ALTER COLUMN form")
        elif isinstance(action, (exp.Property, exp.Properties)) or action.key in ("autoincrementproperty",):
            continue  # ENGINE=, CHARSET=… : nothing to do
        else:
            raise NotSupported(f"ALTER TABLE {action.sql(dialect='mysql')[:40]}")
    if replacements:
        plan.statements = _rebuild(cat, sch, table, replacements, renames, defaults) + plan.statements
        plan.rebuild = True
    for name, cols, unique in b.indexes:
        plan.statements.append(_index_stmt(sch, table, name, cols, unique))
    return plan


_ITEM_NAME = re.compile(r'^\s*"((?:[^"]|"")+)"')


def _rebuild(cat: DdlCatalog, schema: str, table: str, replacements: dict[str, str | None],
             renames: dict[str, str], defaults: dict[str, str | None]) -> list[str]:
    """Statements that rebuild ``table`` with some column definitions replaced (SQLite cannot
    alter a column in place): create a copy, move the rows, swap, re-create the indexes."""
    q = quote_ident(schema)
    row = cat.conn.execute(f"SELECT sql FROM {q}.sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE",
                           (table,)).fetchone()
    sql = row[0]
    head = _CREATE_HEAD.match(sql)
    open_at = sql.index("(", head.end() - 1 if head else 0)
    items = _split_top(sql[open_at + 1:sql.rindex(")")])
    new_items, old_cols, new_cols = [], [], []
    for item in items:
        m = _ITEM_NAME.match(item)
        col = m.group(1).replace('""', '"') if m else None
        if col is not None and col.lower() in replacements:
            repl = replacements[col.lower()]
            if repl is None:  # ALTER COLUMN … DEFAULT: edit the existing definition
                repl = re.sub(r"\s+DEFAULT\s+(?:\([^()]*(?:\([^()]*\))?[^()]*\)|'(?:[^']|'')*'|\S+)", "", item, flags=re.I)
                d = defaults.get(col.lower())
                if d is not None:
                    repl = re.sub(r'^(\s*"(?:[^"]|"")+"\s+[^"]*?)(\s+(?:NOT NULL|COLLATE|CHECK|PRIMARY)|$)',
                                  lambda mm: f"{mm.group(1)} DEFAULT {d}{mm.group(2)}", repl, count=1)
            new_items.append(repl)
            old_cols.append(quote_ident(col))
            new_cols.append(quote_ident(renames.get(col.lower(), col)))
        else:
            new_items.append(item)
            if col is not None and not re.match(r"^(CONSTRAINT|PRIMARY|UNIQUE|CHECK|FOREIGN)\b", item, re.I):
                old_cols.append(quote_ident(col))
                new_cols.append(quote_ident(col))
    tmp = f"_proxyd_rebuild_{table}"
    index_sql = [r[0] for r in cat.conn.execute(
        f"SELECT sql FROM {q}.sqlite_master WHERE type = 'index' AND tbl_name = ? COLLATE NOCASE AND sql IS NOT NULL",
        (table,)).fetchall()]
    out = [f"CREATE TABLE {q}.{quote_ident(tmp)} ({', '.join(new_items)})",
           f"INSERT INTO {q}.{quote_ident(tmp)} ({', '.join(new_cols)}) SELECT {', '.join(old_cols)} "
           f"FROM {q}.{quote_ident(table)}",
           f"DROP TABLE {q}.{quote_ident(table)}",
           f"ALTER TABLE {q}.{quote_ident(tmp)} RENAME TO {quote_ident(table)}"]
    for s in index_sql:
        m = _INDEX_HEAD.match(s)
        if m is None:
            continue
        name = (m.group(2) or m.group(3)).replace('""', '"')
        cols = s[m.end():]
        for old, new in renames.items():
            cols = re.sub(rf'"{re.escape(old)}"', quote_ident(new), cols, flags=re.I)
        out.append(f"CREATE {'UNIQUE ' if m.group(1) else ''}INDEX {q}.{quote_ident(name)} ON {quote_ident(table)} {cols}")
    return out


# --------------------------------------------------------------------------------------------------
# Entry point


def translate_ddl(text: str, schema: str | None, cat: DdlCatalog) -> DdlPlan:
    """Translate one DDL statement (comments removed). CREATE/DROP DATABASE are only parsed: the
    engine creates and deletes the files."""
    text = text.strip().rstrip(";").strip()
    if (m := _DATABASE.match(text)) is not None:
        verb = m.group("verb").upper()
        name = _unq(m.group("name")).lower()
        return DdlPlan("create_database" if verb == "CREATE" else "drop_database", database=name,
                       if_exists=bool(m.group("ie")) and verb == "DROP",
                       if_not_exists=bool(m.group("ie")) and verb == "CREATE")
    if (m := _KEYS.match(text)) is not None:  # mysqldump's ALTER TABLE … DISABLE/ENABLE KEYS
        sch, table = _split_qname(m.group("table"), schema)
        return DdlPlan("alter_table", schema=sch, tables=[table])
    if (m := _CREATE_INDEX.match(text)) is not None:
        return _create_index(m, schema, cat)
    if (m := _DROP_INDEX.match(text)) is not None:
        return _drop_index(m, schema, cat)
    if (m := _DROP_TABLE.match(text)) is not None:
        return _drop_tables(m, schema)
    if (m := _TRUNCATE.match(text)) is not None:
        return _truncate(m, schema, cat)
    if (m := _RENAME.match(text)) is not None:
        return _rename(m, schema, cat)
    if (m := _CREATE_VIEW.match(text)) is not None:
        return _create_view(m, schema, cat)
    tree = parse_mysql(text)
    if isinstance(tree, exp.Create) and (tree.args.get("kind") or "").upper() == "TABLE":
        return _create_table(tree, schema, cat)
    if isinstance(tree, exp.Alter) and (tree.args.get("kind") or "").upper() == "TABLE":
        return _alter_table(tree, schema, cat)
    raise syntax_error(text[:80])
