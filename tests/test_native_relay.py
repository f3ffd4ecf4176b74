"""The C half of the SQL port's fast path (proxyd/wire/_native_relay.c).

Two kinds of checks: the C scanners on hand-made packets (what it accepts, what it leaves to the
Python code), and two daemons on the same MariaDB — one with the C relay, one started with
``PROXYD_NO_NATIVE=1`` — answering the same statements identically, with the counter
``Queries_fast_path_native`` proving which path answered. The fast path's other tests
(test_fast_path.py: KILL, clients and backends leaving mid-statement, pipelining, prepared parameter
blocks) run with the C half too whenever it is built.
"""

from __future__ import annotations

import struct

import pymysql
import pytest

from tests.conftest import Proxyd
from tests.test_fast_path import _execute, _packet, _prepare, _send
from tests.test_mysql_backend import app_database, backend_cnf

native = pytest.importorskip("proxyd.wire._native_relay", reason="the optional C extension is not built")

DB = "pxt_native"
USER, PASSWORD = "pxt_native_app", "native-pw"


def packet(seq: int, payload: bytes) -> bytes:
    return struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload


def column(name: str) -> bytes:
    def s(v: bytes) -> bytes:
        return bytes([len(v)]) + v
    return (s(b"def") + s(b"db") + s(b"t") + s(b"t") + s(name.encode()) + s(name.encode()) + b"\x0c"
            + struct.pack("<HIBHB", 33, 96, 253, 0, 0) + b"\x00\x00")


def eof(status: int = 2, warnings: int = 0) -> bytes:
    return b"\xfe" + struct.pack("<HH", warnings, status)


def ok(affected: int = 0, insert_id: int = 0, status: int = 2, warnings: int = 0, info: bytes = b"",
       header: bytes = b"\x00") -> bytes:
    return header + bytes([affected, insert_id]) + struct.pack("<HH", status, warnings) + info


def resultset(rows: list[bytes], deprecate_eof: bool, status: int = 2, warnings: int = 0) -> bytes:
    parts = [packet(1, b"\x01"), packet(2, column("c"))]
    seq = 3
    if not deprecate_eof:
        parts.append(packet(seq, eof()))
        seq += 1
    for r in rows:
        parts.append(packet(seq, bytes([len(r)]) + r))
        seq += 1
    parts.append(packet(seq, ok(status=status, warnings=warnings, header=b"\xfe") if deprecate_eof
                        else eof(status, warnings)))
    return b"".join(parts)


# -- the scanners, on hand-made packets ----------------------------------------------------------------
def test_scan_reply_accepts_small_plain_replies():
    reply = packet(1, ok(affected=3, info=b"Rows matched: 3"))
    assert native.scan_reply(reply, False) == ("ok", len(reply), 2, 3, 0, 2)
    for deprecate in (False, True):
        reply = resultset([b"a", b"bb", b"ccc"], deprecate)
        kind, end, status, affected, rows, next_seq = native.scan_reply(reply, deprecate)
        assert (kind, end, status, affected, rows) == ("rows", len(reply), 2, 0, 3)
        assert next_seq == (8 if not deprecate else 7)


def test_scan_reply_waits_for_the_rest_and_refuses_the_unusual():
    whole = resultset([b"x"] * 5, False)
    for cut in (0, 3, 4, 10, len(whole) - 1):
        assert native.scan_reply(whole[:cut], False) == 0  # not all there yet
    refused = {
        "insert id": packet(1, ok(insert_id=7)),
        "warnings": packet(1, ok(warnings=1)),
        "transaction open": packet(1, ok(status=3)),
        "autocommit off": packet(1, ok(status=0)),
        "more results": packet(1, ok(status=2 | 8)),
        "error": packet(1, b"\xff\x7a\x04#42S02Table 'x' doesn't exist"),
        "local infile": packet(1, b"\xfbfile.csv"),
        "wrong sequence": packet(2, ok()),
        "rows with warnings": resultset([b"x"], False, warnings=2),
        "rows in a transaction": resultset([b"x"], True, status=3),
        "error after rows": resultset([b"x"], False)[:-9] + packet(5, b"\xff\x01\x00#HY000boom"),
    }
    for what, reply in refused.items():
        assert native.scan_reply(reply, False) == -1, what


def test_plain_statement_is_conservative():
    for sql in ("SELECT c FROM sbtest1 WHERE id=5", "select 1", "Update t SET v = 'x' WHERE id = 1",
                "INSERT INTO t VALUES (1)", "DELETE FROM t", "REPLACE INTO t VALUES (2)", "SELECT user_id FROM t"):
        assert native.plain_statement(sql.encode()), sql
    for sql in ("SELECT @x", "SELECT 1; SELECT 2", "SELECT GET_LOCK('a', 1)", "select sql_calc_found_rows * from t",
                "SELECT LAST_INSERT_ID()", "SET autocommit=0", "BEGIN", "COMMIT", "SHOW WARNINGS", "KILL 5",
                " SELECT 1", "/* c */ SELECT 1", "SELECTX 1", "SELECT", "CREATE TEMPORARY TABLE t (a INT)",
                "USE db", "LOCK TABLES t READ", "CALL p()", "WITH a AS (SELECT 1) SELECT * FROM a"):
        assert not native.plain_statement(sql.encode()), sql


# -- two daemons on one MariaDB -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server():
    yield from app_database(DB, USER, PASSWORD)


def _daemon(tmp_path_factory, server, name: str, env: dict) -> Proxyd:
    p = Proxyd(tmp_path_factory.mktemp(name), backend_cnf(server, USER, PASSWORD, DB))
    p.start(env=env)
    return p


@pytest.fixture(scope="module")
def daemons(tmp_path_factory, server):
    c_half = _daemon(tmp_path_factory, server, "native", {})
    python = _daemon(tmp_path_factory, server, "python", {"PROXYD_NO_NATIVE": "1"})
    yield c_half, python
    c_half.stop()
    python.stop()


def native_count(px: Proxyd) -> int:
    rows = px.query("SELECT Variable_Value FROM stats_mysql_global WHERE Variable_Name = 'Queries_fast_path_native'")
    return int(rows[0][0]) if rows else 0


def connect(px: Proxyd, **kw) -> pymysql.connections.Connection:
    return pymysql.connect(host="127.0.0.1", port=px.sql_port, user=USER, password=PASSWORD, autocommit=True, **kw)


def run(conn, sql: str) -> tuple:
    """Everything a client sees of one statement."""
    with conn.cursor() as cur:
        try:
            n = cur.execute(sql)
        except pymysql.MySQLError as exc:
            return ("error", exc.args[0], str(exc.args[1]))
        rows = cur.fetchall()
        desc = [d[:2] for d in cur.description] if cur.description else None
        warnings = conn.warning_count if hasattr(conn, "warning_count") else None
        return (n, rows, desc, cur.lastrowid, conn.insert_id(), warnings)


STATEMENTS = [
    "SELECT v FROM t{n} WHERE id = 1",  # result set: the C relay
    "SELECT id, v, w FROM t{n} ORDER BY id",
    "SELECT id FROM t{n} WHERE id > 100",  # no rows
    "UPDATE t{n} SET w = w + 1 WHERE id <= 2",  # OK with affected rows and the server's info text
    "UPDATE t{n} SET w = w WHERE id = 1",  # matched, not changed
    "DELETE FROM t{n} WHERE id = 999",
    "INSERT INTO t{n} (id, v, w) VALUES (10, 'ten', 10)",  # OK without insert id: the C relay
    "INSERT INTO a{n} (v) VALUES ('auto')",  # an insert id: the Python path
    "SELECT CAST('12abc' AS SIGNED)",  # a warning: the Python path
    "SELECT * FROM missing_table",  # an error: the Python path
    "SELECT REPEAT('x', 70000)",  # larger than the C relay takes
    "SELECT v FROM t{n} WHERE v = 'it''s'",
    "REPLACE INTO t{n} (id, v, w) VALUES (10, 'TEN', 11)",
    "SELECT id, v, w FROM t{n} ORDER BY id",
]


def test_same_answers_with_and_without_the_c_relay(daemons):
    results = []
    for i, px in enumerate(daemons):
        with connect(px) as c:
            run(c, f"DROP TABLE IF EXISTS t{i}")
            run(c, f"DROP TABLE IF EXISTS a{i}")
            run(c, f"CREATE TABLE t{i} (id INT PRIMARY KEY, v VARCHAR(32), w INT)")
            run(c, f"CREATE TABLE a{i} (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(32))")
            run(c, f"INSERT INTO t{i} VALUES (1, 'one', 1), (2, 'two', 2), (3, 'it''s', 3)")
            before = native_count(px)
            results.append([run(c, sql.format(n=i)) for sql in STATEMENTS])
            results[-1].append(native_count(px) - before)
    with_c, without = results
    assert with_c[:-1] == without[:-1]
    # the C relay took the plain ones (8 of the 14; 2 reply types it leaves alone, 4 statements it does not send)
    assert with_c[-1] >= 8 and without[-1] == 0
    assert with_c[3][0] == 2 and with_c[7][3] >= 1 and with_c[9][0] == "error" and with_c[9][1] == 1146


def test_prepared_statements_through_the_c_relay(daemons):
    """mysql-connector negotiates query attributes (the Python path decodes those); the C relay's
    case is a client without them, as libmariadb (sysbench, the mariadb CLI) and PyMySQL."""
    for px in daemons:
        with connect(px) as c:
            run(c, "DROP TABLE IF EXISTS p")
            run(c, "CREATE TABLE p (id INT PRIMARY KEY, name VARCHAR(64), score DOUBLE, note TEXT)")
            run(c, "INSERT INTO p VALUES (1, 'alice', 1.5, NULL), (2, 'bob', -2.25, 'x'), (3, 'o''brien', 0, '')")
            stmt_id, ncols, _ = _prepare(c, b"SELECT id, name, note FROM p WHERE id = ? OR name = ? ORDER BY id")
            types = bytes([8, 0, 253, 0])  # LONGLONG, VAR_STRING

            def block(bound: bool, ident: int | None, name: str) -> bytes:
                raw = name.encode()
                nulls = 0b01 if ident is None else 0
                return (bytes([nulls]) + (b"\x01" + types if bound else b"\x00")
                        + (struct.pack("<q", ident) if ident is not None else b"") + bytes([len(raw)]) + raw)

            def rows(reply: list[bytes]) -> list[bytes]:
                return reply[1 + ncols + 1:-1]  # between the definitions' EOF and the final EOF

            assert len(rows(_execute(c, stmt_id, block(True, 1, "nobody")))) == 1  # binds the types
            before = native_count(px)
            seen = []
            for bound, ident, name in ((False, 2, "nobody"), (True, 0, "o'brien"), (False, 0, "x' OR '1'='1"),
                                       (False, None, "alice"), (False, 3, "bob")):
                seen.append([r[1:] for r in rows(_execute(c, stmt_id, block(bound, ident, name)))])
            assert [len(s) for s in seen] == [1, 1, 0, 1, 2]  # the injection attempt matches nothing
            assert b"o'brien" in seen[1][0] and b"alice" in seen[3][0]
            took = native_count(px) - before
            assert (took == 5) if px is daemons[0] else (took == 0)
            assert run(c, "SELECT COUNT(*) FROM p")[1] == ((3,),)  # in sync afterwards


def test_native_statements_keep_stats_and_processlist_quiet(daemons):
    px = daemons[0]
    with connect(px) as c:
        run(c, "DROP TABLE IF EXISTS s")
        run(c, "CREATE TABLE s (id INT PRIMARY KEY)")
        run(c, "INSERT INTO s VALUES (1), (2), (3)")
        before = native_count(px)
        for i in range(20):
            assert run(c, f"SELECT id FROM s WHERE id = {i % 3 + 1}")[1] == ((i % 3 + 1,),)
        assert native_count(px) - before == 20
        digest = px.query("SELECT count_star, sum_rows_sent FROM stats_mysql_query_digest "
                          f"WHERE digest_text = 'SELECT id FROM s WHERE id = ?' AND schemaname = '{DB}'")
        assert [tuple(int(v) for v in r) for r in digest] == [(20, 20)]
        # the session shows no statement in flight once answered, and SHOW WARNINGS has nothing stale
        assert run(c, "SHOW WARNINGS")[1] == ()
        rows = px.query(f"SELECT command FROM stats_mysql_processlist WHERE user = '{USER}'")
        assert rows and all(r[0] == "Sleep" for r in rows)


def test_native_stats_follow_resets_variables_and_schema(daemons):
    """The C relay's bookkeeping remembers where a statement shape's counts go (SqlFrontend.native_count):
    a stats reset, a variable that shapes the stats and a schema change must each start afresh."""
    px = daemons[0]
    text = "SELECT id FROM pxt_native.m WHERE id = ?"

    def counts() -> dict[tuple[str, str], int]:
        rows = px.query("SELECT schemaname, client_address, count_star FROM stats_mysql_query_digest "
                        f"WHERE digest_text = '{text}'")
        return {(r[0], r[1]): int(r[2]) for r in rows}

    with connect(px) as c:
        run(c, "DROP TABLE IF EXISTS m")
        run(c, "CREATE TABLE m (id INT PRIMARY KEY)")
        run(c, "INSERT INTO m VALUES (1), (2)")
        before = native_count(px)
        for i in range(5):
            run(c, f"SELECT id FROM pxt_native.m WHERE id = {i}")
        assert counts() == {(DB, ""): 5}
        px.query("SELECT COUNT(*) FROM stats_mysql_query_digest_reset")
        for i in range(3):
            run(c, f"SELECT id FROM pxt_native.m WHERE id = {i}")
        assert counts() == {(DB, ""): 3}  # counted in the new table, not in the entry the reset dropped
        px.query("UPDATE global_variables SET variable_value = 'true' "
                 "WHERE variable_name = 'mysql-query_digests_track_hostname'")
        px.query("LOAD MYSQL VARIABLES TO RUNTIME")
        try:
            for i in range(2):
                run(c, f"SELECT id FROM pxt_native.m WHERE id = {i}")
            assert counts() == {(DB, ""): 3, (DB, "127.0.0.1"): 2}
        finally:
            px.query("UPDATE global_variables SET variable_value = 'false' "
                     "WHERE variable_name = 'mysql-query_digests_track_hostname'")
            px.query("LOAD MYSQL VARIABLES TO RUNTIME")
        run(c, "USE information_schema")
        run(c, "SELECT id FROM pxt_native.m WHERE id = 1")
        assert counts() == {(DB, ""): 3, (DB, "127.0.0.1"): 2, ("information_schema", ""): 1}
        assert native_count(px) - before == 11


def _drain_resultset(rfile) -> None:
    """The rest of a text or binary result set after its column-count packet (no DEPRECATE_EOF)."""
    eofs = 0
    while eofs < 2:  # column definitions, EOF, rows, EOF
        pkt = _packet(rfile)
        if pkt[0] == 0xFE and len(pkt) < 9:
            eofs += 1


def test_malformed_commands_never_hurt_the_daemon(daemons):
    """Truncated COM_STMT_EXECUTE packets and COM_QUERY packets with junk on the C relay's path: each
    gets an answer (an error, or a result when the junk happens to be valid), the connection stays
    in sync, the daemon serves on."""
    import random

    px = daemons[0]
    rng = random.Random(5)
    with connect(px) as c:
        run(c, "DROP TABLE IF EXISTS z")
        run(c, "CREATE TABLE z (id INT PRIMARY KEY, v VARCHAR(8))")
        run(c, "INSERT INTO z VALUES (1, 'a')")
    errors: list[int] = []
    for round_ in range(40):
        with connect(px) as c:
            stmt_id, _, _ = _prepare(c, b"SELECT id, v FROM z WHERE id = ? AND v <> ?")
            values = bytes([0]) + b"\x01" + bytes([8, 0, 253, 0]) + struct.pack("<q", 1) + b"\x01b"
            body = b"\x17" + stmt_id.to_bytes(4, "little") + b"\x00\x01\x00\x00\x00" + values
            junk = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 12)))
            if round_ % 2:
                _send(c._sock, body[:rng.randrange(1, len(body))] + junk)
            else:
                _send(c._sock, b"\x03" + junk + b" SELECT 1")
            reply = _packet(c._rfile)
            if reply[0] == 0xFF:
                errors.append(int.from_bytes(reply[1:3], "little"))
            else:  # the junk happened to make a valid command: its result set
                assert reply[0] in (1, 2), reply
                _drain_resultset(c._rfile)
            assert run(c, "SELECT 7")[1] == ((7,),)  # still in sync
    assert len(errors) >= 20, errors  # most of them are errors: malformed packet, syntax
    with connect(px) as c:  # the daemon is fine
        assert run(c, "SELECT v FROM z WHERE id = 1")[1] == (("a",),)


def test_set_names_changes_how_the_client_text_is_read(daemons):
    """After SET NAMES latin1 the client's statements are latin1 bytes: they must reach the server as
    the same characters (the C relay steps aside: it forwards only utf-8 text unchanged);
    COM_RESET_CONNECTION goes back to the handshake's character set."""
    for px in daemons:
        with connect(px, charset="utf8mb4") as c:
            run(c, "DROP TABLE IF EXISTS cs")
            run(c, "CREATE TABLE cs (id INT PRIMARY KEY, v VARCHAR(16) CHARACTER SET utf8mb4)")
            run(c, "SET NAMES latin1")
            for i in (1, 2):  # twice: the second one may take a fast path
                _send(c._sock, b"\x03INSERT INTO cs VALUES (" + str(i).encode() + b", 'caf\xe9')")
                assert _packet(c._rfile)[0] == 0x00
            _send(c._sock, b"\x1f")  # COM_RESET_CONNECTION
            assert _packet(c._rfile)[0] == 0x00
            _send(c._sock, "INSERT INTO cs VALUES (3, 'café')".encode("utf-8").join([b"\x03", b""]))
            assert _packet(c._rfile)[0] == 0x00
            assert run(c, "SELECT id, HEX(v) FROM cs ORDER BY id")[1] == (
                (1, "636166C3A9"), (2, "636166C3A9"), (3, "636166C3A9"))


def test_a_call_returns_every_result(daemons):
    """A procedure with two result sets: the client gets both and the CALL's final OK, in text
    and in prepared statements, and the connection stays in sync."""
    px = daemons[0]
    with connect(px) as c:
        run(c, "DROP PROCEDURE IF EXISTS two_results")
        run(c, "CREATE PROCEDURE two_results(IN n INT) BEGIN SELECT n AS a; SELECT n + 1 AS b, 'x' AS c; END")
        with c.cursor() as cur:
            cur.execute("CALL two_results(5)")
            assert cur.fetchall() == ((5,),)
            assert cur.nextset() and cur.fetchall() == ((6, "x"),)
            assert cur.nextset() and cur.description is None  # the CALL's own OK
            assert not cur.nextset()
        assert run(c, "SELECT 9")[1] == ((9,),)
        # prepared (mysql-connector's prepared cursor cannot read a CALL's results even from a
        # server: the protocol by hand, as libmariadb speaks it)
        stmt_id, _, _ = _prepare(c, b"CALL two_results(?)")
        _send(c._sock, b"\x17" + stmt_id.to_bytes(4, "little") + b"\x00\x01\x00\x00\x00"
              + b"\x00\x01" + bytes([8, 0]) + struct.pack("<q", 7))
        results = []
        while True:
            first = _packet(c._rfile)
            if first[0] == 0x00:  # the CALL's OK: the last one
                status = struct.unpack_from("<H", first, 3)[0]
                assert not status & 0x08
                break
            columns = first[0]
            rows, eofs = [], 0
            while eofs < 2:
                pkt = _packet(c._rfile)
                if pkt[0] == 0xFE and len(pkt) < 9:
                    eofs += 1
                    status = struct.unpack_from("<H", pkt, 3)[0]
                elif eofs == 1:
                    rows.append(pkt)
            assert status & 0x08  # more results follow
            results.append((columns, len(rows)))
        assert results == [(1, 1), (2, 1)]
        assert run(c, "SELECT 10")[1] == ((10,),)
