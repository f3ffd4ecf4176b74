"""The daemon: boot in the documented order, serve the admin port, stop in order."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import Any, Callable

from proxyd import __version__
from proxyd.admin import AdminFrontend
from proxyd.admin_commands import register_core_commands
from proxyd.config import Config, ConfigError
from proxyd.core import Core
from proxyd.errors import PluginError, ProxydError
from proxyd.pipeline import HookRunner
from proxyd.plugin_host import StartupError
from proxyd.results import Ok
from proxyd.wire.connection import serve

log = logging.getLogger("proxyd")

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2


class Daemon:
    def __init__(self, config: Config, datadir: str, *, initial: bool = False, reload: bool = False,
                 no_plugins: bool = False, disabled: tuple[str, ...] = ()):
        self.config = config
        self.no_plugins, self.disabled = no_plugins, tuple(disabled)
        self.core = Core(config, datadir, initial=initial, reload=reload)
        self.admin = AdminFrontend(self.core)
        self.admin_servers: list[asyncio.base_events.Server] = []
        self.admin_connections: set = set()
        self.shutdown_event: asyncio.Event | None = None
        self.stopped = False  # PROXYD STOP
        self.paused = False
        self.digest_reset_hooks: list[Callable[[], None]] = [self.core.stats.digests.reset]
        self.client_killers: list[Callable[[int], bool]] = []
        self.hooks = HookRunner(self.core.plugin_manager, lambda: [p.obj for p in self.core.plugins.plugins.values()],
                                lambda: self.core.plain_idle)
        self.core.plugin_listeners.append(self.hooks.refresh)
        self.core.pipeline_listeners.append(self.hooks.refresh)
        self.engine: Any = None  # the embedded SQLite engine, opened at boot
        self.mysql: Any = None  # the mysql backend's pools, opened at boot
        self.sql: Any = None  # the SQL-port frontend
        self.sql_servers: list[asyncio.base_events.Server] = []
        self.sql_connections: set = set()
        register_core_commands(self)
        self.core.variables.on_change(self._variables_changed)
        self.core.gauges["Admin_Connections_connected"] = lambda: len(self.admin_connections)

    # -- boot -------------------------------------------------------------------------------
    def plugin_names(self) -> list[str]:
        if self.no_plugins:
            return []
        return [n for n in (self.config.plugins or []) if n not in self.disabled]

    def plugin_names_for_export(self) -> list[str] | None:
        return self.config.plugins

    def boot(self) -> None:
        """Everything before the listeners open; raises ConfigError / StartupError / PluginError."""
        core = self.core
        core.validate_core_variable_sections()
        host = core.plugins
        resolved = [host.resolve(n) for n in self.plugin_names()]
        ordered = host.order(resolved)
        try:
            for plugin in ordered:
                host.init(plugin)
            core.finish_plugin_config(plugins_disabled=self.no_plugins or bool(self.disabled))
            core.seed()
            core.load_all_to_runtime()
            host.start_all()
        except BaseException:
            host.stop_all()
            raise
        log.info("plugins running: %s", ", ".join(host.plugins) or "(none)")
        self._open_data_path()

    def _open_data_path(self) -> None:
        from proxyd.backends.embedded import EmbeddedEngine
        from proxyd.backends.mysql import MysqlBackend
        from proxyd.backends.router import Backends
        from proxyd.sql_frontend import SqlFrontend

        self.engine = EmbeddedEngine(self.core.datadir)
        self.core.plugin_manager.hook.embedded_engine_opened.call_historic(kwargs={"engine": self.engine})
        self.mysql = MysqlBackend(self.core)
        self.sql = SqlFrontend(self.core, self.engine, self.hooks, Backends(self.core, self.engine, self.mysql))
        self.core.stats_providers["stats_mysql_connection_pool"] = self.mysql.pool_rows
        self.core.stats_providers["stats_mysql_connection_pool_reset"] = lambda: self.mysql.pool_rows(reset=True)
        self.core.gauges["Server_Connections_connected"] = self.mysql.connected
        self.hooks.refresh()
        self.client_killers.append(self.sql.kill)
        self.core.stats_providers["stats_mysql_processlist"] = self.sql.processlist_rows
        self.core.gauges["Client_Connections_connected"] = lambda: len(self.sql.sessions)

    async def open_listeners(self) -> None:
        for iface in filter(None, self.core.variables.get("admin-mysql_ifaces").split(";")):
            host, _, port = iface.rpartition(":")
            server = await serve(host, int(port), self.admin, version=f"8.0.11 (proxyd {__version__})",
                                 status_flags=0x0202, connections=self.admin_connections)
            self.admin_servers.append(server)
            log.info("admin interface listening on %s", iface)

    async def open_sql_listeners(self) -> None:
        from proxyd.wire.sql_connection import SQL_CAPABILITIES, SqlConnection

        if self.sql is None:
            return
        version = self.core.variables.get("mysql-server_version")
        for iface in filter(None, self.core.variables.get("mysql-interfaces").split(";")):
            host, _, port = iface.rpartition(":")
            server = await serve(host, int(port), self.sql, version=version, capabilities=SQL_CAPABILITIES,
                                 status_flags=0x0002, connections=self.sql_connections, connection_class=SqlConnection)
            self.sql_servers.append(server)
            log.info("SQL interface listening on %s", iface)

    async def close_sql_listeners(self, *, drop_clients: bool = False) -> None:
        for s in self.sql_servers:
            s.close()
        self.sql_servers = []
        if drop_clients:
            for conn in list(self.sql_connections):
                conn.stream.writer.close()

    async def close_admin_listeners(self) -> None:
        for s in self.admin_servers:
            s.close()
        for s in self.admin_servers:
            await s.wait_closed()
        self.admin_servers = []

    def _variables_changed(self, changed: dict[str, str]) -> None:
        if "admin-mysql_ifaces" in changed and self.admin_servers:
            asyncio.get_running_loop().create_task(self._rebind_admin())

    async def _rebind_admin(self) -> None:
        old = self.admin_servers
        self.admin_servers = []
        for s in old:
            s.close()
        try:
            await self.open_listeners()
        except OSError as exc:
            log.error("cannot rebind admin interface: %s", exc)

    async def run(self) -> int:
        self.shutdown_event = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_shutdown)
        try:
            # SQL first: once the admin port answers (what tools wait for), the SQL port is open too.
            if self.sql is not None:
                await self.open_sql_listeners()
            await self.open_listeners()
        except OSError as exc:
            log.error("cannot open a listener: %s", exc)
            self.core.plugins.stop_all()
            return EXIT_FAILURE
        log.info("proxyd %s ready", __version__)
        await self.shutdown_event.wait()
        await self.shutdown()
        return EXIT_OK

    def request_shutdown(self) -> None:
        if self.shutdown_event is not None:
            self.shutdown_event.set()

    async def shutdown(self) -> None:
        log.info("shutting down")
        await self.close_sql_listeners(drop_clients=True)
        await self.close_admin_listeners()
        await asyncio.sleep(0.05)  # let the OK for PROXYD SHUTDOWN reach its client
        for conn in list(self.admin_connections):
            conn.stream.writer.close()
        self.core.plugins.stop_all()
        if self.mysql is not None:
            self.mysql.close()
        if self.engine is not None:
            self.engine.close()
        self.core.store.close()
        log.info("stopped")

    # -- PROXYD control commands ------------------------------------------------------------------
    async def proxyd_stop(self) -> Ok:
        if self.stopped:
            raise ProxydError("proxyd is already stopped")
        await self.close_sql_listeners(drop_clients=True)
        self.core.plugins.stop_all()
        self.stopped = True
        return Ok()

    async def proxyd_start(self) -> Ok:
        if not self.stopped:
            raise ProxydError("proxyd already started")
        self.core.plugins.start_all()
        if not self.paused:
            await self.open_sql_listeners()
        self.stopped = False
        return Ok()

    async def proxyd_restart(self) -> Ok:
        """Stop plugins, reload every module from disk to runtime, start again."""
        host = self.core.plugins
        if not self.stopped:
            host.stop_all()
        for m in self.core.tiers.modules.values():
            m.disk_to_memory(self.core.store)
        self.core.load_all_to_runtime()
        host.start_all()
        if self.stopped and not self.paused:
            await self.open_sql_listeners()
        self.stopped = False
        return Ok()

    async def pause(self) -> Ok:
        """Stop accepting SQL clients; open connections go on."""
        if self.paused:
            raise ProxydError("proxyd MySQL module is already paused, impossible to pause")
        await self.close_sql_listeners()
        self.paused = True
        return Ok()

    async def resume(self) -> Ok:
        if not self.paused:
            raise ProxydError("proxyd MySQL module is not paused, impossible to resume")
        if not self.stopped:
            await self.open_sql_listeners()
        self.paused = False
        return Ok()

    def kill_client(self, connection_id: int) -> bool:
        return any(kill(connection_id) for kill in self.client_killers)

    def reset_digests(self) -> None:
        for fn in self.digest_reset_hooks:
            fn()

    def reopen_logs(self) -> None:
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.FileHandler):
                handler.acquire()
                try:
                    handler.close()
                    handler.stream = handler._open()
                finally:
                    handler.release()


def run_daemon(config: Config, datadir: str, **options: Any) -> int:
    daemon: Daemon | None = None
    try:
        daemon = Daemon(config, datadir, **options)
        daemon.boot()
    except ConfigError as exc:
        log.error("%s", exc)
        rc = EXIT_CONFIG
    except (StartupError, PluginError) as exc:
        log.error("start-up failed: %s", exc)
        rc = EXIT_FAILURE
    else:
        return run_loop(daemon.run())
    if daemon is not None:  # a failed first boot leaves no proxyd.db behind
        daemon.core.discard_failed_boot()
    return rc


def run_loop(main: Any) -> int:
    """Run the daemon on uvloop when it is installed (faster sockets and scheduling), else asyncio."""
    try:
        if os.environ.get("PROXYD_NO_UVLOOP"):
            raise ImportError
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
