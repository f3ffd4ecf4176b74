"""The filter statements: CREATE / ALTER / DROP FILTER, SHOW FILTERS, SHOW FILTER, SHOW CREATE FILTER,
SHOW FILTER ACTIONS; and the text of SHOW CREATE FILTER.

Grammar (keywords case-insensitive, every value a quoted string)::

    CREATE FILTER [IF NOT EXISTS] name [( desc='…', priority='…', status='…' )]
        WITH_PATTERN ( field='…', … ) EXECUTE ( action='…', action_args='…' )
    ALTER FILTER name [( … )] [WITH_PATTERN ( … )] [EXECUTE ( … )]
    DROP FILTER [IF EXISTS] name

Inside a value ``\\'``, ``\\"``, ``\\\\`` and a doubled quote are escapes; any other backslash is kept, so
``query_regex='\\d+'`` means the regex ``\\d+``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from plugins.filters.errors import FilterSyntaxError
from plugins.filters.model import EXECUTE_FIELDS, META_FIELDS, PATTERN_FIELDS, FilterDef

_TOKEN = re.compile(r"""\s+|/\*.*?\*/|(?:--\s|\#)[^\n]*|(?P<word>[A-Za-z0-9_$]+)|(?P<bq>`(?:[^`]|``)*`)"""
                    r"""|(?P<str>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")|(?P<punct>[(),=;])""", re.DOTALL)
_ESCAPES = {"\\'": "'", '\\"': '"', "\\\\": "\\"}
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_$]+\Z")

BLOCKS = {"": META_FIELDS, "WITH_PATTERN": PATTERN_FIELDS, "EXECUTE": EXECUTE_FIELDS}
#: Column of each grammar field (``desc`` is stored as ``description``).
COLUMN_OF = {"desc": "description"}


@dataclass
class Statement:
    verb: str  # CREATE | ALTER | DROP | SHOW_FILTERS | SHOW_FILTER | SHOW_CREATE | SHOW_ACTIONS
    name: str = ""
    if_exists: bool = False  # IF NOT EXISTS on CREATE, IF EXISTS on DROP
    fields: dict[str, str] = field(default_factory=dict)  # column name -> value as written


@dataclass
class _Tok:
    kind: str  # word | name | str | punct
    text: str
    value: str
    pos: int


def tokenize(sql: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(sql):
        m = _TOKEN.match(sql, pos)
        if m is None:
            raise FilterSyntaxError(f"filter statement: unexpected character {sql[pos]!r} at position {pos}")
        kind = m.lastgroup
        text = m.group()
        if kind == "word":
            out.append(_Tok("word", text, text, pos))
        elif kind == "bq":
            out.append(_Tok("name", text, text[1:-1].replace("``", "`"), pos))
        elif kind == "str":
            q = text[0]
            body = re.sub(r"\\['\"\\]", lambda e: _ESCAPES[e.group()], text[1:-1].replace(q + q, q)) \
                if ("\\" in text or q + q in text) else text[1:-1]
            out.append(_Tok("str", text, body, pos))
        elif kind == "punct":
            out.append(_Tok("punct", text, text, pos))
        pos = m.end()
    while out and out[-1].text == ";":
        out.pop()
    return out


class _Parser:
    def __init__(self, sql: str):
        self.sql = sql
        self.toks = tokenize(sql)
        self.i = 0

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def error(self, expected: str) -> FilterSyntaxError:
        tok = self.peek()
        near = self.sql[tok.pos:tok.pos + 40] if tok else "end of statement"
        return FilterSyntaxError(f"filter statement syntax error: expected {expected} near '{near}'")

    def keyword(self, *words: str) -> str | None:
        tok = self.peek()
        if tok is not None and tok.kind == "word" and tok.text.upper() in words:
            self.i += 1
            return tok.text.upper()
        return None

    def expect_keyword(self, *words: str) -> str:
        got = self.keyword(*words)
        if got is None:
            raise self.error(" or ".join(words))
        return got

    def punct(self, ch: str) -> bool:
        tok = self.peek()
        if tok is not None and tok.kind == "punct" and tok.text == ch:
            self.i += 1
            return True
        return False

    def expect_punct(self, ch: str) -> None:
        if not self.punct(ch):
            raise self.error(f"'{ch}'")

    def name(self) -> str:
        tok = self.peek()
        if tok is None or tok.kind not in ("word", "name", "str") or not tok.value:
            raise self.error("a filter name")
        self.i += 1
        return tok.value

    def if_clause(self, *words: str) -> bool:
        save = self.i
        if self.keyword("IF"):
            for w in words:
                if not self.keyword(w):
                    self.i = save
                    raise self.error("IF " + " ".join(words))
            return True
        return False

    def block(self, block: str, into: dict[str, str]) -> None:
        """``( key='value', … )`` with the keys allowed in ``block``."""
        allowed = BLOCKS[block]
        where = block.lower() or "the filter's metadata"
        self.expect_punct("(")
        if self.punct(")"):
            return
        while True:
            tok = self.peek()
            if tok is None or tok.kind != "word":
                raise self.error(f"a field name of {where}")
            key = tok.text.lower()
            if key not in allowed:
                raise FilterSyntaxError(f"unknown field '{tok.text}' in {where} (valid: {', '.join(allowed)})")
            column = COLUMN_OF.get(key, key)
            if column in into:
                raise FilterSyntaxError(f"field '{key}' given twice")
            self.i += 1
            self.expect_punct("=")
            val = self.peek()
            if val is None or val.kind != "str":
                raise self.error(f"a quoted value for {key}")
            self.i += 1
            into[column] = val.value
            if self.punct(")"):
                return
            self.expect_punct(",")

    def end(self) -> None:
        if self.peek() is not None:
            raise self.error("end of statement")


def parse(sql: str) -> Statement:
    """Parse one filter statement (the whole text, e.g. ``create filter foo(…) with_pattern(…) …``)."""
    p = _Parser(sql)
    verb = p.expect_keyword("CREATE", "ALTER", "DROP", "SHOW")
    if verb == "SHOW":
        if p.keyword("FILTERS"):
            p.end()
            return Statement("SHOW_FILTERS")
        if p.keyword("CREATE"):
            p.expect_keyword("FILTER")
            st = Statement("SHOW_CREATE", name=p.name())
            p.end()
            return st
        p.expect_keyword("FILTER")
        if p.keyword("ACTIONS"):
            p.end()
            return Statement("SHOW_ACTIONS")
        st = Statement("SHOW_FILTER", name=p.name())
        p.end()
        return st
    p.expect_keyword("FILTER")
    if verb == "DROP":
        st = Statement("DROP", if_exists=p.if_clause("EXISTS"))
        st.name = p.name()
        p.end()
        return st
    st = Statement(verb, if_exists=p.if_clause("NOT", "EXISTS") if verb == "CREATE" else False)
    st.name = p.name()
    seen: set[str] = set()
    if (tok := p.peek()) is not None and tok.text == "(":
        p.block("", st.fields)
        seen.add("")
    while p.peek() is not None:
        block = p.expect_keyword("WITH_PATTERN", "EXECUTE")
        if block in seen:
            raise FilterSyntaxError(f"{block} given twice")
        seen.add(block)
        p.block(block, st.fields)
    if verb == "CREATE":
        for block in ("WITH_PATTERN", "EXECUTE"):
            if block not in seen:
                raise FilterSyntaxError(f"create filter {st.name}: missing {block} ( … ) block")
    return st


# -- SHOW CREATE FILTER -----------------------------------------------------------------------------
def quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def quote_name(name: str) -> str:
    return name if _PLAIN_NAME.match(name) else "`" + name.replace("`", "``") + "`"


def create_statement(f: FilterDef) -> str:
    """A CREATE FILTER statement that re-creates ``f`` (the seed's one-line layout)."""
    values = {"desc": f.description, "priority": str(f.priority), "status": f.status,
              "plans": ",".join(f.plans), "fully_qualified_table_names": ",".join(f.fully_qualified_table_names),
              "action": f.action}
    for key in PATTERN_FIELDS + EXECUTE_FIELDS:
        values.setdefault(key, getattr(f, key))

    def block(keys: tuple[str, ...]) -> str:
        return "( " + ", ".join(f"{k}={quote(values[k])}" for k in keys) + " )"

    return (f"create filter {quote_name(f.name)} {block(META_FIELDS)} with_pattern {block(PATTERN_FIELDS)} "
            f"execute {block(EXECUTE_FIELDS)}")
