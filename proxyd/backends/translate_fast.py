"""Translation of simple statements without sqlglot (about 50× cheaper for a first execution).

sqlglot costs 1–3 ms the first time a statement shape is seen. Many shapes (all of sysbench's, most
ORM point queries) are spelled the same in MySQL and SQLite except for table qualification, so
this module recognizes them with a tokenizer and rewrites them token by token. It accepts only:

* ``SELECT [DISTINCT] items FROM tbl [WHERE cond] [ORDER BY cols [ASC|DESC]] [LIMIT n [OFFSET m] |
  LIMIT m, n]`` where an item is ``*``, a column, or ``COUNT|SUM|MIN|MAX|AVG`` of a column or ``*``;
* ``UPDATE tbl SET col = expr, … [WHERE cond]``;  ``DELETE FROM tbl [WHERE cond]``;
* ``INSERT INTO tbl [(cols)] VALUES (expr, …)`` (one row; the session collapses multi-row inserts);

with one table (``name`` or ``schema.name``, no alias, no join), conditions and expressions made of
unqualified columns, ``?``, decimal numbers, ``NULL``, ``= <> != < > <= >= + - *``, ``AND OR NOT
BETWEEN IN IS``, parentheses and commas. Anything else — a string literal, a function call, ``/``
(integer division in SQLite), ``||`` (OR in MySQL), ``LIKE`` (escape character), any other MySQL
reserved word, backquotes containing quotes — returns None and the statement goes to sqlglot.
Every accepted form has the same meaning in both dialects; tests compare both paths' results.
"""

from __future__ import annotations

import re

from proxyd.backends.translate import INFO_SCHEMA, NoDatabaseSelected, Plan, quote_ident

__all__ = ["fast_plan"]

_TOKENS = re.compile(r"\s*(?:(`[^`]*(?:``[^`]*)*`)|([^\x00-\x23\x25-\x40\x5b-\x5e\x60\x7b-\x7f][^\x00-\x23\x25-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]*)"
                     r"|(\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(?![\w$.])|(<=|>=|<>|!=|[=<>+\-*(),.?;]))")

_KEYWORDS = frozenset("SELECT DISTINCT FROM WHERE AND OR NOT BETWEEN IN IS NULL ORDER BY ASC DESC LIMIT OFFSET "
                      "UPDATE SET DELETE INSERT INTO VALUES".split())
_AGGREGATES = frozenset({"COUNT", "SUM", "MIN", "MAX", "AVG"})
# MySQL reserved words (and keywords with special meaning when bare): a statement using any word
# here that is not in _KEYWORDS goes to sqlglot.
_RESERVED = frozenset("""
ACCESSIBLE ADD ALL ALTER ANALYZE AND AS ASC ASENSITIVE BEFORE BETWEEN BIGINT BINARY BLOB BOTH BY CALL CASCADE
CASE CHANGE CHAR CHARACTER CHECK COLLATE COLUMN CONDITION CONSTRAINT CONTINUE CONVERT CREATE CROSS CUBE
CUME_DIST CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP CURRENT_USER CURSOR DATABASE DATABASES DAY_HOUR
DAY_MICROSECOND DAY_MINUTE DAY_SECOND DEC DECIMAL DECLARE DEFAULT DELAYED DELETE DENSE_RANK DESC DESCRIBE
DETERMINISTIC DISTINCT DISTINCTROW DIV DOUBLE DROP DUAL EACH ELSE ELSEIF EMPTY ENCLOSED ESCAPED EXCEPT EXISTS
EXIT EXPLAIN FALSE FETCH FIRST_VALUE FLOAT FLOAT4 FLOAT8 FOR FORCE FOREIGN FROM FULLTEXT FUNCTION GENERATED GET
GRANT GROUP GROUPING GROUPS HAVING HIGH_PRIORITY HOUR_MICROSECOND HOUR_MINUTE HOUR_SECOND IF IGNORE IN INDEX
INFILE INNER INOUT INSENSITIVE INSERT INT INT1 INT2 INT3 INT4 INT8 INTEGER INTERSECT INTERVAL INTO IO_AFTER_GTIDS
IO_BEFORE_GTIDS IS ITERATE JOIN JSON_TABLE KEY KEYS KILL LAG LAST_VALUE LATERAL LEAD LEADING LEAVE LEFT LIKE
LIMIT LINEAR LINES LOAD LOCALTIME LOCALTIMESTAMP LOCK LONG LONGBLOB LONGTEXT LOOP LOW_PRIORITY MASTER_BIND
MATCH MAXVALUE MEDIUMBLOB MEDIUMINT MEDIUMTEXT MIDDLEINT MINUTE_MICROSECOND MINUTE_SECOND MOD MODIFIES NATURAL
NOT NO_WRITE_TO_BINLOG NTH_VALUE NTILE NULL NUMERIC OF ON OPTIMIZE OPTIMIZER_COSTS OPTION OPTIONALLY OR ORDER
OUT OUTER OUTFILE OVER PARTITION PERCENT_RANK PRECISION PRIMARY PROCEDURE PURGE RANGE RANK READ READS
READ_WRITE REAL RECURSIVE REFERENCES REGEXP RELEASE RENAME REPEAT REPLACE REQUIRE RESIGNAL RESTRICT RETURN
REVOKE RIGHT RLIKE ROW ROWS ROW_NUMBER SCHEMA SCHEMAS SECOND_MICROSECOND SELECT SENSITIVE SEPARATOR SET SHOW
SIGNAL SMALLINT SPATIAL SPECIFIC SQL SQLEXCEPTION SQLSTATE SQLWARNING SQL_BIG_RESULT SQL_CALC_FOUND_ROWS
SQL_SMALL_RESULT SSL STARTING STORED STRAIGHT_JOIN SYSTEM TABLE TERMINATED THEN TINYBLOB TINYINT TINYTEXT TO
TRAILING TRIGGER TRUE UNDO UNION UNIQUE UNLOCK UNSIGNED UPDATE USAGE USE USING UTC_DATE UTC_TIME UTC_TIMESTAMP
VALUES VARBINARY VARCHAR VARCHARACTER VARYING VIRTUAL WHEN WHERE WHILE WINDOW WITH WRITE XOR YEAR_MONTH
ZEROFILL OFFSET VALUE DATE TIME TIMESTAMP BINARY ROWID _ROWID_ OID
""".split())


class _Bail(Exception):
    """Not a statement this module handles."""


def _tokens(text: str) -> list[tuple[str, str]]:
    """(kind, text) tokens: kind is 'q' quoted name, 'w' word, 'n' number, 'p' punctuation."""
    out: list[tuple[str, str]] = []
    pos = 0
    n = len(text)
    while True:
        m = _TOKENS.match(text, pos)
        if m is None:
            if text[pos:].strip():
                raise _Bail
            return out
        if m.group(1) is not None:
            name = m.group(1)[1:-1].replace("``", "`")
            if '"' in name or not name:
                raise _Bail
            out.append(("q", name))
        elif m.group(2) is not None:
            out.append(("w", m.group(2)))
        elif m.group(3) is not None:
            out.append(("n", m.group(3)))
        else:
            out.append(("p", m.group(4)))
        pos = m.end()
        if pos >= n:
            return out


class _Rewriter:
    def __init__(self, text: str, schema: str | None):
        toks = _tokens(text)
        while toks and toks[-1] == ("p", ";"):
            toks.pop()
        self.toks = toks
        self.i = 0
        self.schema = schema
        self.out: list[str] = []
        self.nph = 0
        self.text = text

    # -- token access -------------------------------------------------------------------------

    def peek(self, k: int = 0) -> tuple[str, str] | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def word(self, k: int = 0) -> str:
        t = self.peek(k)
        return t[1].upper() if t is not None and t[0] == "w" else ""

    def punct(self, k: int = 0) -> str:
        t = self.peek(k)
        return t[1] if t is not None and t[0] == "p" else ""

    def take_word(self, *words: str) -> str:
        w = self.word()
        if w not in words:
            raise _Bail
        self.i += 1
        self.out.append(w)
        return w

    def take_punct(self, p: str) -> None:
        if self.punct() != p:
            raise _Bail
        self.i += 1
        self.out.append(p)

    def ident(self) -> str:
        """A plain (unqualified) name: a non-reserved word or a backquoted name."""
        t = self.peek()
        if t is None or t[0] not in ("w", "q") or (t[0] == "w" and t[1].upper() in _RESERVED):
            raise _Bail
        self.i += 1
        return t[1]

    # -- grammar ------------------------------------------------------------------------------

    def table(self) -> tuple[str, str]:
        first = self.ident()
        if self.punct() == ".":
            self.i += 1
            schema, name = first.lower(), self.ident()
        else:
            if self.schema is None:
                raise NoDatabaseSelected()
            schema, name = self.schema, first
        self.out.append(f"{quote_ident(schema)}.{quote_ident(name)}")
        return schema, name

    def operand(self) -> None:
        t = self.peek()
        if t is None:
            raise _Bail
        kind, val = t
        if kind == "p" and val == "?":
            self.i += 1
            self.nph += 1
            self.out.append(f"?{self.nph}")
        elif kind == "n":
            self.i += 1
            self.out.append(val)
        elif kind == "w" and val.upper() == "NULL":
            self.i += 1
            self.out.append("NULL")
        elif kind == "p" and val == "(":
            self.take_punct("(")
            self.expr_list()
            self.take_punct(")")
        elif kind in ("w", "q"):
            name = self.ident()
            if self.punct() in ("(", "."):
                raise _Bail  # a function call or a qualified name
            self.out.append(quote_ident(name))
        else:
            raise _Bail

    def expr(self) -> None:
        """Operands joined by operators and the keywords AND OR NOT BETWEEN IN IS."""
        while True:
            while self.word() == "NOT" or self.punct() in ("-", "+"):
                self.out.append(self.word() or self.punct())
                self.i += 1
            self.operand()
            if self.word() == "NOT" and self.word(1) in ("IN", "BETWEEN"):
                self.out.append("NOT")
                self.i += 1
            w, p = self.word(), self.punct()
            if p in ("=", "<>", "!=", "<", ">", "<=", ">=", "+", "-", "*"):
                self.out.append(p)
                self.i += 1
            elif w in ("AND", "OR", "BETWEEN"):
                self.out.append(w)
                self.i += 1
            elif w == "IN":
                self.out.append("IN")
                self.i += 1
                self.take_punct("(")
                self.expr_list()
                self.take_punct(")")
                if not (self.word() in ("AND", "OR") or self.punct() in ("=", "<>", "!=")):
                    return
                self.out.append(self.word() or self.punct())
                self.i += 1
            elif w == "IS":
                self.out.append("IS")
                self.i += 1
                if self.word() == "NOT":
                    self.take_word("NOT")
                self.take_word("NULL")
                if self.word() not in ("AND", "OR"):
                    return
                self.out.append(self.word())
                self.i += 1
            else:
                return

    def expr_list(self) -> None:
        self.expr()
        while self.punct() == ",":
            self.take_punct(",")
            self.expr()

    def select_items(self) -> None:
        while True:
            if self.punct() == "*":
                self.take_punct("*")
            elif self.word() in _AGGREGATES and self.punct(1) == "(":
                start = len(self.out)
                name = self.word()
                self.i += 2
                if self.punct() == "*":
                    self.i += 1
                    arg, raw = "*", "*"
                else:
                    raw = self.ident()
                    arg = quote_ident(raw)
                if self.punct() != ")":
                    raise _Bail
                self.i += 1
                original = self._source_text(name, raw)
                self.out[start:] = [f"{name}({arg}) AS {quote_ident(original)}"]
            else:
                name = self.ident()
                if self.punct() in ("(", "."):
                    raise _Bail
                self.out.append(quote_ident(name))
            if self.punct() != ",":
                return
            self.take_punct(",")

    def _source_text(self, func: str, arg: str) -> str:
        """The item as the client wrote it (MySQL names the column after it), e.g. 'sum(k)'."""
        m = re.search(rf"\b({re.escape(func)}\s*\(\s*`?{re.escape(arg)}`?\s*\))", self.text, re.I)
        if m is None:
            raise _Bail
        return m.group(1)

    def select(self) -> Plan:
        self.take_word("SELECT")
        if self.word() == "DISTINCT":
            self.take_word("DISTINCT")
        self.select_items()
        self.take_word("FROM")
        schema, _ = self.table()
        if self.word() == "WHERE":
            self.take_word("WHERE")
            self.expr()
        if self.word() == "ORDER":
            self.take_word("ORDER")
            self.take_word("BY")
            while True:
                self.operand()
                if self.word() in ("ASC", "DESC"):
                    self.take_word("ASC", "DESC")
                if self.punct() != ",":
                    break
                self.take_punct(",")
        if self.word() == "LIMIT":
            self.take_word("LIMIT")
            self.limit_value()
            if self.punct() == ",":
                self.take_punct(",")
                self.limit_value()
            elif self.word() == "OFFSET":
                self.take_word("OFFSET")
                self.limit_value()
        self.end()
        return Plan(kind="select", schemas=frozenset({schema}), info_schema=schema == INFO_SCHEMA)

    def limit_value(self) -> None:
        t = self.peek()
        if t is None or not (t == ("p", "?") or (t[0] == "n" and t[1].isdigit() and len(t[1]) < 19)):
            raise _Bail
        self.operand()

    def update(self) -> Plan:
        self.take_word("UPDATE")
        schema, table = self.table()
        self.take_word("SET")
        assign: dict[str, int] = {}
        while True:
            col = self.ident()
            self.out.append(quote_ident(col))
            self.take_punct("=")
            if self.punct() == "?" and (self.punct(1) == "," or self.word(1) == "WHERE" or self.peek(1) is None):
                assign[col.lower()] = self.nph  # SET col = ? : the binding that col receives
            self.expr()
            if self.punct() != ",":
                break
            self.take_punct(",")
        if self.word() == "WHERE":
            self.take_word("WHERE")
            self.expr()
        self.end()
        return Plan(kind="update", schemas=frozenset({schema}), table=(schema, table), assign_slots=assign or None)

    def delete(self) -> Plan:
        self.take_word("DELETE")
        self.take_word("FROM")
        schema, table = self.table()
        if self.word() == "WHERE":
            self.take_word("WHERE")
            self.expr()
        self.end()
        return Plan(kind="delete", schemas=frozenset({schema}), table=(schema, table))

    def insert(self) -> Plan:
        self.take_word("INSERT")
        self.take_word("INTO")
        schema, table = self.table()
        columns: tuple[str, ...] | None = None
        if self.punct() == "(":
            self.take_punct("(")
            cols = [self.ident()]
            while self.punct() == ",":
                self.i += 1
                cols.append(self.ident())
            self.out.append(", ".join(quote_ident(c) for c in cols))
            self.take_punct(")")
            columns = tuple(cols)
        self.take_word("VALUES")
        self.take_punct("(")
        slots: list[int | str | None] = []
        while True:
            t = self.peek()
            nxt = self.punct(1)
            if t == ("p", "?") and nxt in (",", ")"):
                slots.append(self.nph)
            elif t is not None and t[0] == "w" and t[1].upper() == "NULL" and nxt in (",", ")"):
                slots.append("null")
            else:
                slots.append(None)
            self.expr()
            if self.punct() != ",":
                break
            self.take_punct(",")
        self.take_punct(")")
        self.end()
        return Plan(kind="insert", schemas=frozenset({schema}), table=(schema, table), columns=columns,
                    value_slots=tuple(slots))

    def end(self) -> None:
        if self.i != len(self.toks):
            raise _Bail


def fast_plan(text: str, schema: str | None) -> Plan | None:
    """A plan for ``text`` if it is one of the simple forms above, else None."""
    try:
        rw = _Rewriter(text, schema)
        first = rw.word()
        if first == "SELECT":
            plan = rw.select()
        elif first == "UPDATE":
            plan = rw.update()
        elif first == "DELETE":
            plan = rw.delete()
        elif first == "INSERT":
            plan = rw.insert()
        else:
            return None
    except _Bail:
        return None
    plan.sql = " ".join(rw.out)
    plan.nbind = rw.nph
    return plan
