"""The rewriter's configuration life: boot from the cnf and from disk, digest options, logging, reloads.

Embedded backend; one daemon for the module (restarted once, on purpose).
"""

from __future__ import annotations

import time

import pymysql
import pytest

from tests.conftest import Proxyd
from tests.plugin_support import plugin_distributions  # noqa: F401

CNF = """
    mysql_servers = ( { address = "embedded"; port = 0; hostgroup = 0 } )
    mysql_users = ( { username = "app"; password = "app"; default_hostgroup = 0 } )
    query_rewrite_rules = (
        { id = 1; pattern = "SELECT ?"; replacement = "SELECT ? + 1" },
        { id = 2; pattern = "SELECT ?, ?"; replacement = "SELECT ? * ?"; enabled = "NO" }
    )
    """


@pytest.fixture(scope="module")
def px(tmp_path_factory, plugin_distributions):  # noqa: F811
    p = Proxyd(tmp_path_factory.mktemp("rewriter_config"), CNF, plugins=("rewriter",))
    p.start()
    yield p
    p.stop()


def connect(p: Proxyd) -> pymysql.connections.Connection:
    return pymysql.connect(host="127.0.0.1", port=p.sql_port, user="app", password="app", autocommit=True)


def q(conn, sql: str, args=None) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


def test_first_boot_loads_the_cnf_rules_and_fills_the_computed_columns(px):
    # the boot-time load runs before the plugin's start(): its write-back must still land in memory
    assert px.query("SELECT id, enabled, message, normalized_pattern, pattern_digest LIKE '0x%' "
                    "FROM query_rewrite_rules ORDER BY id") == [("1", "YES", None, "select ?", "1"),
                                                                  ("2", "NO", None, None, None)]
    with connect(px) as c:
        assert q(c, "SELECT 41") == [(42,)]
        assert q(c, "SELECT 6, 7") == [(6, 7)]  # rule 2 is disabled


def test_rules_are_keyed_again_when_digest_options_change(px):
    with px.admin() as adm, connect(px) as c:
        try:
            for var in ("keep_comment", "lowercase"):
                q(adm, f"SET mysql-query_digests_{var} = 'true'")
            q(adm, "LOAD MYSQL VARIABLES TO RUNTIME")
            assert q(c, "select 1 /* kept by keep_comment, ignored by the key */") == [(2,)]
            assert q(c, "SELECT 5") == [(6,)]
        finally:
            for var in ("keep_comment", "lowercase"):
                q(adm, f"SET mysql-query_digests_{var} = 'false'")
            q(adm, "LOAD MYSQL VARIABLES TO RUNTIME")
        assert q(c, "SELECT 5") == [(6,)]


def test_pattern_too_long_for_an_exact_digest(px):
    long_pattern = "SELECT " + " + ".join(f"col{i}" for i in range(40)) + " FROM t WHERE a = ?"
    with px.admin() as adm:
        q(adm, "INSERT INTO query_rewrite_rules (id, pattern, replacement) VALUES (3, %s, 'SELECT 1')",
          (long_pattern,))
        q(adm, "SET mysql-query_digests_max_digest_length = 64")
        q(adm, "LOAD MYSQL VARIABLES TO RUNTIME")
        try:
            with pytest.raises(pymysql.MySQLError) as info:
                q(adm, "LOAD QUERY REWRITE RULES TO RUNTIME")
            assert info.value.args[0] == 1644 and "1 of 2 enabled rules failed" in info.value.args[1]
            assert q(adm, "SELECT message FROM query_rewrite_rules WHERE id = 3") == \
                [("Unable to get a digest for pattern.",)]
        finally:
            q(adm, "DELETE FROM query_rewrite_rules WHERE id = 3")
            q(adm, "SET mysql-query_digests_max_digest_length = 2048")
            q(adm, "LOAD MYSQL VARIABLES TO RUNTIME")
            q(adm, "LOAD QUERY REWRITE RULES TO RUNTIME")


def test_verbose_2_logs_why_a_key_hit_was_not_rewritten(px):
    with px.admin() as adm, connect(px) as c:
        q(adm, "INSERT INTO query_rewrite_rules (id, pattern, replacement) VALUES (4, 'SELECT ?, 3', 'SELECT ?, 30')")
        q(adm, "LOAD QUERY REWRITE RULES TO RUNTIME")
        q(adm, "SET rewriter-verbose = 2")
        q(adm, "LOAD REWRITER VARIABLES TO RUNTIME")
        try:
            assert q(c, "SELECT 9, 4") == [(9, 4)]
            deadline = time.monotonic() + 5
            while "rule 4 matched the statement's key but not: literal 2 is 4, the pattern wants 3" not in px.log():
                assert time.monotonic() < deadline, px.log()[-2000:]
                time.sleep(0.05)
        finally:
            q(adm, "SET rewriter-verbose = 1")
            q(adm, "LOAD REWRITER VARIABLES TO RUNTIME")
            q(adm, "DELETE FROM query_rewrite_rules WHERE id = 4")
            q(adm, "LOAD QUERY REWRITE RULES TO RUNTIME")


def test_multi_statement_packet_rewrites_each_statement(px):
    c = pymysql.connect(host="127.0.0.1", port=px.sql_port, user="app", password="app", autocommit=True,
                        client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS)
    with c, c.cursor() as cur:
        cur.execute("SELECT 1; SELECT PI() > 3; SELECT 3")
        results = [cur.fetchall()]
        while cur.nextset():
            results.append(cur.fetchall())
        assert results == [((2,),), ((1,),), ((4,),)]


def test_bad_row_values_are_refused_by_the_table(px):
    with px.admin() as adm:
        with pytest.raises(pymysql.MySQLError) as info:
            q(adm, "INSERT INTO query_rewrite_rules (pattern, replacement, enabled) VALUES ('SELECT ?', 'SELECT 1', 'y')")
        assert info.value.args[0] == 3819  # CHECK (enabled IN ('YES','NO'))
        with pytest.raises(pymysql.MySQLError) as info:
            q(adm, "INSERT INTO query_rewrite_rules (pattern) VALUES ('SELECT ?')")
        assert info.value.args[0] == 1048


def test_reload_plugin_and_restart_keep_the_rules(px):
    with px.admin() as adm:
        q(adm, "SAVE QUERY REWRITE RULES TO DISK")
    with connect(px) as c:
        px.query("RELOAD PLUGIN rewriter")  # raises if the reload fails
        assert q(c, "SELECT 1") == [(2,)]  # the same client connection, after the reload
    px.restart()
    with connect(px) as c:
        assert q(c, "SELECT 1") == [(2,)]
    assert px.query("SELECT Variable_Value FROM stats_query_rewrite WHERE Variable_Name = "
                    "'Rewriter_number_loaded_rules'") == [("1",)]


def test_null_is_a_literal_only_with_replace_null(px):
    with px.admin() as adm, connect(px) as c:
        q(c, "SELECT NULL")
        assert c._result.warning_count == 0  # NULL is a keyword: the key is "select null"
        q(adm, "SET mysql-query_digests_replace_null = 'true'")
        q(adm, "LOAD MYSQL VARIABLES TO RUNTIME")
        try:
            assert q(c, "select null") == [(None,)]
            assert c._result.warning_count == 1
            assert q(c, "SHOW WARNINGS")[0][2] == "Query 'select null' rewritten to 'SELECT null + 1' by a query rewrite plugin"
        finally:
            q(adm, "SET mysql-query_digests_replace_null = 'false'")
            q(adm, "LOAD MYSQL VARIABLES TO RUNTIME")


def test_every_bad_rule_gets_its_own_message(px):
    bad = {10: ("", "Parse error in pattern: >>empty statement<<"),
           11: ("SELECT 1; SELECT 2", "Parse error in pattern: >>more than one statement<<"),
           12: ("SELECT 'open", "Parse error in pattern: >>"),
           13: ("INSERT INTO t VALUES (?", "Parse error in pattern: >>Expecting )"),
           14: ("SHOW TABLES", "Statement type of pattern not supported.")}
    with px.admin() as adm:
        for rid, (pattern, _) in bad.items():
            q(adm, "INSERT INTO query_rewrite_rules (id, pattern, replacement) VALUES (%s, %s, 'SELECT 1')", (rid, pattern))
        q(adm, "INSERT INTO query_rewrite_rules (id, pattern, replacement) VALUES (15, 'SELECT ?', 'SELECT (')")
        try:
            with pytest.raises(pymysql.MySQLError) as info:
                q(adm, "LOAD QUERY REWRITE RULES TO RUNTIME")
            assert info.value.args[0] == 1644 and "6 of 7 enabled rules failed" in info.value.args[1]
            messages = {int(i): m for i, m in q(adm, "SELECT id, message FROM query_rewrite_rules")}
            for rid, (_, expected) in bad.items():
                assert messages[rid].startswith(expected), (rid, messages[rid])
            assert messages[15].startswith("Parse error in replacement: >>")
            assert messages[1] is None
        finally:
            q(adm, "DELETE FROM query_rewrite_rules WHERE id >= 10")
            q(adm, "LOAD QUERY REWRITE RULES TO RUNTIME")
    with connect(px) as c:
        assert q(c, "SELECT 1") == [(2,)]


def test_show_status_and_flush_procedure_on_the_sql_port(px):
    with px.admin() as adm, connect(px) as c:
        rows = dict(q(c, "SHOW GLOBAL STATUS LIKE 'Rewriter%'"))
        assert set(rows) == {"Rewriter_number_loaded_rules", "Rewriter_number_reloads",
                             "Rewriter_number_rewritten_queries", "Rewriter_reload_error"}
        assert rows["Rewriter_number_loaded_rules"] == "1" and rows["Rewriter_reload_error"] == "OFF"
        assert q(c, "show status like 'rewriter_reload%'") == [("Rewriter_reload_error", "OFF")]
        with pytest.raises(pymysql.MySQLError) as info:
            q(c, "CALL query_rewrite.flush_rewrite_rules()")
        assert info.value.args[0] == 1370 and "execute command denied to user 'app'@'127.0.0.1'" in info.value.args[1]
        q(adm, "SET rewriter-flush_users = 'app'")
        q(adm, "LOAD REWRITER VARIABLES TO RUNTIME")
        q(adm, "UPDATE query_rewrite_rules SET replacement = 'SELECT ? + 100' WHERE id = 1")
        try:
            assert q(c, "SELECT 1") == [(2,)]  # editing the table alone changes nothing
            q(c, "CALL query_rewrite.flush_rewrite_rules()")
            assert q(c, "SELECT 1") == [(101,)]
            q(adm, "UPDATE query_rewrite_rules SET replacement = 'SELECT ?, ?' WHERE id = 1")
            with pytest.raises(pymysql.MySQLError) as info:
                q(c, "CALL query_rewrite.flush_rewrite_rules()")
            assert info.value.args[0] == 1644
            assert q(c, "SELECT 1") == [(101,)]  # the failed flush changed nothing
            assert dict(q(c, "SHOW STATUS LIKE 'Rewriter%'"))["Rewriter_reload_error"] == "ON"
        finally:
            q(adm, "UPDATE query_rewrite_rules SET replacement = 'SELECT ? + 1' WHERE id = 1")
            q(adm, "LOAD QUERY REWRITE RULES TO RUNTIME")
            q(adm, "SET rewriter-flush_users = ''")
            q(adm, "LOAD REWRITER VARIABLES TO RUNTIME")


def test_unload_and_load_plugin_with_a_client_connected(px):
    with px.admin() as adm:
        q(adm, "SAVE QUERY REWRITE RULES TO DISK")
    with connect(px) as c:
        assert q(c, "SELECT 1") == [(2,)]
        px.query("UNLOAD PLUGIN rewriter")
        assert q(c, "SELECT 1") == [(1,)] and c._result.warning_count == 0
        px.query("LOAD PLUGIN rewriter")  # its rules come back from disk
        assert q(c, "SELECT 1") == [(2,)] and c._result.warning_count == 1
