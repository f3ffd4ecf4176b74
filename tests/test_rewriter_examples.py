"""The example rewrite plugins of examples/rewrite-examples, with the rewriter, over the SQL port.

Spec examples 15 (a pre-parse plugin and the rewriter: two stages, two Notes) and 16 (a failing
rewrite hook), plus the post-parse ``limit_guard`` working on the sqlglot tree. Each test runs against
the embedded backend and through a real MariaDB (skipped, with the reason, when none is reachable).
"""

from __future__ import annotations

import pymysql
import pytest

from tests.conftest import Proxyd
from tests.plugin_support import plugin_distributions  # noqa: F401
from tests.test_mysql_backend import _admin_conn, _server

USER, PASSWORD, SHOP = "pxe_app", "pxe-pw", "pxe_shop"


def _start(tmp_path_factory, request, name: str, plugins: tuple[str, ...], body: str = "") -> Proxyd:
    hostgroup, servers = 0, ""
    if request.param == "mariadb":
        srv = request.getfixturevalue("mariadb")
        hostgroup, servers = 1, f', {{ address = "{srv[0]}"; port = {srv[1]}; hostgroup = 1 }}'
    p = Proxyd(tmp_path_factory.mktemp(f"{name}_{request.param}"), f"""
        mysql_servers = ( {{ address = "embedded"; port = 0; hostgroup = 0 }}{servers} )
        mysql_users = ( {{ username = "{USER}"; password = "{PASSWORD}"; default_hostgroup = {hostgroup} }} )
        """ + body, plugins=plugins)
    p.backend = request.param
    return p.start()


@pytest.fixture(scope="module")
def mariadb():
    """The server, with this module's user; shared by both daemons, removed when the module ends."""
    srv = _server()
    if srv is None:
        pytest.skip("no MariaDB/MySQL server: set PROXYD_TEST_MARIADB=host:port:user:password "
                    "(or run one on 127.0.0.1:3307, root without password)")
    _mariadb(srv, create=True)
    yield srv
    _mariadb(srv, create=False)


def _mariadb(srv, *, create: bool) -> None:
    conn = _admin_conn(srv)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {SHOP}")
        cur.execute(f"DROP USER IF EXISTS '{USER}'@'%'")
        if create:
            cur.execute(f"CREATE USER '{USER}'@'%' IDENTIFIED BY '{PASSWORD}'")
            cur.execute(f"GRANT ALL ON `pxe\\_%`.* TO '{USER}'@'%'")
    conn.close()


@pytest.fixture(scope="module", params=["embedded", "mariadb"])
def two_stage(request, tmp_path_factory, plugin_distributions):  # noqa: F811
    p = _start(tmp_path_factory, request, "two_stage", ("lowercase", "rewriter", "statement_log"),
               'query_rewrite_rules = ( { id = 1; pattern = "SELECT ?"; replacement = "SELECT ? + 1" } )\n')
    yield p
    p.stop()


@pytest.fixture(scope="module", params=["embedded", "mariadb"])
def tree_stage(request, tmp_path_factory, plugin_distributions):  # noqa: F811
    p = _start(tmp_path_factory, request, "tree_stage", ("limit_guard", "boom", "statement_log"),
               "limit_guard_variables = { limit = 5 }\n")
    with connect(p) as c:
        for sql in (f"CREATE DATABASE {SHOP}", f"CREATE TABLE {SHOP}.t (a INT)",
                    f"INSERT INTO {SHOP}.t VALUES " + ", ".join(f"({i})" for i in range(12))):
            q(c, sql)
    yield p
    p.stop()


def connect(p: Proxyd, schema: str | None = None) -> pymysql.connections.Connection:
    return pymysql.connect(host="127.0.0.1", port=p.sql_port, user=USER, password=PASSWORD, database=schema,
                           autocommit=True)


def q(conn, sql: str) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def last_sent(p: Proxyd) -> tuple[str, str]:
    return p.query("SELECT original_sql, sent_sql FROM stats_statement_log ORDER BY seq DESC LIMIT 1")[0]


def note(before: str, after: str) -> tuple:
    return ("Note", 1105, f"Query '{before}' rewritten to '{after}' by a query rewrite plugin")


def test_rules_come_from_the_cnf_on_first_boot(two_stage):
    assert two_stage.query("SELECT id, pattern, replacement, message, normalized_pattern FROM "
                           "runtime_query_rewrite_rules") == [("1", "SELECT ?", "SELECT ? + 1", None, "select ?")]


def test_two_stages_two_notes_in_stage_order(two_stage):
    with connect(two_stage) as c:
        assert q(c, "SELECT 'ABC'") == [(1,)]  # 'abc' + 1 is 1
        ours = [note("SELECT 'ABC'", "select 'abc'"), note("select 'abc'", "SELECT 'abc' + 1")]
        # MariaDB adds its own warning about the string in arithmetic, after the rewrite Notes
        theirs = [("Warning", 1292, "Truncated incorrect DOUBLE value: 'abc'")] if two_stage.backend == "mariadb" else []
        assert c._result.warning_count == len(ours + theirs)
        assert last_sent(two_stage) == ("SELECT 'ABC'", "SELECT 'abc' + 1")
        assert q(c, "SHOW WARNINGS") == ours + theirs


def test_pre_parse_alone_when_no_rule_matches(two_stage):
    with connect(two_stage) as c:
        assert q(c, "SELECT 'X', 'Y'") == [("x", "y")]
        assert last_sent(two_stage) == ("SELECT 'X', 'Y'", "select 'x', 'y'")
        assert q(c, "SHOW WARNINGS") == [note("SELECT 'X', 'Y'", "select 'x', 'y'")]
        q(c, "select 'done', 'ok'")  # already lowercase: nothing to rewrite, no Note
        assert c._result.warning_count == 0


def test_post_parse_plugin_edits_a_copy_of_the_tree(tree_stage):
    with connect(tree_stage, SHOP) as c:
        assert len(q(c, "SELECT a FROM t")) == 5
        assert last_sent(tree_stage) == ("SELECT a FROM t", "SELECT a FROM t LIMIT 5")
        assert q(c, "SHOW WARNINGS") == [note("SELECT a FROM t", "SELECT a FROM t LIMIT 5")]
        assert len(q(c, "SELECT a FROM t WHERE a > 2")) == 5  # same plugin, another shape
        assert len(q(c, "SELECT a FROM t LIMIT 3")) == 3  # has a LIMIT: untouched
        assert last_sent(tree_stage) == ("SELECT a FROM t LIMIT 3", "SELECT a FROM t LIMIT 3")
        assert q(c, "SELECT 7") == [(7,)]  # no table: untouched
        assert c._result.warning_count == 0


def test_failing_rewrite_hook_fails_the_statement_not_the_connection(tree_stage):
    with connect(tree_stage) as c:
        with pytest.raises(pymysql.MySQLError) as info:
            q(c, "SELECT 'boom'")
        code, message = info.value.args
        assert code == 1105 and message.startswith("plugin 'boom' failed in post_parse:") and "boom" in message
        assert last_sent(tree_stage)[0] != "SELECT 'boom'"  # it never reached the backend
        assert q(c, "SELECT 1") == [(1,)]
