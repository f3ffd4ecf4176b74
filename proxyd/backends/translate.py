"""MySQL → SQLite translation of data statements (SELECT, INSERT, REPLACE, UPDATE, DELETE), cached.

How a statement gets translated
-------------------------------
sqlglot costs 0.1–2 ms per statement, so it runs once per statement *shape*, not per statement:

1. :mod:`proxyd.backends.parameterize` turns each literal into ``?`` (values become bindings).
2. :meth:`Translator.plan` looks the template up in a bounded LRU keyed by (schema, template). On a
   miss it first checks whether some literal must stay text because binding it would change the
   meaning or the result's column names (a literal in a SELECT list, ORDER BY / GROUP BY ordinals,
   INTERVAL amounts, ``CAST(x AS CHAR(10))`` lengths, window frame offsets, ``SEPARATOR``, JSON
   paths after ``->``, typed literals ``DATE '…'``). Such a template gets an *inline* plan naming
   those slots; the session puts them back as text and asks :meth:`Translator.exact`, whose cache
   key is that text.
3. Simple statements (one table, columns, ``?``, comparisons, aggregates: all of sysbench's) are
   rewritten token by token by :mod:`proxyd.backends.translate_fast` (~50 µs instead of 1–3 ms).
4. Anything else (``?`` numbered as ``:p0, :p1…`` so reordering cannot mix bindings up) is parsed
   with sqlglot's MySQL dialect, fixed up on the tree, and generated with :class:`ProxydSQLite`, a
   subclass of sqlglot's SQLite dialect; placeholders come out as ``?1, ?2…``.

If a template does not parse (e.g. ``DATE ?``) the plan says "inline everything" and the full text
is tried before a syntax error is reported.

Fix-ups for what sqlglot's SQLite output gets wrong (each has a test in tests/test_embedded.py):

* Every table reference is qualified with its schema (the session attaches one file per schema, and
  SQLite would otherwise resolve unqualified names through *all* attached files); no current
  schema → 1046. ``FROM DUAL`` is dropped.
* Unaliased SELECT items get an explicit alias with MySQL's column name (the item's text as
  written, a string literal's value), since SQLite would name e.g. ``SELECT 1+1`` by its own text.
* ``INSERT … ON DUPLICATE KEY UPDATE`` → ``ON CONFLICT DO UPDATE`` with ``VALUES(c)`` →
  ``excluded.c``; ``REPLACE`` → ``INSERT OR REPLACE``; ``INSERT/UPDATE IGNORE`` → ``OR IGNORE``;
  ``LOW_PRIORITY``/``DELAYED``/``QUICK``/``HIGH_PRIORITY`` dropped.
* ``UPDATE/DELETE … [ORDER BY …] LIMIT n`` → ``… WHERE rowid IN (SELECT rowid … LIMIT n)`` (this
  SQLite build lacks SQLITE_ENABLE_UPDATE_DELETE_LIMIT); multi-table ``UPDATE t1 JOIN t2 … SET`` →
  ``UPDATE t1 SET … FROM t2 WHERE …``; multi-table ``DELETE t1 FROM t1 JOIN …`` → ``DELETE FROM t1
  WHERE rowid IN (SELECT t1.rowid …)``.
* Functions keep their MySQL names where sqlglot would map them to SQLite's different ones
  (``NOW()`` not UTC ``CURRENT_TIMESTAMP``, ``DATABASE()`` not ``'main'``, ``VERSION()`` not
  ``SQLITE_VERSION()``, ``RAND()`` not ``RANDOM()``, ``DATE_FORMAT`` not ``STRFTIME`` …);
  :mod:`proxyd.backends.sqlite_functions` implements them. ``DATE_ADD(d, INTERVAL n u)``,
  ``d ± INTERVAL n u``, ``TIMESTAMPADD`` → ``DATE_ADD(d, n, 'u')``. ``LENGTH`` counts bytes
  (``OCTET_LENGTH``), ``CHAR_LENGTH`` characters. ``EXTRACT(u FROM d)`` → ``u(d)``.
* ``CAST(x AS DATE/DATETIME/TIME)`` → ``DATE()/DATETIME()/TIME()``; ``CAST(x AS CHAR(n) …)`` →
  TEXT; ``DECIMAL(p,s)`` → rounded REAL; ``SIGNED/UNSIGNED`` → INTEGER.
* ``LIKE`` gets ``ESCAPE '\\'`` (MySQL's default escape character); ``COLLATE x_bin`` → BINARY,
  other collations → NOCASE. ``a XOR b`` → ``XOR(a, b)``.
* ``@@var`` / ``@var`` → session lookups; ``SQL_CALC_FOUND_ROWS`` gives the plan a count query.
* ``(SELECT …) UNION (SELECT …)`` loses the parentheses SQLite rejects (a member with its own
  ORDER BY/LIMIT becomes a subquery); ``WITH ROLLUP`` is refused with 1235.
* ``FOR UPDATE`` / ``LOCK IN SHARE MODE`` and index hints are dropped (SQLite's write lock is
  per database file, see :mod:`proxyd.backends.embedded`).
* Identifiers are always double-quoted, so MySQL column names that are SQLite keywords work.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

import sqlglot
from sqlglot import exp
from sqlglot.dialects.mysql import MySQL
from sqlglot.dialects.sqlite import SQLite
from sqlglot.errors import ErrorLevel
from sqlglot.generators.sqlite import SQLiteGenerator

from proxyd.errors import ParseError, ProxydError

__all__ = ["Plan", "Translator", "ProxydSQLite", "NoDatabaseSelected", "syntax_error", "quote_ident",
           "to_sqlite", "parse_mysql", "qualify_tables", "INFO_SCHEMA"]

INFO_SCHEMA = "information_schema"


class NoDatabaseSelected(ProxydError):
    code, sqlstate = 1046, "3D000"

    def __init__(self) -> None:
        super().__init__("No database selected")


def syntax_error(near: str, line: int = 1) -> ParseError:
    return ParseError("You have an error in your SQL syntax; check the manual that corresponds to your "
                      f"MySQL server version for the right syntax to use near '{near[:80]}' at line {line}")


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# --------------------------------------------------------------------------------------------------
# The target dialect: sqlglot's SQLite generator with MySQL function names kept


def _call(name: str, *args: str) -> str:
    return f"{name}({', '.join(a for a in args if a)})"


def _unit(e: exp.Expr | None, default: str = "DAY") -> str:
    if e is None:
        return default
    return (e.name or default).upper()


def _date_add(self: SQLiteGenerator, this: exp.Expr, amount: exp.Expr, unit: exp.Expr | None, sign: int) -> str:
    if isinstance(amount, exp.Interval):
        unit = unit or amount.args.get("unit")
        amount = amount.this
    name = "DATE_ADD" if sign > 0 else "DATE_SUB"
    return _call(name, self.sql(this), self.sql(amount), f"'{_unit(unit)}'")


def _interval_arith(sign: int) -> Callable[[SQLiteGenerator, exp.Expr], str]:
    def gen(self: SQLiteGenerator, e: exp.Expr) -> str:
        left, right = e.this, e.expression
        if isinstance(right, exp.Interval):
            return _date_add(self, left, right, None, sign)
        if sign > 0 and isinstance(left, exp.Interval):
            return _date_add(self, right, left, None, 1)
        return self.binary(e, "+" if sign > 0 else "-")
    return gen


# sqlglot parses DATE_FORMAT-style formats into Python's strftime notation; this maps them back.
# (sqlglot's own inverse mapping is greedy and leaves '%H:%M' alone because '%H:%M:%S' is a key.)
_PY_TO_MYSQL = {py: my for my, py in MySQL.TIME_MAPPING.items() if len(py) <= 3}
_PY_SPEC = re.compile(r"%-?.")


def _mysql_format(self: SQLiteGenerator, e: exp.Expr, key: str = "format") -> str:
    fmt = e.args.get(key)
    if isinstance(fmt, exp.Literal) and fmt.is_string:
        text = _PY_SPEC.sub(lambda m: _PY_TO_MYSQL.get(m.group(), m.group()), fmt.this)
        return self.sql(exp.Literal.string(text))
    return self.sql(fmt)


def _unwrap_date(e: exp.Expr) -> exp.Expr:
    # sqlglot wraps date arguments in casts MySQL never wrote (YEAR(d) → YEAR(DATE(d)))
    while isinstance(e, (exp.TsOrDsToDate, exp.TsOrDsToTimestamp, exp.DateStrToDate, exp.TimeStrToTime)):
        e = e.this
    return e


def _named(name: str) -> Callable[[SQLiteGenerator, exp.Expr], str]:
    def gen(self: SQLiteGenerator, e: exp.Expr) -> str:
        args = [e.this] + list(e.expressions) if e.this is not None else list(e.expressions)
        return _call(name, *(self.sql(_unwrap_date(a)) for a in args if a is not None))
    return gen


_EXTRACT_FUNCS = {"YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND", "MICROSECOND", "QUARTER", "WEEK"}


def _extract(self: SQLiteGenerator, e: exp.Extract) -> str:
    unit = e.this.name.upper()
    arg = self.sql(_unwrap_date(e.expression))
    if unit in _EXTRACT_FUNCS:
        return _call(unit, arg)
    if unit == "YEAR_MONTH":
        return f"(YEAR({arg}) * 100 + MONTH({arg}))"
    return _call(unit, arg)  # an unknown unit fails as an unknown function, which maps to an error


_INT_TYPES = {exp.DType.TINYINT, exp.DType.SMALLINT, exp.DType.MEDIUMINT, exp.DType.INT, exp.DType.BIGINT,
              exp.DType.UTINYINT, exp.DType.USMALLINT, exp.DType.UMEDIUMINT, exp.DType.UINT,
              exp.DType.UBIGINT, exp.DType.BOOLEAN, exp.DType.BIT, exp.DType.YEAR}
_REAL_TYPES = {exp.DType.FLOAT, exp.DType.DOUBLE, exp.DType.UDOUBLE}
_DEC_TYPES = {exp.DType.DECIMAL, exp.DType.UDECIMAL, exp.DType.BIGDECIMAL}
_BLOB_TYPES = {exp.DType.BINARY, exp.DType.VARBINARY, exp.DType.BLOB, exp.DType.LONGBLOB,
               exp.DType.MEDIUMBLOB, exp.DType.TINYBLOB}


def _cast(self: SQLiteGenerator, e: exp.Cast) -> str:
    to = e.to
    arg = self.sql(e.this)
    t = to.this
    if t == exp.DType.DATE:
        return _call("DATE", arg)
    if t in (exp.DType.DATETIME, exp.DType.TIMESTAMP, exp.DType.TIMESTAMPTZ, exp.DType.DATETIME64):
        return _call("DATETIME", arg)
    if t == exp.DType.TIME:
        return _call("TIME", arg)
    if t in _INT_TYPES:
        return f"CAST({arg} AS INTEGER)"
    if t in _REAL_TYPES:
        return f"CAST({arg} AS REAL)"
    if t in _DEC_TYPES:
        params = to.expressions
        scale = int(params[1].name) if len(params) > 1 else 0
        if scale == 0:
            return f"CAST(ROUND(CAST({arg} AS REAL)) AS INTEGER)"
        return f"ROUND(CAST({arg} AS REAL), {scale})"
    if t in _BLOB_TYPES:
        return f"CAST({arg} AS BLOB)"
    if t == exp.DType.JSON:
        return arg
    return f"CAST({arg} AS TEXT)"


def _collate(self: SQLiteGenerator, e: exp.Collate) -> str:
    name = e.expression.name.lower() if e.expression is not None else ""
    return f"{self.sql(e.this)} COLLATE {'BINARY' if name.endswith('_bin') or name == 'binary' else 'NOCASE'}"


def _on_conflict(self: SQLiteGenerator, e: exp.OnConflict) -> str:
    if not e.args.get("duplicate"):
        return SQLiteGenerator.onconflict_sql(self, e)
    return "ON CONFLICT DO UPDATE SET " + ", ".join(self.sql(x) for x in e.expressions)


def _placeholder(self: SQLiteGenerator, e: exp.Placeholder) -> str:
    name = e.name
    if name[:1] == "p" and name[1:].isdigit():
        return f"?{int(name[1:]) + 1}"
    return SQLiteGenerator.placeholder_sql(self, e)


def _length(self: SQLiteGenerator, e: exp.Length) -> str:
    # sqlglot marks MySQL's LENGTH (bytes) as binary; CHAR_LENGTH counts characters
    return _call("OCTET_LENGTH" if e.args.get("binary") else "LENGTH", self.sql(e.this))


def _timestampdiff(self: SQLiteGenerator, e: exp.TimestampDiff) -> str:
    return _call("TIMESTAMPDIFF", f"'{_unit(e.args.get('unit'), 'SECOND')}'", self.sql(e.expression), self.sql(e.this))


def _datediff(self: SQLiteGenerator, e: exp.DateDiff) -> str:
    return _call("DATEDIFF", self.sql(_unwrap_date(e.this)), self.sql(_unwrap_date(e.expression)))


def _sysvar(self: SQLiteGenerator, e: exp.SessionParameter) -> str:
    return f"_PROXYD_SYSVAR('{e.name.lower()}')"


def _uservar(self: SQLiteGenerator, e: exp.Parameter) -> str:
    return f"_PROXYD_USERVAR('{e.name.lower()}')"


def _week(self: SQLiteGenerator, e: exp.Expr) -> str:
    mode = e.args.get("mode")
    return _call("WEEK", self.sql(_unwrap_date(e.this)), self.sql(mode) if mode is not None else "")


def _fsp(name: str) -> Callable[[SQLiteGenerator, exp.Expr], str]:
    def gen(self: SQLiteGenerator, e: exp.Expr) -> str:
        arg = e.this if isinstance(e.this, exp.Expr) else None
        return _call(name, self.sql(arg) if arg is not None else "")
    return gen


class ProxydSQLiteGenerator(SQLiteGenerator):
    """sqlglot's SQLite generator, keeping MySQL semantics where it would change them."""

    TRANSFORMS = {
        **SQLiteGenerator.TRANSFORMS,
        exp.Placeholder: _placeholder,
        exp.CurrentDate: lambda self, e: "CURDATE()",
        exp.CurrentTime: _fsp("CURTIME"),
        exp.CurrentTimestamp: _fsp("NOW"),
        exp.Localtime: lambda self, e: "NOW()",
        exp.Localtimestamp: lambda self, e: "NOW()",
        exp.UtcTimestamp: lambda self, e: "UTC_TIMESTAMP()",
        exp.UtcDate: lambda self, e: "UTC_DATE()",
        exp.UtcTime: lambda self, e: "UTC_TIME()",
        exp.CurrentSchema: lambda self, e: "DATABASE()",
        exp.CurrentVersion: lambda self, e: "VERSION()",
        exp.CurrentUser: lambda self, e: "CURRENT_USER()",
        exp.Rand: lambda self, e: _call("RAND", self.sql(e.this) if e.this is not None else ""),
        exp.DateAdd: lambda self, e: _date_add(self, e.this, e.expression, e.args.get("unit"), 1),
        exp.DateSub: lambda self, e: _date_add(self, e.this, e.expression, e.args.get("unit"), -1),
        exp.TimestampAdd: lambda self, e: _date_add(self, e.this, e.expression, e.args.get("unit"), 1),
        exp.TimestampSub: lambda self, e: _date_add(self, e.this, e.expression, e.args.get("unit"), -1),
        exp.Add: _interval_arith(1),
        exp.Sub: _interval_arith(-1),
        exp.TimeToStr: lambda self, e: _call("DATE_FORMAT", self.sql(_unwrap_date(e.this)), _mysql_format(self, e)),
        exp.StrToTime: lambda self, e: _call("STR_TO_DATE", self.sql(e.this), _mysql_format(self, e)),
        exp.StrToDate: lambda self, e: _call("STR_TO_DATE", self.sql(e.this), _mysql_format(self, e)),
        exp.UnixToTime: lambda self, e: _call("FROM_UNIXTIME", self.sql(e.this),
                                              _mysql_format(self, e) if e.args.get("format") else ""),
        exp.TimestampDiff: _timestampdiff,
        exp.DateDiff: _datediff,
        exp.Length: _length,
        exp.Extract: _extract,
        exp.Cast: _cast,
        exp.Collate: _collate,
        exp.OnConflict: _on_conflict,
        exp.Xor: lambda self, e: _call("XOR", self.sql(e.this), self.sql(e.expression)),
        exp.Trunc: lambda self, e: _call("TRUNCATE", self.sql(e.this), self.sql(e.args.get("decimals")) or "0"),
        exp.NumberToStr: lambda self, e: _call("FORMAT", self.sql(e.this), self.sql(e.args.get("format"))),
        exp.SessionParameter: _sysvar,
        exp.Parameter: _uservar,
        exp.Year: _named("YEAR"), exp.Month: _named("MONTH"), exp.Day: _named("DAY"),
        exp.DayOfMonth: _named("DAYOFMONTH"), exp.DayOfWeek: _named("DAYOFWEEK"),
        exp.DayOfYear: _named("DAYOFYEAR"), exp.WeekOfYear: _named("WEEKOFYEAR"),
        exp.Quarter: _named("QUARTER"), exp.Dayname: _named("DAYNAME"), exp.Week: _week,
        exp.Hour: _named("HOUR"), exp.Minute: _named("MINUTE"), exp.Second: _named("SECOND"),
        exp.LastDay: _named("LAST_DAY"),
        exp.BitwiseCount: _named("BIT_COUNT"),
        exp.BitwiseAndAgg: _named("BIT_AND"), exp.BitwiseOrAgg: _named("BIT_OR"), exp.BitwiseXorAgg: _named("BIT_XOR"),
        exp.VariancePop: _named("VAR_POP"), exp.Variance: _named("VAR_SAMP"),
        exp.StddevPop: _named("STDDEV_POP"), exp.StddevSamp: _named("STDDEV_SAMP"),
        exp.Stddev: _named("STDDEV_SAMP"),
        exp.SHA: _named("SHA1"),
        exp.Space: _named("SPACE"),
    }


class ProxydSQLite(SQLite):
    """The dialect translated statements are generated in."""

    Generator = ProxydSQLiteGenerator


def to_sqlite(tree: exp.Expr) -> str:
    return tree.sql(dialect=ProxydSQLite, identify=True, unsupported_level=ErrorLevel.IGNORE, comments=False)


# --------------------------------------------------------------------------------------------------
# Tree fix-ups


_SQLGLOT_LOG = logging.getLogger("sqlglot")


def parse_mysql(text: str) -> exp.Expr:
    """Parse one MySQL statement; a failure becomes MySQL's 1064 with the text near the error."""
    # sqlglot logs a warning when it falls back to an opaque Command; we report our own errors
    quiet, _SQLGLOT_LOG.disabled = _SQLGLOT_LOG.disabled, True
    try:
        tree = sqlglot.parse_one(text, read="mysql")
    except sqlglot.errors.ParseError as e:
        raise _near_error(text, e) from None
    except sqlglot.errors.TokenError as e:
        raise syntax_error(text[-40:]) from e
    finally:
        _SQLGLOT_LOG.disabled = quiet
    if tree is None:
        raise ProxydError("Query was empty", 1065, "42000")
    return tree


def _near_error(text: str, e: sqlglot.errors.ParseError) -> ParseError:
    info = e.errors[0] if e.errors else {}
    before = info.get("start_context") or ""
    highlight = info.get("highlight") or ""
    pos = text.find(before + highlight) if before or highlight else -1
    near = text[pos + len(before):] if pos >= 0 else (highlight or text)
    near = _PH_MARK.sub("?", near)
    line = int(info.get("line") or 1)
    return syntax_error(near, line)


_PH_MARK = re.compile(r":p\d+")


def qualify_tables(tree: exp.Expr, schema: str | None) -> set[str]:
    """Give every table reference its schema (lower-cased); returns the schemas referenced."""
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    used: set[str] = set()
    for table in list(tree.find_all(exp.Table)):
        if not isinstance(table.this, exp.Identifier):
            continue  # a table function
        db = table.args.get("db")
        if db is not None and db.name:
            name = db.name.lower()
            table.set("db", exp.to_identifier(name))
            used.add(name)
            continue
        if table.name.lower() in ctes:
            continue
        if schema is None:
            raise NoDatabaseSelected()
        table.set("db", exp.to_identifier(schema))
        used.add(schema)
    return used


def _drop_dual(tree: exp.Expr) -> None:
    for sel in tree.find_all(exp.Select):
        frm = sel.args.get("from_")
        if frm is not None and isinstance(frm.this, exp.Table) and frm.this.name.upper() == "DUAL" \
                and not frm.this.args.get("db") and not sel.args.get("joins"):
            sel.set("from_", None)


_DROP_MODIFIERS = {"SQL_CALC_FOUND_ROWS", "SQL_NO_CACHE", "SQL_CACHE", "HIGH_PRIORITY", "STRAIGHT_JOIN",
                   "SQL_SMALL_RESULT", "SQL_BIG_RESULT", "SQL_BUFFER_RESULT"}


def _select_modifiers(tree: exp.Expr) -> bool:
    """Drop MySQL-only SELECT modifiers; True if SQL_CALC_FOUND_ROWS was among them."""
    calc = False
    for sel in tree.find_all(exp.Select):
        mods = sel.args.get("operation_modifiers")
        if mods:
            kept = []
            for m in mods:
                name = m.name.upper()
                if name == "SQL_CALC_FOUND_ROWS":
                    calc = True
                if name not in _DROP_MODIFIERS:
                    kept.append(m)
            sel.set("operation_modifiers", kept or None)
        if sel.args.get("locks"):
            sel.set("locks", None)
    return calc


def _unwrap_set_operands(tree: exp.Expr) -> exp.Expr:
    """SQLite rejects parenthesized UNION members and a parenthesized statement: ``(SELECT …)
    UNION (SELECT …)`` → ``SELECT … UNION SELECT …``; a member with its own ORDER BY / LIMIT
    becomes ``SELECT * FROM (…)``."""
    for op in list(tree.find_all(exp.SetOperation)):
        for key in ("this", "expression"):
            side = op.args.get(key)
            if isinstance(side, exp.Subquery) and not side.alias:
                inner = side.this
                if any(inner.args.get(k) for k in ("order", "limit", "offset")):
                    op.set(key, exp.select("*").from_(side.copy()))
                else:
                    op.set(key, inner)
    while isinstance(tree, exp.Subquery) and not tree.alias and isinstance(tree.this, (exp.Select, exp.SetOperation)):
        tree = tree.this
    return tree


def _like_escapes(tree: exp.Expr) -> None:
    for like in list(tree.find_all(exp.Like, exp.ILike)):
        if isinstance(like.parent, exp.Escape):
            continue
        pattern = like.expression
        if isinstance(pattern, exp.Literal) and "\\" not in pattern.name:
            continue
        like.replace(exp.Escape(this=like.copy(), expression=exp.Literal.string("\\")))


_MAX_INT = 2 ** 63 - 1


def _clamp_limits(tree: exp.Expr) -> None:
    for lim in tree.find_all(exp.Limit, exp.Offset):
        e = lim.expression
        if isinstance(e, exp.Literal) and e.is_int and int(e.name) > _MAX_INT:
            lim.set("expression", exp.Literal.number(-1 if isinstance(lim, exp.Limit) else _MAX_INT))


def _values_to_excluded(conflict: exp.OnConflict) -> None:
    for fn in list(conflict.find_all(exp.Anonymous)):
        if fn.name.upper() == "VALUES" and len(fn.expressions) == 1:
            col = fn.expressions[0]
            name = col.name if isinstance(col, (exp.Column, exp.Identifier)) else col.sql()
            fn.replace(exp.column(name, table="excluded", quoted=True))


def _rowid_subquery(stmt: exp.Update | exp.Delete, table: exp.Table) -> None:
    """``… [WHERE w] [ORDER BY o] LIMIT n`` → ``… WHERE rowid IN (SELECT rowid FROM t WHERE w …)``."""
    sub = exp.select(exp.column("rowid")).from_(table.copy())
    for key in ("where", "order", "limit"):
        value = stmt.args.get(key)
        if value is not None:
            sub.set(key, value.copy())
            stmt.set(key, None)
    stmt.set("where", exp.Where(this=exp.In(this=exp.column("rowid"), query=exp.Subquery(this=sub))))


def _fix_update(tree: exp.Update) -> None:
    table = tree.this
    joins = table.args.get("joins") if isinstance(table, exp.Table) else None
    if joins:
        # UPDATE t1 JOIN t2 ON c [JOIN t3 …] SET … WHERE w  →  UPDATE t1 SET … FROM t2 [JOIN t3 …] WHERE c AND w
        first = joins[0]
        if first.side:
            raise ProxydError("UPDATE with an outer join is not supported by the embedded backend", 1235, "42000")
        table.set("joins", None)
        src = first.this.copy()
        if len(joins) > 1:
            src.set("joins", [j.copy() for j in joins[1:]])
        tree.set("from_", exp.From(this=src))
        preds = [first.args["on"]] if first.args.get("on") is not None else []
        where = tree.args.get("where")
        if where is not None:
            preds.append(where.this)
        if preds:
            tree.set("where", exp.Where(this=exp.and_(*preds)))
        # SQLite's SET takes bare column names of the updated table
        for eq in tree.expressions:
            if isinstance(eq.this, exp.Column) and eq.this.table:
                eq.set("this", exp.column(eq.this.name, quoted=True))
        return
    if tree.args.get("limit") is not None or tree.args.get("order") is not None:
        _rowid_subquery(tree, table)


def _fix_delete(tree: exp.Delete) -> None:
    table = tree.this
    targets = tree.args.get("tables")
    using = tree.args.get("using")
    if targets or using or (isinstance(table, exp.Table) and table.args.get("joins")):
        # multi-table DELETE: delete from the first target the rows the join selects
        source = using[0] if using else table
        target = (targets or [table])[0]
        name = target.alias_or_name
        base = source.copy()
        sub = exp.select(exp.column("rowid", table=name)).from_(base)
        where = tree.args.get("where")
        if where is not None:
            sub.set("where", where.copy())
        real = _find_table(source, name) or target
        tree.set("tables", None)
        tree.set("using", None)
        tree.set("this", exp.Table(this=real.this.copy(), db=real.args.get("db")))
        tree.set("where", exp.Where(this=exp.In(this=exp.column("rowid"), query=exp.Subquery(this=sub))))
        return
    if tree.args.get("limit") is not None or tree.args.get("order") is not None:
        _rowid_subquery(tree, table)


def _find_table(source: exp.Expr, name: str) -> exp.Table | None:
    for t in source.find_all(exp.Table):
        if t.alias_or_name.lower() == name.lower():
            return t
    return None


# --------------------------------------------------------------------------------------------------
# Template analysis: which literals must stay text, and the SELECT list's item texts

_TOK = re.compile(
    r"""`[^`]*(?:``[^`]*)*`|'[^'\\]*(?:(?:\\.|'')[^'\\]*)*'|"[^"\\]*(?:(?:\\.|"")[^"\\]*)*\""""
    r"""|[^\x00-\x23\x25-\x40\x5b-\x5e\x60\x7b-\x7f][^\x00-\x23\x25-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]*|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?"""
    r"""|->>?|<=>|[<>!]=|<>|\|\||&&|:=|\S""",
    re.S)

_INLINE_AFTER = {"INTERVAL", "SEPARATOR", "->", "->>", "DATE", "TIME", "TIMESTAMP", "?"}
_CLAUSE_WORDS = {"FROM", "WHERE", "HAVING", "LIMIT", "UNION", "EXCEPT", "INTERSECT", "WINDOW", "FOR",
                 "LOCK", "INTO", "ON", "SET", "VALUES", "VALUE", "USING", "RETURNING", "OFFSET"}
_TYPE_WORDS = {"CHAR", "VARCHAR", "NCHAR", "BINARY", "VARBINARY", "DECIMAL", "NUMERIC", "DEC", "FLOAT",
               "DOUBLE", "DATETIME", "TIME", "TIMESTAMP", "SIGNED", "UNSIGNED", "INT", "INTEGER"}


def inline_slots(template: str) -> tuple[int, ...]:
    """Placeholder positions of ``template`` whose literal must stay in the text."""
    slots: set[int] = set()
    ph = -1
    # Per open parenthesis: the clause outside it, and whether it holds a subquery. Clause words
    # inside a function call (EXTRACT(DAY FROM x), SUBSTRING(s FROM 2)) do not change the clause.
    stack: list[tuple[str | None, bool]] = []
    clause: str | None = None
    subquery = True  # the top level is a statement
    prev = prev2 = ""
    for m in _TOK.finditer(template):
        t = m.group()
        c = t[0]
        u = t.upper() if c.isalpha() or c == "_" else t
        if t == "?":
            ph += 1
            if clause in ("SELECT", "ORDER", "TYPE") or prev in _INLINE_AFTER:
                slots.add(ph)
                if prev == "?":  # adjacent strings 'a' 'b' are one literal
                    slots.add(ph - 1)
        elif t == "(":
            stack.append((clause, subquery))
            subquery = False
            if prev in _TYPE_WORDS and prev2 in ("AS", ","):
                clause = "TYPE"
        elif t == ")":
            clause, subquery = stack.pop() if stack else (None, True)
        elif u == "SELECT" or u == "WITH":
            subquery = True
            clause = "SELECT" if u == "SELECT" else None
        elif u == "BY" and prev in ("ORDER", "GROUP"):
            if subquery or clause != "SELECT":
                clause = "ORDER"
        elif u in _CLAUSE_WORDS:
            if subquery:
                clause = u
        elif u in ("PRECEDING", "FOLLOWING") and prev == "?":
            slots.add(ph)
        prev2, prev = prev, u
    return tuple(sorted(slots))


_SELECT_MODS = {"ALL", "DISTINCT", "DISTINCTROW", "HIGH_PRIORITY", "STRAIGHT_JOIN", "SQL_SMALL_RESULT",
                "SQL_BIG_RESULT", "SQL_BUFFER_RESULT", "SQL_NO_CACHE", "SQL_CACHE", "SQL_CALC_FOUND_ROWS"}
_LIST_END = {"FROM", "INTO", "WHERE", "GROUP", "HAVING", "ORDER", "LIMIT", "UNION", "EXCEPT", "INTERSECT",
             "WINDOW", "FOR", "LOCK"}


def select_item_texts(text: str) -> list[str] | None:
    """The items of the outermost SELECT list as written (for MySQL's column names)."""
    toks = [(m.group(), m.start(), m.end()) for m in _TOK.finditer(text)]
    depth = 0
    best: tuple[int, int] | None = None  # (depth, token index) of the shallowest SELECT
    for i, (t, _, _) in enumerate(toks):
        if t == "(":
            depth += 1
        elif t == ")":
            depth -= 1
        elif t.upper() == "SELECT" and (best is None or depth < best[0]):
            best = (depth, i)
    if best is None:
        return None
    i = best[1] + 1
    while i < len(toks) and toks[i][0].upper() in _SELECT_MODS:
        i += 1
    items: list[str] = []
    start = None
    end = 0
    depth = 0
    while i < len(toks):
        t, s, e = toks[i]
        if depth == 0 and (t == ")" or t == ";" or t.upper() in _LIST_END):
            break
        if t == "(":
            depth += 1
        elif t == ")":
            depth -= 1
        if depth == 0 and t == ",":
            if start is None:
                return None
            items.append(text[start:end])
            start = None
        else:
            if start is None:
                start = s
            end = e
        i += 1
    if start is not None:
        items.append(text[start:end])
    return items


def _alias_select_items(tree: exp.Expr, text: str) -> None:
    sel = tree
    while isinstance(sel, (exp.SetOperation, exp.Subquery)):
        sel = sel.this
    if not isinstance(sel, exp.Select):
        return
    projections = sel.expressions
    if all(isinstance(p, (exp.Column, exp.Star, exp.Alias)) for p in projections):
        return
    items = select_item_texts(text)
    if items is None or len(items) != len(projections):
        return
    for i, (p, raw) in enumerate(zip(projections, items)):
        if isinstance(p, (exp.Column, exp.Star, exp.Alias)):
            continue
        if isinstance(p, exp.Literal) and p.is_string:
            name = p.this
        else:
            name = raw.strip()
        projections[i] = exp.alias_(p, exp.to_identifier(name, quoted=True), copy=False)


def _mark_placeholders(text: str) -> tuple[str, int]:
    """``?`` markers → ``:p0, :p1…`` (outside quotes), and how many there are."""
    if "?" not in text:
        return text, 0
    out: list[str] = []
    n = 0
    pos = 0
    for m in _TOK.finditer(text):
        if m.group() == "?":
            out.append(text[pos:m.start()])
            out.append(f" :p{n} ")
            n += 1
            pos = m.end()
    out.append(text[pos:])
    return "".join(out), n


# --------------------------------------------------------------------------------------------------
# Plans


@dataclass(slots=True, eq=False)
class Plan:
    """How to run one statement shape on SQLite."""

    kind: str  # "select" | "insert" | "update" | "delete" | "sleep" | "inline"
    sql: str = ""  # SQLite text, placeholders ?1..?N
    nbind: int = 0  # how many bindings the SQL takes (the first nbind values)
    inline: tuple[int, ...] | None = None  # kind "inline": slots to put back as text (None: all)
    schemas: frozenset[str] = frozenset()
    table: tuple[str, str] | None = None  # INSERT/UPDATE/DELETE target (schema, table)
    columns: tuple[str, ...] | None = None  # INSERT column list as written (None: all, in order)
    ignore: bool = False  # INSERT/UPDATE IGNORE
    upsert: bool = False  # ON DUPLICATE KEY UPDATE
    replace: bool = False
    info_schema: bool = False  # reads information_schema (refreshed before running)
    offload: bool = False  # mentions SLEEP: runs on a worker thread
    sleep: float | None = None  # the statement is just SELECT SLEEP(n)
    found_rows_sql: str | None = None  # SQL_CALC_FOUND_ROWS: the count without LIMIT
    found_rows_nbind: int = 0
    value_slots: tuple[int | str | None, ...] | None = None  # INSERT … VALUES: per column, the binding
    #                         index ("null" for a NULL literal, None for anything else)
    assign_slots: dict[str, int] | None = None  # UPDATE … SET c = ?: column → binding index
    names: tuple[str, ...] | None = None  # result column names (filled in by the session)
    decltypes: tuple[str | None, ...] | None = None  # declared types (filled in by the session)
    types: list[int] | None = None  # result type codes when every column has a declared type


_MOD_RE = re.compile(r"^\s*(INSERT|REPLACE|UPDATE|DELETE)((?:\s+(?:LOW_PRIORITY|DELAYED|HIGH_PRIORITY|QUICK|IGNORE)\b)*)",
                     re.I)
_NBIND = re.compile(r"\?(\d+)")


def _max_binding(sql: str) -> int:
    return max((int(x) for x in _NBIND.findall(sql)), default=0)


def _slot_of(v: exp.Expr) -> int | str | None:
    if isinstance(v, exp.Placeholder) and v.name[1:].isdigit():
        return int(v.name[1:])
    if isinstance(v, exp.Null):
        return "null"
    return None


_DML = (exp.Select, exp.SetOperation, exp.Subquery, exp.Insert, exp.Update, exp.Delete, exp.Values)


def _strip_verb_modifiers(text: str) -> tuple[str, bool, bool]:
    """REPLACE → INSERT and LOW_PRIORITY/DELAYED/HIGH_PRIORITY/QUICK/IGNORE removed; returns the
    text and whether it was REPLACE and IGNORE (sqlglot's MySQL parser takes neither)."""
    m = _MOD_RE.match(text)
    if m is None:
        return text, False, False
    verb = m.group(1).upper()
    mods = m.group(2).upper().split()
    replace = verb == "REPLACE"
    if mods or replace:
        text = ("INSERT" if replace else verb) + text[m.end():]
    return text, replace, "IGNORE" in mods


def _table_of(tbl: exp.Expr) -> tuple[str, str] | None:
    return (tbl.args["db"].name, tbl.name) if isinstance(tbl, exp.Table) and tbl.args.get("db") else None


def _plan_insert(tree: exp.Insert, plan: Plan, replace: bool, ignore: bool) -> None:
    plan.kind = "insert"
    target = tree.this
    plan.table = _table_of(target.this if isinstance(target, exp.Schema) else target)
    if isinstance(target, exp.Schema):
        plan.columns = tuple(c.name for c in target.expressions)
    src = tree.expression
    conflict = tree.args.get("conflict")
    if conflict is not None and conflict.args.get("duplicate"):
        plan.upsert = True
        _values_to_excluded(conflict)
        if isinstance(src, exp.Select) and src.args.get("where") is None:
            src.set("where", exp.Where(this=exp.true()))  # SQLite's upsert-after-SELECT rule
    if replace:
        tree.set("alternative", "REPLACE")
    elif ignore:
        tree.set("ignore", True)
    plan.replace, plan.ignore = replace, ignore
    if isinstance(src, exp.Values) and len(src.expressions) == 1:
        plan.value_slots = tuple(_slot_of(v) for v in src.expressions[0].expressions)


def _plan_update(tree: exp.Update, plan: Plan, ignore: bool) -> None:
    plan.kind = "update"
    plan.table = _table_of(tree.this)
    plan.assign_slots = {eq.this.name.lower(): int(eq.expression.name[1:]) for eq in tree.expressions
                         if isinstance(eq, exp.EQ) and isinstance(eq.this, exp.Column)
                         and isinstance(eq.expression, exp.Placeholder)}
    _fix_update(tree)
    plan.ignore = ignore


def _plan_sleep(tree: exp.Expr, plan: Plan) -> None:
    """Statements mentioning SLEEP run on a thread; ``SELECT SLEEP(n)`` alone is awaited."""
    for fn in tree.find_all(exp.Anonymous):
        if fn.name.upper() != "SLEEP":
            continue
        plan.offload = True
        if not isinstance(tree, exp.Select) or len(tree.expressions) != 1 or tree.args.get("from_") is not None \
                or tree.args.get("where") is not None:
            continue
        item = tree.expressions[0]
        arg = fn.expressions[0] if len(fn.expressions) == 1 else None
        if (item.this if isinstance(item, exp.Alias) else item) is fn and isinstance(arg, exp.Literal) \
                and not arg.is_string:
            plan.kind = "sleep"
            plan.sleep = float(arg.name)
            plan.names = (item.alias_or_name,)


def _plan_found_rows(tree: exp.Expr, plan: Plan) -> None:
    """SQL_CALC_FOUND_ROWS: the same SELECT without ORDER BY / LIMIT, counted."""
    inner = tree.copy()
    for key in ("limit", "offset", "order"):
        inner.set(key, None)
    plan.found_rows_sql = to_sqlite(exp.select(exp.Count(this=exp.Star())).from_(exp.Subquery(this=inner)))
    plan.found_rows_nbind = _max_binding(plan.found_rows_sql)


def build_plan(text: str, schema: str | None) -> Plan:
    """Translate one statement (literals as ``?`` or as text) into a :class:`Plan` with sqlglot."""
    text, replace, ignore = _strip_verb_modifiers(text)
    marked, nph = _mark_placeholders(text)
    tree = parse_mysql(marked)
    if not isinstance(tree, _DML):
        raise syntax_error(text.strip()[:80])
    _drop_dual(tree)
    tree = _unwrap_set_operands(tree)
    if any(g.args.get("rollup") for g in tree.find_all(exp.Group)):
        raise ProxydError("This version of MySQL doesn't yet support 'WITH ROLLUP' (embedded backend)", 1235, "42000")
    schemas = qualify_tables(tree, schema)
    calc = _select_modifiers(tree)
    _like_escapes(tree)
    _clamp_limits(tree)

    plan = Plan(kind="select", schemas=frozenset(schemas), info_schema=INFO_SCHEMA in schemas)
    if isinstance(tree, exp.Insert):
        _plan_insert(tree, plan, replace, ignore)
    elif isinstance(tree, exp.Update):
        _plan_update(tree, plan, ignore)
    elif isinstance(tree, exp.Delete):
        plan.kind = "delete"
        _fix_delete(tree)
        plan.table = _table_of(tree.this)
    else:
        _alias_select_items(tree, text)
        if calc and isinstance(tree, exp.Select):
            _plan_found_rows(tree, plan)
    _plan_sleep(tree, plan)

    sql = to_sqlite(tree)
    if plan.kind == "update" and ignore:
        sql = "UPDATE OR IGNORE" + sql[len("UPDATE"):]
    plan.sql = sql
    plan.nbind = _max_binding(sql) if nph else 0
    return plan


class Translator:
    """A bounded LRU of plans keyed by (schema, template). One per engine: all sessions share it
    (the event loop is single-threaded). ``clear()`` after any DDL, as plans cache column names."""

    def __init__(self, size: int = 4096, fast: bool = True):
        self.size = size
        self.fast = fast  # try proxyd.backends.translate_fast before sqlglot
        self._cache: OrderedDict[tuple[bool, str | None, str], Plan] = OrderedDict()
        self.offload_pattern: re.Pattern[str] | None = None  # plans whose SQL matches run on a thread

    def __len__(self) -> int:
        return len(self._cache)

    def clear(self) -> None:
        self._cache.clear()

    def _get(self, key: tuple[bool, str | None, str]) -> Plan | None:
        plan = self._cache.get(key)
        if plan is not None:
            self._cache.move_to_end(key)
        return plan

    def _put(self, key: tuple[bool, str | None, str], plan: Plan) -> Plan:
        self._cache[key] = plan
        if len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return plan

    def cached(self, template: str, schema: str | None) -> Plan | None:
        """The plan of a template if cached (the per-statement fast path)."""
        key = (False, schema, template)
        plan = self._cache.get(key)
        if plan is not None:
            self._cache.move_to_end(key)
        return plan

    def plan(self, template: str, schema: str | None) -> Plan:
        """The plan of a template (every literal a ``?``); may be an "inline" plan."""
        key = (False, schema, template)
        plan = self._get(key)
        if plan is not None:
            return plan
        slots = inline_slots(template) if "?" in template else ()
        if slots:
            return self._put(key, Plan(kind="inline", inline=slots))
        try:
            plan = self._build(template, schema)
        except ParseError:
            if "?" not in template:
                raise
            # e.g. DATE ? or 'a' 'b': try the statement with its literals as written
            return self._put(key, Plan(kind="inline", inline=None))
        return self._put(key, plan)

    def exact(self, text: str, schema: str | None) -> Plan:
        """The plan of a text whose remaining ``?`` are bindings, as written (never "inline")."""
        key = (True, schema, text)
        plan = self._get(key)
        if plan is None:
            plan = self._put(key, self._build(text, schema))
        return plan

    def _build(self, text: str, schema: str | None) -> Plan:
        plan = None
        if self.fast:
            from proxyd.backends.translate_fast import fast_plan  # (imports this module)
            plan = fast_plan(text, schema)
        if plan is None:
            plan = build_plan(text, schema)
        if self.offload_pattern is not None and self.offload_pattern.search(plan.sql):
            plan.offload = True
        return plan
