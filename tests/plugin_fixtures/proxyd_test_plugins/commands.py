"""A module plugin with admin commands covering results, errors, arguments and the snapshots."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from proxyd.errors import ProxydError
from proxyd.hookspecs import hookimpl
from proxyd.results import Ok, ResultSet
from proxyd.snapshots import Snapshot

PROXYD_ABI = ">=1.0,<2"

_svc: Any = None  # the Services object init() got
init_db_error = ""  # what touching a database during init() said
held: Snapshot | None = None  # a servers snapshot kept across later loads
flaky_refreshes = 0  # stats_t_flaky: how often it was refilled; odd fills fail half-way


@hookimpl
def init(services: Any) -> None:
    global _svc, init_db_error
    _svc = services
    try:
        services.admin_db
    except ProxydError as exc:
        init_db_error = exc.message
    reg = services.register_command
    reg("T ECHO", echo)
    services.register_command_alias("T ECHO", "T ECHO AGAIN")
    reg("T ARGS", args_command("T ARGS"), prefix=True)
    reg("T ARGS LONGER", args_command("T ARGS LONGER"), prefix=True)  # the longest prefix wins
    reg("T OK", lambda ctx, sql: Ok(affected_rows=3, info="three things done"))
    reg("T NONE", lambda ctx, sql: None)
    reg("T FAIL", fail)
    reg("T BOOM", boom)
    reg("T ASYNC", async_command)
    reg("T CONTEXT", context)
    reg("T SNAPSHOTS", snapshots)
    reg("T SNAPSHOT HOLD", hold)
    reg("T SNAPSHOT HELD", held_rows)
    # reads the table without naming it in SQL, so without triggering a refill
    reg("T FLAKY ROWS", lambda ctx, sql: ResultSet(["fill"],
                                                    ctx.stats_db.execute("SELECT fill FROM stats.stats_t_flaky")))
    services.register_table("stats", "stats_t_flaky", "CREATE TABLE stats_t_flaky (fill INT PRIMARY KEY)",
                            refresh=refresh_flaky)


@hookimpl
def start() -> None:
    _svc.log_message(3, "severity three is an error")
    _svc.log_message(4, "severity four is a warning")
    _svc.log_message(logging.INFO, "a logging level works too")


def echo(ctx: Any, sql: str) -> ResultSet:
    return ResultSet(["canonical"], [(sql,)])


def args_command(via: str):
    return lambda ctx, sql: ResultSet(["via", "canonical", "args"], [(via, sql, ctx.args)])


def fail(ctx: Any, sql: str) -> None:
    raise ProxydError("T FAIL refuses with its own code", 1234, "42T01")


def boom(ctx: Any, sql: str) -> None:
    return 1 // 0  # a plain exception, not a ProxydError


async def async_command(ctx: Any, sql: str) -> Ok:
    await asyncio.sleep(0.01)
    return Ok(info="awaited")


def context(ctx: Any, sql: str) -> ResultSet:
    servers = ctx.admin_db.execute("SELECT count(*) FROM main.mysql_servers")[0][0]
    stats = _svc.stats_db.execute("SELECT count(*) FROM stats.sqlite_master")[0][0]
    return ResultSet(["user", "client_address", "servers_in_memory", "stats_tables", "init_db_error"],
                     [(ctx.user, ctx.client_address, servers, stats, init_db_error)])


def _rows(kind: str, snap: Snapshot) -> list[tuple[str, str]]:
    return [(kind, json.dumps(row, sort_keys=True)) for row in snap.as_dicts()]


def snapshots(ctx: Any, sql: str) -> ResultSet:
    return ResultSet(["kind", "row"],
                     _rows("users", _svc.get_mysql_users_snapshot())
                     + _rows("servers", _svc.get_mysql_servers_snapshot())
                     + _rows("group_replication_hostgroups",
                             _svc.get_mysql_group_replication_hostgroups_snapshot()))


def hold(ctx: Any, sql: str) -> Ok:
    global held
    held = _svc.get_mysql_servers_snapshot()
    return Ok()


def held_rows(ctx: Any, sql: str) -> ResultSet:
    assert held is not None, "T SNAPSHOT HOLD first"
    current = _svc.get_mysql_servers_snapshot() is held
    return ResultSet(["kind", "row"], [("current", str(int(current)))] + _rows("servers", held))


def refresh_flaky() -> None:
    """Every second refill fails after its INSERT: the host must roll that INSERT back."""
    global flaky_refreshes
    flaky_refreshes += 1
    db = _svc.stats_db
    db.execute("DELETE FROM stats.stats_t_flaky")
    db.execute("INSERT INTO stats.stats_t_flaky VALUES (?)", (flaky_refreshes,))
    if flaky_refreshes % 2 == 0:
        raise RuntimeError(f"refill {flaky_refreshes} failed half-way")
