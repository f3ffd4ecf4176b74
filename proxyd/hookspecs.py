"""Hook specifications of proxyd's plugin ABI v1. These docstrings are the reference documentation.

A plugin is whatever its entry point (group ``proxyd.plugins``) loads — a module, a class (the host
makes an instance) or an object — carrying implementations marked with :data:`hookimpl`. The
entry point's name is the plugin's name in the cnf (``plugins = ("filters", …)``).

A plugin also declares two attributes:

``PROXYD_ABI``
    A semver requirement on the host ABI, e.g. ``">=1.0,<2"``. Checked before ``init``; a plugin
    whose requirement the host does not satisfy is refused (start-up fails, a hot load is an ERR).
``PROXYD_REQUIRES``
    Names of plugins that must be loaded first (default: none). Plugins start in dependency order,
    ties in cnf order, and stop in reverse.

Lifecycle hooks (``init``, ``start``, ``stop``, ``status_json``) are called for one plugin at a
time, in that order; the plugin's own implementation is the only one called. ``plugins_changed``
is broadcast to every plugin implementing it. Query-path hooks
(``pre_parse``, ``post_parse``, ``before_execution``, ``after_execution``, ``query_done``) run for
every statement on the SQL port, each plugin's implementation in load order.
"""

from __future__ import annotations

from typing import Any

import pluggy

PROJECT = "proxyd"
hookspec = pluggy.HookspecMarker(PROJECT)
#: Mark a plugin's hook implementations with this.
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def init(services: Any) -> bool | None:
    """Register what the plugin provides; called once, before any ``start()``.

    :param services: the plugin's :class:`proxyd.services.Services`: ``register_table``,
        ``register_command``, ``register_command_alias``, ``register_tiered_object``,
        ``register_variable``, ``log_message``, the snapshots of runtime users, servers and
        group-replication hostgroups, and (from ``start()`` on) ``admin_db``, ``config_db`` and
        ``stats_db``. Keep it: it is the plugin's handle on the host for its whole life.

    Only registration is allowed here; touching a database raises. Return ``False`` or raise to
    refuse: start-up then fails with ``plugin '<name>' failed in init(): <reason>`` (a hot load
    answers that as an ERR) and everything this plugin registered is rolled back, so a failed
    ``init`` leaves no trace. ``None`` or ``True`` means success.
    """


@hookspec
def start() -> bool | None:
    """Go live: the plugin's tables exist, its tiered objects hold their runtime state.

    Called after every plugin's ``init`` succeeded and the configuration was loaded to runtime
    (memory seeded from the cnf on first boot, otherwise from disk). The databases are usable
    from here on. Return ``False`` or raise to fail start-up (``plugin '<name>' failed in
    start(): <reason>``); ``stop()`` still runs for the plugin since its ``init`` succeeded.
    Also called again after ``PROXYD STOP`` / ``PROXYD START`` and ``RELOAD PLUGIN``.
    """


@hookspec
def stop() -> bool | None:
    """Release what ``start`` acquired: tasks, sockets, threads.

    Called exactly once for every plugin whose ``init`` succeeded, in reverse load order, at
    shutdown, ``PROXYD STOP``, ``UNLOAD PLUGIN`` and ``RELOAD PLUGIN`` — even if this plugin's
    own ``start`` (or a later plugin's) failed. An exception or ``False`` is logged and the
    remaining plugins still stop.
    """


@hookspec(firstresult=True)
def status_json() -> dict | str | None:
    """Describe the plugin's state for ``SHOW PLUGINS`` and ``runtime_plugins.status_json``.

    Return a JSON-serialisable dict or a JSON text. Called whenever those are read; keep it
    cheap. If it raises, the column shows ``{"error": "<message>"}``.
    """


@hookspec
def plugins_changed(loaded: list[str]) -> None:
    """Notice that the set of loaded plugins changed (a plugin was initialized or removed).

    Called on every loaded plugin implementing it, after each ``init`` that succeeded (at start-up
    and ``LOAD PLUGIN``) and after each removal (``UNLOAD``/``RELOAD PLUGIN``). ``loaded`` names the
    plugins now loaded, in load order. Use it to drop caches built from other plugins' hooks (the
    filter engine re-collects its action registry here); the newcomer may not have started yet.
    Exceptions are logged and ignored.
    """


@hookspec(historic=True)
def embedded_engine_opened(engine: Any) -> None:
    """Receive the embedded (SQLite) backend's engine, once it exists, to extend every session.

    ``engine`` is the daemon's :class:`proxyd.backends.embedded.EmbeddedEngine`. This hook is
    *historic*: the daemon calls it once, when it opens the engine at boot (after every plugin's
    ``start``), and pluggy replays that call for a plugin registered later (``LOAD PLUGIN``,
    ``RELOAD PLUGIN``) at its registration, i.e. before its ``init``: only store the engine here.
    With it a plugin may ``engine.add_connection_hook(fn)`` (``fn(apsw_connection)`` runs on every
    session connection, open ones included: register apsw virtual-table modules or functions) and
    ``engine.remove_connection_hook(fn)`` when it stops; ``engine.path(schema)`` names a schema's
    database file and ``engine.ddl_changed()`` must follow any DDL the plugin runs on such a file
    itself; ``engine.offload_statements_matching(regex)`` makes statements whose SQLite text matches
    run on a worker thread (for virtual tables whose callbacks may block). Exceptions propagate
    to the caller (boot or the plugin's load): keep it trivial.
    """


# -- query path ----------------------------------------------------------------------------------
# Called for every statement on the SQL port, for each plugin implementing them in load order.
# ``ctx`` is a :class:`proxyd.pipeline.QueryContext`: ``sql`` (mutable), ``original_sql``, ``user``,
# ``client_address``, ``schema``, ``connection_id``, ``hostgroup``, ``params`` (values bound to a
# prepared statement), ``warnings`` (append :class:`proxyd.results.Warning_` to add a Note or
# Warning), ``plugin_data`` (per-statement scratch dict), and lazily computed on first use:
# ``digest`` (``.text``, ``.hex``), ``normalized``, ``literals``, ``kind``, ``tables``,
# ``leading_comment``, ``trailing_comment``, ``tree`` (sqlglot, MySQL dialect). Nothing is parsed
# unless a hook reads ``tree`` or ``tables``; those are cached by digest.
# Exception: plain statements (``proxyd.pipeline.plain_dml``: SELECT/INSERT/UPDATE/DELETE/REPLACE)
# skip all five hooks while every plugin implementing one of them has called
# ``services.want_plain_statements(False)`` (say so when your hooks have nothing to do with them, e.g.
# no rule configured; call it with True when that changes).


@hookspec
def pre_parse(ctx: Any) -> str | None:
    """Rewrite the statement text before anything looks at its structure.

    Return a new SQL string (or assign ``ctx.sql``) to replace the statement; return ``None`` to
    leave it. Each implementation sees the previous one's output. Prepared statements are
    rewritten once, at prepare time; a rewrite that drops or moves ``?`` markers sets
    ``ctx.param_map`` (see :class:`proxyd.pipeline.QueryContext`). By MySQL's convention a rewrite
    appends ``Note 1105 Query '<before>' rewritten to '<after>' by a query rewrite plugin`` to
    ``ctx.warnings``. An exception fails the statement with
    ``plugin '<name>' failed in pre_parse: …`` (1105/HY000); the connection survives.
    """


@hookspec
def post_parse(ctx: Any) -> None:
    """Rewrite the parsed statement: read ``ctx.tree`` (a sqlglot expression) and assign a
    modified tree back to ``ctx.tree``; the new SQL text is generated from it.

    Reading ``ctx.tree`` costs a parse (cached by digest for ``tables``); leave it alone when the
    statement does not interest you (check ``ctx.kind`` or ``ctx.digest`` first). Exceptions fail
    the statement, naming the plugin.
    """


@hookspec
def before_execution(ctx: Any) -> Any:
    """Decide, just before the backend runs the statement, whether it runs at all.

    Return ``None`` to let it run; return (or raise) a :class:`proxyd.errors.ProxydError` to
    refuse it with that MySQL error; return an :class:`proxyd.results.Ok` or
    :class:`proxyd.results.ResultSet` to answer it without the backend. Later plugins' hooks are
    skipped once one answers. May be a coroutine (``async def``): await a concurrency slot, a
    Wasm guest in a worker thread, … without blocking other connections. A plain exception fails
    the statement with ``plugin '<name>' failed in before_execution: …``.
    """


@hookspec
def after_execution(ctx: Any) -> Any:
    """See (and optionally replace) the outcome: ``ctx.result`` or ``ctx.error``.

    Runs even when the statement failed or was answered by a ``before_execution`` hook, and when it
    was interrupted (``KILL QUERY``, ``KILL``, the client gone: ``ctx.error`` is 1317 then, and what
    the hook returns is not sent — release what you hold for the statement). Return a result or a
    ProxydError (or raise one) to replace the outcome, ``None`` to keep it. May be a coroutine. A
    plain exception replaces the outcome with an error naming the plugin.
    """


@hookspec
def query_done(ctx: Any) -> None:
    """Observe a finished statement (``ctx.outcome``) for logging or statistics.

    Cannot change anything. Exceptions are logged and ignored; keep it cheap, it runs for
    every statement.
    """
