"""Split a MySQL statement into a *template* (each literal replaced by ``?``) and the literal values.

This is the embedded backend's per-statement hot path: the template is the key of the translation
cache, and the values are bound through apsw, never pasted into SQL. It is one compiled regex run
over the statement that visits only literals, backquoted names and ``?`` markers (not every word),
so a point select costs about a microsecond.

Rules (MySQL's lexical rules, default ``sql_mode``):

* ``'…'`` and ``"…"`` are strings (ANSI_QUOTES is off); backslash escapes (``\\n``, ``\\0``, ``\\Z``,
  ``\\'``…) and doubled quotes are decoded; ``\\%`` and ``\\_`` keep their backslash, as MySQL does
  (they are LIKE escapes). A charset introducer (``_utf8mb4'x'``) or ``N'x'`` is dropped;
  ``_binary'x'`` and ``X'0A'`` give bytes; ``b'101'`` gives an int.
* Numbers not glued to a word (so ``sbtest1`` and ``0x1F`` are left alone) become ``?``; integers
  give ``int``, others ``float``. Integers beyond SQLite's range are clamped to 2**63-1 (what
  ``LIMIT 18446744073709551615`` means anyway).
* ``NULL``, ``TRUE``/``FALSE``, hex ``0x…`` numbers and anything inside backquotes stay in the text.
* Comments are removed, ``/*!NNNNN … */`` executable comments are unwrapped (their text is part of
  the statement, as for a MySQL server newer than NNNNN), ``/*+ … */`` optimizer hints are dropped.
* A ``?`` already in the text is a prepared-statement parameter: it takes the next value of
  ``params``. Without ``params`` a ``?`` is a syntax error, as in MySQL's text protocol.

Literal positions that must not become bindings (a SELECT list, ORDER BY ordinals, INTERVAL
amounts…) are the translator's business: it sees the template and asks for those slots back as text
(see :func:`inline`).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, NamedTuple, Sequence

from proxyd.errors import ParseError, ProxydError

__all__ = ["Scanned", "scan", "inline", "collapse_rows", "strip_comments", "first_word", "PreparedShapes",
           "count_placeholders"]

_MAX_INT = 2 ** 63 - 1


class Scanned(NamedTuple):
    template: str  # the statement with every literal (and parameter) as "?"
    pieces: list[str]  # the text between placeholders: template == "?".join(pieces)
    values: list[Any]  # one binding per placeholder
    raws: list[str | None]  # each placeholder's literal text; None for a client's "?" parameter


_COMMENTS = re.compile(
    r"""'[^'\\]*(?:(?:\\.|'')[^'\\]*)*'|"[^"\\]*(?:(?:\\.|"")[^"\\]*)*"|`[^`]*(?:``[^`]*)*`"""  # skipped: strings, names
    r"""|/\*!(?:\d{5,6})?(?P<exe>.*?)\*/"""  # executable comment: its text stays
    r"""|/\*.*?(?:\*/|\Z)|--(?=\s|\Z)[^\n]*|\#[^\n]*""",  # comments
    re.S)


def _comment_repl(m: re.Match[str]) -> str:
    t = m.group()
    if t[0] in "'\"`":
        return t
    exe = m.group("exe")
    return f" {exe} " if exe is not None else " "


def strip_comments(sql: str) -> str:
    """``sql`` without comments, executable comments unwrapped."""
    if "/*" not in sql and "--" not in sql and "#" not in sql:
        return sql
    return _COMMENTS.sub(_comment_repl, sql)


# The leading lookahead lets the regex engine skip to candidate characters quickly; a string's
# prefix (X'..', _utf8mb4'..') is found by looking back from the quote, which is rare.
_TOKEN = re.compile(
    r"""(?=[\d'"`?.])(?:(?P<s>'[^'\\]*(?:(?:\\.|'')[^'\\]*)*'|"[^"\\]*(?:(?:\\.|"")[^"\\]*)*")"""
    r"""|(?P<id>`[^`]*(?:``[^`]*)*`)"""
    r"""|(?P<n>(?<![\w$.])(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w$]))"""
    r"""|(?P<q>\?))""",
    re.S)
_PREFIX = re.compile(r"(?<![\w$])(_[A-Za-z0-9]+|[nNxXbB])\Z")
_finditer = _TOKEN.finditer

_ESCAPES = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a", "%": "\\%", "_": "\\_"}
_UNESCAPE = {q: re.compile(rf"\\(.)|{q}{q}", re.S) for q in "'\""}


def _string(body: str, q: str) -> str:
    if "\\" not in body and q + q not in body:
        return body
    return _UNESCAPE[q].sub(lambda e: q if e.group(1) is None else _ESCAPES.get(e.group(1), e.group(1)), body)


def _param(v: Any) -> Any:
    """A client parameter as a value SQLite can bind (the binary protocol may decode to these)."""
    if v is None or isinstance(v, (int, float, str, bytes)):
        return int(v) if isinstance(v, bool) else v
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() and abs(v) <= _MAX_INT else float(v)
    if isinstance(v, datetime):
        text = v.strftime("%Y-%m-%d %H:%M:%S")
        return f"{text}.{v.microsecond:06d}" if v.microsecond else text
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, time):
        return v.isoformat()
    if isinstance(v, timedelta):
        secs = v.total_seconds()
        sign = "-" if secs < 0 else ""
        secs = abs(secs)
        return f"{sign}{int(secs // 3600):02d}:{int(secs // 60 % 60):02d}:{secs % 60:02.0f}"
    if isinstance(v, (bytearray, memoryview)):
        return bytes(v)
    return str(v)


def scan(sql: str, params: Sequence[Any] | None = None) -> Scanned:
    """Template, pieces, values and raw texts of ``sql`` (see the module docstring)."""
    if "/*" in sql or "--" in sql or "#" in sql:
        sql = _COMMENTS.sub(_comment_repl, sql)
    pieces: list[str] = []
    values: list[Any] = []
    raws: list[str | None] = []
    add_piece, add_value, add_raw = pieces.append, values.append, raws.append
    pos = 0
    nparam = 0
    for m in _finditer(sql):
        kind = m.lastgroup
        if kind == "n":  # the common case first, inline
            t = m.group()
            start = m.start()
            if t.isdigit():
                v: Any = int(t) if len(t) < 19 else min(int(t), _MAX_INT)
            else:
                v = float(t)
            add_piece(sql[pos:start])
            add_value(v)
            add_raw(t)
            pos = start + len(t)
            continue
        if kind == "id":
            continue
        if kind == "q":
            if params is None:
                raise ParseError(_near(sql, m.start()))
            if nparam >= len(params):
                raise ProxydError("Incorrect arguments to mysqld_stmt_execute", 1210, "HY000")
            v = params[nparam]
            if v is not _PARAM:
                v = _param(v)
            nparam += 1
            pieces.append(sql[pos:m.start()])
            values.append(v)
            raws.append(None)
            pos = m.end()
            continue
        elif kind == "s":
            t = m.group()
            start = m.start()
            v = _string(t[1:-1], t[0])
            if start and (sql[start - 1].isalnum() or sql[start - 1] in "_$"):
                p = _PREFIX.search(sql, max(0, start - 64), start)
                if p is not None:
                    pre = p.group(1).lower()
                    if pre == "x" or pre == "b":
                        body = t[1:-1]
                        try:
                            v = bytes.fromhex(body) if pre == "x" else int(body or "0", 2)
                        except ValueError:
                            continue  # not a valid hex/bit literal: leave it for the parser to report
                    elif pre == "_binary":
                        v = v.encode("utf-8", "surrogateescape")
                    pieces.append(sql[pos:p.start()])
                    values.append(v)
                    raws.append(sql[p.start():m.end()])
                    pos = m.end()
                    continue
        pieces.append(sql[pos:m.start()])
        values.append(v)
        raws.append(m.group())
        pos = m.end()
    if params is not None and nparam != len(params):
        raise ProxydError("Incorrect arguments to mysqld_stmt_execute", 1210, "HY000")
    pieces.append(sql[pos:])
    return Scanned("?".join(pieces), pieces, values, raws)


_BASIC = (int, float, str, bytes, type(None))
_PARAM = object()  # where a client parameter goes in a cached shape


class PreparedShapes:
    """Scans of prepared statements by text, for re-execution with new parameters: only the
    parameter values change, so the regex pass runs once per statement text. Bounded: emptied
    when full."""

    def __init__(self, size: int = 256):
        self.size = size
        self._shapes: dict[str, tuple[Scanned, tuple[int, ...]]] = {}

    def scan(self, sql: str, params: Sequence[Any]) -> Scanned:
        entry = self._shapes.get(sql)
        if entry is None:
            shape = scan(sql, [_PARAM] * len(params))
            slots = tuple(i for i, v in enumerate(shape.values) if v is _PARAM)
            entry = (shape, slots)
            if len(self._shapes) >= self.size:
                self._shapes.clear()
            self._shapes[sql] = entry
        shape, slots = entry
        if len(slots) != len(params):
            raise ProxydError("Incorrect arguments to mysqld_stmt_execute", 1210, "HY000")
        if len(slots) == len(shape.values):  # parameters only (the usual prepared statement)
            values = [v if type(v) in _BASIC and type(v) is not bool else _param(v) for v in params]
        else:
            values = list(shape.values)
            for i, pos in enumerate(slots):
                v = params[i]
                values[pos] = v if type(v) in _BASIC and type(v) is not bool else _param(v)
        return Scanned(shape.template, shape.pieces, values, shape.raws)


def inline(s: Scanned, slots: Sequence[int] | None) -> tuple[str, list[Any]]:
    """The statement with the literals of ``slots`` (all literals if None) back in the text, and the
    remaining bindings. Client parameters always stay placeholders."""
    wanted = set(range(len(s.values))) if slots is None else set(slots)
    out: list[str] = []
    vals: list[Any] = []
    pieces, raws, values = s.pieces, s.raws, s.values
    for i, v in enumerate(values):
        out.append(pieces[i])
        raw = raws[i]
        if i in wanted and raw is not None:
            out.append(raw)
        else:
            out.append("?")
            vals.append(v)
    out.append(pieces[-1])
    return "".join(out), vals


def count_placeholders(text: str) -> int:
    """Number of ``?`` parameter markers in ``text`` (COM_STMT_PREPARE's parameter count)."""
    if "/*" in text or "--" in text or "#" in text:
        text = _COMMENTS.sub(_comment_repl, text)
    return sum(1 for m in _TOKEN.finditer(text) if m.lastgroup == "q")


_VALUES_KW = re.compile(r"\bVALUES?\s*(?=\()", re.I)
_ROW = re.compile(r"\s*(\((?:[^()`]|\([^()]*\))*\))")
_NEXT_ROW = re.compile(r"\s*,\s*(\((?:[^()`]|\([^()]*\))*\))")
_SPACE = re.compile(r"\s+")


def collapse_rows(template: str) -> tuple[str, int, int, int] | None:
    """For a multi-row INSERT/REPLACE whose rows are all the same template (spacing aside): the
    single-row template, the number of rows, the number of bindings before the rows and the number
    per row. None if the statement has a single row or rows of different shapes."""
    m = _VALUES_KW.search(template)
    if m is None:
        return None
    first = _ROW.match(template, m.end())
    if first is None:
        return None
    head = template[:first.start(1)]
    if "`" in head and "?" in head:
        return None  # a "?" inside a quoted name would make the binding count below wrong
    row = first.group(1)
    shape = _SPACE.sub("", row)
    nrows = 1
    pos = first.end()
    while (nxt := _NEXT_ROW.match(template, pos)) is not None:
        if _SPACE.sub("", nxt.group(1)) != shape:
            return None
        nrows += 1
        pos = nxt.end()
    if nrows == 1:
        return None
    return head + row + template[pos:], nrows, head.count("?"), row.count("?")


_FIRST = re.compile(r"\s*\(*\s*([A-Za-z_]+)")


def first_word(template: str) -> str:
    """The statement's first keyword, upper-cased ('' if none)."""
    m = _FIRST.match(template)
    return m.group(1).upper() if m else ""


def _near(sql: str, pos: int) -> str:
    return ("You have an error in your SQL syntax; check the manual that corresponds to your MySQL "
            f"server version for the right syntax to use near '{sql[pos:pos + 80]}' at line "
            f"{sql.count(chr(10), 0, pos) + 1}")
