"""The filters plugin object (entry point ``filters``): wiring only, the work is in the sibling modules."""

from __future__ import annotations

from typing import Any

from plugins.filters import hookspecs, stats
from plugins.filters.actions import FilterAction
from plugins.filters.builtin_actions import BUILTIN_ACTIONS
from plugins.filters.chain import RAN, OpenChains, run_after, run_before
from plugins.filters.runtime import FilterRuntime
from plugins.filters.statements import (
    ADMIN_USERS_VARIABLE,
    MAYBE_OURS,
    FilterStatements,
)
from plugins.filters.store import FilterStore
from proxyd.hookspecs import hookimpl

PREFIX_COMMANDS = ("CREATE FILTER", "ALTER FILTER", "DROP FILTER", "SHOW CREATE FILTER", "SHOW FILTER")
EXACT_COMMANDS = ("SHOW FILTERS", "SHOW FILTER ACTIONS")


def _check_user_list(value: str) -> str:
    names = [n.strip() for n in value.split(",")]
    if any(not n or any(c.isspace() for c in n) for n in names) and value.strip():
        raise ValueError("a comma-separated list of user names")
    return ",".join(n for n in names if n)


class FiltersPlugin:
    """WeScale-style filters: pattern matching plus actions around every SQL-port statement."""

    PROXYD_ABI = ">=1.0,<2"
    PROXYD_REQUIRES: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.services: Any = None
        self.runtime = FilterRuntime(self._collect_actions)
        self.store = FilterStore(self.runtime)
        self.statements = FilterStatements(self.runtime, self.store)
        self.open = OpenChains()
        self._stopped_defs: list | None = None  # definitions kept across PROXYD STOP / START

    # -- lifecycle --------------------------------------------------------------------------------
    @hookimpl
    def init(self, services: Any) -> None:
        self.services = self.store.services = self.statements.services = services
        # Plain statements only matter while a filter is live (the SQL-port statements this plugin
        # answers, CREATE FILTER… and /*explain filter*/…, are never plain ones).
        self.runtime.on_install = lambda current: services.want_plain_statements(bool(current.live))
        services.want_plain_statements(bool(self.runtime.current.live))
        services.add_hookspecs(hookspecs)
        services.register_tiered_object(self.store.tiered_object())
        services.register_variable(ADMIN_USERS_VARIABLE, "", check=_check_user_list,
                                   doc="SQL-port users allowed to run CREATE/ALTER/DROP/SHOW FILTER statements")
        services.register_table("stats", "stats_filters", stats.STATS_DDL,
                                refresh=lambda: stats.refresh(self.runtime, services.stats_db))
        for prefix in PREFIX_COMMANDS:
            services.register_command(prefix, self.statements.admin_command(prefix), prefix=True)
        for exact in EXACT_COMMANDS:
            services.register_command(exact, self.statements.admin_command(exact))

    @hookimpl
    def start(self) -> None:
        self.store.booting = False
        if self._stopped_defs is not None:  # PROXYD START after PROXYD STOP: the same filters, fresh actions
            defs, self._stopped_defs = self._stopped_defs, None
            self.runtime.refresh_actions()
            self.runtime.install(self.runtime.build(defs, lenient=True))

    @hookimpl
    def stop(self) -> None:
        # The core does not reload tiered objects on PROXYD START: keep the definitions, close the actions.
        self._stopped_defs = [f.definition for f in self.runtime.current.filters]
        self.runtime.close_all()

    @hookimpl
    def status_json(self) -> dict[str, int]:
        current = self.runtime.current
        return {"filters": len(current.filters), "live": len(current.live), "actions": len(self.runtime.actions)}

    @hookimpl
    def plugins_changed(self, loaded: list[str]) -> None:
        self.runtime.refresh_actions()

    @hookimpl
    def filters_actions(self) -> list[type[FilterAction]]:
        return list(BUILTIN_ACTIONS)

    def _collect_actions(self) -> list[tuple[str, Any]]:
        caller = getattr(self.services.hook, "filters_actions", None) if self.services else None
        if caller is None:
            return [("filters", BUILTIN_ACTIONS)]
        out = []
        for impl in caller.get_hookimpls():  # registration (load) order: on a name clash the first wins
            try:
                out.append((impl.plugin_name, impl.function()))
            except Exception as exc:  # noqa: BLE001 - a failing action must not take the proxy down
                self.services.log_message(3, f"filters_actions of plugin '{impl.plugin_name}' failed: {exc!r}")
        return out

    # -- query path -------------------------------------------------------------------------------
    @hookimpl
    def before_execution(self, ctx: Any) -> Any:
        if self.open.chains and ctx.connection_id in self.open.chains:  # (not bool(self.open): a call)
            self.open.close_out(ctx.connection_id)  # the previous statement was interrupted
        if MAYBE_OURS.match(ctx.sql):
            answer = self.statements.sql_port(ctx)
            if answer is not None:
                return answer
        current = self.runtime.current
        if not current.live:
            return None
        matched = current.match(ctx)
        if not matched:
            return None
        out = run_before(ctx, matched)
        self.open.opened(ctx, ctx.plugin_data[RAN])
        return out

    @hookimpl
    def after_execution(self, ctx: Any) -> Any:
        ran = ctx.plugin_data.get(RAN)
        if not ran:
            return None
        self.open.closed(ctx)
        return run_after(ctx, ran)
