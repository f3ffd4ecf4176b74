"""The rewriter plugin over the SQL port: every acceptance example of spec/query-rewrite.md §B.10.

Each test runs twice: against the embedded backend and through a real MariaDB (skipped, with the
reason, when ``PROXYD_TEST_MARIADB`` names none and 127.0.0.1:3307 does not answer). What reached
the backend is read from the example plugin ``statement_log`` (``stats_statement_log``); results and
affected rows come from the backend itself. Schemas carry a ``pxr_`` prefix so the shared MariaDB
stays tidy; otherwise the rules are the spec's R1-R9.
"""

from __future__ import annotations

import mysql.connector
import pymysql
import pytest

from tests.conftest import Proxyd
from tests.plugin_support import plugin_distributions  # noqa: F401
from tests.test_mysql_backend import _admin_conn, _server

APPDB, SHOP, DB1 = "pxr_appdb", "pxr_shop", "pxr_db1"
USERS = {"pxr_app": "app-pw", "pxr_backup": "backup-pw"}

R1 = (1, "SELECT ?", None, "SELECT ? + 1")
R2 = (2, f"SELECT * FROM {APPDB}.users WHERE id = ?", None, f"SELECT * FROM {APPDB}.users WHERE user_id = ?")
R3 = (3, "SELECT * FROM users WHERE id = ?", APPDB, "SELECT * FROM users WHERE user_id = ?")
R4 = (4, "SELECT * FROM t WHERE a = 1 AND b = ?", SHOP, "SELECT * FROM t WHERE a = 1 AND b = ? LIMIT 10")
R5 = (5, f"DELETE FROM {DB1}.t1 WHERE col = ?", None, f"UPDATE {DB1}.t1 SET col = NULL WHERE col = ?")
R6 = (6, "SELECT ?, ?", None, "SELECT ?")
R7 = (7, "SELECT ?, 3", None, "SELECT ?, 30")
R8 = (8, "SELECT ?", None, "SELECT ?, ?")
R9 = (9, "SELEC * FROM t", None, "SELECT 1")


# -- fixtures ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module", params=["embedded", "mariadb"])
def px(request, tmp_path_factory, plugin_distributions):  # noqa: F811
    if request.param == "embedded":
        servers, hostgroup = "", 0
    else:
        srv = _server()
        if srv is None:
            pytest.skip("no MariaDB/MySQL server: set PROXYD_TEST_MARIADB=host:port:user:password "
                        "(or run one on 127.0.0.1:3307, root without password)")
        _prepare_mariadb(srv)
        servers, hostgroup = f', {{ address = "{srv[0]}"; port = {srv[1]}; hostgroup = 1 }}', 1
    users = ", ".join(f'{{ username = "{u}"; password = "{p}"; default_hostgroup = {hostgroup} }}'
                      for u, p in USERS.items())
    p = Proxyd(tmp_path_factory.mktemp(f"rewriter_{request.param}"), f"""
        mysql_servers = ( {{ address = "embedded"; port = 0; hostgroup = 0 }}{servers} )
        mysql_users = ( {users} )
        """, plugins=("rewriter", "statement_log"))
    p.start()
    with connect(p) as c:
        for sql in _fixture_sql():
            q(c, sql)
    yield p
    p.stop()
    if request.param == "mariadb":
        _drop_mariadb(_server())


def _fixture_sql() -> list[str]:
    return [
        f"CREATE DATABASE {APPDB}", f"CREATE DATABASE {SHOP}", f"CREATE DATABASE {DB1}",
        f"CREATE TABLE {APPDB}.users (id INT, user_id INT, name VARCHAR(20))",
        f"INSERT INTO {APPDB}.users VALUES (42, 7, 'by id'), (7, 42, 'by user_id')",
        f"CREATE TABLE {SHOP}.t (a INT, b VARCHAR(10))",
        f"INSERT INTO {SHOP}.t VALUES " + ", ".join(["(1, 'x')"] * 12),
        f"CREATE TABLE {DB1}.t1 (col VARCHAR(20))",
    ]


def _prepare_mariadb(srv) -> None:
    conn = _admin_conn(srv)
    with conn.cursor() as cur:
        for db in (APPDB, SHOP, DB1):
            cur.execute(f"DROP DATABASE IF EXISTS {db}")
        for user, password in USERS.items():
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
            cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
            cur.execute(f"GRANT ALL ON `pxr\\_%`.* TO '{user}'@'%'")
    conn.close()


def _drop_mariadb(srv) -> None:
    conn = _admin_conn(srv)
    with conn.cursor() as cur:
        for db in (APPDB, SHOP, DB1):
            cur.execute(f"DROP DATABASE IF EXISTS {db}")
        for user in USERS:
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
    conn.close()


@pytest.fixture
def adm(px):
    with px.admin() as a:
        q(a, "UPDATE global_variables SET variable_value = 'true' WHERE variable_name = 'rewriter-enabled'")
        q(a, "UPDATE global_variables SET variable_value = '' WHERE variable_name = 'rewriter-skip_users'")
        q(a, "LOAD REWRITER VARIABLES TO RUNTIME")
        yield a


def connect(px, user: str = "pxr_app", schema: str | None = None) -> pymysql.connections.Connection:
    return pymysql.connect(host="127.0.0.1", port=px.sql_port, user=user, password=USERS[user],
                           database=schema, autocommit=True)


def q(conn, sql: str, args=None) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


def warnings_of(conn) -> int:
    return conn._result.warning_count  # PyMySQL keeps the OK/EOF packet's warning count there


def load(adm, *rules: tuple, enabled: dict[int, str] | None = None) -> None:
    """Make exactly ``rules`` the memory rows and load them to runtime."""
    q(adm, "DELETE FROM query_rewrite_rules")
    for rid, pattern, db, replacement in rules:
        q(adm, "INSERT INTO query_rewrite_rules (id, pattern, pattern_database, replacement, enabled) "
               "VALUES (%s, %s, %s, %s, %s)", (rid, pattern, db, replacement, (enabled or {}).get(rid, "YES")))
    q(adm, "LOAD QUERY REWRITE RULES TO RUNTIME")


def sent(adm, conn) -> str:
    """The text the backend got for the last statement (``conn``'s: one client talks at a time)."""
    return q(adm, "SELECT sent_sql FROM stats_statement_log ORDER BY seq DESC LIMIT 1")[0][0]


def stat(adm, name: str) -> str:
    return q(adm, f"SELECT Variable_Value FROM stats_query_rewrite WHERE Variable_Name = '{name}'")[0][0]


def note(before: str, after: str) -> tuple:
    return ("Note", 1105, f"Query '{before}' rewritten to '{after}' by a query rewrite plugin")


# -- 1-3: R1 ---------------------------------------------------------------------------------------------
def test_basic_rewrite_carries_the_note(px, adm):
    load(adm, R1)
    with connect(px) as c:
        assert q(c, "SELECT 10") == [(11,)]
        assert warnings_of(c) == 1
        assert sent(adm, c) == "SELECT 10 + 1"
        assert q(c, "SHOW WARNINGS") == [note("SELECT 10", "SELECT 10 + 1")]


def test_statement_without_literal_is_not_rewritten(px, adm):
    load(adm, R1)
    with connect(px) as c:
        q(c, "SELECT 10")  # leaves a Note behind that the next statement must clear
        q(c, "SELECT PI()")
        assert warnings_of(c) == 0
        assert sent(adm, c) == "SELECT PI()"
        assert q(c, "SHOW WARNINGS") == []


def test_case_spacing_and_comments_do_not_matter(px, adm):
    load(adm, R1)
    with connect(px) as c:
        assert q(c, "select   10 /* c */") == [(11,)]
        assert sent(adm, c) == "SELECT 10 + 1"  # the replacement verbatim: the comment is not carried over
        assert q(c, "SHOW WARNINGS") == [note("select   10 /* c */", "SELECT 10 + 1")]


# -- 4-5: table names ----------------------------------------------------------------------------------
def test_qualified_name_matches_in_any_schema(px, adm):
    load(adm, R2)
    for schema in (None, SHOP):
        with connect(px, schema=schema) as c:
            assert q(c, f"SELECT * FROM {APPDB}.users WHERE id=42") == [(7, 42, "by user_id")]
            assert sent(adm, c) == f"SELECT * FROM {APPDB}.users WHERE user_id = 42"
            q(c, f"SELECT * FROM {APPDB}.users WHERE ID = 42")
            assert sent(adm, c) == f"SELECT * FROM {APPDB}.users WHERE user_id = 42"


def test_pattern_database_binds_unqualified_names(px, adm):
    load(adm, R3)
    with connect(px, schema=APPDB) as c:
        assert q(c, "SELECT * FROM users WHERE id = 42") == [(7, 42, "by user_id")]
        assert sent(adm, c) == "SELECT * FROM users WHERE user_id = 42"
        q(c, f"SELECT * FROM {APPDB}.users WHERE id = 42")  # qualified: needs R2
        assert sent(adm, c) == f"SELECT * FROM {APPDB}.users WHERE id = 42"
        assert warnings_of(c) == 0
    with connect(px, schema=SHOP) as c:
        with pytest.raises(pymysql.MySQLError):  # shop has no users table: it ran unchanged
            q(c, "SELECT * FROM users WHERE id = 42")
        assert sent(adm, c) == "SELECT * FROM users WHERE id = 42"


# -- 6-8: literals -------------------------------------------------------------------------------------
def test_concrete_pattern_literals_must_be_equal(px, adm):
    load(adm, R4)
    with connect(px, schema=SHOP) as c:
        assert len(q(c, "SELECT * FROM t WHERE a = 1 AND b = 'x'")) == 10
        assert sent(adm, c) == "SELECT * FROM t WHERE a = 1 AND b = 'x' LIMIT 10"
        assert q(c, "SELECT * FROM t WHERE a = 2 AND b = 'x'") == []
        assert sent(adm, c) == "SELECT * FROM t WHERE a = 2 AND b = 'x'"
        assert len(q(c, "SELECT * FROM t WHERE a = '1' AND b = 'x'")) == 12  # a string is not a number
        assert sent(adm, c) == "SELECT * FROM t WHERE a = '1' AND b = 'x'"


def test_delete_becomes_update(px, adm):
    load(adm, R5)
    with connect(px) as c:
        q(c, f"DELETE FROM {DB1}.t1")
        q(c, f"INSERT INTO {DB1}.t1 VALUES ('O''Brien'), ('other')")
        with c.cursor() as cur:
            affected = cur.execute(f"DELETE FROM {DB1}.t1 WHERE col = 'O''Brien'")
        assert affected == 1 and warnings_of(c) == 1
        assert sent(adm, c) == f"UPDATE {DB1}.t1 SET col = NULL WHERE col = 'O''Brien'"
        assert q(c, f"SELECT col FROM {DB1}.t1 ORDER BY col IS NULL") == [("other",), (None,)]


def test_insert_replace_and_update_patterns(px, adm):
    load(adm, (40, f"INSERT INTO {DB1}.t1 VALUES (?)", None, f"INSERT INTO {DB1}.t1 VALUES (LOWER(?))"),
         (41, f"REPLACE INTO {DB1}.t1 VALUES (?)", None, f"REPLACE INTO {DB1}.t1 VALUES (UPPER(?))"),
         (42, f"UPDATE {DB1}.t1 SET col = ? WHERE col = ?", None, f"UPDATE {DB1}.t1 SET col = ? WHERE col = LOWER(?)"))
    with connect(px) as c:
        q(c, f"DELETE FROM {DB1}.t1")
        q(c, f"INSERT INTO {DB1}.t1 VALUES ('MiXed')")
        assert sent(adm, c) == f"INSERT INTO {DB1}.t1 VALUES (LOWER('MiXed'))" and warnings_of(c) == 1
        q(c, f"replace into {DB1}.t1 values ('Other')")
        assert sent(adm, c) == f"REPLACE INTO {DB1}.t1 VALUES (UPPER('Other'))"
        with c.cursor() as cur:
            assert cur.execute(f"UPDATE {DB1}.t1 SET col = 'done' WHERE col = 'MIXED'") == 1
        assert sent(adm, c) == f"UPDATE {DB1}.t1 SET col = 'done' WHERE col = LOWER('MIXED')"
        assert sorted(q(c, f"SELECT col FROM {DB1}.t1")) == [("OTHER",), ("done",)]


def test_surplus_values_are_dropped(px, adm):
    load(adm, R6)
    with connect(px) as c:
        assert q(c, "SELECT 1, 2") == [(1,)]
        assert sent(adm, c) == "SELECT 1"


# -- 9-11: loading -------------------------------------------------------------------------------------
def test_a_load_with_bad_rules_changes_nothing(px, adm):
    load(adm, R1)
    before = q(adm, "SELECT * FROM runtime_query_rewrite_rules")
    for rid, pattern, db, replacement in (R8, R9, (12, "CREATE TABLE t (a INT)", None, "SELECT 1")):
        q(adm, "INSERT INTO query_rewrite_rules (id, pattern, pattern_database, replacement) VALUES (%s, %s, %s, %s)",
          (rid, pattern, db, replacement))
    with pytest.raises(pymysql.MySQLError) as info:
        q(adm, "LOAD QUERY REWRITE RULES TO RUNTIME")
    code, message = info.value.args
    assert code == 1644 and message.startswith("Loading of some rule(s) failed.")
    assert "3 of 4 enabled rules failed" in message
    messages = {int(k): v for k, v in q(adm, "SELECT id, message FROM query_rewrite_rules")}  # admin: text
    assert messages[1] is None
    assert messages[8] == "Replacement has more parameter markers than pattern."
    assert messages[9].startswith("Parse error in pattern: >>")
    assert messages[12] == "Statement type of pattern not supported."
    assert q(adm, "SELECT normalized_pattern, pattern_digest IS NOT NULL FROM query_rewrite_rules WHERE id = 1") \
        == [("select ?", "1")]
    assert q(adm, "SELECT * FROM runtime_query_rewrite_rules") == before
    assert stat(adm, "Rewriter_reload_error") == "ON"
    with connect(px) as c:
        assert q(c, "SELECT 10") == [(11,)]
    load(adm, R1)  # a good load clears the error
    assert stat(adm, "Rewriter_reload_error") == "OFF"


def test_sqlstate_of_a_failed_load(px, adm):
    load(adm, R1)
    q(adm, "INSERT INTO query_rewrite_rules (id, pattern, replacement) VALUES (20, 'SELECT ?', 'SELECT ?, ?')")
    try:
        q(adm, "LOAD QUERY REWRITE RULES TO RUNTIME")
    except pymysql.MySQLError:
        pass
    with adm.cursor() as cur:  # SHOW WARNINGS repeats the error with its code
        cur.execute("SHOW WARNINGS")
        assert cur.fetchall()[0][1] == "1644"


def test_disabled_rule(px, adm):
    reloads = int(stat(adm, "Rewriter_number_reloads"))
    load(adm, R1, enabled={1: "NO"})
    assert int(stat(adm, "Rewriter_number_reloads")) == reloads + 1
    with connect(px) as c:
        assert q(c, "SELECT 10") == [(10,)]
        assert warnings_of(c) == 0
    assert q(adm, "SELECT id, enabled FROM runtime_query_rewrite_rules") == [("1", "NO")]
    assert stat(adm, "Rewriter_number_loaded_rules") == "0"


def test_lowest_id_wins(px, adm):
    load(adm, (11, "SELECT ?", None, "SELECT ? + 2"), (10, "SELECT ?", None, "SELECT ? + 1"))
    with connect(px) as c:
        assert {q(c, "SELECT 5")[0][0] for _ in range(1000)} == {6}
        assert sent(adm, c) == "SELECT 5 + 1"


# -- 12-13: prepared statements -------------------------------------------------------------------------
def _connector(px, schema: str | None = None):
    return mysql.connector.connect(host="127.0.0.1", port=px.sql_port, user="pxr_app", password=USERS["pxr_app"],
                                   database=schema, autocommit=True, use_pure=True)


def test_prepared_statements_are_rewritten_at_prepare(px, adm):
    load(adm, R7)
    cnx = _connector(px)
    try:
        for text, params, warns in (("SELECT 3, 3", 0, 1), ("SELECT ?, 3", 1, 1), ("SELECT 3, ?", 1, 0),
                                    ("SELECT ?, ?", 2, 0)):
            ok = cnx.cmd_stmt_prepare(text.encode())
            assert (ok["num_params"], ok["warning_count"]) == (params, warns), text
            shown = cnx.cursor()
            shown.execute("SHOW WARNINGS")
            rewritten = {"SELECT 3, 3": "SELECT 3, 30", "SELECT ?, 3": "SELECT ?, 30"}.get(text)
            assert shown.fetchall() == ([note(text, rewritten)] if rewritten else [])
            cnx.cmd_stmt_close(ok["statement_id"])
        before = int(stat(adm, "Rewriter_number_rewritten_queries"))
        cur = cnx.cursor(prepared=True)
        for _ in range(2):
            cur.execute("SELECT ?, 3", (7,))
            assert cur.fetchall() == [(7, 30)]
            assert cur.warning_count == 0
        assert int(stat(adm, "Rewriter_number_rewritten_queries")) == before + 1
        cur.close()
    finally:
        cnx.close()


def test_prepared_parameter_map_keeps_the_clients_count(px, adm):
    load(adm, R6)
    cnx = _connector(px)
    try:
        ok = cnx.cmd_stmt_prepare(b"SELECT ?, ?")
        assert ok["num_params"] == 2 and ok["warning_count"] == 1
        cnx.cmd_stmt_close(ok["statement_id"])
        cur = cnx.cursor(prepared=True)
        cur.execute("SELECT ?, ?", (5, 6))
        assert cur.fetchall() == [(5,)]
        cur.execute("SELECT ?, ?", (8, 9))  # the same statement again: the map still applies
        assert cur.fetchall() == [(8,)]
        cur.close()
    finally:
        cnx.close()


# -- 14: skip list, enable switch, stats ---------------------------------------------------------------
def test_skip_users_and_the_enabled_switch(px, adm):
    load(adm, R1)
    q(adm, "SET rewriter-skip_users = 'pxr_backup'")
    q(adm, "LOAD REWRITER VARIABLES TO RUNTIME")
    with connect(px, "pxr_backup") as c:
        assert q(c, "SELECT 10") == [(10,)]
    with connect(px) as c:
        assert q(c, "SELECT 10") == [(11,)]
        q(adm, "SET rewriter-enabled = 'false'")
        q(adm, "LOAD REWRITER VARIABLES TO RUNTIME")
        assert q(c, "SELECT 10") == [(10,)] and warnings_of(c) == 0
        q(adm, "SET rewriter-enabled = 'true'")
        q(adm, "LOAD REWRITER VARIABLES TO RUNTIME")
        assert q(c, "SELECT 10") == [(11,)] and warnings_of(c) == 1
    with pytest.raises(pymysql.MySQLError) as info:
        q(adm, "SET rewriter-verbose = '7'")
    assert info.value.args[0] == 1231


def test_counters_and_rule_hits(px, adm):
    load(adm, (30, "SELECT ?", None, "SELECT ? + 1"))  # a new rule: its hits start at 0
    before = int(stat(adm, "Rewriter_number_rewritten_queries"))
    with connect(px) as c:
        q(c, "SELECT 10")
        q(c, "select   10 /* c */")
        q(c, "SELECT PI()")
    assert int(stat(adm, "Rewriter_number_rewritten_queries")) == before + 2
    assert q(adm, "SELECT id, hits, last_hit_at IS NOT NULL FROM stats_query_rewrite_rules") == [("30", "2", "1")]
    assert stat(adm, "Rewriter_number_loaded_rules") == "1"
    load(adm, (30, "SELECT ?", None, "SELECT ? + 1"))  # unchanged rule: hits kept
    assert q(adm, "SELECT hits FROM stats_query_rewrite_rules") == [("2",)]
    load(adm, (30, "SELECT ?", None, "SELECT ? + 3"))  # changed replacement: hits reset
    assert q(adm, "SELECT hits FROM stats_query_rewrite_rules") == [("0",)]


def test_rules_move_between_the_tiers(px, adm):
    load(adm, R1, R2)
    q(adm, "SAVE QUERY REWRITE RULES TO DISK")
    assert q(adm, "SELECT id FROM disk.query_rewrite_rules ORDER BY id") == [("1",), ("2",)]
    q(adm, "DELETE FROM query_rewrite_rules")
    q(adm, "LOAD QUERY REWRITE RULES FROM DISK")
    assert q(adm, "SELECT id, normalized_pattern FROM query_rewrite_rules ORDER BY id") == \
        [("1", "select ?"), ("2", f"select*from {APPDB}.users where id=?")]
    q(adm, "DELETE FROM query_rewrite_rules")
    q(adm, "SAVE QUERY REWRITE RULES FROM RUNTIME")  # runtime -> memory brings the rows back
    assert q(adm, "SELECT id FROM query_rewrite_rules ORDER BY id") == [("1",), ("2",)]
