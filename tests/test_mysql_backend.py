"""The mysql backend against a real MariaDB/MySQL, through a real proxyd, with real clients.

Needs a server: ``PROXYD_TEST_MARIADB="host:port:user:password"`` (CI's ``.ci/run`` starts one), else
127.0.0.1:3307 as root without a password is tried; without either the module is skipped.
"""

from __future__ import annotations

import datetime
import os
import socket
import time
from decimal import Decimal

import mysql.connector
import pymysql
import pytest

from tests.conftest import Proxyd, free_port

DB, OTHER_DB = "pxt_shop", "pxt_other"
SEQ_300 = "WITH RECURSIVE s (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 300)"
USERS = {"pxt_app": "app-pw", "pxt_nodb": "nodb-pw"}


def _server() -> tuple[str, int, str, str] | None:
    spec = os.environ.get("PROXYD_TEST_MARIADB")
    if spec:
        host, port, user, password = (spec.split(":", 3) + ["", ""])[:4]
        return host, int(port), user, password
    try:
        with socket.create_connection(("127.0.0.1", 3307), timeout=0.5):
            pass
    except OSError:
        return None
    return "127.0.0.1", 3307, "root", ""


def _admin_conn(srv: tuple[str, int, str, str], **kw) -> pymysql.connections.Connection:
    host, port, user, password = srv
    return pymysql.connect(host=host, port=port, user=user, password=password, autocommit=True, **kw)


def app_database(db: str, user: str, password: str, *setup: str):
    """A generator for a module fixture: the server, with a fresh database ``db`` that ``user`` may use
    (both dropped afterwards) and ``setup`` statements run in it. Skips without a server."""
    srv = _server()
    if srv is None:
        pytest.skip("no MariaDB/MySQL server: set PROXYD_TEST_MARIADB=host:port:user:password "
                    "(or run one on 127.0.0.1:3307, root without password)")
    conn = _admin_conn(srv)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {db}")
        cur.execute(f"CREATE DATABASE {db}")
        cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
        cur.execute(f"GRANT ALL ON {db}.* TO '{user}'@'%'")
        for sql in setup:
            cur.execute(sql)
    yield srv
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {db}")
        cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
    conn.close()


def backend_cnf(server: tuple[str, int, str, str], user: str, password: str, db: str) -> str:
    """cnf body: hostgroup 0 embedded, hostgroup 1 the MariaDB ``server``; ``user`` goes to hostgroup 1
    with ``db`` as its default schema (``password`` as stored: plain or ``*HEX``)."""
    host, port, _, _ = server
    return f"""
        mysql_servers = (
            {{ address = "embedded"; port = 0; hostgroup = 0 }},
            {{ address = "{host}"; port = {port}; hostgroup = 1; max_connections = 20 }}
        )
        mysql_users = (
            {{ username = "{user}"; password = "{password}"; default_hostgroup = 1; default_schema = "{db}" }}
        )
        """


@pytest.fixture(scope="module")
def server():
    srv = _server()
    if srv is None:
        pytest.skip("no MariaDB/MySQL server: set PROXYD_TEST_MARIADB=host:port:user:password "
                    "(or run one on 127.0.0.1:3307, root without password)")
    conn = _admin_conn(srv)  # PROXYD_TEST_MARIADB set but unusable: a failure, not a skip
    with conn.cursor() as cur:
        for db in (DB, OTHER_DB):
            cur.execute(f"DROP DATABASE IF EXISTS {db}")
            cur.execute(f"CREATE DATABASE {db}")
        for user, password in USERS.items():
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
            cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
            # a pattern grant: an unknown pxt_ database is then 1049 (without rights MariaDB says 1044)
            cur.execute(f"GRANT ALL ON `pxt\\_%`.* TO '{user}'@'%'")
        cur.execute(f"CREATE TABLE {DB}.items (id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, "
                    "name VARCHAR(64) NOT NULL UNIQUE, qty INT NOT NULL DEFAULT 0, price DECIMAL(8,2), "
                    "added DATE, seen DATETIME(3), note TEXT, raw VARBINARY(16)) ENGINE=InnoDB")
        cur.execute(f"CREATE TABLE {OTHER_DB}.marker (what VARCHAR(16))")
        cur.execute(f"INSERT INTO {OTHER_DB}.marker VALUES ('other')")
    yield srv
    with conn.cursor() as cur:
        for db in (DB, OTHER_DB):
            cur.execute(f"DROP DATABASE IF EXISTS {db}")
        for user in USERS:
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
    conn.close()


@pytest.fixture(scope="module")
def blackhole():
    """A port that accepts TCP connections and never says a word (a server hung at the handshake)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    yield s.getsockname()[1]
    s.close()


@pytest.fixture(scope="module")
def px(tmp_path_factory, server, blackhole):
    host, port, _, _ = server
    closed = free_port()  # nothing listens there: connection refused
    cnf = f"""
        mysql_servers = (
            {{ address = "embedded"; port = 0; hostgroup = 0 }},
            {{ address = "{host}"; port = {port}; hostgroup = 1; max_connections = 50 }},
            {{ address = "127.0.0.1"; port = {closed}; hostgroup = 2 }},
            {{ address = "127.0.0.1"; port = {blackhole}; hostgroup = 3 }}
        )
        mysql_users = (
            {{ username = "pxt_app"; password = "app-pw"; default_hostgroup = 1; default_schema = "{DB}" }},
            {{ username = "pxt_nodb"; password = "nodb-pw"; default_hostgroup = 1 }},
            {{ username = "pxt_ghost"; password = "ghost"; default_hostgroup = 1 }},
            {{ username = "pxt_down"; password = "down"; default_hostgroup = 2 }},
            {{ username = "pxt_hung"; password = "hung"; default_hostgroup = 3 }},
            {{ username = "pxt_nohg"; password = "nohg"; default_hostgroup = 7 }}
        )
        """
    p = Proxyd(tmp_path_factory.mktemp("mysqlbackend"), cnf)
    p.start()
    with p.admin() as adm:
        q(adm, "SET mysql-connect_timeout_server = 600")
        q(adm, "LOAD MYSQL VARIABLES TO RUNTIME")
    yield p
    p.stop()


def connect(px, user="pxt_app", password=None, **kw) -> pymysql.connections.Connection:
    kw.setdefault("autocommit", True)
    return pymysql.connect(host="127.0.0.1", port=px.sql_port, user=user,
                           password=USERS.get(user, password) if password is None else password, **kw)


def q(conn, sql, args=None) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


def err(conn, sql) -> tuple[int, str]:
    with pytest.raises(pymysql.MySQLError) as info:
        with conn.cursor() as cur:
            cur.execute(sql)
    return info.value.args[0], info.value.args[1]


def pool_row(px, hostgroup: int = 1) -> dict:
    cols = ["hostgroup", "srv_host", "srv_port", "status", "ConnUsed", "ConnFree", "ConnOK", "ConnERR", "MaxConnUsed",
            "Queries", "Queries_GTID_sync", "Bytes_data_sent", "Bytes_data_recv", "Latency_us"]
    rows = px.query(f"SELECT * FROM stats_mysql_connection_pool WHERE hostgroup = '{hostgroup}'")
    assert len(rows) == 1, rows
    return dict(zip(cols, rows[0]))


@pytest.fixture
def app(px):
    conn = connect(px)
    q(conn, "DELETE FROM items")
    yield conn
    conn.close()


# -- basics -----------------------------------------------------------------------------------------
def test_default_schema_and_values_round_trip(px, app):
    assert q(app, "SELECT DATABASE(), CURRENT_USER()")[0] == (DB, "pxt_app@%")
    q(app, "INSERT INTO items (name, qty, price, added, seen, note, raw) VALUES "
           "('apple', 3, 1.50, '2024-02-29', '2024-02-29 10:11:12.345', 'héllo', X'00ff')")
    row = q(app, "SELECT id, name, qty, price, added, seen, note, raw, NULL FROM items")[0]
    assert row[1:] == ("apple", 3, Decimal("1.50"), datetime.date(2024, 2, 29),
                       datetime.datetime(2024, 2, 29, 10, 11, 12, 345000), "héllo", b"\x00\xff", None)


def test_ok_packet_affected_rows_insert_id_and_warnings(px, app):
    with app.cursor() as cur:
        assert cur.execute("INSERT INTO items (name, qty) VALUES ('a', 1), ('b', 2)") == 2
        first = cur.lastrowid
        assert first >= 1
        cur.execute("INSERT INTO items (name) VALUES ('c')")
        assert cur.lastrowid == first + 2
        assert q(app, "SELECT LAST_INSERT_ID()") == [(first + 2,)]
        assert cur.execute("UPDATE items SET qty = qty + 1 WHERE qty > 0") == 2
        assert cur.execute("UPDATE items SET qty = 5 WHERE name = 'a'") == 1
        cur.execute("SELECT CAST('12abc' AS SIGNED)")
        assert cur.fetchall() == ((12,),)
        assert cur._result.warning_count == 1
        cur.execute("SHOW WARNINGS")
        assert [(r[0], r[1]) for r in cur.fetchall()] == [("Warning", 1292)]
        cur.execute("DROP TABLE IF EXISTS no_such_table")
        assert cur._result.warning_count == 1
        cur.execute("SHOW WARNINGS")
        level, code, message = cur.fetchall()[0]
        assert (level, code) == ("Note", 1051) and "no_such_table" in message
        cur.execute("SHOW COUNT(*) WARNINGS")
        assert cur.fetchall() == ((1,),)


def test_client_found_rows_flag_reaches_the_backend(px, app):
    q(app, "INSERT INTO items (name, qty) VALUES ('same', 1)")
    plain = connect(px)
    found = connect(px, client_flag=pymysql.constants.CLIENT.FOUND_ROWS)
    with plain.cursor() as cur:
        assert cur.execute("UPDATE items SET qty = 1 WHERE name = 'same'") == 0  # rows changed
    with found.cursor() as cur:
        assert cur.execute("UPDATE items SET qty = 1 WHERE name = 'same'") == 1  # rows matched
    plain.close()
    found.close()


def test_backend_errors_keep_code_and_sqlstate(px, app):
    q(app, "INSERT INTO items (name) VALUES ('dup')")
    cnx = mysql.connector.connect(host="127.0.0.1", port=px.sql_port, user="pxt_app", password="app-pw",
                                  autocommit=True, use_pure=True)
    cur = cnx.cursor()
    for sql, code, state in (("INSERT INTO items (name) VALUES ('dup')", 1062, "23000"),
                             ("SELECT * FROM no_such_table", 1146, "42S02"),
                             ("SELEC 1", 1064, "42000"),
                             ("SELECT nope FROM items", 1054, "42S22")):
        with pytest.raises(mysql.connector.Error) as info:
            cur.execute(sql)
            cur.fetchall()
        assert (info.value.errno, info.value.sqlstate) == (code, state), sql
    assert "Duplicate entry 'dup'" in err(app, "INSERT INTO items (name) VALUES ('dup')")[1]
    cur.execute("SELECT COUNT(*) FROM items")
    assert cur.fetchall() == [(1,)]  # the connection survived every error
    cnx.close()


def test_multi_statements(px, app):
    conn = connect(px, client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS)
    with conn.cursor() as cur:
        cur.execute("SELECT 1; SELECT 2, 3; INSERT INTO items (name) VALUES ('m1'), ('m2')")
        assert cur.fetchall() == ((1,),)
        assert cur.nextset()
        assert cur.fetchall() == ((2, 3),)
        assert cur.nextset()
        assert cur.rowcount == 2
        assert not cur.nextset()
    conn.close()
    # without CLIENT_MULTI_STATEMENTS a second statement is a syntax error, not executed
    assert err(app, "SELECT 1; DELETE FROM items")[0] == 1064
    assert q(app, "SELECT COUNT(*) FROM items") == [(2,)]


def test_rollback_and_commit(px, app):
    conn = connect(px, autocommit=False)
    other = connect(px)
    q(conn, "INSERT INTO items (name) VALUES ('ghost')")
    assert q(conn, "SELECT COUNT(*) FROM items WHERE name = 'ghost'") == [(1,)]
    assert q(other, "SELECT COUNT(*) FROM items WHERE name = 'ghost'") == [(0,)]  # not committed
    conn.rollback()
    assert q(conn, "SELECT COUNT(*) FROM items WHERE name = 'ghost'") == [(0,)]
    q(conn, "BEGIN")
    q(conn, "INSERT INTO items (name) VALUES ('kept')")
    q(conn, "COMMIT")
    assert q(other, "SELECT COUNT(*) FROM items WHERE name = 'kept'") == [(1,)]
    conn.close()
    other.close()


# -- prepared statements -------------------------------------------------------------------------------
def test_prepared_statements_bind_safely_and_reexecute(px, app):
    q(app, "INSERT INTO items (name, qty, price, added) VALUES ('apple', 4, 2.25, '2024-01-02'), ('pear', 6, 1, NULL)")
    cnx = mysql.connector.connect(host="127.0.0.1", port=px.sql_port, user="pxt_app", password="app-pw",
                                  database=DB, autocommit=True, use_pure=True)
    cur = cnx.cursor(prepared=True)
    cur.execute("SELECT name, qty FROM items WHERE name = ?", ("apple",))
    assert cur.fetchall() == [("apple", 4)]
    for _ in range(3):
        cur.execute("SELECT name, qty FROM items WHERE name = ?", ("pear",))
        assert cur.fetchall() == [("pear", 6)]
    cur.execute("SELECT name FROM items WHERE name = ?", ("x' OR '1'='1",))
    assert cur.fetchall() == []  # an injection attempt is only a string that matches nothing
    cur.execute("INSERT INTO items (name, qty, price) VALUES (?, ?, ?)", ("it's; DROP TABLE items; --", 7, None))
    assert cur.lastrowid > 0
    cur.execute("SELECT qty, price, added FROM items WHERE name = ?", ("it's; DROP TABLE items; --",))
    assert cur.fetchall() == [(7, None, None)]
    cur.execute("SELECT price, added, qty * 2, 1.5e0 FROM items WHERE name = ?", ("apple",))
    # relayed as the server encoded it: a binary DATE arrives as a date
    assert cur.fetchall() == [(Decimal("2.25"), datetime.date(2024, 1, 2), 8, 1.5)]
    with pytest.raises(mysql.connector.Error) as info:
        cur.execute("SELECT * FROM no_such_table WHERE id = ?", (1,))
    assert info.value.errno == 1146
    cur.close()
    cnx.close()


def test_prepared_statement_moves_to_a_pooled_connection_that_never_saw_it(px, app):
    q(app, "INSERT INTO items (name, qty) VALUES ('kiwi', 9)")
    holder = connect(px)
    q(holder, "BEGIN")  # pins one backend connection
    held = q(holder, "SELECT CONNECTION_ID()")[0][0]
    cnx = mysql.connector.connect(host="127.0.0.1", port=px.sql_port, user="pxt_app", password="app-pw",
                                  database=DB, autocommit=True, use_pure=True)
    cur = cnx.cursor(prepared=True)
    cur.execute("SELECT qty, CONNECTION_ID() FROM items WHERE name = ?", ("kiwi",))
    (qty, first_conn), = cur.fetchall()
    assert qty == 9 and first_conn != held
    q(holder, "COMMIT")  # the held connection returns to the pool, newest: the next statement gets it
    seen = set()
    for _ in range(4):
        cur.execute("SELECT qty, CONNECTION_ID() FROM items WHERE name = ?", ("kiwi",))
        (qty, conn_id), = cur.fetchall()
        assert qty == 9
        seen.add(conn_id)
    assert held in seen  # prepared again, transparently, on a connection that had not seen it
    cnx.close()
    holder.close()


def test_prepared_statements_follow_each_sessions_schema(px, app, server):
    root = _admin_conn(server)
    with root.cursor() as cur:
        cur.execute(f"CREATE TABLE IF NOT EXISTS {DB}.marker (what VARCHAR(16))")
        cur.execute(f"DELETE FROM {DB}.marker")
        cur.execute(f"INSERT INTO {DB}.marker VALUES ('shop')")
    root.close()

    def client(schema: str):
        cnx = mysql.connector.connect(host="127.0.0.1", port=px.sql_port, user="pxt_app", password="app-pw",
                                      database=schema, autocommit=True, use_pure=True)
        return cnx, cnx.cursor(prepared=True)
    (a, ca), (b, cb) = client(DB), client(OTHER_DB)
    for _ in range(3):  # the same statement text, alternately, over the same pooled connections
        ca.execute("SELECT what FROM marker WHERE what <> ?", ("",))
        assert ca.fetchall() == [("shop",)]
        cb.execute("SELECT what FROM marker WHERE what <> ?", ("",))
        assert cb.fetchall() == [("other",)]
    a.close()
    b.close()


# -- pooling and pinning --------------------------------------------------------------------------------
def test_sequential_clients_reuse_pooled_connections(px, app):
    px.query("SELECT * FROM stats_mysql_connection_pool_reset")
    for i in range(25):
        with connect(px) as c:
            assert q(c, f"SELECT {i}") == [(i,)]
    row = pool_row(px)
    assert row["hostgroup"] == "1" and row["status"] == "ONLINE" and row["Queries_GTID_sync"] == "0"
    assert int(row["Queries"]) >= 25
    assert int(row["ConnOK"]) <= 2, row  # 25 clients, almost no new backend connections
    assert int(row["ConnUsed"]) == 0 and int(row["ConnFree"]) >= 1  # between statements nobody holds one
    assert int(row["Bytes_data_sent"]) > 0 and int(row["Bytes_data_recv"]) > 0


def test_transaction_pins_one_backend_connection(px, app):
    others = [connect(px) for _ in range(3)]
    conn = connect(px, autocommit=False)
    q(conn, "BEGIN")
    ids = set()
    for _ in range(5):
        ids.add(q(conn, "SELECT CONNECTION_ID()")[0][0])
        for o in others:  # meanwhile other clients use pooled connections
            q(o, "SELECT 1")
    assert len(ids) == 1
    q(conn, "COMMIT")
    conn.close()
    for o in others:
        o.close()


def test_temporary_table_and_user_variables_stay_with_their_creator(px, app):
    conn = connect(px)
    q(conn, "CREATE TEMPORARY TABLE scratch (v INT)")
    q(conn, "INSERT INTO scratch VALUES (1), (2)")
    q(conn, "SET @answer = 42")
    others = [connect(px) for _ in range(3)]
    for o in others:
        assert err(o, "SELECT * FROM scratch")[0] == 1146  # not theirs
        assert q(o, "SELECT @answer") == [(None,)]
    assert q(conn, "SELECT SUM(v) FROM scratch") == [(3,)]
    assert q(conn, "SELECT @answer") == [(42,)]
    conn.close()
    for o in others:
        o.close()


def test_reset_connection_cleans_the_pinned_connection(px, app):
    cnx = mysql.connector.connect(host="127.0.0.1", port=px.sql_port, user="pxt_app", password="app-pw",
                                  database=DB, autocommit=True, use_pure=True)
    cur = cnx.cursor()
    cur.execute("SET @secret = 'x'")
    cnx.cmd_reset_connection()
    cur = cnx.cursor()
    cur.execute("SELECT @secret, DATABASE()")
    assert cur.fetchall() == [(None, DB)]
    cnx.close()


def test_schema_and_set_names_are_carried_to_pooled_connections(px, app):
    a, b = connect(px), connect(px)
    q(a, f"USE {OTHER_DB}")
    q(a, "SET NAMES latin1")
    q(a, "SET SESSION sql_mode = 'ANSI_QUOTES'")
    for _ in range(4):  # interleaved: each statement may get any pooled connection
        assert q(a, "SELECT DATABASE(), @@character_set_client, @@sql_mode, (SELECT what FROM marker)") == \
            [(OTHER_DB, "latin1", "ANSI_QUOTES", "other")]
        assert q(b, "SELECT DATABASE(), @@character_set_client, @@sql_mode = 'ANSI_QUOTES'") == [(DB, "utf8mb4", 0)]
    assert err(a, "USE pxt_no_such_db")[0] == 1049
    assert q(a, "SELECT DATABASE()") == [(OTHER_DB,)]  # unchanged by the failed USE
    a.select_db(DB)  # COM_INIT_DB
    assert q(a, "SELECT DATABASE()") == [(DB,)]
    a.close()
    b.close()


def test_unknown_schema_from_com_init_db_fails_on_the_next_statement(px, app):
    conn = connect(px)
    conn.select_db("pxt_no_such_db")
    assert err(conn, "SELECT 1")[0] == 1049
    assert q(conn, "SELECT DATABASE()") == [(DB,)]
    conn.close()


def test_user_without_default_schema(px, app):
    with connect(px, "pxt_nodb") as c:
        assert q(c, "SELECT DATABASE()") == [(None,)]
        assert err(c, "SELECT * FROM items")[0] == 1046  # no database selected
        assert q(c, f"SELECT COUNT(*) FROM {DB}.items")[0][0] >= 0


def test_lock_tables_pins_until_unlock(px, app):
    conn = connect(px)
    q(conn, "LOCK TABLES items WRITE")
    ids = {q(conn, "SELECT CONNECTION_ID()")[0][0] for _ in range(3)}
    q(conn, "INSERT INTO items (name) VALUES ('locked')")
    q(conn, "UNLOCK TABLES")
    assert len(ids) == 1
    conn.close()


# -- failures ---------------------------------------------------------------------------------------
def test_unreachable_hostgroup_fails_fast_and_the_client_survives(px):
    conn = connect(px, "pxt_down", "down")
    for _ in range(2):
        started = time.monotonic()
        code, message = err(conn, "SELECT 1")
        assert code == 9001 and "hostgroup 2" in message, message
        assert time.monotonic() - started < 2.0
    conn.ping(reconnect=False)
    conn.close()


def test_hung_server_fails_after_connect_timeout(px):
    conn = connect(px, "pxt_hung", "hung")
    started = time.monotonic()
    code, message = err(conn, "SELECT 1")
    elapsed = time.monotonic() - started
    assert code == 9001 and "hostgroup 3" in message and "600ms" in message, message
    assert 0.4 < elapsed < 2.5
    conn.ping(reconnect=False)
    conn.close()


def test_hostgroup_without_servers(px):
    with connect(px, "pxt_nohg", "nohg") as c:
        code, message = err(c, "SELECT 1")
        assert code == 9001 and "Hostgroup 7" in message


def test_backend_refusing_the_credentials_passes_its_error(px):
    with connect(px, "pxt_ghost", "ghost") as c:  # known to proxyd, not to the server
        code, message = err(c, "SELECT 1")
        assert code == 1045 and "pxt_ghost" in message


def test_pool_follows_runtime_servers(px, app):
    rows = px.query("SELECT hostgroup FROM stats_mysql_connection_pool")
    assert sorted(r[0] for r in rows) == ["1", "2", "3"]  # embedded hostgroup 0 has no pool row
    with px.admin() as adm:
        q(adm, "DELETE FROM mysql_servers WHERE hostgroup_id = 2")
        q(adm, "LOAD MYSQL SERVERS TO RUNTIME")
        assert sorted(r[0] for r in q(adm, "SELECT hostgroup FROM stats.stats_mysql_connection_pool")) == ["1", "3"]
        assert q(app, "SELECT 1") == [(1,)]  # hostgroup 1 kept its pool
        with connect(px, "pxt_down", "down") as c:
            code, message = err(c, "SELECT 1")
            assert code == 9001 and "Hostgroup 2 has no servers" in message


def test_kill_query_stops_the_statement_on_the_server(px, server):
    victim = connect(px)
    import threading

    failure: list[BaseException] = []

    def run() -> None:
        try:
            q(victim, "SELECT SLEEP(20)")
        except BaseException as exc:  # noqa: BLE001 - reported below
            failure.append(exc)
    t = threading.Thread(target=run)
    t.start()
    deadline = time.monotonic() + 5
    session_id = None
    while session_id is None and time.monotonic() < deadline:
        rows = px.query("SELECT SessionID FROM stats_mysql_processlist WHERE info LIKE 'SELECT SLEEP(20)%'")
        session_id = rows[0][0] if rows else None
        time.sleep(0.05)
    assert session_id is not None
    with connect(px) as killer:
        q(killer, f"KILL QUERY {session_id}")
    t.join(10)
    assert not t.is_alive() and failure  # the client got an error at once
    root = _admin_conn(server)
    try:
        for _ in range(50):  # and the server stopped the statement too
            if not q(root, "SELECT id FROM information_schema.processlist WHERE info = 'SELECT SLEEP(20)'"):
                break
            time.sleep(0.1)
        else:
            pytest.fail("SELECT SLEEP(20) still runs on the server")
    finally:
        root.close()
    assert q(victim, "SELECT 1") == [(1,)]  # the client goes on (on another backend connection)
    victim.close()


def test_large_results_procedures_and_temporal_values(px, app, server):
    # > 64 KB: read by the general reader rather than in one go from the receive buffer
    rows = q(app, f"{SEQ_300} SELECT n, REPEAT('x', 1000) FROM s")
    assert len(rows) == 300 and rows[-1] == (300, "x" * 1000)
    root = _admin_conn(server)
    with root.cursor() as cur:
        cur.execute(f"DROP PROCEDURE IF EXISTS {DB}.two_results")
        cur.execute(f"CREATE PROCEDURE {DB}.two_results() BEGIN SELECT 1 AS a; SELECT 2 AS b; END")
    root.close()
    assert q(app, "CALL two_results()") == [(1,)]  # the first result (the others are read and dropped)
    assert q(app, "SELECT 3") == [(3,)]  # and the connection is in sync afterwards
    cnx = mysql.connector.connect(host="127.0.0.1", port=px.sql_port, user="pxt_app", password="app-pw",
                                  database=DB, autocommit=True, use_pure=True)
    cur = cnx.cursor(prepared=True)
    temporal = ("SELECT CAST('-26:01:02.5' AS TIME(1)), CAST('2024-03-04 05:06:07.891' AS DATETIME(3)), "
                "CAST('2024-03-04' AS DATE), CAST(NULL AS DATE), ? + 1")
    cur.execute(temporal, (41,))
    through = cur.fetchall()
    host, port, _, _ = server
    direct = mysql.connector.connect(host=host, port=port, user="pxt_app", password="app-pw", database=DB,
                                     use_pure=True)
    dcur = direct.cursor(prepared=True)
    dcur.execute(temporal, (41,))
    # the server's binary temporal values arrive as it encoded them (whatever the driver makes of a
    # negative TIME, it makes the same of it directly)
    assert through == dcur.fetchall()
    assert through[0][1:] == (datetime.datetime(2024, 3, 4, 5, 6, 7, 891000), datetime.date(2024, 3, 4), None, 42)
    direct.close()
    cur.execute(f"{SEQ_300} SELECT n, REPEAT('y', 1000) FROM s WHERE n > ?", (0,))
    assert len(cur.fetchall()) == 300
    cnx.close()


# -- result relay ----------------------------------------------------------------------------------
RELAY_SQL = (f"{SEQ_300} SELECT n, IF(n % 7 = 0, NULL, CONCAT('row ', n)) AS label, n * 1.5 AS half, "
             "CAST('2024-02-29' AS DATE) + INTERVAL n DAY AS day FROM s")


def test_text_results_reach_the_client_as_the_server_sent_them(px, app, server):
    """A text result set with no hook reading it is relayed as the backend's packets: the client
    must see exactly what a direct connection sees, column metadata included."""
    host, port, _, _ = server
    direct = pymysql.connect(host=host, port=port, user="pxt_app", password=USERS["pxt_app"], database=DB)
    try:
        with direct.cursor() as d, app.cursor() as p:
            d.execute(RELAY_SQL)
            p.execute(RELAY_SQL)
            assert p.fetchall() == d.fetchall()
            assert p.description == d.description
    finally:
        direct.close()
    q(app, "SELECT 'relay-check', n FROM (SELECT 1 AS n UNION ALL SELECT 2 UNION ALL SELECT 3) t")
    rows = px.query("SELECT sum_rows_sent FROM stats_mysql_query_digest "
                    "WHERE digest_text LIKE 'SELECT ?,n FROM (SELECT ? AS n UNION ALL%'")
    assert rows and int(rows[0][0]) == 3  # rows counted without decoding them


def test_hooks_reading_a_relayed_result_see_its_values(tmp_path_factory, server, plugin_distributions):
    """An after_execution hook that reads the rows (t_pipeline masks them) gets decoded values, and
    what it returns is what the client sees."""
    host, port, _, _ = server
    p = Proxyd(tmp_path_factory.mktemp("relay-hooks"), f"""
        mysql_servers = ( {{ address = "{host}"; port = {port}; hostgroup = 1 }} )
        mysql_users = ( {{ username = "pxt_app"; password = "app-pw"; default_hostgroup = 1;
                          default_schema = "{DB}" }} )
        """, plugins=("t_pipeline",))
    p.start()
    try:
        conn = connect(p)
        assert q(conn, "SELECT 'mask_me', 42, NULL") == [("***", "***", "***")]
        assert q(conn, f"{SEQ_300} SELECT COUNT(*), MAX(n) FROM s") == [(300, 300)]  # untouched: relayed
        conn.close()
    finally:
        p.stop()
