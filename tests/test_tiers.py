"""DISK <-> MEMORY <-> RUNTIME over the admin port: every spelling of every core module moves data the
right way, FROM CONFIG, CHECKSUM, replace/merge rules, validation at LOAD, and affected-row counts
(spec admin-interface.md §5, §9)."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Callable

import pymysql
import pytest

from tests.admin_helpers import expect_error, new_proxyd, rows, run, scalar
from tests.conftest import Proxyd

BODY = """
    mysql_servers = (
        { address = "127.0.0.1"; port = 3307; hostgroup = 0; max_connections = 200 },
        { hostname = "127.0.0.1"; port = 3308; hostgroup_id = 1; comment = "replica" }
    )
    mysql_users = (
        { username = "sb"; password = "sbpass"; default_hostgroup = 0 },
        { username = "app2"; password = "p2"; default_hostgroup = 1; attributes = "{\\"a\\": 1}" }
    )
    mysql_group_replication_hostgroups = (
        { writer_hostgroup = 10; backup_writer_hostgroup = 11; reader_hostgroup = 12; offline_hostgroup = 13 }
    )
"""
MYSQL_VARS = {"max_connections": 500, "server_version": "8.0.11-cnf"}  # + interfaces: 3 entries
DISK_TABLES = ["mysql_servers", "mysql_group_replication_hostgroups", "mysql_users", "global_variables"]
MODULES = ["MYSQL SERVERS", "MYSQL USERS", "MYSQL VARIABLES", "ADMIN VARIABLES"]
SPELLINGS = {
    "memory_to_disk": ("SAVE {M} TO DISK", "SAVE {M} FROM MEMORY", "SAVE {M} FROM MEM"),
    "disk_to_memory": ("LOAD {M} FROM DISK", "LOAD {M} TO MEMORY", "LOAD {M} TO MEM"),
    "memory_to_runtime": ("LOAD {M} TO RUNTIME", "LOAD {M} TO RUN", "LOAD {M} FROM MEMORY", "LOAD {M} FROM MEM"),
    "runtime_to_memory": ("SAVE {M} TO MEMORY", "SAVE {M} TO MEM", "SAVE {M} FROM RUNTIME", "SAVE {M} FROM RUN"),
}
_marker = itertools.count(1)


@pytest.fixture(scope="module")
def tp(tmp_path_factory) -> Proxyd:
    p = new_proxyd(tmp_path_factory.mktemp("tiers"), mysql_vars=MYSQL_VARS, body=BODY)
    p.start()
    c = p.admin()
    p.pristine = {t: (rows(c, f"PRAGMA disk.table_info({t})"), rows(c, f"SELECT * FROM disk.{t}")) for t in DISK_TABLES}
    p.pristine_cnf = p.cnf.read_text()
    c.close()
    yield p
    assert p.stop() == 0, p.log()


@pytest.fixture
def conn(tp):
    c = tp.admin()
    yield c
    restore(tp, c)
    c.close()


def restore(p: Proxyd, c: pymysql.connections.Connection) -> None:
    """Back to the boot state: pristine cnf and disk, then disk -> memory -> runtime for every module."""
    p.cnf.write_text(p.pristine_cnf)
    run(c, "PROXYD READWRITE")
    for t, (info, data) in p.pristine.items():
        run(c, f"DELETE FROM disk.{t}")
        if data:
            marks = ",".join(["%s"] * len(info))
            with c.cursor() as cur:
                cur.executemany(f"INSERT INTO disk.{t} VALUES ({marks})", data)
    run(c, "DELETE FROM main.global_variables WHERE variable_name NOT IN "
           "(SELECT variable_name FROM disk.global_variables)")
    for m in MODULES:
        run(c, f"LOAD {m} FROM DISK")
        run(c, f"LOAD {m} TO RUNTIME")


def checksums(c) -> dict[tuple[str, str], str]:
    return {(m, t): run(c, f"CHECKSUM {t} {m}").rows[0][1] for m in MODULES for t in ("DISK", "MEMORY", "RUNTIME")}


# -- probes: put a marker into one tier of a module, read it from any tier ------------------------------------
@dataclass
class Probe:
    put: Callable[[pymysql.connections.Connection, str, str], None]  # (conn, schema, marker)
    get: Callable[[pymysql.connections.Connection, str], set]  # (conn, 'main'|'disk'|'runtime') -> values


def _table_probe(table: str, key: str, insert_cols: str, insert_vals: str) -> Probe:
    def put(c, schema, marker):
        run(c, f"DELETE FROM {schema}.{table} WHERE {key}")
        run(c, f"INSERT INTO {schema}.{table} ({insert_cols}, comment) VALUES ({insert_vals}, '{marker}')")

    def get(c, tier):
        name = f"main.runtime_{table}" if tier == "runtime" else f"{tier}.{table}"
        return {r[0] for r in rows(c, f"SELECT comment FROM {name} WHERE {key}")}
    return Probe(put, get)


def _variable_probe(name: str, template: str) -> Probe:
    def put(c, schema, marker):
        run(c, f"UPDATE {schema}.global_variables SET variable_value='{template.format(marker)}' "
               f"WHERE variable_name='{name}'")

    def get(c, tier):
        table = "main.runtime_global_variables" if tier == "runtime" else f"{tier}.global_variables"
        vals = {r[0] for r in rows(c, f"SELECT variable_value FROM {table} WHERE variable_name='{name}'")}
        return {re.sub(r"^" + re.escape(template.split("{}")[0]), "", v) for v in vals}
    return Probe(put, get)


PROBES = {
    "MYSQL SERVERS": _table_probe("mysql_servers", "hostgroup_id=99", "hostgroup_id, hostname", "99, 'probe'"),
    "MYSQL USERS": _table_probe("mysql_users", "username='probe'", "username, password", "'probe', 'pw'"),
    "MYSQL VARIABLES": _variable_probe("mysql-server_version", "{}"),
    "ADMIN VARIABLES": _variable_probe("admin-stats_credentials", "stats:stats;probe:{}"),
}
TIER_OF = {"memory_to_disk": ("main", "disk", "runtime"), "disk_to_memory": ("disk", "main", "runtime"),
           "memory_to_runtime": ("main", "runtime", "disk"), "runtime_to_memory": ("runtime", "main", "disk")}


def variants(stmt: str) -> list[str]:
    """Upper case; lower case with tabs/newlines and a trailing ';'; mixed case with runs of spaces."""
    words = stmt.split()
    return [stmt,
            "  " + "\t".join(w.lower() for w in words[:2]) + " \n " + "\t\t".join(w.lower() for w in words[2:]) + ";",
            "   ".join(w.capitalize() for w in words) + "  ;  "]


def prove_direction(c, module: str, direction: str, stmt: str) -> None:
    probe = PROBES[module]
    src, dst, other = TIER_OF[direction]
    mark, old, stale = (f"m{next(_marker)}" for _ in range(3))
    # the destination holds an old value; the source (reached via its own tier) holds the new one
    if src == "runtime":
        probe.put(c, "main", mark)
        run(c, f"LOAD {module} TO RUNTIME")
        probe.put(c, "main", old)
    else:
        probe.put(c, dst if dst != "runtime" else "main", old)
        if dst == "runtime":
            run(c, f"LOAD {module} TO RUNTIME")
        probe.put(c, src, mark)
    if other == "disk":
        probe.put(c, "disk", stale)
    untouched = probe.get(c, other)
    assert probe.get(c, dst) == {old}
    r = run(c, stmt)
    assert r.columns is None, stmt
    assert probe.get(c, dst) == {mark}, f"{stmt!r} did not move {src} -> {dst}"
    assert probe.get(c, src if src != "runtime" else "runtime") == {mark}, f"{stmt!r} changed its source"
    assert probe.get(c, other) == untouched, f"{stmt!r} touched {other}"


@pytest.mark.parametrize("module", MODULES)
@pytest.mark.parametrize("direction,spelling", [(d, s) for d, ss in SPELLINGS.items() for s in ss],
                         ids=lambda v: v if " " not in v else v.replace("{M}", "M").replace(" ", "_"))
def test_every_spelling_moves_data(conn, module, direction, spelling):
    for stmt in variants(spelling.format(M=module)):
        prove_direction(conn, module, direction, stmt)


def test_not_commands_change_nothing(conn):
    before = checksums(conn)
    for stmt in ("LOAD MYSQL SERVERS TO DISK", "LOAD MYSQL SERVERS FROM RUNTIME", "SAVE MYSQL SERVERS TO RUNTIME",
                 "SAVE MYSQL SERVERS FROM DISK", "LOAD MYSQL SERVERS", "SAVE MYSQL USERS TO",
                 "LOAD MYSQL USERS TO MEMORY NOW", "LOAD ALL TO RUNTIME", "SAVE MYSQL VARIABLES FROM CONFIG",
                 "LOAD ADMIN VARIABLES FROM DISK TO RUNTIME", "LOAD MYSQL SERVER TO RUNTIME",
                 "LOAD MYSQLSERVERS TO RUNTIME", "CHECKSUM DISK",
                 "CHECKSUM RUN MYSQL SERVERS", "CHECKSUM MYSQL SERVERS NOW"):
        with expect_error(1064, "42000", match=r"^Unknown admin command: "):
            run(conn, stmt)
    assert checksums(conn) == before


# -- FROM CONFIG --------------------------------------------------------------------------------------------
def test_load_from_config(conn, tp):
    # memory edits, then each module merges the cnf back in (rows only in memory survive)
    run(conn, "DELETE FROM mysql_servers WHERE hostgroup_id=0")
    run(conn, "UPDATE mysql_servers SET comment='edited' WHERE hostgroup_id=1")
    run(conn, "INSERT INTO mysql_servers (hostgroup_id, hostname) VALUES (5, 'memory-only')")
    run(conn, "DELETE FROM mysql_group_replication_hostgroups")
    run(conn, "UPDATE mysql_users SET password='changed'")
    run(conn, "SET mysql-max_connections=42")
    run(conn, "SET mysql-long_query_time=42")
    run(conn, "SET admin-stats_credentials='stats:changed'")
    before = {t: checksums(conn)[(m, t)] for m in MODULES for t in ("DISK", "RUNTIME")}

    assert run(conn, "LOAD MYSQL SERVERS FROM CONFIG").affected == 3  # two servers + one GR row
    assert rows(conn, "SELECT hostgroup_id, port, max_connections, comment FROM mysql_servers ORDER BY 1") == [
        ("0", "3307", "200", ""), ("1", "3308", "1000", "replica"), ("5", "3306", "1000", "")]
    assert rows(conn, "SELECT writer_hostgroup FROM mysql_group_replication_hostgroups") == [("10",)]
    assert run(conn, "load mysql users from config;").affected == 2
    assert rows(conn, "SELECT username, password, attributes FROM mysql_users ORDER BY 1") == [
        ("app2", "p2", '{"a": 1}'), ("sb", "sbpass", "")]
    assert run(conn, "  Load\tMysql Variables  From\nConfig ").affected == 3
    assert scalar(conn, "SELECT @@mysql-max_connections") == "500"
    assert scalar(conn, "SELECT @@mysql-long_query_time") == "42"  # not in the cnf: untouched
    assert run(conn, "LOAD ADMIN VARIABLES FROM CONFIG").affected == 2
    assert scalar(conn, "SELECT @@admin-stats_credentials") == "stats:changed"
    assert {t: checksums(conn)[(m, t)] for m in MODULES for t in ("DISK", "RUNTIME")} == before

    # the cnf is read when the command runs
    tp.cnf.write_text(tp.pristine_cnf.replace('comment = "replica"', 'comment = "re-read"'))
    run(conn, "LOAD MYSQL SERVERS FROM CONFIG")
    assert scalar(conn, "SELECT comment FROM mysql_servers WHERE hostgroup_id=1") == "re-read"
    # an unreadable cnf or a row the table refuses: ERR naming the problem, memory unchanged
    memory = checksums(conn)[("MYSQL SERVERS", "MEMORY")]
    tp.cnf.write_text(tp.pristine_cnf + "\nmysql_servers_oops = (\n")
    with expect_error(1105, "HY000", match=rf"^Unable to open or parse config file: {re.escape(str(tp.cnf))}:\d+: "):
        run(conn, "LOAD MYSQL SERVERS FROM CONFIG")
    tp.cnf.write_text(tp.pristine_cnf.replace("port = 3308", "port = 70000"))
    with expect_error(1105, "HY000", match=r"mysql_servers\[1\].*port"):
        run(conn, "LOAD MYSQL SERVERS FROM CONFIG")
    tp.cnf.unlink()
    with expect_error(1105, "HY000", match="Unable to open or parse config file"):
        run(conn, "LOAD MYSQL USERS FROM CONFIG")
    assert checksums(conn)[("MYSQL SERVERS", "MEMORY")] == memory


# -- CHECKSUM ------------------------------------------------------------------------------------------------
def test_checksum(conn):
    for m in MODULES:
        vals = set()
        for word in ("", "MEMORY ", "MEM ", "DISK ", "RUNTIME "):
            for stmt in (f"CHECKSUM {word}{m}", f"  checksum {word.lower()}{m.lower()} ;"):
                r = run(conn, stmt)
                assert r.columns == ["table", "checksum"] and r.rows[0][0] == m
                assert re.fullmatch(r"0x[0-9A-F]{16}", r.rows[0][1])
                vals.add(r.rows[0][1])
        assert len(vals) == 1, f"{m}: tiers hold the same content, checksums differ: {vals}"
    base = checksums(conn)
    assert len({base[(m, "MEMORY")] for m in MODULES}) == 4

    run(conn, "UPDATE mysql_servers SET weight=2 WHERE hostgroup_id=1")
    run(conn, "UPDATE mysql_users SET comment='x' WHERE username='sb'")
    run(conn, "SET mysql-max_connections=501")
    run(conn, "SET admin-stats_credentials='stats:x'")
    changed = checksums(conn)
    for m in MODULES:
        assert changed[(m, "MEMORY")] != base[(m, "MEMORY")]
        assert (changed[(m, "DISK")], changed[(m, "RUNTIME")]) == (base[(m, "DISK")], base[(m, "RUNTIME")])
        assert run(conn, f"CHECKSUM {m}").rows[0][1] == changed[(m, "MEMORY")] == \
            run(conn, f"CHECKSUM MEM {m}").rows[0][1]
        run(conn, f"SAVE {m} TO DISK")
        assert run(conn, f"CHECKSUM DISK {m}").rows[0][1] == changed[(m, "MEMORY")]
        assert run(conn, f"CHECKSUM RUNTIME {m}").rows[0][1] == base[(m, "RUNTIME")]
        run(conn, f"LOAD {m} TO RUNTIME")
        assert run(conn, f"CHECKSUM RUNTIME {m}").rows[0][1] == changed[(m, "MEMORY")]

    # the row order a table happens to hold does not matter; empty content is all zeros
    run(conn, "DELETE FROM disk.mysql_servers")
    for r in reversed(rows(conn, "SELECT * FROM main.mysql_servers")):
        with conn.cursor() as cur:
            cur.execute("INSERT INTO disk.mysql_servers VALUES (" + ",".join(["%s"] * len(r)) + ")", r)
    assert run(conn, "CHECKSUM DISK MYSQL SERVERS").rows == run(conn, "CHECKSUM MEMORY MYSQL SERVERS").rows
    run(conn, "DELETE FROM mysql_servers")
    run(conn, "DELETE FROM mysql_group_replication_hostgroups")
    assert run(conn, "CHECKSUM MYSQL SERVERS").rows == [("MYSQL SERVERS", "0x0000000000000000")]


# -- DISK <-> MEMORY: full replace for tables, merge for variables -----------------------------------------------
def test_tables_full_replace_between_disk_and_memory(conn):
    run(conn, "INSERT INTO disk.mysql_servers (hostgroup_id, hostname) VALUES (6, 'disk-only')")
    run(conn, "INSERT INTO disk.mysql_users (username) VALUES ('disk-only')")
    run(conn, "INSERT INTO disk.mysql_group_replication_hostgroups VALUES (20, 21, 22, 23, 1, 1, 0, 0, NULL)")
    memory = {t: rows(conn, f"SELECT * FROM main.{t} ORDER BY 1, 2") for t in DISK_TABLES[:3]}
    assert run(conn, "SAVE MYSQL SERVERS TO DISK").affected == 3
    assert run(conn, "SAVE MYSQL USERS TO DISK").affected == 2
    for t in DISK_TABLES[:3]:
        assert rows(conn, f"SELECT * FROM disk.{t} ORDER BY 1, 2") == memory[t]

    run(conn, "INSERT INTO main.mysql_servers (hostgroup_id, hostname) VALUES (6, 'memory-only')")
    run(conn, "INSERT INTO main.mysql_users (username) VALUES ('memory-only')")
    assert run(conn, "LOAD MYSQL SERVERS FROM DISK").affected == 3
    assert run(conn, "LOAD MYSQL USERS FROM DISK").affected == 2
    for t in DISK_TABLES[:3]:
        assert rows(conn, f"SELECT * FROM main.{t} ORDER BY 1, 2") == memory[t]

    # an empty source empties the destination, both ways
    run(conn, "DELETE FROM main.mysql_servers")
    run(conn, "DELETE FROM main.mysql_group_replication_hostgroups")
    run(conn, "DELETE FROM main.mysql_users")
    assert run(conn, "SAVE MYSQL SERVERS TO DISK").affected == 0
    assert run(conn, "SAVE MYSQL USERS TO DISK").affected == 0
    for t in DISK_TABLES[:3]:
        assert scalar(conn, f"SELECT count(*) FROM disk.{t}") == "0"
    run(conn, "INSERT INTO main.mysql_servers (hostgroup_id, hostname) VALUES (6, 'memory-only')")
    run(conn, "INSERT INTO main.mysql_users (username) VALUES ('memory-only')")
    assert run(conn, "LOAD MYSQL SERVERS TO MEMORY").affected == 0
    assert run(conn, "LOAD MYSQL USERS TO MEM").affected == 0
    for t in DISK_TABLES[:3]:
        assert scalar(conn, f"SELECT count(*) FROM main.{t}") == "0"


def test_variables_merge_by_name_and_prefix(conn):
    n_mysql = int(scalar(conn, "SELECT count(*) FROM main.global_variables WHERE variable_name LIKE 'mysql-%'"))
    n_admin = int(scalar(conn, "SELECT count(*) FROM main.global_variables WHERE variable_name LIKE 'admin-%'"))
    run(conn, "INSERT INTO disk.global_variables VALUES ('mysql-disk_only', '1')")
    run(conn, "UPDATE disk.global_variables SET variable_value='disk' WHERE variable_name='admin-stats_credentials'")
    run(conn, "SET mysql-max_connections=700")
    assert run(conn, "SAVE MYSQL VARIABLES TO DISK").affected == n_mysql
    assert scalar(conn, "SELECT variable_value FROM disk.global_variables "
                        "WHERE variable_name='mysql-max_connections'") == "700"
    assert scalar(conn, "SELECT count(*) FROM disk.global_variables WHERE variable_name='mysql-disk_only'") == "1"
    assert scalar(conn, "SELECT variable_value FROM disk.global_variables "
                        "WHERE variable_name='admin-stats_credentials'") == "disk"  # other prefix untouched

    run(conn, "INSERT INTO main.global_variables VALUES ('mysql-memory_only', '1')")
    run(conn, "UPDATE disk.global_variables SET variable_value='701' WHERE variable_name='mysql-max_connections'")
    run(conn, "SET admin-stats_credentials='stats:memory'")
    assert run(conn, "LOAD MYSQL VARIABLES FROM DISK").affected == n_mysql + 1
    assert scalar(conn, "SELECT @@mysql-max_connections") == "701"
    assert scalar(conn, "SELECT count(*) FROM main.global_variables WHERE variable_name='mysql-memory_only'") == "1"
    assert scalar(conn, "SELECT count(*) FROM main.global_variables WHERE variable_name='mysql-disk_only'") == "1"
    assert scalar(conn, "SELECT @@admin-stats_credentials") == "stats:memory"
    assert run(conn, "LOAD ADMIN VARIABLES FROM DISK").affected == n_admin
    assert scalar(conn, "SELECT @@admin-stats_credentials") == "disk"
    # even an empty disk only merges: nothing in memory is deleted
    run(conn, "DELETE FROM disk.global_variables")
    assert run(conn, "LOAD MYSQL VARIABLES FROM DISK").affected == 0
    assert scalar(conn, "SELECT @@mysql-max_connections") == "701"


# -- MEMORY -> RUNTIME: validation and warnings ----------------------------------------------------------
def test_load_to_runtime_refuses_bad_tables_and_keeps_runtime(conn):
    cases = [
        ("MYSQL SERVERS", "INSERT INTO mysql_servers (hostgroup_id, hostname, port) VALUES (5, ' ', 3306)",
         r"^LOAD MYSQL SERVERS TO RUNTIME failed, runtime unchanged: mysql_servers row \(hostgroup 5\): empty hostname$"),
        ("MYSQL SERVERS", "INSERT INTO mysql_group_replication_hostgroups (writer_hostgroup, backup_writer_hostgroup, "
                          "reader_hostgroup, offline_hostgroup) VALUES (20, 10, 22, 23)",
         r"mysql_group_replication_hostgroups writer 20: hostgroup 10 is another group's writer hostgroup"),
        ("MYSQL USERS", "INSERT INTO mysql_users (username) VALUES ('')", r"mysql_users row with an empty username"),
    ]
    for module, bad, reason in cases:
        table = "mysql_servers" if module == "MYSQL SERVERS" else "mysql_users"
        live = rows(conn, f"SELECT * FROM runtime_{table} ORDER BY 1, 2")
        before = run(conn, f"CHECKSUM RUNTIME {module}").rows
        run(conn, bad)
        run(conn, f"UPDATE {table} SET comment='not applied'")  # a good change in the same load
        with expect_error(1105, "HY000", match=reason):
            run(conn, f"LOAD {module} TO RUNTIME")
        assert rows(conn, f"SELECT * FROM runtime_{table} ORDER BY 1, 2") == live
        assert run(conn, f"CHECKSUM RUNTIME {module}").rows == before
        run(conn, f"LOAD {module} FROM DISK")
        assert run(conn, f"LOAD {module} TO RUNTIME").columns is None


def test_bad_variable_values_reset_with_warnings(conn, tp):
    run(conn, "UPDATE global_variables SET variable_value='abc' WHERE variable_name='mysql-max_connections'")
    run(conn, "UPDATE global_variables SET variable_value='maybe' WHERE variable_name='mysql-query_digests'")
    run(conn, "INSERT INTO global_variables VALUES ('mysql-no_such_thing', '1')")
    run(conn, "SET mysql-long_query_time=1234")
    r = run(conn, "LOAD MYSQL VARIABLES TO RUNTIME")
    assert r.columns is None and r.warnings == 3
    w = run(conn, "SHOW WARNINGS")
    assert w.columns == ["Level", "Code", "Message"]
    assert sorted(w.rows) == sorted([
        ("Warning", "1231", "Variable 'mysql-max_connections' can't be set to the value of 'abc'; reset to '500'"),
        ("Warning", "1231", "Variable 'mysql-query_digests' can't be set to the value of 'maybe'; reset to 'true'"),
        ("Warning", "1193", "Unknown global variable 'mysql-no_such_thing' removed")])
    assert scalar(conn, "SHOW COUNT(*) WARNINGS") == "3"
    # rejected values are reset in memory to the runtime value, unknown names deleted, good ones applied
    assert rows(conn, "SELECT variable_name, variable_value FROM global_variables WHERE variable_name IN "
                      "('mysql-max_connections', 'mysql-query_digests', 'mysql-no_such_thing', "
                      "'mysql-long_query_time') ORDER BY 1") == [
        ("mysql-long_query_time", "1234"), ("mysql-max_connections", "500"), ("mysql-query_digests", "true")]
    assert rows(conn, "SELECT variable_value FROM runtime_global_variables "
                      "WHERE variable_name='mysql-long_query_time'") == [("1234",)]
    assert "can't be set to the value of 'abc'; reset to '500'" in tp.log()

    run(conn, "UPDATE global_variables SET variable_value='9.9.9' WHERE variable_name='admin-version'")
    r = run(conn, "load admin variables to runtime")
    assert r.warnings == 1
    assert "admin-version" in run(conn, "SHOW WARNINGS").rows[0][2]
    assert scalar(conn, "SELECT @@admin-version") != "9.9.9"
    r = run(conn, "LOAD MYSQL VARIABLES TO RUNTIME")
    assert r.warnings == 0 and run(conn, "SHOW WARNINGS").rows == []


# -- runtime_ tables ----------------------------------------------------------------------------------------
def test_runtime_tables_reflect_live_state(conn):
    run(conn, "UPDATE mysql_servers SET status='offline_soft' WHERE hostgroup_id=1")
    run(conn, "INSERT INTO mysql_users (username, password, active) VALUES ('sleeper', 'x', 0)")
    run(conn, "INSERT INTO mysql_group_replication_hostgroups (writer_hostgroup, backup_writer_hostgroup, "
              "reader_hostgroup, offline_hostgroup, comment) VALUES (30, 31, 32, 33, 'gr2')")
    assert rows(conn, "SELECT status FROM runtime_mysql_servers WHERE hostgroup_id=1") == [("ONLINE",)]
    assert run(conn, "LOAD MYSQL SERVERS TO RUNTIME").affected == 4
    assert run(conn, "LOAD MYSQL USERS TO RUNTIME").affected == 3
    assert rows(conn, "SELECT status FROM runtime_mysql_servers WHERE hostgroup_id=1") == [("OFFLINE_SOFT",)]
    assert rows(conn, "SELECT writer_hostgroup, comment FROM runtime_mysql_group_replication_hostgroups") == [
        ("10", None), ("30", "gr2")]
    # each active user twice (frontend row, backend row); inactive ones are not live
    assert rows(conn, "SELECT username, backend, frontend FROM runtime_mysql_users ORDER BY 1, 2") == [
        ("app2", "0", "1"), ("app2", "1", "0"), ("sb", "0", "1"), ("sb", "1", "0")]
    # a projection: edits to it are overwritten the next time a statement names it
    run(conn, "DELETE FROM runtime_mysql_servers")
    assert scalar(conn, "SELECT count(*) FROM runtime_mysql_servers") == "2"
    assert rows(conn, "SELECT * FROM runtime_plugins") == []
    assert [r[0] for r in rows(conn, "SELECT variable_name FROM runtime_global_variables ORDER BY 1")] == \
        [r[0] for r in rows(conn, "SELECT variable_name FROM global_variables ORDER BY 1")]


def test_users_runtime_to_memory_rule(conn):
    run(conn, "INSERT INTO mysql_users (username, password) VALUES ('not_loaded', 'x')")
    assert run(conn, "SAVE MYSQL USERS TO MEMORY").affected == 4
    assert rows(conn, "SELECT username, backend, frontend, active FROM mysql_users ORDER BY 1, 2") == [
        ("app2", "0", "1", "1"), ("app2", "1", "0", "1"), ("not_loaded", "1", "1", "0"),
        ("sb", "0", "1", "1"), ("sb", "1", "0", "1")]
    # the split rows load back to the same runtime
    before = rows(conn, "SELECT * FROM runtime_mysql_users ORDER BY 1, 10")
    assert run(conn, "LOAD MYSQL USERS TO RUNTIME").affected == 5
    assert rows(conn, "SELECT * FROM runtime_mysql_users ORDER BY 1, 10") == before
    # with no user at runtime, nothing happens to memory
    run(conn, "DELETE FROM mysql_users")
    run(conn, "LOAD MYSQL USERS TO RUNTIME")
    run(conn, "INSERT INTO mysql_users (username, password) VALUES ('kept', 'x')")
    assert run(conn, "SAVE MYSQL USERS FROM RUNTIME").affected == 0
    assert rows(conn, "SELECT username, active FROM mysql_users") == [("kept", "1")]


def test_affected_rows(conn):
    assert run(conn, "SAVE MYSQL SERVERS TO DISK").affected == 3  # rows written: 2 servers + 1 GR row
    assert run(conn, "LOAD MYSQL SERVERS FROM DISK").affected == 3
    assert run(conn, "LOAD MYSQL SERVERS TO RUNTIME").affected == 3  # rows in the snapshot
    assert run(conn, "SAVE MYSQL SERVERS TO MEMORY").affected == 3
    assert run(conn, "SAVE MYSQL USERS TO DISK").affected == 2
    assert run(conn, "LOAD MYSQL USERS TO RUNTIME").affected == 2
    assert run(conn, "SAVE MYSQL USERS TO MEMORY").affected == 4  # frontend + backend row per user
    n_mysql = int(scalar(conn, "SELECT count(*) FROM global_variables WHERE variable_name LIKE 'mysql-%'"))
    n_admin = int(scalar(conn, "SELECT count(*) FROM global_variables WHERE variable_name LIKE 'admin-%'"))
    assert n_mysql >= 16 and n_admin >= 5
    for m, n in (("MYSQL VARIABLES", n_mysql), ("ADMIN VARIABLES", n_admin)):
        for stmt in (f"SAVE {m} TO DISK", f"LOAD {m} FROM DISK", f"LOAD {m} TO RUNTIME", f"SAVE {m} TO MEMORY"):
            assert run(conn, stmt).affected == n, stmt
    assert run(conn, "LOAD MYSQL SERVERS FROM CONFIG").affected == 3
    assert run(conn, "LOAD MYSQL USERS FROM CONFIG").affected == 2
    assert run(conn, "LOAD MYSQL VARIABLES FROM CONFIG").affected == 3
    assert run(conn, "LOAD ADMIN VARIABLES FROM CONFIG").affected == 2
