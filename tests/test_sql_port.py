"""The SQL port on the embedded backend, with real clients: PyMySQL, mysql-connector-python, mariadb CLI."""

from __future__ import annotations

import shutil
import subprocess

import mysql.connector
import pymysql
import pytest

CNF = """
    mysql_servers = ( { address = "embedded"; port = 0; hostgroup = 0 } )
    mysql_users = (
        { username = "app"; password = "app"; default_hostgroup = 0; default_schema = "shop" },
        { username = "hashed"; password = "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"; default_hostgroup = 0 },
        { username = "off"; password = "off"; active = 0 },
        { username = "one"; password = "one"; max_connections = 1 }
    )
    """


@pytest.fixture(scope="module")
def px(tmp_path_factory):
    from tests.conftest import Proxyd

    p = Proxyd(tmp_path_factory.mktemp("sqlport"), CNF)
    p.start()
    yield p
    p.stop()


def connect(px, user="app", password="app", **kw) -> pymysql.connections.Connection:
    kw.setdefault("autocommit", True)
    return pymysql.connect(host="127.0.0.1", port=px.sql_port, user=user, password=password, **kw)


def err(conn, sql) -> tuple[int, str]:
    with pytest.raises(pymysql.MySQLError) as info:
        with conn.cursor() as cur:
            cur.execute(sql)
    return info.value.args[0], info.value.args[1]


def q(conn, sql, args=None) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


@pytest.fixture(scope="module")
def shop(px):
    conn = connect(px, database=None)
    q(conn, "CREATE DATABASE IF NOT EXISTS shop")
    q(conn, "USE shop")
    q(conn, "CREATE TABLE items (id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, "
            "name VARCHAR(64) NOT NULL UNIQUE, qty INT NOT NULL DEFAULT 0) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")
    yield conn
    conn.close()


def test_login_failures_are_1045_and_never_reveal_users(px):
    for user, password in (("app", "wrong"), ("nobody", "x"), ("off", "off")):
        with pytest.raises(pymysql.err.OperationalError) as info:
            connect(px, user, password)
        assert info.value.args[0] == 1045
        assert info.value.args[1] == f"Access denied for user '{user}'@'127.0.0.1' (using password: YES)"


def test_hashed_password_and_max_connections(px):
    with connect(px, "hashed", "password") as c:  # the hash is mysql_native_password('password')
        assert q(c, "SELECT 1") == [(1,)]
    first = connect(px, "one", "one")
    try:
        with pytest.raises(pymysql.err.OperationalError) as info:
            connect(px, "one", "one")
        assert info.value.args[0] == 1226
    finally:
        first.close()


def test_ok_packet_carries_affected_rows_insert_id_and_warnings(px, shop):
    with shop.cursor() as cur:
        assert cur.execute("INSERT INTO items (name, qty) VALUES ('apple', 3), ('pear', 5)") == 2
        first_id = cur.lastrowid
        assert first_id >= 1
        cur.execute("INSERT INTO items (name) VALUES ('plum')")
        assert cur.lastrowid == first_id + 2
        assert cur.execute("UPDATE items SET qty = qty + 1 WHERE qty > 0") == 2
        cur.execute("DROP TABLE IF EXISTS no_such_table")
        assert shop.warning_count() if callable(getattr(shop, "warning_count", None)) else True
        cur.execute("SHOW WARNINGS")
        rows = cur.fetchall()
        assert rows and rows[0][0] == "Note" and rows[0][1] == 1051


def test_errors_keep_mysql_codes_and_the_connection(px, shop):
    assert err(shop, "INSERT INTO items (name) VALUES ('apple')")[0] == 1062
    assert err(shop, "SELECT * FROM nope")[0] == 1146
    assert err(shop, "SELEC 1")[0] == 1064
    assert err(shop, "SELECT nope FROM items")[0] == 1054
    assert q(shop, "SELECT COUNT(*) FROM items")[0][0] >= 3


def test_multi_statements_return_every_result(px, shop):
    conn = connect(px, database="shop", client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS)
    with conn.cursor() as cur:
        cur.execute("SELECT 1; SELECT 2, 3; UPDATE items SET qty = qty WHERE name = 'apple'")
        assert cur.fetchall() == ((1,),)
        assert cur.nextset()
        assert cur.fetchall() == ((2, 3),)
        assert cur.nextset()
        assert cur.rowcount == 1
        assert not cur.nextset()
    conn.close()


def test_rollback_really_rolls_back(px, shop):
    conn = connect(px, database="shop", autocommit=False)
    q(conn, "INSERT INTO items (name, qty) VALUES ('ghost', 1)")
    assert q(conn, "SELECT COUNT(*) FROM items WHERE name = 'ghost'") == [(1,)]
    conn.rollback()
    assert q(conn, "SELECT COUNT(*) FROM items WHERE name = 'ghost'") == [(0,)]
    q(conn, "BEGIN")
    q(conn, "INSERT INTO items (name, qty) VALUES ('kept', 1)")
    q(conn, "COMMIT")
    conn.close()
    assert q(shop, "SELECT COUNT(*) FROM items WHERE name = 'kept'") == [(1,)]


def test_prepared_statements_bind_safely_and_reexecute(px, shop):
    cnx = mysql.connector.connect(host="127.0.0.1", port=px.sql_port, user="app", password="app",
                                  database="shop", autocommit=True, use_pure=True)
    cur = cnx.cursor(prepared=True)
    cur.execute("SELECT name, qty FROM items WHERE name = ?", ("apple",))
    assert cur.fetchall() == [("apple", 4)]
    for _ in range(3):  # re-execute the same statement
        cur.execute("SELECT name, qty FROM items WHERE name = ?", ("pear",))
        assert cur.fetchall() == [("pear", 6)]
    # an injection attempt is just a string that matches nothing
    cur.execute("SELECT name FROM items WHERE name = ?", ("x' OR '1'='1",))
    assert cur.fetchall() == []
    cur.execute("INSERT INTO items (name, qty) VALUES (?, ?)", ("it's; DROP TABLE items; --", 7))
    cur.execute("SELECT qty FROM items WHERE name = ?", ("it's; DROP TABLE items; --",))
    assert cur.fetchall() == [(7,)]
    cur.close()
    cnx.close()


def test_stats_count_digests_and_commands(px, shop):
    for n in (1, 2, 3):
        q(shop, f"SELECT qty FROM items WHERE id={n}")
    rows = px.query("SELECT digest_text, count_star FROM stats_mysql_query_digest "
                    "WHERE digest_text = 'SELECT qty FROM items WHERE id=?'")
    assert rows == [("SELECT qty FROM items WHERE id=?", "3")]
    cnt = dict(px.query("SELECT Command, Total_cnt FROM stats_mysql_commands_counters"))
    assert len(cnt) == 54 and int(cnt["SELECT"]) >= 3


@pytest.mark.skipif(shutil.which("mariadb") is None, reason="mariadb client not installed")
def test_mariadb_cli(px, shop):
    out = subprocess.run(["mariadb", "-h127.0.0.1", f"-P{px.sql_port}", "-uapp", "-papp", "shop", "-N", "-B",
                          "-e", "SELECT name FROM items WHERE name='apple'; SELECT 40+2"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["apple", "42"]
