"""``lowercase``: a pre-parse rewrite plugin, proxyd's take on MySQL's ``rewrite_example``.

It lowercases the whole statement, string literals included, so ``SELECT 'ABC'`` reaches the
backend as ``select 'abc'``. A demonstration of string-in, string-out rewriting only: altering
literals is exactly what a real rewrite must not do. It never reads ``ctx.tree`` or any other lazy
field, so it costs one ``str.lower()`` per statement.
"""

from __future__ import annotations

from typing import Any

from proxyd.hookspecs import hookimpl

from . import rewrite_note

PROXYD_ABI = ">=1.0,<2"


@hookimpl
def pre_parse(ctx: Any) -> str | None:
    lowered = ctx.sql.lower()
    if lowered == ctx.sql:
        return None
    ctx.warnings.append(rewrite_note(ctx.sql, lowered))
    return lowered
