"""Query-path hooks (plugin-api.md §13): before_execution fails on demand, the others count calls.

The core calls each hook as ``hook(ctx=<QueryContext>)``; the SQL text is ``ctx.sql``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from proxyd.hookspecs import hookimpl

PROXYD_ABI = ">=1.0,<2"
MARKER = "t_query_boom"

calls: Counter[str] = Counter()


@hookimpl
def pre_parse(ctx: Any) -> None:
    calls["pre_parse"] += 1  # returning None leaves the SQL as it is


@hookimpl
def post_parse(ctx: Any) -> None:
    calls["post_parse"] += 1


@hookimpl
def before_execution(ctx: Any) -> None:
    calls["before_execution"] += 1
    if MARKER in ctx.sql:
        raise RuntimeError("before_execution exploded on purpose")


@hookimpl
def after_execution(ctx: Any) -> None:
    calls["after_execution"] += 1


@hookimpl
def query_done(ctx: Any) -> None:
    calls["query_done"] += 1


@hookimpl
def status_json() -> dict[str, int]:
    return dict(calls)
