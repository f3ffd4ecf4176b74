"""Rendering a cnf text from table rows (``SELECT CONFIG FILE``, spec section 8).

The output is libconfig that :func:`proxyd.config.parse_config_text` reads back to
the same variables and rows, so ``proxyd --initial -c <exported file>`` rebuilds the
same ``main`` tables.
"""

from __future__ import annotations

import math
import re
from typing import Iterable, Mapping

__all__ = ["render_config", "quote_string"]

_INDENT = "    "
_NAME_RE = re.compile(r"[A-Za-z*][-A-Za-z0-9_*]*\Z")
_CANONICAL_INT_RE = re.compile(r"-?(?:0|[1-9][0-9]*)\Z")
_INT32 = (-(2 ** 31), 2 ** 31 - 1)
_INT64 = (-(2 ** 63), 2 ** 63 - 1)
_SIMPLE_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\f": "\\f"}

# The parser accepts both spellings; the export uses the table's column names.
_SERVER_RENAMES = {"address": "hostname", "hostgroup": "hostgroup_id"}


def quote_string(value: str) -> str:
    """A libconfig string literal for ``value``.  Non-ASCII text is written as is (the
    file is UTF-8); only quotes, backslashes and control characters are escaped."""
    def escape(m: re.Match[str]) -> str:
        ch = m.group(0)
        return _SIMPLE_ESCAPES.get(ch) or f"\\x{ord(ch):02x}"
    return '"' + re.sub(r'[\\"]|[\x00-\x1f\x7f]', escape, value) + '"'


def _check_name(name: str) -> str:
    # A name libconfig cannot tokenize would make the whole export unreadable.
    if not _NAME_RE.match(name) or name.lower() in ("true", "false"):
        raise ValueError(f"cannot write {name!r} as a libconfig setting name")
    return name


def _int_literal(value: int) -> str:
    if not _INT64[0] <= value <= _INT64[1]:
        raise ValueError(f"integer {value} does not fit in 64 bits")
    # libconfig (C) needs the L suffix beyond 32 bits; our reader accepts it either way
    return str(value) + ("" if _INT32[0] <= value <= _INT32[1] else "L")


def _variable_literal(value: object) -> str:
    """Variable values are text; canonical integers and true/false are written bare so
    the file reads naturally, and the parser turns them back into the same text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        value = str(value)
    text = value if isinstance(value, str) else str(value)
    if text in ("true", "false"):
        return text
    # only the canonical spelling goes bare: '007' or '-0' would read back changed
    if _CANONICAL_INT_RE.match(text) and text != "-0" and _INT64[0] <= int(text) <= _INT64[1]:
        return _int_literal(int(text))
    return quote_string(text)


def _value_literal(value: object, depth: int) -> str:
    """A row field (or a nested plugin value) as a libconfig value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return _int_literal(value)
    if isinstance(value, float):
        # repr always has '.' or 'e' so it reads back as a float; inf/nan cannot
        return repr(value) if math.isfinite(value) else quote_string(repr(value))
    if isinstance(value, str):
        return quote_string(value)
    if isinstance(value, Mapping):
        return _group(value, depth)
    if isinstance(value, (list, tuple)):
        return _list(value, depth)
    raise ValueError(f"cannot write a value of type {type(value).__name__} to the cnf")


def _present(value: object) -> bool:
    return value is not None and value != ""


def _group(row: Mapping[str, object], depth: int) -> str:
    pad = _INDENT * (depth + 1)
    lines = [f"{pad}{_check_name(k)}={_value_literal(v, depth + 1)}"
             for k, v in row.items() if _present(v)]
    if not lines:
        return "{ }"
    return "{\n" + "\n".join(lines) + "\n" + _INDENT * depth + "}"


def _list(items: Iterable[object], depth: int) -> str:
    pad = _INDENT * (depth + 1)
    parts = [pad + _value_literal(v, depth + 1) for v in items]
    if not parts:
        return "()"
    return "(\n" + ",\n".join(parts) + "\n" + _INDENT * depth + ")"


def _variables_section(name: str, variables: Mapping[str, object]) -> str:
    # Empty values are kept here (unlike row fields): a variable set to '' differs
    # from one left at a non-empty compiled-in default.
    body = "\n".join(f"{_INDENT}{_check_name(k)}={_variable_literal(v)}"
                     for k, v in variables.items() if v is not None)
    return f"{name}=\n{{\n{body}\n}}"


def _normalize_row(section: str, row: Mapping[str, object]) -> Mapping[str, object]:
    if section != "mysql_servers":
        return row
    return {_SERVER_RENAMES.get(k, k): v for k, v in row.items()}


def render_config(*, datadir: str | None, plugins: list[str] | None,
                  admin_variables: dict[str, str], mysql_variables: dict[str, str],
                  tables: list[tuple[str, list[dict[str, object]]]],
                  extra_variables: list[tuple[str, dict[str, str]]] = (),
                  header: str = "proxyd configuration") -> str:
    """Render a complete cnf.

    ``tables`` is ``[(section, rows), ...]`` in the order to write them; core tables
    and plugin sections alike.  Fields that are None or '' are omitted; empty
    sections are left out.  Raises ValueError for data libconfig cannot express
    (a bad setting name, an integer beyond 64 bits, an unsupported type).
    """
    head: list[str] = [f"# {line}".rstrip() for line in header.splitlines()]
    if datadir is not None:
        head.append(f"datadir={quote_string(datadir)}")
    if plugins is not None:
        # an empty list is written too: "no plugins" differs from "key absent"
        head.append("plugins=(" + ",".join(quote_string(p) for p in plugins) + ")")
    out: list[str] = ["\n".join(head)] if head else []
    # plugin variable groups (e.g. filters_variables) are written like the core ones
    for name, variables in (("admin_variables", admin_variables),
                            ("mysql_variables", mysql_variables), *extra_variables):
        if variables:
            out.append(_variables_section(name, variables))
    for section, rows in tables:
        if not rows:
            continue
        body = _list([_normalize_row(section, r) for r in rows], 0)
        out.append(f"{_check_name(section)}=\n{body}")
    return "\n\n".join(out) + "\n"
