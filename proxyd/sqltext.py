"""Small lexical helpers on SQL text that must not be fooled by strings or comments."""

from __future__ import annotations

import re

# strings (with MySQL escapes), backquoted names, comments, or a statement separator
_TOKENS = re.compile(r"""'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*"|`(?:[^`]|``)*`|/\*.*?\*/|(?:--\s|\#)[^\n]*|;""",
                     re.S)


def split_statements(sql: str) -> list[str]:
    """Split a multi-statement text at top-level ``;`` (quotes and comments respected).

    Empty pieces (``a;;b``, a trailing ``;``) are dropped.
    """
    if ";" not in sql:
        return [sql]
    out, start = [], 0
    for m in _TOKENS.finditer(sql):
        if m.group() == ";":
            piece = sql[start:m.start()]
            if piece.strip():
                out.append(piece)
            start = m.end()
    tail = sql[start:]
    if tail.strip():
        out.append(tail)
    return out or [sql]


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split at ``sep`` outside parentheses, quotes and backquotes (backslash escapes honoured).

    Pieces keep their surrounding blanks; an empty text gives ``[""]``.
    """
    out: list[str] = []
    depth, start, quote, esc = 0, 0, "", False
    for i, ch in enumerate(text):
        if quote:
            if esc:
                esc = False
            elif ch == "\\" and quote != "`":
                esc = True
            elif ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == sep and depth == 0:
            out.append(text[start:i])
            start = i + 1
    out.append(text[start:])
    return out
