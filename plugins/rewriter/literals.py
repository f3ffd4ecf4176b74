"""The two views of a statement the rewriter matches on: its match key and its literals.

The key is derived from the core's digest text (``ctx.normalized``), so a rule and a statement are
keyed by exactly the same normalizer under the same ``mysql-query_digests_*`` options. The literals
come from the core digest's own tokenizer, so that the k-th literal here is the k-th ``?`` there;
unlike :func:`proxyd.digest.literals` they keep their source spelling and position (a rewrite copies
a literal exactly as the client wrote it) and include the ``?`` markers of a prepared statement.
"""

from __future__ import annotations

import re
from typing import NamedTuple

# The digest's tokenizer and keyword list are reused on purpose: a second tokenizer would sooner or
# later disagree with the digest about what is a literal, and literal i must be the digest's ?-number i.
from proxyd.digest import (
    _KEYWORDS,
    _T_ARITH,
    _T_COMMENT,
    _T_DIGIT_ID,
    _T_LINE_COMMENT,
    _T_NULL,
    _T_NUMBER,
    _T_OTHER,
    _T_PUNCT,
    _T_QUOTED_ID,
    _T_SPACE,
    _T_STRING,
    _T_WORDS,
    DigestOptions,
    _master_for,
    _string,
)

STRING, NUMBER, HEX, BIT, NULL, PLACEHOLDER = "string", "number", "hex", "bit", "null", "placeholder"


class Literal(NamedTuple):
    """One literal as written: ``text`` includes a unary sign the digest folded in (``-4``)."""

    text: str
    kind: str
    start: int
    end: int


def scan_literals(sql: str, options: DigestOptions) -> list[Literal]:
    """Every item the digest turns into ``?``, in text order (``?`` markers as ``placeholder``)."""
    out: list[Literal] = []
    pk = 0  # last significant token: 0 starts an expression (a +/- is unary), 1 an operand, 2 a word run
    run, run_end = "", -1
    sign_at = -1  # start of a pending unary sign, folded into the literal that follows it
    for m in _master_for(options.replace_null, False).finditer(sql):
        k = m.lastindex
        if k == _T_SPACE or k == _T_LINE_COMMENT or (k == _T_COMMENT and not m.group(k).startswith("/*!")):
            continue
        if k == _T_NUMBER or k == _T_STRING or k == _T_NULL:
            t = m.group(k)
            start = sign_at if sign_at >= 0 else m.start()
            if k == _T_NUMBER:
                kind = HEX if t[:2] in ("0x", "0X") else BIT if t[:2] in ("0b", "0B") else NUMBER
            elif k == _T_NULL:
                kind = NULL
            else:  # X'0A' and b'01' are hex and bit literals; N'a', _utf8mb4'a' are strings
                prefix = run[run.rfind(" ") + 1:].lower() if run_end == m.start() else ""
                kind = HEX if prefix == "x" else BIT if prefix == "b" else STRING
            out.append(Literal(sql[start:m.end()], kind, start, m.end()))
            sign_at, pk = -1, 1
        elif k == _T_ARITH:
            t = m.group(k)
            if pk == 2:
                pk = 0 if run[run.rfind(" ") + 1:].upper() in _KEYWORDS else 1
            if pk == 1 or t in "/%":
                sign_at, pk = -1, 0
            elif t == "*":
                sign_at, pk = -1, 1
            else:
                sign_at = m.start()  # unary; of "- -4" the digest keeps the first sign, folds the last
        elif k == _T_OTHER and m.group(k) == "?":
            out.append(Literal("?", PLACEHOLDER, m.start(), m.end()))
            sign_at, pk = -1, 1
        else:
            sign_at = -1
            if k == _T_WORDS:
                pk, run, run_end = 2, m.group(k), m.end()
            elif k == _T_PUNCT:
                pk = 1 if m.group(k) == ")" else 0
            elif k == _T_QUOTED_ID or k == _T_DIGIT_ID:
                pk = 1
            else:  # comparison operators, executable comments, anything else
                pk = 0
    return out


def same_value(pattern: Literal, stmt: Literal) -> bool:
    """Does a concrete pattern literal equal the statement's? Kinds must agree; strings compare by
    decoded value (``'a'`` = ``"a"``), numbers by spelling (``10`` is not ``10.0``), hex and bit
    literals case-insensitively."""
    if pattern.kind != stmt.kind:
        return False
    if pattern.kind == NULL:  # a literal only with mysql-query_digests_replace_null; NULL = null
        return True
    if pattern.kind == STRING:
        return _decoded(pattern.text) == _decoded(stmt.text)
    if pattern.kind in (HEX, BIT):
        return _compact(pattern.text).lower() == _compact(stmt.text).lower()
    return _compact(pattern.text) == _compact(stmt.text)


def _compact(text: str) -> str:
    return "".join(text.split())  # "- 4" and "-4" are the same literal


def _decoded(text: str) -> str:
    sign = ""
    if text[0] in "+-":  # -'a' : the digest folds the sign into the value
        sign, text = text[0], text[1:].lstrip()
    return sign + _string(text)


_COMMENT = re.compile(r"/\*(?!!)[^*]*(?:\*+[^*/][^*]*)*\*+/")
_LOOSE_SPACE = re.compile(r" (?=[^\w$?])|(?<=[^\w$?]) ")


def match_key(normalized: str) -> str:
    """The rule index key of a digest text: case, identifier quoting, comments (kept by
    ``query_digests_keep_comment``) and spacing next to punctuation do not matter."""
    key = normalized.lower()
    if "/*" in key:
        key = _COMMENT.sub(" ", key)
    key = key.replace("`", "")
    key = " ".join(key.split())
    return _LOOSE_SPACE.sub("", key)
