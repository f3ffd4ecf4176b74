"""The query pipeline over the SQL port: every stage's powers, with a real plugin and real clients."""

from __future__ import annotations

import json
import threading
import time

import mysql.connector
import pymysql
import pytest

from tests.conftest import Proxyd

CNF = """
    mysql_servers = ( { address = "embedded"; port = 0; hostgroup = 0 } )
    mysql_users = ( { username = "app"; password = "app"; default_hostgroup = 0; default_schema = "pipe" } )
    """


@pytest.fixture(scope="module")
def px(tmp_path_factory, plugin_distributions):
    p = Proxyd(tmp_path_factory.mktemp("pipeline"), CNF, plugins=("t_pipeline",))
    p.start()
    c = pymysql.connect(host="127.0.0.1", port=p.sql_port, user="app", password="app", autocommit=True)
    with c.cursor() as cur:
        cur.execute("CREATE DATABASE pipe")
        cur.execute("USE pipe")
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))")
        cur.execute("INSERT INTO t VALUES (1, 'one'), (2, 'two')")
    c.close()
    yield p
    p.stop()


@pytest.fixture
def conn(px):
    c = pymysql.connect(host="127.0.0.1", port=px.sql_port, user="app", password="app", database="pipe",
                        autocommit=True)
    yield c
    c.close()


def q(conn, sql):
    with conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def status(px) -> dict:
    return json.loads(dict(px.query("SELECT name, status_json FROM runtime_plugins"))["t_pipeline"])


def test_pre_parse_rewrites_text_and_adds_a_note(conn):
    assert q(conn, "SELECT 'pre_me'") == [("pre_done",)]
    assert q(conn, "SHOW WARNINGS") == [("Note", 1105, "t_pipeline rewrote pre_me")]


def test_post_parse_rewrites_the_tree(conn):
    assert q(conn, "SELECT v, 'post_me' FROM t WHERE id = 1") == [("one", "post_done")]


def test_before_execution_answers_or_refuses(conn):
    assert q(conn, "SELECT 'answer_me' FROM no_such_table") == [("from t_pipeline",)]
    with pytest.raises(pymysql.MySQLError) as info:
        q(conn, "SELECT 'refuse_me'")
    assert info.value.args == (1142, "refused by t_pipeline")
    assert q(conn, "SELECT 1") == [(1,)]  # the connection is fine


def test_async_before_execution_does_not_block_other_clients(px, conn):
    other = pymysql.connect(host="127.0.0.1", port=px.sql_port, user="app", password="app", database="pipe")
    done: list[float] = []

    def slow() -> None:
        q(conn, "SELECT 'wait_me'")
        done.append(time.monotonic())

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.05)
    start = time.monotonic()
    assert q(other, "SELECT COUNT(*) FROM t") == [(2,)]
    fast = time.monotonic()
    t.join()
    other.close()
    assert done and fast < done[0], "a waiting before_execution hook blocked another connection"
    assert fast - start < 0.15


def test_after_execution_replaces_results_and_errors(conn):
    assert q(conn, "SELECT v, 'mask_me' FROM t ORDER BY id") == [("***", "***"), ("***", "***")]
    with conn.cursor() as cur:
        cur.execute("DELETE FROM soften_me")  # the table does not exist: 1146 turned into OK
        assert cur.rowcount == 0


def test_query_done_sees_kind_tables_digest_and_original(px, conn):
    q(conn, "SELECT t.v FROM t JOIN pipe.t AS t2 ON t.id = t2.id WHERE t.v <> 'tables_me'")
    s = status(px)
    assert ["pipe", "t"] in s["tables"]
    assert s["last_digest"] == "SELECT t.v FROM t JOIN pipe.t AS t2 ON t.id = t2.id WHERE t.v <> ?"
    assert s["kinds"]["SELECT"] >= 1


def test_prepared_statements_are_rewritten_at_prepare(px):
    cnx = mysql.connector.connect(host="127.0.0.1", port=px.sql_port, user="app", password="app",
                                  database="pipe", use_pure=True)
    cur = cnx.cursor(prepared=True)
    for _ in range(2):
        cur.execute("SELECT 'pre_me', v FROM t WHERE id = ?", (2,))
        assert cur.fetchall() == [("pre_done", "two")]
    cur.close()
    cnx.close()
