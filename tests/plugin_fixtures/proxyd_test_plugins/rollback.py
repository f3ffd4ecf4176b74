"""Registers one of everything, then fails: nothing of it may remain."""

from __future__ import annotations

from typing import Any

from proxyd.hookspecs import hookimpl
from proxyd.results import Ok
from proxyd.tiers import TieredObject

PROXYD_ABI = ">=1.0,<2"


@hookimpl
def init(services: Any) -> None:
    services.register_table("admin", "t_rb_plain", "CREATE TABLE t_rb_plain (id INT PRIMARY KEY)")
    services.register_table("stats", "stats_t_rb", "CREATE TABLE stats_t_rb (id INT PRIMARY KEY)",
                            refresh=lambda: None)
    services.register_command("T RB COMMAND", lambda ctx, sql: Ok())
    services.register_command("T RB PREFIX", lambda ctx, sql: Ok(), prefix=True)
    services.register_tiered_object(TieredObject(
        name="T RB THINGS", tables=[("t_rb_things", "CREATE TABLE t_rb_things (id INT PRIMARY KEY)")],
        load_to_runtime=lambda rows: None, save_from_runtime=lambda: {"t_rb_things": []}))
    services.register_variable("trb-level", "1")
    raise RuntimeError("failing after registering a table, commands, a tiered object and a variable")


@hookimpl
def t_greeting_parts() -> str:  # t_hook_provider's hook: must vanish with the failed init
    return "rollback"


@hookimpl
def status_json() -> dict:
    return {"loaded": True}


@hookimpl
def stop() -> None:
    raise AssertionError("stop() must never run for a plugin whose init failed")
