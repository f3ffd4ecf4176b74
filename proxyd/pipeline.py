"""The per-statement pipeline: a QueryContext and the plugin hooks around backend execution.

Order: ``pre_parse`` (string rewrite) → ``post_parse`` (tree rewrite) → ``before_execution``
(may answer or refuse; may await) → backend → ``after_execution`` (may replace the outcome) →
``query_done`` (observe). Nothing is computed unless asked: the digest, kind, tree and tables are
lazy properties of the context, and the expensive ones are cached by digest.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from proxyd.classify import statement_kind
from proxyd.digest import DEFAULT, Digest, DigestOptions, digest, literals
from proxyd.errors import ProxydError, to_proxyd_error
from proxyd.results import Ok, ResultSet, Warning_

if TYPE_CHECKING:
    import sqlglot.expressions as exp

log = logging.getLogger("proxyd.pipeline")

PIPELINE_HOOKS = ("pre_parse", "post_parse", "before_execution", "after_execution", "query_done")


class LRU(OrderedDict):
    """A small bounded mapping (parse trees, table lists) keyed by digest."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def put(self, key: Any, value: Any) -> Any:
        self[key] = value
        if len(self) > self.size:
            self.popitem(last=False)
        return value


_TREES: LRU = LRU(4096)
_KINDS: LRU = LRU(8192)  # statement kind by digest hash


class QueryContext:
    """One statement on its way through the pipeline; hooks read it and may change it."""

    __slots__ = ("sql", "original_sql", "user", "client_address", "schema", "connection_id", "hostgroup",
                 "params", "result", "error", "warnings", "session", "digest_options", "plugin_data", "param_map",
                 "_digest", "_digest_sql", "_kind", "_kind_sql", "_tree", "_tree_sql", "_tables", "_tables_key")

    def __init__(self, sql: str, *, user: str = "", client_address: str = "", schema: str | None = None,
                 connection_id: int = 0, hostgroup: int = 0, params: list | None = None, session: Any = None,
                 digest_options: DigestOptions = DEFAULT):
        self.sql = sql
        self.original_sql = sql
        self.user, self.client_address, self.schema = user, client_address, schema
        self.connection_id, self.hostgroup = connection_id, hostgroup
        self.params = params  # values bound to a prepared statement's ? markers
        self.result: Ok | ResultSet | None = None
        self.error: ProxydError | None = None
        self.warnings: list[Warning_] = []
        self.session = session
        self.digest_options = digest_options
        self.plugin_data: dict[str, Any] = {}  # per-statement scratch space, keyed by plugin name
        # Set by a prepare-time rewrite that moves or drops markers: (client's parameter count, client
        # parameter index for each ? of the rewritten text). The core binds executes through it.
        self.param_map: tuple[int, tuple[int, ...]] | None = None
        self._digest = self._kind = self._tree = self._tables = None
        self._digest_sql = self._kind_sql = self._tree_sql = self._tables_key = None

    # -- lazy facts about the current SQL (recomputed when a hook changed ctx.sql) ----------------
    @property
    def digest(self) -> Digest:
        if self._digest_sql is not self.sql:
            self._digest, self._digest_sql = digest(self.sql, self.digest_options), self.sql
        return self._digest

    @property
    def normalized(self) -> str:
        """The digest text: literals as ``?``, comments and extra blanks removed."""
        return self.digest.text

    @property
    def literals(self) -> list:
        return literals(self.sql)

    @property
    def kind(self) -> str:
        """Statement kind as in stats_mysql_commands_counters (``SELECT``, ``INSERT``, …)."""
        sql = self.sql
        if self._kind_sql is not sql:
            self._kind = kind_of(sql, self._digest if self._digest_sql is sql else None)
            self._kind_sql = sql
        return self._kind

    @property
    def leading_comment(self) -> str | None:
        return self.digest.first_comment

    @property
    def trailing_comment(self) -> str | None:
        return self.digest.last_comment

    @property
    def tree(self) -> "exp.Expression | None":
        """The sqlglot tree of the current SQL (MySQL dialect); None if it does not parse.

        Setting it (a post-parse rewrite) replaces ``sql`` with the tree's MySQL text.
        """
        if self._tree_sql is not self.sql:
            self._tree, self._tree_sql = parse_mysql(self.sql), self.sql
        return self._tree

    @tree.setter
    def tree(self, value: "exp.Expression") -> None:
        self.sql = value.sql(dialect="mysql")
        self._tree, self._tree_sql = value, self.sql

    @property
    def tables(self) -> list[tuple[str | None, str]]:
        """``(schema, table)`` of every table the statement names; unqualified ones get the session schema."""
        key = (self.digest.hash, self.schema)
        if self._tables_key != key:
            self._tables, self._tables_key = tables_of(self, key), key
        return self._tables

    @property
    def outcome(self) -> Ok | ResultSet | ProxydError | None:
        return self.error if self.error is not None else self.result


def kind_of(sql: str, d: Digest | None = None) -> str:
    """The statement kind of ``sql``; with its digest ``d`` a lookup by digest (same digest, same
    kind, comments aside)."""
    if d is not None and sql[:1] != "/":
        h = d.hash
        kind = _KINDS.get(h)
        if kind is None:
            kind = _KINDS.put(h, statement_kind(sql))
        return kind
    return statement_kind(sql)


def parse_mysql(sql: str) -> "exp.Expression | None":
    import sqlglot

    try:
        return sqlglot.parse_one(sql, read="mysql")
    except Exception:
        return None


_TABLES: LRU = LRU(8192)


def tables_of(ctx: QueryContext, key: tuple) -> list[tuple[str | None, str]]:
    """Tables of the statement, from a parse of its digest text (same tables for any literal values)."""
    found = _TABLES.get(key)
    if found is not None:
        return found
    import sqlglot.expressions as exp

    tree = _TREES.get(ctx.digest.hash)
    if tree is None:
        tree = _TREES.put(ctx.digest.hash, parse_mysql(ctx.normalized) or parse_mysql(ctx.sql))
    out: list[tuple[str | None, str]] = []
    if tree is not None:
        ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
        for t in tree.find_all(exp.Table):
            if not t.name or (not t.db and t.name.lower() in ctes):
                continue
            item = (t.db or ctx.schema, t.name)
            if item not in out:
                out.append(item)
    return _TABLES.put(key, out)


class HookRunner:
    """Calls the pipeline hooks of loaded plugins in load order; skips hooks nobody implements.

    The implementations are collected once per plugin-set change, so a statement with no
    interested plugin pays one attribute check per stage.
    """

    def __init__(self, plugin_manager: Any, order: Callable[[], list[Any]],
                 plain_idle: Callable[[], set[str]] = set):
        self.pm, self.order, self.plain_idle = plugin_manager, order, plain_idle
        self.impls: dict[str, list[tuple[str, Callable]]] = {h: [] for h in PIPELINE_HOOKS}
        self.any = False
        # Plain statements (plain_dml) skip the hooks: true while no plugin with a pipeline hook wants
        # them (services.want_plain_statements). Read per statement, also by the C relay.
        self.skip_plain = True

    def refresh(self) -> None:
        rank = {id(obj): i for i, obj in enumerate(self.order())}
        for hook in PIPELINE_HOOKS:
            caller = getattr(self.pm.hook, hook, None)
            impls = caller.get_hookimpls() if caller is not None else []
            impls = sorted(impls, key=lambda i: rank.get(id(i.plugin), 1 << 30))
            self.impls[hook] = [(i.plugin_name, i.function) for i in impls]
        self.any = any(self.impls.values())
        idle = self.plain_idle()
        self.skip_plain = all(name in idle for impls in self.impls.values() for name, _ in impls)

    def wants(self, sql: str) -> bool:
        """Does any hook get this statement? (Everything while a hooked plugin wants plain statements.)"""
        return self.any and not (self.skip_plain and plain_dml(sql))

    async def rewrite(self, ctx: QueryContext) -> None:
        """pre_parse then post_parse; an exception fails the statement naming the plugin."""
        for name, fn in self.impls["pre_parse"]:
            try:
                new = fn(ctx=ctx)
            except Exception as exc:
                raise _plugin_failure(name, "pre_parse", exc) from exc
            if isinstance(new, str):
                ctx.sql = new
        for name, fn in self.impls["post_parse"]:
            try:
                fn(ctx=ctx)
            except Exception as exc:
                raise _plugin_failure(name, "post_parse", exc) from exc

    async def before(self, ctx: QueryContext) -> None:
        for name, fn in self.impls["before_execution"]:
            try:
                res = fn(ctx=ctx)
                if inspect.isawaitable(res):
                    res = await res
            except ProxydError as exc:
                ctx.error = exc
                return
            except Exception as exc:
                ctx.error = _plugin_failure(name, "before_execution", exc)
                return
            if isinstance(res, ProxydError):
                ctx.error = res
            elif isinstance(res, (Ok, ResultSet)):
                ctx.result = res
            if ctx.error is not None or ctx.result is not None:
                return  # answered: the backend and later before-hooks are skipped

    async def after(self, ctx: QueryContext) -> None:
        for name, fn in self.impls["after_execution"]:
            try:
                res = fn(ctx=ctx)
                if inspect.isawaitable(res):
                    res = await res
            except ProxydError as exc:
                ctx.error, ctx.result = exc, None
                continue
            except Exception as exc:
                ctx.error, ctx.result = _plugin_failure(name, "after_execution", exc), None
                continue
            if isinstance(res, ProxydError):
                ctx.error, ctx.result = res, None
            elif isinstance(res, (Ok, ResultSet)):
                ctx.result, ctx.error = res, None

    def done(self, ctx: QueryContext) -> None:
        for name, fn in self.impls["query_done"]:
            try:
                fn(ctx=ctx)
            except Exception:
                log.exception("plugin '%s' failed in query_done", name)


def _plugin_failure(plugin: str, hook: str, exc: BaseException) -> ProxydError:
    if isinstance(exc, ProxydError):
        return exc
    log.error("plugin '%s' failed in %s: %s: %s", plugin, hook, type(exc).__name__, exc)
    return ProxydError(f"plugin '{plugin}' failed in {hook}: {type(exc).__name__}: {exc}")


Executor = Callable[[QueryContext], Awaitable[Ok | ResultSet]]


_PLAIN_HEADS = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE"})
_BLANK = frozenset(" \t\r\n")


def plain_dml(sql: str) -> bool:
    """A statement that starts (no leading blank or comment) with SELECT, INSERT, UPDATE, DELETE or
    REPLACE and a blank: what a plugin that said ``want_plain_statements(False)`` does not see. The
    same test as the C relay's (proxyd/wire/_native_relay.c, plain_statement's first step)."""
    head = sql[:6].upper()
    if head in _PLAIN_HEADS:
        return sql[6:7] in _BLANK and head.isascii()
    return sql[:7].upper() == "REPLACE" and sql[7:8] in _BLANK and sql[:7].isascii()


async def run_statement(ctx: QueryContext, hooks: HookRunner, execute: Executor, *,
                        rewrite: bool = True) -> Ok | ResultSet | ProxydError:
    """Drive one statement through the hooks and the backend; never raises.

    ``rewrite=False`` skips pre/post-parse (a prepared statement was rewritten when prepared).
    """
    hooked = hooks.wants(ctx.sql)
    try:
        if hooked:
            if rewrite:
                try:
                    await hooks.rewrite(ctx)
                except ProxydError as exc:
                    ctx.error = exc
            if ctx.error is None:
                await hooks.before(ctx)
        if ctx.error is None and ctx.result is None:
            try:
                ctx.result = await execute(ctx)
            except Exception as exc:
                ctx.error = to_proxyd_error(exc)
    except asyncio.CancelledError:
        # KILL [QUERY] or the client gone: the hooks still see the statement end (a plugin holding
        # something for it, such as a concurrency slot, gives it back now), then the caller answers.
        if hooked:
            ctx.error, ctx.result = ProxydError("Query execution was interrupted", 1317, "70100"), None
            try:
                await hooks.after(ctx)
                hooks.done(ctx)
            except asyncio.CancelledError:
                pass  # cancelled again while the hooks ran: what is left of them is theirs to finish
        raise
    if hooked:
        await hooks.after(ctx)
        hooks.done(ctx)
    out = ctx.outcome
    return out if out is not None else Ok()
