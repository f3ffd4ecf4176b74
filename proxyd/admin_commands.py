"""Core admin commands: PROXYD control, config export, plugins, digests, logging."""

from __future__ import annotations

import logging
import os
import tempfile
from typing import TYPE_CHECKING

from proxyd.cnf_render import render_config
from proxyd.commands import CommandContext
from proxyd.errors import ProxydError
from proxyd.results import Ok, ResultSet

if TYPE_CHECKING:
    from proxyd.daemon import Daemon

log = logging.getLogger("proxyd")


def register_core_commands(daemon: "Daemon") -> None:
    core, admin = daemon.core, daemon.admin
    reg = core.commands

    def both(words: str, fn, prefix: bool = False) -> None:
        reg.register(f"PROXYD {words}", fn, owner="core", prefix=prefix)
        reg.register(f"PROXYSQL {words}", fn, owner="core", prefix=prefix)

    def shutdown(ctx, sql):
        daemon.request_shutdown()
        return Ok(info="shutting down")

    def kill(ctx, sql):
        log.warning("PROXYD KILL from %s: exiting now", ctx.client_address)
        os._exit(0)

    def readonly(flag: bool):
        def run(ctx, sql):
            # Also the runtime variable: otherwise READWRITE could never undo admin-read_only=true.
            admin.read_only = flag
            core.variables.apply({"admin-read_only": "true" if flag else "false"})
            return Ok()
        return run

    def flush_logs(ctx, sql):
        daemon.reopen_logs()
        return Ok()

    def flush_configdb(ctx, sql):
        store = core.store
        store.conn.execute("DETACH DATABASE disk")
        store.conn.execute("ATTACH DATABASE ? AS disk", (store.disk_path,))
        return Ok()

    both("SHUTDOWN", shutdown)
    both("SHUTDOWN SLOW", shutdown)
    both("KILL", kill)
    both("START", lambda ctx, sql: daemon.proxyd_start())
    both("STOP", lambda ctx, sql: daemon.proxyd_stop())
    both("RESTART", lambda ctx, sql: daemon.proxyd_restart())
    both("PAUSE", lambda ctx, sql: daemon.pause())
    both("RESUME", lambda ctx, sql: daemon.resume())
    both("READONLY", readonly(True))
    both("READWRITE", readonly(False))
    both("FLUSH LOGS", flush_logs)
    both("FLUSH CONFIGDB", flush_configdb)
    both("FLUSH QUERY CACHE", lambda ctx, sql: Ok(info="no query cache"))

    def logentry(ctx: CommandContext, sql):
        log.info("LOGENTRY %s", ctx.args)
        return Ok()

    reg.register("LOGENTRY", logentry, owner="core", prefix=True)

    def kill_connection(ctx: CommandContext, sql):
        arg = ctx.args.strip()
        if not arg.isdigit():
            raise ProxydError(f"KILL CONNECTION needs a processlist id, got '{arg}'", 1064, "42000")
        if not daemon.kill_client(int(arg)):
            raise ProxydError(f"Unknown thread id: {arg}", 1094, "HY000")
        return Ok()

    reg.register("KILL CONNECTION", kill_connection, owner="core", prefix=True)

    # -- config export ----------------------------------------------------------------------
    def config_text() -> str:
        return export_config(daemon)

    reg.register("SELECT CONFIG FILE", lambda ctx, sql: ResultSet(["Data"], [(config_text(),)]), owner="core")

    def save_config(ctx: CommandContext, sql):
        path = ctx.args.strip()
        if len(path) >= 2 and path[0] == path[-1] and path[0] in "'\"":
            path = path[1:-1]
        if not path:
            raise ProxydError("empty file name")
        if not os.path.isabs(path):
            path = os.path.join(core.datadir, path)
        text = config_text()
        try:
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".proxyd-cnf-")
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.replace(tmp, path)
        except OSError as exc:
            raise ProxydError(f"Cannot open file {path}: {exc.strerror}") from exc
        return Ok(info=f"File {path} is saved.")

    reg.register("SAVE CONFIG TO FILE", save_config, owner="core", prefix=True)
    reg.register("SELECT CONFIG INTO OUTFILE", save_config, owner="core", prefix=True)

    # -- plugins ----------------------------------------------------------------------------
    host = core.plugins

    def plugin_name(ctx: CommandContext) -> str:
        name = ctx.args.strip().strip("`'\"")
        if not name:
            raise ProxydError("a plugin name is required", 1064, "42000")
        return name

    def load_plugin(ctx, sql):
        p = host.hot_load(plugin_name(ctx))
        return Ok(info=f"plugin '{p.name}' loaded")

    def unload_plugin(ctx, sql):
        name = plugin_name(ctx)
        host.unload(name)
        return Ok(info=f"plugin '{name}' unloaded")

    def reload_plugin(ctx, sql):
        done = host.reload(plugin_name(ctx))
        return Ok(info="reloaded: " + ", ".join(done))

    reg.register("LOAD PLUGIN", load_plugin, owner="core", prefix=True)
    reg.register("UNLOAD PLUGIN", unload_plugin, owner="core", prefix=True)
    reg.register("RELOAD PLUGIN", reload_plugin, owner="core", prefix=True)
    reg.register("SHOW PLUGINS", lambda ctx, sql: ResultSet(
        ["name", "version", "distribution", "state", "status_json"], host.status_rows()), owner="core")

    # -- digests ----------------------------------------------------------------------------
    def truncate_digests(ctx, sql):
        daemon.reset_digests()
        return Ok()

    for table in ("stats_mysql_query_digest", "stats_mysql_query_digest_reset"):
        for form in (f"TRUNCATE {table}", f"TRUNCATE TABLE {table}", f"TRUNCATE stats.{table}",
                     f"TRUNCATE TABLE stats.{table}"):
            reg.register(form, truncate_digests, owner="core")


def export_config(daemon: "Daemon") -> str:
    """The cnf that rebuilds today's MEMORY tier (``proxyd --initial`` with it gives the same tables)."""
    core = daemon.core
    store = core.store
    variables: dict[str, dict[str, str]] = {}
    for name, value in store.execute("SELECT variable_name, variable_value FROM main.global_variables "
                                     "ORDER BY variable_name"):
        prefix, _, short = name.partition("-")
        variables.setdefault(prefix, {})[short] = value
    tables = []
    for module in core.tiers.modules.values():
        for section, table in module.cnf_sections.items():
            if table == "global_variables":
                continue
            cols, rows = store.query(f'SELECT * FROM main."{table}"')
            tables.append((section, [dict(zip(cols, r)) for r in rows]))
    extra = [(f"{p}_variables", v) for p, v in sorted(variables.items()) if p not in ("admin", "mysql")]
    return render_config(datadir=core.config.datadir, plugins=daemon.plugin_names_for_export(),
                         admin_variables=variables.get("admin", {}), mysql_variables=variables.get("mysql", {}),
                         tables=tables, extra_variables=extra, header="proxyd configuration exported by SELECT CONFIG FILE")
