"""Query templates with ``:name`` placeholders, and ``bind_var_conds`` on the values bound to them.

A template is a statement whose digest (literals as ``?``) must equal the query's; its ``:name``
placeholders stand for literals, numbered by their position among all literals of the statement.
``bind_var_conds`` is a list of conditions joined by ``AND`` or ``;``, all of which must hold::

    id >= 100 AND name != 'root'; kind IN ('a', 'b'); id NOT IN (1, 2)

Operators: ``= == != <> < <= > >= IN NOT IN``. Numbers compare as numbers (when both sides are
numbers), everything else as text; a NULL or missing value satisfies no condition.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from plugins.filters.errors import FilterValueError
from proxyd.digest import DigestOptions, digest, literals

# Strings, quoted names and comments are skipped when looking for ``:name`` and ``?`` markers.
_OPAQUE = r"""'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*"|`(?:[^`]|``)*`|/\*.*?\*/"""
_PLACEHOLDER = re.compile(rf"{_OPAQUE}|(?<![A-Za-z0-9_$:]):([A-Za-z_][A-Za-z0-9_]*)", re.DOTALL)
_MARKER = re.compile(rf"{_OPAQUE}|(\?)", re.DOTALL)


@dataclass(frozen=True)
class Template:
    """A compiled ``query_template``."""

    text: str  # as written
    sql: str  # placeholders replaced by ?
    slots: dict[str, int]  # placeholder name -> index among the statement's literal values
    _digests: dict = field(default_factory=dict, compare=False, repr=False)

    def digest_text(self, options: DigestOptions) -> str:
        """What the query's digest text must equal (compared case-insensitively); cached per options."""
        cache = self._digests
        text = cache.get(options)
        if text is None:
            text = cache[options] = digest(self.sql, options).text.lower()
        return text


def compile_template(text: str) -> Template:
    pieces: list[str] = []
    slots: dict[str, int] = {}
    count, start = 0, 0
    for m in _PLACEHOLDER.finditer(text):
        if m.group(1) is None:
            continue
        before = text[start:m.start()]
        pieces.append(before)
        count += len(literals(before))
        slots.setdefault(m.group(1).lower(), count)
        count += 1
        pieces.append("?")
        start = m.end()
    pieces.append(text[start:])
    sql = "".join(pieces)
    if not digest(sql).text.strip():
        raise FilterValueError("query_template", f"'{text[:60]}' is not a statement")
    return Template(text, sql, slots)


def statement_values(sql: str, params: list | None) -> list[Any]:
    """The literal values of a statement in order; ``?`` markers of a prepared one take its params."""
    if not params:
        return literals(sql)
    out: list[Any] = []
    start, n = 0, 0
    for m in _MARKER.finditer(sql):
        if m.group(1) is None:
            continue
        out.extend(literals(sql[start:m.start()]))
        out.append(params[n] if n < len(params) else None)
        n += 1
        start = m.end()
    out.extend(literals(sql[start:]))
    return out


# -- conditions ------------------------------------------------------------------------------------
_COND_TOKEN = re.compile(r"""\s*(?:(?P<num>-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)|(?P<str>'(?:[^'\\]|\\.|'')*'"""
                         r"""|"(?:[^"\\]|\\.|"")*")|(?P<op><=|>=|<>|!=|==|=|<|>)|(?P<word>:?[A-Za-z_][A-Za-z0-9_]*)"""
                         r"""|(?P<p>[(),;]))""")
_OPS: dict[str, Callable[[Any, Any], bool]] = {"=": operator.eq, "==": operator.eq, "!=": operator.ne,
                                               "<>": operator.ne, "<": operator.lt, "<=": operator.le,
                                               ">": operator.gt, ">=": operator.ge}


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, (str, bytes)):
        try:
            return float(v)
        except ValueError:
            return None
    return None


def _text(v: Any) -> str:
    return v.decode(errors="replace") if isinstance(v, bytes) else str(v)


def _compare(op: Callable[[Any, Any], bool], left: Any, right: Any) -> bool:
    if left is None:
        return False
    a, b = _number(left), _number(right)
    if a is not None and b is not None:
        return op(a, b)
    return op(_text(left), _text(right))


@dataclass(frozen=True)
class Condition:
    slot: int
    op: str  # one of _OPS, IN, NOT IN
    values: tuple[Any, ...]

    def holds(self, values: list[Any]) -> bool:
        v = values[self.slot] if self.slot < len(values) else None
        if v is None:
            return False
        if self.op == "IN":
            return any(_compare(operator.eq, v, x) for x in self.values)
        if self.op == "NOT IN":
            return not any(_compare(operator.eq, v, x) for x in self.values)
        return _compare(_OPS[self.op], v, self.values[0])


def compile_conditions(text: str, template: Template | None) -> tuple[Condition, ...]:
    if not text.strip():
        return ()
    if template is None:
        raise FilterValueError("bind_var_conds", "needs a query_template whose :name placeholders it names")
    toks: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _COND_TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise FilterValueError("bind_var_conds", f"unexpected text at '{text[pos:pos + 30]}'")
        kind = m.lastgroup or ""
        toks.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    conds: list[Condition] = []
    i = 0

    def value(j: int) -> tuple[Any, int]:
        if j >= len(toks) or toks[j][0] not in ("num", "str"):
            raise FilterValueError("bind_var_conds", "expected a number or a quoted string")
        kind, tok = toks[j]
        if kind == "num":
            return (float(tok) if any(c in tok for c in ".eE") else int(tok)), j + 1
        q = tok[0]
        return re.sub(r"\\(.)", r"\1", tok[1:-1].replace(q + q, q)), j + 1

    while i < len(toks):
        kind, tok = toks[i]
        if kind != "word":
            raise FilterValueError("bind_var_conds", f"expected a placeholder name, got '{tok}'")
        name = tok.lstrip(":").lower()
        if name not in template.slots:
            known = ", ".join(":" + s for s in template.slots) or "none"
            raise FilterValueError("bind_var_conds", f"':{name}' is not a placeholder of the query_template "
                                                     f"(placeholders: {known})")
        i += 1
        if i < len(toks) and toks[i][0] == "op":
            op = toks[i][1]
            v, i = value(i + 1)
            conds.append(Condition(template.slots[name], op, (v,)))
        else:
            op = "IN"
            if i < len(toks) and toks[i] == ("word", toks[i][1]) and toks[i][1].upper() == "NOT":
                op, i = "NOT IN", i + 1
            if i >= len(toks) or toks[i][0] != "word" or toks[i][1].upper() != "IN":
                raise FilterValueError("bind_var_conds", f"expected an operator after ':{name}'")
            i += 1
            if i >= len(toks) or toks[i][1] != "(":
                raise FilterValueError("bind_var_conds", "expected '(' after IN")
            items: list[Any] = []
            i += 1
            while True:
                v, i = value(i)
                items.append(v)
                if i < len(toks) and toks[i][1] == ",":
                    i += 1
                    continue
                if i < len(toks) and toks[i][1] == ")":
                    i += 1
                    break
                raise FilterValueError("bind_var_conds", "expected ',' or ')' in the IN list")
            conds.append(Condition(template.slots[name], op, tuple(items)))
        if i < len(toks):
            kind, tok = toks[i]
            if tok == ";" or (kind == "word" and tok.upper() == "AND"):
                i += 1
                if i >= len(toks):
                    raise FilterValueError("bind_var_conds", f"nothing after '{tok}'")
            else:
                raise FilterValueError("bind_var_conds", f"expected AND or ';' before '{tok}'")
    return tuple(conds)
