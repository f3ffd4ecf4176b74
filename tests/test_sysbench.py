"""sysbench oltp_read_write through proxyd: prepare + run with zero errors, text and prepared modes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pymysql
import pytest

from tests.conftest import Proxyd

pytestmark = pytest.mark.skipif(shutil.which("sysbench") is None, reason="sysbench not installed")

CNF = """
    mysql_servers = ( { address = "embedded"; port = 0; hostgroup = 0 } )
    mysql_users = ( { username = "sb"; password = "sb"; default_hostgroup = 0 } )
    """


# On the shared MariaDB, a database and user of this run's own (parallel runs must not drop each other's).
MDB_SCHEMA, MDB_USER = f"sbtest_{os.getpid()}", f"sb{os.getpid()}"


def sysbench(port: int, *args: str, timeout: float = 180, user: str = "sb", db: str = "sbtest") -> str:
    cmd = ["sysbench", "oltp_read_write", "--db-driver=mysql", "--mysql-host=127.0.0.1", f"--mysql-port={port}",
           f"--mysql-user={user}", f"--mysql-password={user}", f"--mysql-db={db}", "--tables=2", "--table-size=500",
           *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    assert "FATAL" not in text, text
    return text


def assert_clean_run(text: str) -> None:
    assert re.search(r"ignored errors:\s+0\s", text), text
    assert re.search(r"reconnects:\s+0\s", text), text
    m = re.search(r"transactions:\s+(\d+)", text)
    assert m and int(m.group(1)) > 0, text


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    p = Proxyd(tmp_path_factory.mktemp("sysbench"), CNF)
    p.start()
    c = pymysql.connect(host="127.0.0.1", port=p.sql_port, user="sb", password="sb")
    with c.cursor() as cur:
        cur.execute("CREATE DATABASE sbtest")
    c.close()
    yield p
    p.stop()


def test_oltp_read_write_on_the_embedded_backend(embedded):
    sysbench(embedded.sql_port, "prepare")
    for mode in ("disable", "auto"):  # text protocol, then server-side prepared statements
        assert_clean_run(sysbench(embedded.sql_port, f"--db-ps-mode={mode}", "--threads=2", "--time=3", "run"))
    sysbench(embedded.sql_port, "cleanup")


@pytest.fixture(scope="module")
def through_mariadb(tmp_path_factory):
    from tests.test_mysql_backend import _admin_conn, _server

    srv = _server()
    if srv is None:
        pytest.skip("no MariaDB/MySQL server: set PROXYD_TEST_MARIADB=host:port:user:password")
    admin = _admin_conn(srv)
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {MDB_SCHEMA}")
        cur.execute(f"CREATE DATABASE {MDB_SCHEMA}")
        cur.execute(f"DROP USER IF EXISTS '{MDB_USER}'@'%'")
        cur.execute(f"CREATE USER '{MDB_USER}'@'%' IDENTIFIED BY '{MDB_USER}'")
        cur.execute(f"GRANT ALL ON {MDB_SCHEMA}.* TO '{MDB_USER}'@'%'")
    host, port, _, _ = srv
    p = Proxyd(tmp_path_factory.mktemp("sysbench-mariadb"), f"""
        mysql_servers = ( {{ address = "{host}"; port = {port}; hostgroup = 1 }} )
        mysql_users = ( {{ username = "{MDB_USER}"; password = "{MDB_USER}"; default_hostgroup = 1;
                           default_schema = "{MDB_SCHEMA}" }} )
        """)
    p.start()
    yield p
    p.stop()
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {MDB_SCHEMA}")
        cur.execute(f"DROP USER IF EXISTS '{MDB_USER}'@'%'")
    admin.close()


def test_oltp_read_write_through_proxyd_to_mariadb(through_mariadb):
    port = through_mariadb.sql_port
    who = {"user": MDB_USER, "db": MDB_SCHEMA}
    sysbench(port, "prepare", **who)
    for mode in ("disable", "auto"):
        # one thread: InnoDB cannot deadlock, so not even an "ignored" (retried) error may show up
        assert_clean_run(sysbench(port, f"--db-ps-mode={mode}", "--threads=1", "--time=3", "run", **who))
        # four threads: InnoDB may pick deadlock victims (sysbench retries 1213, as against the server
        # itself); anything else would be FATAL or a non-zero exit
        sysbench(port, f"--db-ps-mode={mode}", "--threads=4", "--time=3", "--mysql-ignore-errors=1213", "run", **who)
    sysbench(port, "cleanup", **who)
