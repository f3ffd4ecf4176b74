"""``limit_guard``: a post-parse rewrite plugin working on the sqlglot tree.

A SELECT that reads a table and has no LIMIT gets ``LIMIT <limit_guard-limit>`` (default 1000).
The decision depends only on the statement's shape, so it is cached per digest: a repeated shape
costs one dict lookup, and only statements that do get a LIMIT pay for a parse of their own text.
``ctx.tree`` is shared with other plugins, so the plugin edits a copy and assigns it back (the core
then renders it as MySQL text).
"""

from __future__ import annotations

from typing import Any

from proxyd.hookspecs import hookimpl
from proxyd.variables import int_range

from . import rewrite_note

CACHE_LIMIT = 10000


class LimitGuard:
    PROXYD_ABI = ">=1.0,<2"

    def __init__(self) -> None:
        self.services: Any = None
        self.needs_limit: dict[tuple[int, str | None], bool] = {}  # (digest hash, schema) -> decision

    @hookimpl
    def init(self, services: Any) -> None:
        self.services = services
        services.register_variable("limit_guard-limit", 1000, check=int_range(1, None),
                                   doc="LIMIT added to a table SELECT that has none")

    @hookimpl
    def post_parse(self, ctx: Any) -> None:
        key = (ctx.digest.hash, ctx.schema)
        decision = self.needs_limit.get(key)
        if decision is None:
            decision = self._decide(ctx)
            if len(self.needs_limit) >= CACHE_LIMIT:
                self.needs_limit.clear()
            self.needs_limit[key] = decision
        if not decision:
            return
        import sqlglot.expressions as exp

        tree = ctx.tree
        if not isinstance(tree, exp.Select):
            return
        before = ctx.sql
        ctx.tree = tree.copy().limit(int(self.services.get_variable("limit_guard-limit")))
        ctx.warnings.append(rewrite_note(before, ctx.sql))

    @staticmethod
    def _decide(ctx: Any) -> bool:
        if ctx.kind != "SELECT" or not ctx.tables:
            return False
        import sqlglot.expressions as exp

        tree = ctx.tree
        return isinstance(tree, exp.Select) and tree.args.get("limit") is None
