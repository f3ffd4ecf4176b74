"""The SQL port's callback fast path (proxyd/wire/fast_path.py) against a real MariaDB.

Plain statements on a mysql-backend session are answered from the transports' callbacks; everything
else goes to the coroutine path. These tests check that both interleave correctly on one connection
(pipelined commands keep their order), that stats and diagnostics are kept as on the coroutine path,
and that KILL, a client leaving mid-statement and a backend connection lost mid-statement all end
cleanly. ``Queries_fast_path`` in stats_mysql_global counts statements answered on the fast path.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

import mysql.connector
import pymysql
import pytest

from tests.conftest import Proxyd
from tests.plugin_support import plugin_distributions  # noqa: F401  (the fixture: t_query_hooks)
from tests.test_mysql_backend import _admin_conn, app_database, backend_cnf

DB = "pxt_fast"
USER, PASSWORD = "pxt_fast_app", "fast-pw"


@pytest.fixture(scope="module")
def server():
    yield from app_database(DB, USER, PASSWORD, f"CREATE TABLE {DB}.t (id INT PRIMARY KEY, v VARCHAR(32)) ENGINE=InnoDB",
                            f"INSERT INTO {DB}.t VALUES (1, 'one'), (2, 'two'), (3, 'three')")


@pytest.fixture(scope="module")
def px(tmp_path_factory, server):
    p = Proxyd(tmp_path_factory.mktemp("fastpath"), backend_cnf(server, USER, PASSWORD, DB))
    p.start()
    yield p
    p.stop()


def connect(px, **kw) -> pymysql.connections.Connection:
    kw.setdefault("autocommit", True)
    return pymysql.connect(host="127.0.0.1", port=px.sql_port, user=USER, password=PASSWORD, **kw)


def q(conn, sql, args=None) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


def fast_count(px) -> int:
    rows = px.query("SELECT Variable_Value FROM stats_mysql_global WHERE Variable_Name = 'Queries_fast_path'")
    return int(rows[0][0]) if rows else 0


def pool_used(px) -> int:
    return int(px.query("SELECT ConnUsed FROM stats_mysql_connection_pool WHERE hostgroup = '1'")[0][0])


def wait_for(check, what: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def session_running(px, text: str) -> int:
    found: list[int] = []

    def check() -> bool:
        rows = px.query(f"SELECT SessionID FROM stats_mysql_processlist WHERE info = '{text}'")
        found[:] = [int(r[0]) for r in rows]
        return bool(found)
    wait_for(check, f"'{text}' in the processlist")
    return found[0]


def com_query(sql: str) -> bytes:
    payload = b"\x03" + sql.encode()
    return struct.pack("<I", len(payload))[:3] + b"\x00" + payload


# -- the common case --------------------------------------------------------------------------------
def test_plain_statements_take_the_fast_path_with_stats(px):
    with connect(px) as c:
        q(c, "SELECT v FROM t WHERE id = 1")  # the first statement opens a backend connection (coroutine)
        before = fast_count(px)
        digest_before = px.query("SELECT COALESCE(SUM(count_star), 0) FROM stats_mysql_query_digest "
                                 "WHERE digest_text = 'SELECT v FROM t WHERE id = ?'")[0][0]
        for i in (1, 2, 3, 1, 2):
            assert q(c, f"SELECT v FROM t WHERE id = {i}") == [({1: "one", 2: "two", 3: "three"}[i],)]
        assert fast_count(px) - before == 5
        digest_after = px.query("SELECT count_star, sum_rows_sent FROM stats_mysql_query_digest "
                                "WHERE digest_text = 'SELECT v FROM t WHERE id = ?'")
        assert int(digest_after[0][0]) == int(digest_before) + 5 and int(digest_after[0][1]) >= 5
        with c.cursor() as cur:  # an OK reply: affected rows travel
            assert cur.execute("UPDATE t SET v = v WHERE id IN (1, 2)") == 0
            assert cur.execute("UPDATE t SET v = CONCAT(v, '') WHERE id > 0") == 0
        assert fast_count(px) - before == 7


def test_pipelined_commands_keep_their_order(px):
    """Several commands in one write, alternating fast-path and coroutine-path ones: replies in order."""
    with connect(px) as c:
        q(c, "SELECT 1")
        statements = ["SELECT 1", "SELECT 2", "SET @v = 7", "SELECT @v", "SHOW COUNT(*) WARNINGS",
                      "SELECT v FROM t WHERE id = 3", "SELECT * FROM no_such_table", "SELECT 5"]
        c._sock.sendall(b"".join(com_query(s) for s in statements))
        got = []
        for _ in statements:
            c._next_seq_id = 1
            try:
                c._read_query_result()
                got.append(list(c._result.rows or ()))
            except pymysql.MySQLError as exc:
                got.append(exc.args[0])
        assert got == [[(1,)], [(2,)], [], [(7,)], [(0,)], [("three",)], 1146, [(5,)]]
        assert q(c, "SELECT 6") == [(6,)]  # still in sync


def test_errors_warnings_and_large_results(px):
    with connect(px) as c:
        q(c, "SELECT 1")
        with pytest.raises(pymysql.MySQLError) as info:
            q(c, "SELEC 1")
        assert info.value.args[0] == 1064
        assert q(c, "SHOW WARNINGS")[0][:2] == ("Error", 1064)
        with c.cursor() as cur:
            cur.execute("SELECT CAST('12abc' AS SIGNED)")
            assert cur.fetchall() == ((12,),)
            assert cur._result.warning_count == 1
        assert [(r[0], r[1]) for r in q(c, "SHOW WARNINGS")] == [("Warning", 1292)]
        big = q(c, "SELECT REPEAT('x', 200000), 2")  # > 64 KB: finished by the coroutine reader
        assert big == [("x" * 200000, 2)]
        assert q(c, "SELECT 3") == [(3,)]


def test_transactions_pin_and_roll_back(px):
    with connect(px) as c, connect(px) as other:
        q(c, "BEGIN")
        q(c, "UPDATE t SET v = 'changed' WHERE id = 2")
        assert q(c, "SELECT v FROM t WHERE id = 2") == [("changed",)]  # same connection: sees its change
        assert q(other, "SELECT v FROM t WHERE id = 2") == [("two",)]
        q(c, "ROLLBACK")
        assert q(c, "SELECT v FROM t WHERE id = 2") == [("two",)]


def test_multi_statements_and_prepared_statements(px):
    with connect(px, client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS) as c:
        with c.cursor() as cur:
            cur.execute("SELECT 1; SELECT 2")
            assert cur.fetchall() == ((1,),)
            assert cur.nextset() and cur.fetchall() == ((2,),)
        assert q(c, "SELECT 'a;b'") == [("a;b",)]
    cnx = mysql.connector.connect(host="127.0.0.1", port=px.sql_port, user=USER, password=PASSWORD, database=DB,
                                  autocommit=True, use_pure=True)
    try:
        cur = cnx.cursor(prepared=True)
        cur.execute("SELECT v FROM t WHERE id = ?", (1,))
        assert cur.fetchall() == [("one",)]
        before = fast_count(px)
        for i, v in ((2, "two"), (3, "three"), (1, "one")):
            cur.execute("SELECT v FROM t WHERE id = ?", (i,))
            assert cur.fetchall() == [(v,)]
        cur.execute("SELECT v FROM t WHERE v = ?", ("one' OR '1'='1",))
        assert cur.fetchall() == []  # bound as a value, never pasted into the SQL
        assert fast_count(px) - before == 4
    finally:
        cnx.close()


# -- interruptions ----------------------------------------------------------------------------------
def _sleep_in_thread(px, conn, sql: str) -> tuple[threading.Thread, list, int]:
    """Run ``sql`` on ``conn`` in a thread until proxyd shows it running: (thread, outcome, session
    id); the outcome gets the rows or the error code."""
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(q(conn, sql))
        except pymysql.MySQLError as exc:
            outcome.append(exc.args[0])
    t = threading.Thread(target=run)
    t.start()
    return t, outcome, session_running(px, sql)


def test_kill_query_interrupts_a_fast_path_statement(px):
    victim = connect(px)
    q(victim, "SELECT 1")
    t, outcome, sid = _sleep_in_thread(px, victim, "SELECT SLEEP(30)")
    with connect(px) as killer:
        q(killer, f"KILL QUERY {sid}")
    t.join(10)
    assert not t.is_alive() and outcome == [1317]
    assert q(victim, "SELECT 2") == [(2,)]  # the connection goes on
    q(victim, "SELECT 1")
    with connect(px) as killer:  # KILL QUERY with nothing running changes nothing
        q(killer, f"KILL QUERY {sid}")
    assert q(victim, "SELECT 3") == [(3,)]
    victim.close()


def test_kill_connection_during_a_fast_path_statement(px):
    victim = connect(px)
    q(victim, "SELECT 1")
    t, outcome, sid = _sleep_in_thread(px, victim, "SELECT SLEEP(31)")
    with connect(px) as killer:
        q(killer, f"KILL {sid}")
    t.join(10)
    assert not t.is_alive() and outcome and outcome[0] != [(0,)]
    wait_for(lambda: not px.query(f"SELECT 1 FROM stats_mysql_processlist WHERE SessionID = {sid}"),
             "the killed session to go")
    with connect(px) as c:
        assert q(c, "SELECT 1") == [(1,)]


def test_client_leaving_mid_statement_frees_the_backend(px, server):
    c = connect(px)
    q(c, "SELECT 1")
    c._sock.sendall(com_query("SELECT SLEEP(32)"))
    session_running(px, "SELECT SLEEP(32)")
    c._sock.shutdown(socket.SHUT_RDWR)  # (close() alone keeps the fd: PyMySQL's reader holds it)
    c._sock.close()
    wait_for(lambda: pool_used(px) == 0, "the backend connection to be dropped")
    root = _admin_conn(server)
    try:  # and the server was told to stop the statement
        wait_for(lambda: not q(root, "SELECT id FROM information_schema.processlist WHERE info = 'SELECT SLEEP(32)'"),
                 "SELECT SLEEP(32) to stop on the server")
    finally:
        root.close()
    with connect(px) as d:
        assert q(d, "SELECT 2") == [(2,)]


def test_backend_connection_lost_mid_statement(px, server):
    with connect(px) as c:
        q(c, "SELECT 1")
        t, outcome, _ = _sleep_in_thread(px, c, "SELECT SLEEP(33)")
        root = _admin_conn(server)
        try:
            found: list = []
            wait_for(lambda: bool(found.extend(q(root, "SELECT id FROM information_schema.processlist "
                                                       "WHERE info = 'SELECT SLEEP(33)'")) or found),
                     "the statement on the server")
            q(root, f"KILL {int(found[0][0])}")  # the server drops our backend connection
        finally:
            root.close()
        t.join(10)
        assert not t.is_alive() and outcome and isinstance(outcome[0], int) and outcome[0] in (1927, 2013, 2006)
        assert q(c, "SELECT 4") == [(4,)]  # next statement: another backend connection


# -- prepared statements over the raw protocol: the parameter block passes through --------------------
def _send(sock, payload: bytes) -> None:
    sock.sendall(struct.pack("<I", len(payload))[:3] + b"\x00" + payload)


def _packet(rfile) -> bytes:
    head = rfile.read(4)
    return rfile.read(head[0] | head[1] << 8 | head[2] << 16)


def _prepare(c, sql: bytes) -> tuple[int, int, int]:
    """COM_STMT_PREPARE on a PyMySQL connection's socket: (statement id, columns, parameters), with
    the definition packets and their EOFs read past."""
    _send(c._sock, b"\x16" + sql)
    ok = _packet(c._rfile)
    assert ok[0] == 0, ok
    stmt_id, ncols, nparams = int.from_bytes(ok[1:5], "little"), ok[5] | ok[6] << 8, ok[7] | ok[8] << 8
    for _ in range(nparams + (1 if nparams else 0) + ncols + (1 if ncols else 0)):
        _packet(c._rfile)
    return stmt_id, ncols, nparams


def _execute(c, stmt_id: int, block: bytes) -> list[bytes]:
    """COM_STMT_EXECUTE; the reply's packets up to the end of the rows (or the OK / ERR)."""
    _send(c._sock, b"\x17" + stmt_id.to_bytes(4, "little") + b"\x00\x01\x00\x00\x00" + block)
    first = _packet(c._rfile)
    if first[0] in (0x00, 0xFF):
        return [first]
    out = [first]
    eofs = 0
    while eofs < 2:  # column definitions, EOF, rows, EOF (the client did not ask for DEPRECATE_EOF)
        pkt = _packet(c._rfile)
        out.append(pkt)
        if pkt[0] == 0xFE and len(pkt) < 9:
            eofs += 1
    return out


def test_prepared_parameters_pass_through_with_and_without_types(px):
    with connect(px) as c:
        q(c, "SELECT 1")
        stmt_id, ncols, nparams = _prepare(c, b"SELECT ?, ?, ?, ?, CONCAT(?, '!')")
        assert (ncols, nparams) == (5, 5)
        types = bytes([8, 0, 8, 0x80, 5, 0, 6, 0, 253, 0])  # LONGLONG, LONGLONG UNSIGNED, DOUBLE, NULL, VAR_STRING

        def block(bound: bool, signed: int, unsigned: int, double: float, text: str) -> bytes:
            raw = text.encode()
            return (bytes([0b01000]) + (b"\x01" + types if bound else b"\x00") + struct.pack("<q", signed)
                    + struct.pack("<Q", unsigned) + struct.pack("<d", double) + bytes([len(raw)]) + raw)

        before = fast_count(px)
        for bound, values in ((True, (-5, 2**63 + 1, 1.5, "héllo")), (False, (7, 3, -0.25, "naïve ' OR 1=1")),
                              (False, (0, 0, 0.0, ""))):
            reply = _execute(c, stmt_id, block(bound, *values))
            row = reply[-2]  # the binary row before the final EOF
            assert row[0] == 0 and row[1] == 0b100000  # NULL bitmap (offset 2): the 4th column is NULL
            signed, unsigned, double = struct.unpack_from("<qQd", row, 2)
            text = row[27:27 + row[26]].decode()
            assert (signed, unsigned, double, text) == (*values[:3], values[3] + "!")
        assert fast_count(px) - before == 3
        assert q(c, "SELECT 2") == [(2,)]  # in sync afterwards


@pytest.mark.usefixtures("plugin_distributions")
def test_pipeline_hooks_and_plain_statement_interest(tmp_path, server):
    """A plugin with pipeline hooks sees every statement (no fast path) unless it said it does not
    want plain ones now (services.want_plain_statements): the rewriter with no rule does not; with a
    rule loaded it does again; a plugin that says nothing (t_query_hooks) always does."""
    cnf = backend_cnf(server, USER, PASSWORD, DB)

    def questions(p: Proxyd) -> int:
        return int(p.query("SELECT Variable_Value FROM stats_mysql_global WHERE Variable_Name = 'Questions'")[0][0])

    (tmp_path / "rewriter").mkdir()
    (tmp_path / "hooks").mkdir()
    p = Proxyd(tmp_path / "rewriter", cnf, plugins=("rewriter",))
    p.start()
    try:
        with connect(p) as c:
            q(c, "SELECT 1")
            for i in (1, 2, 3):  # no rule: the rewriter does not want plain statements
                assert q(c, f"SELECT id FROM t WHERE id = {i}") == [(i,)]
            assert fast_count(p) >= 3
            p.query("INSERT INTO query_rewrite_rules (id, pattern, pattern_database, replacement) "
                    f"VALUES (1, 'SELECT id FROM t WHERE id = ?', '{DB}', 'SELECT id + 100 FROM t WHERE id = ?')")
            p.query("LOAD QUERY REWRITE RULES TO RUNTIME")
            before = fast_count(p)
            assert q(c, "SELECT id FROM t WHERE id = 2") == [(102,)]  # the rule applies: the hook saw it
            assert q(c, "SHOW WARNINGS")[0][1] == 1105
            assert fast_count(p) == before
            p.query("DELETE FROM query_rewrite_rules")
            p.query("LOAD QUERY REWRITE RULES TO RUNTIME")
            assert q(c, "SELECT id FROM t WHERE id = 2") == [(2,)]
            assert fast_count(p) == before + 1
    finally:
        p.stop()
    (tmp_path / "filters").mkdir()
    p = Proxyd(tmp_path / "filters", cnf, plugins=("filters",))
    p.start()
    try:
        with connect(p) as c:
            q(c, "SELECT 1")
            before = fast_count(p)
            assert q(c, "SELECT id FROM t WHERE id = 3") == [(3,)]  # no filter: not wanted
            assert fast_count(p) == before + 1
            p.query("CREATE FILTER no_t3 WITH_PATTERN (query_regex='id = 3') EXECUTE (ACTION='FAIL')")
            with pytest.raises(pymysql.MySQLError) as err:  # a live filter: the hooks see plain statements
                q(c, "SELECT id FROM t WHERE id = 3")
            assert err.value.args[0] == 1105 and "no_t3" in err.value.args[1]
            assert q(c, "SELECT id FROM t WHERE id = 2") == [(2,)]
            assert fast_count(p) == before + 1
            p.query("DROP FILTER no_t3")
            assert q(c, "SELECT id FROM t WHERE id = 3") == [(3,)]
            assert fast_count(p) == before + 2
    finally:
        p.stop()
    p = Proxyd(tmp_path / "hooks", cnf, plugins=("t_query_hooks",))
    p.start()
    try:
        with connect(p) as c:
            for i in (1, 2, 3):
                assert q(c, f"SELECT id FROM t WHERE id = {i}") == [(i,)]
        assert fast_count(p) == 0
        assert questions(p) >= 3
    finally:
        p.stop()
