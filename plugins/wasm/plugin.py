"""The wasm plugin object (entry point ``wasm``): wiring of the module table, sandbox and action."""

from __future__ import annotations

import logging
import weakref
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from plugins.wasm.modules import MODULES_DDL, STATS_DDL, ModuleRefused, ModuleSet
from plugins.wasm.runtime import WasmEngine
from proxyd.errors import ProxydError
from proxyd.hookspecs import hookimpl
from proxyd.tiers import TieredObject
from proxyd.variables import boolean, int_range

log = logging.getLogger("proxyd.plugin.wasm")

VARIABLES = (
    ("inline_max_timeout_ms", "20", int_range(0, 60_000),
     "guests whose timeout_ms is at most this run inline on the event loop; longer ones on worker threads"),
    ("pool_max_idle", "16", int_range(0, 1024), "ready instances kept per module"),
    ("worker_threads", "4", int_range(1, 64), "threads running guests with long deadlines (read at start)"),
    ("epoch_tick_ms", "5", int_range(1, 1000), "deadline granularity: the epoch ticks this often (read at start)"),
    ("disk_cache", "true", boolean, "keep compiled modules under <datadir>/wasm-cache (read at start)"),
)


class WasmPlugin:
    """Sandboxed WebAssembly guests before and after statement execution (WASM_PLUGIN action)."""

    PROXYD_ABI = ">=1.0,<2"
    PROXYD_REQUIRES: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.services: Any = None
        self.engine: WasmEngine | None = None
        self.executor: ThreadPoolExecutor | None = None
        self.modules = ModuleSet(self._engine, lambda: self._int("pool_max_idle", 16))
        self._action_class: type | None = None
        #: ``wasm-inline_max_timeout_ms`` at runtime, kept up to date by a variables listener (read per statement)
        self.inline_max = 20
        from plugins.wasm.fdw import FdwService  # foreign tables (docs/wasm-fdw.md)

        self.fdw = FdwService(self._engine)

    # -- lifecycle ------------------------------------------------------------------------------
    @hookimpl
    def init(self, services: Any) -> None:
        self.services = services
        services.register_tiered_object(TieredObject(
            name="WASM MODULES",
            tables=[("wasm_modules", MODULES_DDL)],
            load_to_runtime=self.load_modules,
            save_from_runtime=lambda: {"wasm_modules": [dict(r) for r in self.modules.rows]},
            cnf_section="wasm_modules",
        ))
        for name, default, check, doc in VARIABLES:
            services.register_variable(f"wasm-{name}", default, check=check, doc=doc)
        services.register_table("stats", "stats_wasm_modules", STATS_DDL, refresh=self.refresh_stats)
        self._listen_for_inline_max()
        self.fdw.init(services)

    @hookimpl
    def start(self) -> None:
        self.inline_max = self._int("inline_max_timeout_ms", 20)
        if self.engine is not None:  # PROXYD STOP / PROXYD START: deadlines need the ticker again
            self.engine.resume()
        if self.executor is None:
            self.executor = ThreadPoolExecutor(self._int("worker_threads", 4), thread_name_prefix="wasm-guest")
        self.fdw.start()

    @hookimpl
    def stop(self) -> None:
        self.fdw.stop()
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.executor = None
        if self.engine is not None:
            self.engine.close()

    @hookimpl
    def status_json(self) -> dict[str, Any]:
        return {"modules": len(self.modules.modules), "calls": sum(s.calls for s in self.modules.stats.values())}

    @hookimpl
    def embedded_engine_opened(self, engine: Any) -> None:
        """Foreign tables are virtual tables of the embedded backend (historic hook: store only)."""
        self.fdw.engine_opened(engine)

    @hookimpl
    def filters_actions(self) -> list[type]:
        """Contribute WASM_PLUGIN to the filters plugin's action registry."""
        if self._action_class is None:
            from plugins.wasm.action import make_action_class

            self._action_class = make_action_class(self)
        return [self._action_class]

    # -- configuration ------------------------------------------------------------------------------
    def _int(self, name: str, default: int) -> int:
        try:
            return int(self.services.get_variable(f"wasm-{name}"))
        except (KeyError, ValueError):  # not at runtime yet during the first load
            return default

    def _engine(self) -> WasmEngine:
        if self.engine is None:
            try:
                on = self.services.get_variable("wasm-disk_cache") == "true"
            except KeyError:  # not at runtime yet during the first load: the default
                on = True
            cache = Path(self.services.datadir) / "wasm-cache" if on else None
            self.engine = WasmEngine(tick_ms=self._int("epoch_tick_ms", 5), cache_dir=cache)
        return self.engine

    def load_modules(self, rows: dict[str, list[dict[str, Any]]]) -> None:
        try:
            self.modules.load(rows["wasm_modules"])
        except ModuleRefused as exc:
            raise ProxydError(str(exc)) from None

    def _listen_for_inline_max(self) -> None:
        """Keep :attr:`inline_max` current when ``LOAD WASM VARIABLES TO RUNTIME`` changes it."""
        ref = weakref.ref(self)  # (the listener goes with the plugin; the weak reference is belt and braces)

        def changed(values: dict[str, str]) -> None:
            plugin = ref()
            if plugin is not None and "wasm-inline_max_timeout_ms" in values:
                plugin.inline_max = int(values["wasm-inline_max_timeout_ms"])

        self.services.on_variables_changed(changed)

    def refresh_stats(self) -> None:
        db = self.services.stats_db
        db.execute("DELETE FROM stats.stats_wasm_modules")
        for name, mod in sorted(self.modules.modules.items()):
            s, pool = mod.stats.snapshot(), mod.guest.pool
            db.execute("INSERT INTO stats.stats_wasm_modules VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", (
                name, mod.guest.sha256, s["calls"], s["errors"], s["traps"], s["timeouts"], s["fuel_exhausted"],
                s["invalid"], s["failed_open"], s["total_us"], s["max_us"], pool.created, pool.discarded,
                len(pool.idle), mod.guest.compiled_from, mod.requirement, s["last_error"],
                "native" if mod.guest.engine.native else "ctypes"))
