"""MySQL's two Rewriter statements on the SQL port, answered by the plugin without a backend:
``SHOW [GLOBAL|SESSION] STATUS LIKE 'Rewriter…'`` and ``CALL query_rewrite.flush_rewrite_rules()``.

Recognized only at the very start of the text (no leading blanks or comments), so every other
statement pays one four-character comparison.
"""

from __future__ import annotations

import re

_STATUS = re.compile(r"SHOW\s+(?:GLOBAL\s+|SESSION\s+)?STATUS\s+LIKE\s+'(rewriter[^'\\]*)'\s*;?\s*$", re.IGNORECASE)
_FLUSH = re.compile(r"CALL\s+`?query_rewrite`?\s*\.\s*`?flush_rewrite_rules`?\s*\(\s*\)\s*;?\s*$", re.IGNORECASE)
FLUSH_ROUTINE = "query_rewrite.flush_rewrite_rules"


def status_like(sql: str) -> re.Pattern[str] | None:
    """For ``SHOW STATUS LIKE 'Rewriter…'``, the LIKE pattern as a regex; else None. A pattern that
    starts with ``Rewriter`` can only match the Rewriter's own counters, so the plugin may answer."""
    m = _STATUS.match(sql)
    if m is None:
        return None
    like = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in m.group(1))
    return re.compile(like + r"\Z", re.IGNORECASE | re.DOTALL)


def is_flush(sql: str) -> bool:
    return _FLUSH.match(sql) is not None
