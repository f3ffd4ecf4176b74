"""``IMPORT WASM FDW SCHEMA <remote> FROM SERVER <name> INTO <schema> [LIMIT TO (…) | EXCEPT (…)]``.

Asks the server's guest (``fdw_import_foreign_schema``) which tables its source has, checks each
description like a ``wasm_fdw_tables`` row and upserts them into the MEMORY tier; ``LOAD WASM FDW TO
RUNTIME`` then makes them live. The guest call runs on a worker thread under the server's limits.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from plugins.wasm.fdw import guest as fdw
from plugins.wasm.fdw.columns import ColumnError, parse_columns
from proxyd.errors import ProxydError
from proxyd.results import Ok

_SYNTAX = re.compile(
    r"\s*(?P<remote>[\w$.-]+)\s+FROM\s+SERVER\s+(?P<server>[\w$-]+)\s+INTO\s+(?P<local>[A-Za-z_][\w$]*)"
    r"(?:\s+(?P<kind>LIMIT\s+TO|EXCEPT)\s*\((?P<list>[^)]*)\))?\s*;?\s*$", re.IGNORECASE)
USAGE = "IMPORT WASM FDW SCHEMA <remote> FROM SERVER <name> INTO <schema> [LIMIT TO (t, …) | EXCEPT (t, …)]"


def parse(args: str) -> dict[str, Any]:
    m = _SYNTAX.match(args)
    if m is None:
        raise ProxydError(f"syntax: {USAGE}", 1064, "42000")
    kind = (m.group("kind") or "").upper().replace(" ", "_").replace("\t", "_")
    kind = "limit_to" if kind.startswith("LIMIT") else "except" if kind == "EXCEPT" else "all"
    names = [n.strip().strip("`") for n in (m.group("list") or "").split(",") if n.strip()]
    return {"server": m.group("server"), "remote_schema": m.group("remote"), "local_schema": m.group("local").lower(),
            "list_type": kind, "table_list": names}


def ask_guest(server: Any, request: dict[str, Any]) -> list[dict[str, Any]]:
    """Run ``fdw_import_foreign_schema`` on a fresh instance of the server's module (worker thread)."""
    if "fdw_import_foreign_schema" not in server.module.exports:
        raise ProxydError(f"server '{server.name}': its module does not export fdw_import_foreign_schema")
    inst = server.module.pool.acquire()
    st = fdw.FdwCall(inst, server, f"{request['local_schema']}.*", fdw.TableStats())
    try:
        fdw.call_routine(st, "fdw_init", {"abi": 1, "host_version": fdw.HOST_VERSION,
                                          "server": {"name": server.name, "options": server.options}, "table": None})
        reply = fdw.call_routine(st, "fdw_import_foreign_schema", {k: request[k] for k in (
            "remote_schema", "local_schema", "list_type", "table_list")})
    finally:
        server.module.pool.release(inst)
    if not isinstance(reply, list) or not all(isinstance(t, dict) for t in reply):
        raise ProxydError(f"server '{server.name}': fdw_import_foreign_schema: invalid reply: expected a list of "
                          "{table_name, columns, options}")
    return reply


def rows_for(server: str, request: dict[str, Any], tables: list[dict[str, Any]]) -> list[tuple]:
    """Checked ``wasm_fdw_tables`` rows; the LIMIT TO / EXCEPT list applies even if the guest ignored it."""
    wanted = {n.lower() for n in request["table_list"]}
    out = []
    for t in tables:
        name, columns, options = t.get("table_name"), t.get("columns"), t.get("options") or {}
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][\w$]{0,63}", name):
            raise ProxydError(f"server '{server}': fdw_import_foreign_schema: invalid table_name {name!r}")
        if request["list_type"] == "limit_to" and name.lower() not in wanted:
            continue
        if request["list_type"] == "except" and name.lower() in wanted:
            continue
        try:
            parse_columns(str(columns))
        except ColumnError as exc:
            raise ProxydError(f"server '{server}': fdw_import_foreign_schema: table {name}: {exc}") from None
        if not isinstance(options, dict) or not all(isinstance(v, str) for v in options.values()):
            raise ProxydError(f"server '{server}': fdw_import_foreign_schema: table {name}: options must be "
                              "a JSON object of strings")
        out.append((request["local_schema"], name, server, columns, json.dumps(options)))
    return out


async def import_schema(service: Any, ctx: Any, _sql: str) -> Ok:
    request = parse(ctx.args)
    server = service.runtime.servers.get(request["server"])
    if server is None:
        raise ProxydError(f"server '{request['server']}' is not loaded (LOAD WASM FDW TO RUNTIME first)")
    tables = await asyncio.to_thread(ask_guest, server, request)
    rows = rows_for(server.name, request, tables)
    for row in rows:
        ctx.admin_db.execute("INSERT OR REPLACE INTO main.wasm_fdw_tables (schema_name, table_name, server_name, "
                             "columns, options) VALUES (?, ?, ?, ?, ?)", row)
    return Ok(affected_rows=len(rows), info=f"{len(rows)} foreign table(s) imported into MEMORY; "
                                            "LOAD WASM FDW TO RUNTIME makes them live")
