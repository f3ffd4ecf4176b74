"""The admin port over real sockets: logins, statements, errors, introspection, variables,
client compatibility, stats users, read-only mode and control commands (spec admin-interface.md)."""

from __future__ import annotations

import re
import time

import pymysql
import pytest
from pymysql.constants import CLIENT

from tests.admin_helpers import (
    cli,
    expect_error,
    needs_cli,
    new_proxyd,
    rows,
    run,
    scalar,
)
from tests.conftest import Proxyd, free_port

# The §16 set-up: one server, one application user, ten mysql_variables.
ACC_MYSQL_VARS = {
    "max_connections": 2048, "server_version": "8.0.11", "default_schema": "information_schema",
    "commands_stats": True, "long_query_time": 1000, "query_digests": True, "query_digests_lowercase": False,
    "query_digests_max_digest_length": 2048, "query_digests_max_query_length": 65000,
}  # + interfaces = 10
ACC_BODY = """
    mysql_servers = ( { address = "127.0.0.1"; port = 3307; hostgroup = 0; max_connections = 200 } )
    mysql_users = ( { username = "sb"; password = "sbpass"; default_hostgroup = 0 } )
"""
CORE_MAIN_TABLES = ["global_variables", "mysql_group_replication_hostgroups", "mysql_servers", "mysql_users",
                    "runtime_global_variables", "runtime_mysql_group_replication_hostgroups",
                    "runtime_mysql_servers", "runtime_mysql_users", "runtime_plugins"]
STATS_TABLES = ["stats_mysql_commands_counters", "stats_mysql_connection_pool", "stats_mysql_connection_pool_reset",
                "stats_mysql_global", "stats_mysql_processlist", "stats_mysql_query_digest",
                "stats_mysql_query_digest_reset"]
PROCESSLIST_COLS = ["ThreadID", "SessionID", "user", "db", "cli_host", "cli_port", "hostgroup", "l_srv_host",
                    "l_srv_port", "srv_host", "srv_port", "command", "time_ms", "info", "status_flags",
                    "extended_info"]


@pytest.fixture(scope="module")
def acc(tmp_path_factory) -> Proxyd:
    p = new_proxyd(tmp_path_factory.mktemp("acc"), mysql_vars=ACC_MYSQL_VARS, body=ACC_BODY)
    p.start()
    yield p
    assert p.stop() == 0, p.log()


@pytest.fixture
def conn(acc):
    c = acc.admin()
    yield c
    c.close()


def connect(p: Proxyd, user: str, password: str, **kw) -> pymysql.connections.Connection:
    return pymysql.connect(host="127.0.0.1", port=p.admin_port, user=user, password=password, autocommit=True,
                           connect_timeout=5, **kw)


# -- §16 acceptance examples, in order (#26 needs the SQL data path: a later issue) --------------------
def test_acceptance_1_2_login_failures(acc):
    for user, password in (("admin", "wrong"), ("sb", "sbpass"), ("nobody", "x")):
        with expect_error(1045, "28000",
                          message=f"Access denied for user '{user}'@'127.0.0.1' (using password: YES)"):
            connect(acc, user, password)
    with expect_error(1045, "28000", message="Access denied for user 'admin'@'127.0.0.1' (using password: NO)"):
        connect(acc, "admin", "")


def test_acceptance_3_to_7_probes_and_introspection(conn, acc):
    assert run(conn, "SELECT @@version_comment LIMIT 1").rows == [("(proxyd Admin Module)",)]
    assert scalar(conn, "SELECT DATABASE()") == "admin"
    r = run(conn, "SELECT USER()")
    assert r.columns == ["user()"] and r.rows == [("admin@127.0.0.1",)]

    r = run(conn, "SHOW DATABASES")
    assert r.columns == ["seq", "name", "file"]
    assert [x[1] for x in r.rows] == ["main", "disk", "stats"]
    assert r.rows[1][2] == str(acc.datadir / "proxyd.db")
    assert [x[1] for x in rows(conn, "SHOW SCHEMAS")] == ["main", "disk", "stats"]

    r = run(conn, "SHOW TABLES")
    assert r.columns == ["tables"] and [x[0] for x in r.rows] == CORE_MAIN_TABLES

    r = run(conn, "SHOW CREATE TABLE mysql_servers")
    assert r.columns == ["table", "Create Table"]
    name, ddl = r.rows[0]
    lines = ddl.splitlines()
    assert name == "mysql_servers" and lines[0] == "CREATE TABLE mysql_servers ("
    # one column (or constraint) per line, indented four spaces
    assert [ln.split()[0] for ln in lines[1:13]] == [
        "hostgroup_id", "hostname", "port", "gtid_port", "status", "weight", "compression", "max_connections",
        "max_replication_lag", "use_ssl", "max_latency_ms", "comment"]
    assert all(ln.startswith("    ") and not ln.startswith("     ") for ln in lines[1:])
    assert lines[-1].strip().startswith("PRIMARY KEY (hostgroup_id, hostname, port)")


def test_acceptance_8_to_16_servers_and_users(conn, acc):
    insert = "INSERT INTO mysql_servers(hostgroup_id,hostname,port) VALUES (1,'127.0.0.1',3308)"
    r = run(conn, insert)  # 8
    assert (r.columns, r.affected) == (None, 1)
    assert rows(conn, "SELECT status, weight, max_connections FROM mysql_servers WHERE port=3308") == \
        [("ONLINE", "1", "1000")]
    with expect_error(1062, "23000", match=r"hostgroup_id, hostname, port"):  # 9
        run(conn, insert)
    r = run(conn, "SELECT * FROM runtime_mysql_servers")  # 10
    assert [(x[0], x[1], x[2], x[7]) for x in r.rows] == [("0", "127.0.0.1", "3307", "200")]
    r = run(conn, "LOAD MYSQL SERVERS TO RUNTIME")  # 11
    assert (r.columns, r.affected) == (None, 2)
    assert [(x[0], x[2]) for x in rows(conn, "SELECT * FROM runtime_mysql_servers")] == [("0", "3307"), ("1", "3308")]
    for stmt in ("  LOAD   MYSQL SERVERS\tTO RUNTIME ;", "load mysql servers to run"):  # 12
        assert run(conn, stmt).affected == 2
    assert run(conn, "SAVE MYSQL SERVERS TO DISK").affected == 2  # 13
    assert len(rows(conn, "SELECT * FROM disk.mysql_servers")) == 2
    disk = run(conn, "CHECKSUM DISK MYSQL SERVERS")  # 14
    memory = run(conn, "CHECKSUM MEMORY MYSQL SERVERS")
    assert disk.columns == memory.columns == ["table", "checksum"]
    assert disk.rows == memory.rows and disk.rows[0][0] == "MYSQL SERVERS"
    assert re.fullmatch(r"0x[0-9A-F]{16}", disk.rows[0][1])

    r = run(conn, "SELECT username, backend, frontend, active FROM runtime_mysql_users")  # 15
    assert sorted(r.rows) == [("sb", "0", "1", "1"), ("sb", "1", "0", "1")]

    n_mysql = int(scalar(conn, "SELECT count(*) FROM global_variables WHERE variable_name LIKE 'mysql-%'"))
    assert n_mysql >= 16
    assert run(conn, "SAVE MYSQL VARIABLES TO DISK").affected == n_mysql  # 16


def test_acceptance_17_from_config_counts(conn):
    assert run(conn, "LOAD MYSQL USERS FROM CONFIG").affected == 1
    assert run(conn, "LOAD MYSQL VARIABLES FROM CONFIG").affected == 10


def test_acceptance_18_unknown_admin_commands(conn):
    for stmt in ("LOAD FOO TO RUNTIME", "LOAD MYSQL SERVER TO RUNTIME", "SAVE MYSQL SERVERS",
                 "LOAD MYSQL SERVERS TO NOWHERE", "CHECKSUM FOO", "PROXYD FOO", "proxysql frobnicate"):
        canonical = " ".join(stmt.split())
        with expect_error(1064, "42000") as e:
            run(conn, stmt)
        assert e.message.startswith(f"Unknown admin command: {canonical}"), e.message
    # when the module word is known, the valid spellings are listed
    with expect_error(1064, "42000") as e:
        run(conn, "SAVE MYSQL SERVERS")
    assert "SAVE MYSQL SERVERS TO DISK" in e.message and "LOAD MYSQL SERVERS FROM CONFIG" in e.message


def test_acceptance_19_to_23_variables(conn):
    mem = "SELECT variable_value FROM global_variables WHERE variable_name='mysql-max_connections'"
    rt = "SELECT variable_value FROM runtime_global_variables WHERE variable_name='mysql-max_connections'"
    try:
        r = run(conn, "SET mysql-max_connections=123")  # 19
        assert (r.columns, r.affected) == (None, 1)
        assert (scalar(conn, mem), scalar(conn, rt)) == ("123", "2048")
        run(conn, "LOAD MYSQL VARIABLES TO RUNTIME")
        assert scalar(conn, rt) == "123"

        with expect_error(1193, "HY000", message="Unknown global variable: 'mysql-no_such_variable'"):  # 20
            run(conn, "SET mysql-no_such_variable=1")
        with expect_error(1231, "42000",  # 21
                          match=r"^Variable 'mysql-max_connections' can't be set to the value of 'abc'"):
            run(conn, "SET mysql-max_connections='abc'")
        assert scalar(conn, mem) == "123"

        r = run(conn, "SHOW VARIABLES LIKE 'mysql-max_connections'")  # 22
        assert (r.columns, r.rows) == (["Variable_name", "Value"], [("mysql-max_connections", "123")])
        r = run(conn, "SELECT @@mysql-max_connections")
        assert (r.columns, r.rows) == (["@@mysql-max_connections"], [("123",)])
        r = run(conn, "SHOW GLOBAL VARIABLES LIKE 'mysql-max_connections'")  # 23
        assert r.rows == [("mysql-max_connections", "123")]
    finally:
        run(conn, "SET mysql-max_connections=2048")
        run(conn, "LOAD MYSQL VARIABLES TO RUNTIME")


def test_acceptance_24_25_sql_errors(conn):
    with expect_error(1064, "42000", message='near "SELEC": syntax error'):
        run(conn, "SELEC * FROM mysql_servers")
    with expect_error(1064, "42000", match="incomplete input"):
        run(conn, "SELECT * FROM mysql_servers WHERE")
    with expect_error(1146, "42S02", message="Table 'no_such_table' doesn't exist"):
        run(conn, "SELECT * FROM no_such_table")


def test_acceptance_27_to_30_stats_config_logs_processlist(conn):
    r = run(conn, "SELECT * FROM stats_mysql_commands_counters LIMIT 5")  # 27
    assert len(r.columns) == 15 and r.columns[:3] == ["Command", "Total_Time_us", "Total_cnt"]
    assert [x[0] for x in r.rows] == ["ALTER_TABLE", "ALTER_VIEW", "ANALYZE_TABLE", "BEGIN", "CALL"]
    assert scalar(conn, "SELECT count(*) FROM stats_mysql_commands_counters") == "54"

    r = run(conn, "SELECT CONFIG FILE")  # 28 (re-loadable: test_cli.py round trip)
    assert r.columns == ["Data"] and len(r.rows) == 1
    text = r.rows[0][0]
    for part in ("admin_variables", "mysql_variables", "mysql_servers", "mysql_users", 'hostname="127.0.0.1"',
                 "port=3307", 'username="sb"'):
        assert part in text

    for stmt in ("PROXYSQL FLUSH LOGS", "PROXYD FLUSH LOGS"):  # 29
        r = run(conn, stmt)
        assert (r.columns, r.affected) == (None, 0)

    r = run(conn, "SHOW FULL PROCESSLIST")  # 30
    assert (r.columns, r.rows) == (PROCESSLIST_COLS, [])


# -- §15 error mapping beyond the examples --------------------------------------------------------------
def test_error_mapping_and_connection_survives(conn):
    with expect_error(1054, "42S22", message="Unknown column 'nosuch'"):
        run(conn, "SELECT nosuch FROM mysql_servers")
    with expect_error(1049, "42000", message="Unknown database 'nodb'"):
        run(conn, "SELECT * FROM nodb.t")
    with expect_error(1049, "42000", message="Unknown database 'nodb'"):
        run(conn, "SHOW TABLES FROM nodb")
    with expect_error(3819, "HY000", match="hostgroup_id"):
        run(conn, "INSERT INTO mysql_servers(hostgroup_id,hostname) VALUES (-1,'x')")
    with expect_error(3819, "HY000", match="status"):
        run(conn, "INSERT INTO mysql_servers(hostname,status) VALUES ('x','BROKEN')")
    with expect_error(3819, "HY000", match="attributes"):
        run(conn, "INSERT INTO mysql_users(username, attributes) VALUES ('j', 'not json')")
    with expect_error(1048, "23000", message="Column 'hostname' cannot be null"):
        run(conn, "INSERT INTO mysql_servers(hostgroup_id,hostname) VALUES (1,NULL)")
    with expect_error(1062, "23000", match=r"username, backend|username, frontend"):
        run(conn, "INSERT INTO mysql_users(username) VALUES ('sb')")
    with expect_error(1146, "42S02"):
        run(conn, "SHOW CREATE TABLE no_such_table")
    with expect_error(1065, "42000", message="Empty query"):
        run(conn, " ; ")
    # the error is the last statement's diagnostics; the connection still works
    r = run(conn, "SHOW WARNINGS")
    assert r.columns == ["Level", "Code", "Message"] and r.rows == [("Error", "1065", "Empty query")]
    assert run(conn, "SHOW ERRORS").rows == [("Error", "1065", "Empty query")]
    assert scalar(conn, "SHOW COUNT(*) ERRORS") == "1"
    assert scalar(conn, "SELECT 1") == "1"
    assert scalar(conn, "SHOW COUNT(*) WARNINGS") == "0"
    assert scalar(conn, "SELECT count(*) FROM mysql_servers WHERE hostname='x'") == "0"


# -- §6 variables ---------------------------------------------------------------------------------------
def test_set_forms_and_show_variables(conn):
    mem = "SELECT variable_value FROM main.global_variables WHERE variable_name='{}'"
    try:
        # any case, spaces around '=', quoted or bare values, '=' inside a value, optional GLOBAL
        assert run(conn, "set MYSQL-MAX_CONNECTIONS = 77 ;").affected == 1
        assert scalar(conn, mem.format("mysql-max_connections")) == "77"
        run(conn, "SET GLOBAL mysql-max_connections := '78'")
        assert scalar(conn, mem.format("mysql-max_connections")) == "78"
        run(conn, "SET mysql-server_version = '8.0.11-a=b c'")
        assert scalar(conn, mem.format("mysql-server_version")) == "8.0.11-a=b c"
        run(conn, "SET mysql-server_version = \"it''s\"")
        run(conn, "SET mysql-server_version='it''s'")
        assert scalar(conn, mem.format("mysql-server_version")) == "it's"
        run(conn, "SET mysql-commands_stats=OFF")  # booleans are normalized
        assert scalar(conn, mem.format("mysql-commands_stats")) == "false"
        with expect_error(1231, "42000", match="mysql-commands_stats"):
            run(conn, "SET mysql-commands_stats=maybe")
        with expect_error(1231, "42000"):
            run(conn, "SET mysql-max_connections=0")  # below the range
        with expect_error(1238, "HY000", match="read only"):
            run(conn, "SET admin-version='9'")
        # plain UPDATE is not checked at write time (caught at LOAD, see test_tiers.py)
        assert run(conn, "UPDATE global_variables SET variable_value='zzz' "
                         "WHERE variable_name='mysql-long_query_time'").affected == 1
    finally:
        for name, value in (("max_connections", "2048"), ("server_version", "'8.0.11'"),
                            ("commands_stats", "true"), ("long_query_time", "1000")):
            run(conn, f"SET mysql-{name}={value}")

    all_vars = run(conn, "SHOW VARIABLES")
    assert all_vars.columns == ["Variable_name", "Value"]
    names = [x[0] for x in all_vars.rows]
    assert names == sorted(names) and "admin-read_only" in names and "mysql-max_connections" in names
    assert run(conn, "SHOW GLOBAL VARIABLES").rows == all_vars.rows == run(conn, "SHOW ALL VARIABLES").rows
    mysql_only = [x[0] for x in rows(conn, "SHOW MYSQL VARIABLES")]
    admin_only = [x[0] for x in rows(conn, "SHOW ADMIN VARIABLES")]
    assert mysql_only and all(n.startswith("mysql-") for n in mysql_only)
    assert admin_only and all(n.startswith("admin-") for n in admin_only)
    assert sorted(mysql_only + admin_only) == names
    assert rows(conn, "SHOW MYSQL VARIABLES LIKE '%digests_max%'") == [
        ("mysql-query_digests_max_digest_length", "2048"), ("mysql-query_digests_max_query_length", "65000")]
    assert rows(conn, "SHOW ADMIN VARIABLES WHERE Variable_name = 'admin-read_only'") == [("admin-read_only", "false")]
    assert rows(conn, "SHOW VARIABLES WHERE Value = '65000'") == [("mysql-query_digests_max_query_length", "65000")]
    # SELECT @@ is case-insensitive, falls back to stats_mysql_global, then to the fixed session values
    assert scalar(conn, "SELECT @@MYSQL-Max_Connections") == "2048"
    assert scalar(conn, "SELECT @@global.read_only") == "false"
    assert scalar(conn, "SELECT @@admin-version") == scalar(conn, "SELECT @@admin-version")
    assert scalar(conn, "SELECT @@Uptime").isdigit()
    with expect_error(1193, "HY000"):
        run(conn, "SELECT @@no_such_thing")
    r = run(conn, "SELECT @@mysql-max_connections AS mc, @@admin-read_only")
    assert (r.columns, r.rows) == (["mc", "@@admin-read_only"], [("2048", "false")])


# -- §7 introspection -----------------------------------------------------------------------------------
def test_introspection(conn):
    assert [x[0] for x in rows(conn, "SHOW TABLES FROM stats")] == STATS_TABLES
    assert [x[0] for x in rows(conn, "SHOW TABLES IN disk")] == [
        "global_variables", "mysql_group_replication_hostgroups", "mysql_servers", "mysql_users"]
    assert [x[0] for x in rows(conn, "show tables like 'runtime%'")] == [t for t in CORE_MAIN_TABLES
                                                                          if t.startswith("runtime_")]
    r = run(conn, "SHOW CREATE TABLE `disk`.`mysql_users`")
    assert r.rows[0][0] == "mysql_users" and "UNIQUE (username, frontend)" in r.rows[0][1]
    r = run(conn, "SHOW FIELDS FROM mysql_users")
    assert r.columns == ["Field", "Type", "Null", "Key", "Default", "Extra"]
    assert r.rows[0] == ("username", "VARCHAR", "NO", "PRI", None, "")
    assert ("password", "VARCHAR", "YES", "", None, "") in r.rows
    assert [x[0] for x in rows(conn, "SHOW COLUMNS FROM stats_mysql_global FROM stats")] == [
        "Variable_Name", "Variable_Value"]
    r = run(conn, "SHOW TABLE STATUS LIKE 'mysql_users'")
    assert r.columns[:2] == ["Name", "Engine"] and [x[0] for x in r.rows] == ["mysql_users"]

    r = run(conn, "SHOW MYSQL SERVERS")
    assert r.columns[:3] == ["hostgroup_id", "hostname", "port"] and ("0", "127.0.0.1", "3307") in \
        [x[:3] for x in r.rows]
    assert [x[0] for x in rows(conn, "SHOW MYSQL USERS")] == ["sb"]
    r = run(conn, "SHOW MYSQL STATUS")
    assert r.columns == ["Variable_name", "Value"] and "Uptime" in [x[0] for x in r.rows]
    r = run(conn, "SHOW PROCESSLIST")
    assert r.rows == [] and r.columns == ["SessionID", "user", "db", "hostgroup", "command", "time_ms", "info"]
    assert ("utf8mb4",) in [x[:1] for x in rows(conn, "SHOW CHARSET")]
    assert rows(conn, "SHOW COLLATION LIKE 'utf8_general%'") == [("utf8_general_ci", "utf8", "33", "Yes", "Yes", "1")]
    # runtime_/stats_ tables are refilled whenever a statement names them, joins included
    assert scalar(conn, "SELECT count(*) FROM stats.stats_mysql_global g JOIN runtime_global_variables v "
                        "ON v.variable_name = 'admin-read_only'") != "0"
    # digest truncation forms are commands
    for stmt in ("TRUNCATE stats_mysql_query_digest", "truncate table stats.stats_mysql_query_digest_reset"):
        assert run(conn, stmt).columns is None


# -- §11 client compatibility, §14 wire details -----------------------------------------------------------
def test_client_compat_statements(conn):
    for stmt in ("BEGIN", "START TRANSACTION", "COMMIT", "ROLLBACK", "SET NAMES utf8mb4", "SET autocommit=0",
                 "SET AUTOCOMMIT = 1", "SET character_set_results = NULL", "SET SQL_AUTO_IS_NULL = 0",
                 "SET SQL_SAFE_UPDATES=1", "USE main", "LOCK TABLES mysql_servers READ", "UNLOCK TABLES",
                 "/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */",
                 "/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;",
                 "/*svc=dd*/ SET AUTOCOMMIT=1", "/* a */ /* b */ BEGIN"):
        r = run(conn, stmt)
        assert (r.columns, r.affected) == (None, 0), stmt
    assert run(conn, "/* SET AUTOCOMMIT=1 */ SELECT 1").rows == [("1",)]
    assert run(conn, "/* leading */ LOAD MYSQL USERS TO RUNTIME").columns is None
    assert scalar(conn, "select connection_id()") == "0"
    assert scalar(conn, "select @@sql_mode") == ""
    version = scalar(conn, "SELECT @@version")
    assert "proxyd" in version
    assert scalar(conn, "select concat(@@version, ' ', @@version_comment)") == f"{version} (proxyd Admin Module)"
    r = run(conn, "SELECT CURRENT_USER()")
    assert (r.columns, r.rows) == (["current_user()"], [("admin@127.0.0.1",)])
    assert rows(conn, "SELECT DATABASE() AS name") == [("admin",)]
    r = run(conn, "SELECT @@max_allowed_packet, @@character_set_client, @@tx_isolation")
    assert r.rows == [("67108864", "utf8", "REPEATABLE-READ")]
    assert rows(conn, "SHOW VARIABLES WHERE Variable_name IN ('admin-read_only')") == [("admin-read_only", "false")]


def test_wire_status_flags_and_text_columns(acc):
    c = acc.admin()
    try:
        assert c.server_status & 0x0202 == 0x0202  # handshake: AUTOCOMMIT | NO_BACKSLASH_ESCAPES
        assert (c.protocol_version, c.server_language, c._auth_plugin_name) == (10, 33, "mysql_native_password")
        caps = c.server_capabilities
        for flag in (CLIENT.PROTOCOL_41, CLIENT.SECURE_CONNECTION, CLIENT.MULTI_STATEMENTS, CLIENT.MULTI_RESULTS,
                     CLIENT.PLUGIN_AUTH, CLIENT.SESSION_TRACK):
            assert caps & flag, hex(flag)
        assert not caps & CLIENT.DEPRECATE_EOF  # offered on the SQL port only
        run(c, "SET NAMES utf8")
        assert c.server_status & 0x0202 == 0x0202  # OK packet
        with c.cursor() as cur:
            cur.execute("SELECT hostgroup_id, NULL, 1.5 FROM mysql_servers LIMIT 1")
            assert {d[1] for d in cur.description} == {253}  # VAR_STRING for every column, numbers included
            assert cur.fetchall() == (("0", None, "1.5"),)
        # NO_BACKSLASH_ESCAPES: the client quotes by doubling, SQLite reads it back unchanged
        with c.cursor() as cur:
            cur.execute("SELECT %s", ("it's a \\ test \U0001F600",))
            assert cur.fetchall() == (("it's a \\ test \U0001F600",),)
    finally:
        c.close()


# -- §1 access: local-only rule, stats users ----------------------------------------------------------------
def test_local_only_rule(acc):
    with expect_error(1045, "28000", message="User 'admin' can only connect locally"):
        connect(acc, "admin", "admin", bind_address="127.0.0.2")
    with expect_error(1045, "28000", message="User 'stats' can only connect locally"):
        connect(acc, "stats", "stats", bind_address="127.0.0.2")
    # a wrong password is just a wrong password; other names in the list may connect remotely
    with expect_error(1045, "28000", message="Access denied for user 'admin'@'127.0.0.2' (using password: YES)"):
        connect(acc, "admin", "wrong", bind_address="127.0.0.2")
    c = connect(acc, "radmin", "radmin", bind_address="127.0.0.2")
    try:
        assert rows(c, "SELECT USER()") == [("radmin@127.0.0.2",)]
        assert run(c, "CHECKSUM MYSQL SERVERS").columns == ["table", "checksum"]
    finally:
        c.close()


def test_stats_user_is_read_only(acc):
    s = connect(acc, "stats", "stats")
    try:
        assert [x[1] for x in rows(s, "SHOW DATABASES")] == ["stats"]
        assert [x[0] for x in rows(s, "SHOW TABLES")] == STATS_TABLES
        assert scalar(s, "SELECT DATABASE()") == "stats"
        assert "Uptime" in [x[0] for x in rows(s, "SELECT * FROM stats_mysql_global")]
        assert len(rows(s, "SELECT * FROM stats.stats_mysql_commands_counters")) == 54
        assert run(s, "CHECKSUM MYSQL SERVERS").rows[0][0] == "MYSQL SERVERS"
        assert run(s, "SHOW MYSQL STATUS").rows
        for stmt in ("INSERT INTO stats_mysql_global VALUES ('a','b')", "DELETE FROM stats.stats_mysql_global",
                     "UPDATE stats_mysql_global SET Variable_Value='1'", "CREATE TABLE stats.t (a)",
                     "PRAGMA journal_mode=wal", "ATTACH DATABASE ':memory:' AS x",
                     "SELECT * FROM main.mysql_users", "SELECT * FROM disk.mysql_servers",
                     "LOAD MYSQL SERVERS TO RUNTIME", "SAVE MYSQL USERS TO DISK", "SET mysql-max_connections=5",
                     "PROXYD READONLY", "PROXYD SHUTDOWN", "SHOW MYSQL USERS", "SELECT CONFIG FILE",
                     f"SELECT CONFIG INTO OUTFILE {acc.dir / 'stats.cnf'}", "SAVE CONFIG TO FILE x.cnf",
                     "SELECT @@admin-admin_credentials"):
            with expect_error(1142, "42000"):
                run(s, stmt)
        with expect_error(1049, "42000"):
            run(s, "SHOW TABLES FROM main")
        # the variable list is readable, the credentials in it are not
        names = [x[0] for x in rows(s, "SHOW VARIABLES")]
        assert "mysql-max_connections" in names and not [n for n in names if n.endswith("credentials")]
        assert rows(s, "SHOW VARIABLES LIKE 'admin-%credentials'") == []
    finally:
        s.close()
    assert not (acc.dir / "stats.cnf").exists() and not (acc.datadir / "x.cnf").exists()
    # nothing changed
    assert scalar(acc.admin(), "SELECT variable_value FROM global_variables "
                               "WHERE variable_name='mysql-max_connections'") == "2048"


def test_read_only_mode(acc, conn):
    ro_error = dict(code=1290, sqlstate="HY000")
    try:
        assert run(conn, "PROXYD READONLY").affected == 0
        assert scalar(conn, "SELECT @@global.read_only") == "true"
        for stmt in ("INSERT INTO mysql_servers(hostname) VALUES ('ro')", "DELETE FROM mysql_users",
                     "UPDATE global_variables SET variable_value='1'", "SET mysql-max_connections=5",
                     "CREATE TABLE t (a)", "DROP TABLE mysql_servers", "PRAGMA main.user_version=3"):
            with expect_error(**ro_error):
                run(conn, stmt)
        # reads, LOAD and SAVE still work
        assert scalar(conn, "SELECT count(*) FROM mysql_users") == "1"
        assert run(conn, "SAVE MYSQL SERVERS TO MEMORY").columns is None
        assert run(conn, "LOAD MYSQL SERVERS TO RUNTIME").columns is None
        other = acc.admin()  # the mode is global, not per connection
        with expect_error(**ro_error):
            run(other, "DELETE FROM mysql_servers")
        other.close()
        assert run(conn, "PROXYSQL READWRITE").affected == 0
        assert run(conn, "INSERT INTO mysql_servers(hostgroup_id,hostname) VALUES (7,'rw')").affected == 1
        run(conn, "DELETE FROM mysql_servers WHERE hostgroup_id=7")

        # admin-read_only=true at runtime does the same; PROXYD READWRITE undoes it
        run(conn, "SET admin-read_only=true")
        run(conn, "LOAD ADMIN VARIABLES TO RUNTIME")
        with expect_error(**ro_error):
            run(conn, "SET admin-read_only=false")
        assert run(conn, "LOAD ADMIN VARIABLES FROM DISK").columns is None  # LOAD/SAVE allowed
        run(conn, "PROXYD READWRITE")
        assert scalar(conn, "SELECT @@global.read_only") == "false"
        run(conn, "SET admin-read_only=false")
        run(conn, "LOAD ADMIN VARIABLES TO RUNTIME")
        assert run(conn, "INSERT INTO mysql_servers(hostgroup_id,hostname) VALUES (7,'rw')").affected == 1
    finally:
        run(conn, "PROXYD READWRITE")
        run(conn, "DELETE FROM mysql_servers WHERE hostgroup_id=7")
        run(conn, "SET admin-read_only=false")
        run(conn, "LOAD ADMIN VARIABLES TO RUNTIME")


# -- §10 control commands -------------------------------------------------------------------------------------
def test_control_commands(acc, conn):
    with expect_error(1105, "HY000", message="proxyd already started"):
        run(conn, "PROXYD START")
    assert run(conn, "PROXYD PAUSE").affected == 0
    with expect_error(1105, "HY000", match="already paused, impossible to pause"):
        run(conn, "PROXYSQL PAUSE")
    run(conn, "proxysql resume;")
    with expect_error(1105, "HY000", match="is not paused, impossible to resume"):
        run(conn, "PROXYD RESUME")
    run(conn, "PROXYD STOP")
    with expect_error(1105, "HY000"):
        run(conn, "PROXYD STOP")
    run(conn, "PROXYD START")  # admin stayed up throughout
    assert run(conn, "PROXYD FLUSH QUERY CACHE").info == "no query cache"
    run(conn, "PROXYSQL FLUSH CONFIGDB")  # disk detached and re-attached
    assert scalar(conn, "SELECT count(*) FROM disk.mysql_users") == "1"
    run(conn, "LOGENTRY marker-7c1f for the log")
    with expect_error(1094, "HY000", message="Unknown thread id: 424242"):
        run(conn, "KILL CONNECTION 424242")
    with expect_error(1064, "42000"):
        run(conn, "KILL CONNECTION abc")
    deadline = time.monotonic() + 5
    while "LOGENTRY marker-7c1f for the log" not in acc.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "LOGENTRY marker-7c1f for the log" in acc.log()

    # PROXYD RESTART reloads every module from disk (memory-only edits are lost) and applies it
    run(conn, "SAVE MYSQL SERVERS TO DISK")
    disk = rows(conn, "SELECT * FROM disk.mysql_servers ORDER BY 1,2,3")
    run(conn, "INSERT INTO mysql_servers(hostgroup_id,hostname) VALUES (8,'memory-only')")
    run(conn, "SET mysql-max_connections=99")
    run(conn, "PROXYD RESTART")
    assert rows(conn, "SELECT * FROM mysql_servers ORDER BY 1,2,3") == disk
    assert rows(conn, "SELECT * FROM runtime_mysql_servers ORDER BY 1,2,3") == disk
    assert scalar(conn, "SELECT @@mysql-max_connections") == "2048"


# -- admin variables applied at LOAD: credentials, listener rebind -----------------------------------------------
def test_admin_variables_apply_credentials_and_rebind(tmp_path):
    p = new_proxyd(tmp_path)
    p.start()
    try:
        c = p.admin()
        run(c, "SET admin-admin_credentials='admin:admin;ops:s3cret'")
        run(c, "SET admin-stats_credentials='stats:stats;mon:mon'")
        with expect_error(1045, "28000"):
            connect(p, "ops", "s3cret")  # memory only: not applied yet
        run(c, "LOAD ADMIN VARIABLES TO RUNTIME")
        ops = connect(p, "ops", "s3cret", bind_address="127.0.0.2")
        assert scalar(ops, "SELECT USER()") == "ops@127.0.0.2"
        ops.close()
        mon = connect(p, "mon", "mon")
        with expect_error(1142, "42000"):
            run(mon, "DELETE FROM stats_mysql_global")
        mon.close()
        with expect_error(1045, "28000"):
            connect(p, "radmin", "radmin")  # dropped from the list

        new_port = free_port()
        run(c, f"SET admin-mysql_ifaces='127.0.0.1:{new_port}'")
        run(c, "LOAD ADMIN VARIABLES TO RUNTIME")
        c.close()
        deadline = time.monotonic() + 5
        while True:
            try:
                c2 = pymysql.connect(host="127.0.0.1", port=new_port, user="admin", password="admin",
                                     connect_timeout=1)
                break
            except pymysql.err.OperationalError:
                assert time.monotonic() < deadline, p.log()
                time.sleep(0.05)
        assert scalar(c2, "SELECT @@admin-mysql_ifaces") == f"127.0.0.1:{new_port}"
        c2.close()
        with pytest.raises(pymysql.err.OperationalError):
            connect(p, "admin", "admin")  # the old port is closed
    finally:
        assert p.stop() == 0


# -- the mysql command-line client ----------------------------------------------------------------------
@needs_cli
def test_mysql_cli(acc):
    r = cli(acc, "-e", "SELECT @@version_comment LIMIT 1")  # the client's own probe, then a query
    assert r.returncode == 0, r.stderr
    r = cli(acc, "--batch", "-e", "SHOW DATABASES; SELECT hostname, port FROM mysql_servers WHERE hostgroup_id=0")
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0] == "seq\tname\tfile" and out[4:] == ["hostname\tport", "127.0.0.1\t3307"]
    # (seq numbers move after PROXYD FLUSH CONFIGDB re-attaches disk)
    assert sorted(line.split("\t", 1)[1] for line in out[1:4]) == [
        f"disk\t{acc.datadir / 'proxyd.db'}", "main\t", "stats\t"]
    r = cli(acc, "--table", stdin="load mysql servers to runtime;\nCHECKSUM MEMORY MYSQL SERVERS;\n")
    assert r.returncode == 0, r.stderr
    assert re.search(r"\| MYSQL SERVERS \| 0x[0-9A-F]{16} \|", r.stdout)
    r = cli(acc, "-e", "SELEC 1")
    assert r.returncode == 1 and 'ERROR 1064 (42000) at line 1: near "SELEC": syntax error' in r.stderr
    r = cli(acc, "-e", "LOAD MYSQL SERVER TO RUNTIME")
    assert "ERROR 1064 (42000) at line 1: Unknown admin command: LOAD MYSQL SERVER TO RUNTIME" in r.stderr
    r = cli(acc, "-e", "select 1", password="bad")
    assert r.returncode == 1
    assert "ERROR 1045 (28000): Access denied for user 'admin'@'127.0.0.1' (using password: YES)" in r.stderr
    r = cli(acc, "-e", "DELETE FROM stats_mysql_global", user="stats", password="stats")
    assert "ERROR 1142 (42000)" in r.stderr
    # warnings after a LOAD that resets a bad value, shown by the client itself
    try:
        r = cli(acc, "--show-warnings", stdin="UPDATE global_variables SET variable_value='abc' "
                                              "WHERE variable_name='mysql-max_connections';\n"
                                              "LOAD MYSQL VARIABLES TO RUNTIME;\n")
        assert r.returncode == 0, r.stderr
        assert "Warning (Code 1231): Variable 'mysql-max_connections' can't be set to the value of 'abc'; " \
               "reset to '2048'" in r.stdout
    finally:
        run(acc.admin(), "SET mysql-max_connections=2048")
