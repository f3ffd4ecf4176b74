"""``boom``: a rewrite plugin that always fails, to show what a failing rewrite does.

Its ``post_parse`` raises for every statement containing ``boom``: that statement ends with
``ERROR 1105 (HY000): plugin 'boom' failed in post_parse: …`` and does not run, while the
connection, the daemon and every other statement carry on.
"""

from __future__ import annotations

from typing import Any

from proxyd.hookspecs import hookimpl

PROXYD_ABI = ">=1.0,<2"


@hookimpl
def post_parse(ctx: Any) -> None:
    if "boom" in ctx.sql.lower():
        raise ValueError("boom")
