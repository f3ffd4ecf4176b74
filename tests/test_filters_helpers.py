"""Shared pieces of the filters tests (no tests here): a daemon with the filters plugin, SQL helpers,
and ``filters_demo``, an action plugin put on the daemon's path as a real distribution.

``filters_demo`` extends the action registry through the ``filters_actions`` hook, as any third-party
plugin would: it is a module plus a ``*.dist-info`` directory with an entry point, found through
``PYTHONPATH``, so nothing is pip-installed.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pymysql

from tests.conftest import Proxyd

DEMO_MODULE = '''
"""Demo filter actions for the tests of the filters plugin."""
import asyncio

from proxyd.errors import ProxydError
from proxyd.hookspecs import hookimpl
from proxyd.results import ResultSet

from plugins.filters.actions import FilterAction


class Answer(FilterAction):
    name = "DEMO_ANSWER"
    description = "before: answer with a one-row result"
    takes_args = False

    def before(self, ctx):
        return ResultSet(["answer"], [(f"answered by {self.filter_name}",)])


class Replace(FilterAction):
    name = "DEMO_REPLACE"
    description = "after (async): replace the outcome by a row naming the args"

    async def after(self, ctx):
        await asyncio.sleep(0)
        was = f"error {ctx.error.code}" if ctx.error is not None else "result"
        return ResultSet(["replaced"], [(f"{self.args} (was {was})",)])


class Record(FilterAction):
    name = "DEMO_RECORD"
    description = "append 'before'/'after' lines to the file named by action_args"

    def __init__(self, filter_name, args):
        super().__init__(filter_name, args)
        if not args:
            raise ProxydError("action DEMO_RECORD needs a file path in action_args", 1064, "42000")

    def _write(self, line):
        with open(self.args, "a") as f:
            f.write(line + "\\n")

    async def before(self, ctx):
        await asyncio.sleep(0)
        self._write(f"before {self.filter_name}")

    def after(self, ctx):
        self._write(f"after {self.filter_name} {'error' if ctx.error is not None else 'ok'}")


class Boom(FilterAction):
    name = "DEMO_BOOM"
    description = "before raises a plain exception"
    takes_args = False

    def before(self, ctx):
        raise RuntimeError("demo action exploded")


class NotFail(FilterAction):
    name = "FAIL"  # clashes with the filters plugin's own FAIL: the plugin loaded first keeps the name
    description = "never used"

    def before(self, ctx):
        return ResultSet(["wrong"], [("the clashing FAIL ran",)])


class DemoActions:
    PROXYD_ABI = ">=1.0,<2"
    PROXYD_REQUIRES = ("filters",)

    @hookimpl
    def filters_actions(self):
        return [Answer, Replace, Record, Boom, NotFail]
'''


def demo_site(root: Path) -> Path:
    """Write the ``filters_demo`` distribution under ``root``; return the directory for PYTHONPATH."""
    site = root / "demo_site"
    info = site / "proxyd_filters_demo-0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (site / "proxyd_filters_demo.py").write_text(DEMO_MODULE)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: proxyd-filters-demo\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[proxyd.plugins]\nfilters_demo = proxyd_filters_demo:DemoActions\n")
    return site


def demo_env(site: Path) -> dict[str, str]:
    return {"PYTHONPATH": os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)}


BACKEND_CNF = textwrap.dedent("""
    mysql_servers = ( { address = "embedded"; port = 0; hostgroup = 0 } )
    mysql_users = ( { username = "app"; password = "app"; default_hostgroup = 0 },
                    { username = "boss"; password = "boss"; default_hostgroup = 0 },
                    { username = "other"; password = "other"; default_hostgroup = 0 } )
    filters_variables = { admin_users = "boss" }
    """)


def connect(p: Proxyd, user: str = "app", db: str | None = None) -> pymysql.connections.Connection:
    return pymysql.connect(host="127.0.0.1", port=p.sql_port, user=user, password=user, database=db,
                           autocommit=True)


def cached(p: Proxyd, user: str = "app", db: str | None = None) -> pymysql.connections.Connection:
    """A connection kept for the daemon's life (connecting costs far more than a statement)."""
    conns = p.__dict__.setdefault("_filters_conns", {})
    key = (user, db)
    if key not in conns or not conns[key].open:
        conns[key] = p.admin() if user == "admin" else connect(p, user, db)
    return conns[key]


def close_cached(p: Proxyd) -> None:
    for conn in p.__dict__.pop("_filters_conns", {}).values():
        conn.close()


def admin(p: Proxyd, sql: str) -> list[tuple]:
    return run(p, sql, conn=cached(p, "admin"))


def run(p: Proxyd, sql: str, user: str = "app", db: str | None = None,
        conn: pymysql.connections.Connection | None = None) -> list[tuple]:
    """Run one statement on the SQL port (or on ``conn``); rows as tuples (an OK gives [])."""
    conn = conn or cached(p, user, db)
    with conn.cursor() as cur:
        cur.execute(sql)
        return [tuple(r) for r in cur.fetchall()]


def fails(p: Proxyd, sql: str, user: str = "app", db: str | None = None, admin: bool = False,
          conn: pymysql.connections.Connection | None = None) -> tuple[int, str]:
    """Run a statement that must fail; return (code, message)."""
    try:
        if admin:
            run(p, sql, conn=cached(p, "admin"))
        else:
            run(p, sql, user, db, conn)
    except pymysql.MySQLError as exc:
        return exc.args[0], exc.args[1]
    raise AssertionError(f"statement did not fail: {sql}")


def drop_all_filters(p: Proxyd) -> None:
    admin(p, "DELETE FROM filters")
    admin(p, "LOAD FILTERS TO RUNTIME")
    admin(p, "SAVE FILTERS TO DISK")


def stats(p: Proxyd, name: str) -> dict:
    with cached(p, "admin").cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute("SELECT * FROM stats.stats_filters WHERE name = %s", (name,))
        row = cur.fetchone()
    assert row is not None, f"no stats_filters row for {name}"
    return {k: (int(v) if isinstance(v, str) and v.lstrip("-").isdigit() else v) for k, v in row.items()}
