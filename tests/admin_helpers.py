"""Helpers for the admin-interface tests: results with OK-packet details, errors with SQLSTATE,
a cnf writer for daemons that need their own variable sections, and the mariadb command-line client."""

from __future__ import annotations

import re
import shutil
import subprocess
import textwrap
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pymysql
import pytest

from tests.conftest import Proxyd

MYSQL_CLI = shutil.which("mariadb") or shutil.which("mysql")
needs_cli = pytest.mark.skipif(MYSQL_CLI is None, reason="mariadb/mysql command-line client not installed "
                                                         "(apt-get install mariadb-client)")


@dataclass
class Res:
    """One statement's outcome as the client saw it."""

    rows: list[tuple]
    columns: list[str] | None  # None for an OK packet
    affected: int
    warnings: int
    info: str


def ok_info(message: bytes | str | None) -> bytes:
    """The OK packet's info text as PyMySQL hands it over, without the length prefix.

    Servers length-prefix the info; PyMySQL reads the rest of the packet, prefix byte included.
    """
    info = message.encode() if isinstance(message, str) else (message or b"")
    if info and info[0] == len(info) - 1:
        info = info[1:]
    return info


def run(conn: pymysql.connections.Connection, sql: str) -> Res:
    with conn.cursor() as cur:
        cur.execute(sql)
        r = cur._result  # PyMySQL keeps the OK packet's details here
        info = ok_info(r.message)
        return Res(list(cur.fetchall()), [d[0] for d in cur.description] if cur.description else None,
                   r.affected_rows, r.warning_count, info.decode() if isinstance(info, bytes) else str(info))


def rows(conn: pymysql.connections.Connection, sql: str) -> list[tuple]:
    return run(conn, sql).rows


def scalar(conn: pymysql.connections.Connection, sql: str) -> Any:
    r = run(conn, sql).rows
    assert len(r) == 1 and len(r[0]) == 1, r
    return r[0][0]


@dataclass
class Err:
    code: int = 0
    message: str = ""
    sqlstate: str | None = None


@contextmanager
def expect_error(code: int, sqlstate: str | None = None, message: str | None = None,
                 match: str | None = None) -> Iterator[Err]:
    """Expect an ERR packet; checks code, SQLSTATE (read from the raw packet), exact text or a regex."""
    got = Err()
    original = pymysql.err.raise_mysql_exception

    def capture(data: bytes) -> None:
        got.sqlstate = data[4:9].decode() if data[3:4] == b"#" else None
        original(data)

    pymysql.err.raise_mysql_exception = capture
    try:
        with pytest.raises(pymysql.err.MySQLError) as info:
            yield got
    finally:
        pymysql.err.raise_mysql_exception = original
    got.code, got.message = info.value.args[0], info.value.args[1]
    assert got.code == code, (got.code, got.message)
    if sqlstate is not None:
        assert got.sqlstate == sqlstate, (got.sqlstate, got.message)
    if message is not None:
        assert got.message == message
    if match is not None:
        assert re.search(match, got.message), got.message


def write_cnf(p: Proxyd, *, mysql_vars: dict[str, Any] | None = None, admin_vars: dict[str, Any] | None = None,
              body: str = "", extra: str = "") -> None:
    """A complete cnf for ``p`` (the fixture's own cnf has fixed variable sections)."""
    def lit(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'

    admin = {"admin_credentials": "admin:admin;radmin:radmin", "mysql_ifaces": f"127.0.0.1:{p.admin_port}",
             **(admin_vars or {})}
    mysql = {"interfaces": f"127.0.0.1:{p.sql_port}", **(mysql_vars or {})}
    p.cnf.write_text(f'datadir = "{p.datadir}"\n{extra}plugins = ()\n'
                     + "admin_variables = {\n" + "".join(f"    {k} = {lit(v)}\n" for k, v in admin.items()) + "}\n"
                     + "mysql_variables = {\n" + "".join(f"    {k} = {lit(v)}\n" for k, v in mysql.items()) + "}\n"
                     + textwrap.dedent(body))


def new_proxyd(directory: Path, **cnf: Any) -> Proxyd:
    p = Proxyd(directory)
    write_cnf(p, **cnf)
    return p


def cli(p: Proxyd, *args: str, user: str = "admin", password: str = "admin", stdin: str | None = None,
        port: int | None = None) -> subprocess.CompletedProcess:
    """Run the mariadb/mysql client against the admin port."""
    assert MYSQL_CLI is not None
    cmd = [MYSQL_CLI, "-h127.0.0.1", f"-P{port or p.admin_port}", f"-u{user}", f"-p{password}",
           "--protocol=TCP", *args]
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=30)
