"""Query-path hooks that act on markers in the SQL, for tests/test_pipeline.py.

Each marker triggers one power of a stage: rewrite the text, rewrite the tree, answer, refuse,
wait asynchronously, mask a result, turn an error into a result. ``status_json`` reports what
``query_done`` saw, so a test can check the observer ran with the facts it expects.
"""

from __future__ import annotations

import asyncio
from typing import Any

from proxyd.errors import ProxydError
from proxyd.hookspecs import hookimpl
from proxyd.results import Ok, ResultSet, Warning_

PROXYD_ABI = ">=1.0,<2"

seen: dict[str, Any] = {"kinds": {}, "tables": [], "last_digest": None, "original": None}


@hookimpl
def pre_parse(ctx: Any) -> str | None:
    if "'pre_me'" in ctx.sql:
        ctx.warnings.append(Warning_("Note", 1105, "t_pipeline rewrote pre_me"))
        return ctx.sql.replace("'pre_me'", "'pre_done'")
    return None


@hookimpl
def post_parse(ctx: Any) -> None:
    if "'post_me'" not in ctx.sql:
        return
    import sqlglot.expressions as exp

    def swap(node: Any) -> Any:
        if isinstance(node, exp.Literal) and node.this == "post_me":
            return exp.Literal.string("post_done")
        return node

    ctx.tree = ctx.tree.transform(swap)


@hookimpl
async def before_execution(ctx: Any) -> Any:
    if "'answer_me'" in ctx.sql:
        return ResultSet(["answer"], [("from t_pipeline",)])
    if "'refuse_me'" in ctx.sql:
        return ProxydError("refused by t_pipeline", 1142, "42000")
    if "'wait_me'" in ctx.sql:
        await asyncio.sleep(0.2)  # other connections must keep being served meanwhile
    return None


@hookimpl
def after_execution(ctx: Any) -> Any:
    if "'mask_me'" in ctx.original_sql and isinstance(ctx.result, ResultSet):
        return ResultSet(list(ctx.result.columns), [tuple("***" for _ in r) for r in ctx.result.rows])
    if "soften_me" in ctx.original_sql and ctx.error is not None and ctx.error.code == 1146:
        return Ok(info="missing table ignored by t_pipeline")
    return None


@hookimpl
def query_done(ctx: Any) -> None:
    seen["kinds"][ctx.kind] = seen["kinds"].get(ctx.kind, 0) + 1
    if "tables_me" in ctx.sql:
        seen["tables"] = [list(t) for t in ctx.tables]
    seen["last_digest"] = ctx.normalized
    seen["original"] = ctx.original_sql


@hookimpl
def status_json() -> dict:
    return seen
