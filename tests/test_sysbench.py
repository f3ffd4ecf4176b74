"""sysbench oltp_read_write through proxyd: prepare + run with zero errors, text and prepared modes."""

from __future__ import annotations

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


def sysbench(port: int, *args: str, timeout: float = 180) -> str:
    cmd = ["sysbench", "oltp_read_write", "--db-driver=mysql", "--mysql-host=127.0.0.1", f"--mysql-port={port}",
           "--mysql-user=sb", "--mysql-password=sb", "--mysql-db=sbtest", "--tables=2", "--table-size=500", *args]
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
