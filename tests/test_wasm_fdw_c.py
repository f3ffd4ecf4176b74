"""Wasm foreign tables served by the C example guests (examples/wasm/fdw/c): an in-memory writable
table (INSERT/UPDATE/DELETE, joins) and a generated series (batches, the limit hint), plus a restart.
Needs clang with the wasm32 target and wasm-ld; skipped with the reason otherwise."""

from __future__ import annotations

import hashlib
import importlib.util
import re
import time
from pathlib import Path
from types import SimpleNamespace

import pymysql
import pytest

from tests.conftest import Proxyd

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("fdw_build", REPO / "examples" / "wasm" / "fdw" / "build.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)

pytestmark = pytest.mark.skipif(not build.have_c_toolchain(),
                                reason="clang with the wasm32 target and wasm-ld are not installed (Debian: clang lld)")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fdwc")
    built = build.build_all(tmp / "guests")
    p = Proxyd(tmp, """
        mysql_servers = ( { address = "embedded"; port = 0; hostgroup = 0 } )
        mysql_users = ( { username = "app"; password = "app"; default_hostgroup = 0 } )
        wasm_variables = { fdw_batch_rows = "100" }
        """, plugins=("wasm",)).start()
    admin = p.admin()
    with admin.cursor() as c:
        for name, file, options in (("mem", "memtable.wasm", "{}"), ("series", "series.wasm", '{"count":"1000"}')):
            path = built[file]
            c.execute("INSERT INTO wasm_fdw_servers (server_name, module_url, module_sha256, options, module_name, "
                      "module_version) VALUES (%s, %s, %s, %s, %s, '0.1.0')",
                      (name, f"file://{path}", hashlib.sha256(path.read_bytes()).hexdigest(), options, f"example:{name}"))
        c.execute("INSERT INTO wasm_fdw_tables (schema_name, table_name, server_name, columns, options) VALUES "
                  "('app', 'notes', 'mem', 'id BIGINT NOT NULL, body VARCHAR(64), score DOUBLE', "
                  "'{\"rowid_column\":\"id\"}'), "
                  "('app', 'nums', 'series', 'id BIGINT, name VARCHAR(32), bucket INT', '{}'), "
                  "('app', 'tags', 'mem', 'code VARCHAR(8) NOT NULL, label VARCHAR(16)', '{\"rowid_column\":\"code\"}')")
        c.execute("LOAD WASM FDW TO RUNTIME")
    sql = pymysql.connect(host="127.0.0.1", port=p.sql_port, user="app", password="app", autocommit=True)
    env = SimpleNamespace(p=p, admin=admin, sql=sql)
    yield env
    env.sql.close()
    env.admin.close()
    p.stop()


def q(conn, sql: str, args=None) -> list[tuple]:
    with conn.cursor() as c:
        c.execute(sql, args)
        return list(c.fetchall())


def test_in_memory_table_insert_update_delete(env):
    started_ms = int(time.time() * 1000)
    assert q(env.sql, "SELECT * FROM app.notes") == []
    q(env.sql, "INSERT INTO app.notes VALUES (1, 'first', 1.5), (2, 'second \"quoted\"', NULL), (3, 'third', 0)")
    assert env.sql.affected_rows() == 3
    assert q(env.sql, "SELECT id, body, score FROM app.notes ORDER BY id") == [
        (1, "first", 1.5), (2, 'second "quoted"', None), (3, "third", 0.0)]
    q(env.sql, "UPDATE app.notes SET body = 'changed', score = score + 1 WHERE id >= 2")
    q(env.sql, "DELETE FROM app.notes WHERE id = 1")
    assert q(env.sql, "SELECT id, body, score FROM app.notes ORDER BY id DESC") == [(3, "changed", 1.0),
                                                                                 (2, "changed", None)]
    with pytest.raises(pymysql.MySQLError) as info:  # checked by the host before the guest sees the row
        q(env.sql, "INSERT INTO app.notes VALUES (NULL, 'x', 1)")
    assert info.value.args == (1048, "Column 'id' cannot be null")
    with pytest.raises(pymysql.MySQLError) as info:
        q(env.sql, "UPDATE app.notes SET id = 9 WHERE id = 3")
    assert info.value.args == (1105, "foreign table app.notes: the rowid column cannot be changed")
    s = q(env.admin, "SELECT inserts, updates, deletes FROM stats.stats_wasm_fdw_tables WHERE table_name='notes'")
    assert s == [("3", "2", "1")]
    # the guest's own counters (stat_add) and its log lines with the host clock (now_ms)
    assert q(env.admin, "SELECT name, value FROM stats.stats_wasm_fdw_guest_counters WHERE server_name = 'mem' "
                        "ORDER BY name") == [("rows_deleted", "1"), ("rows_inserted", "3")]
    stamps = [int(m) for m in re.findall(r"\[wasm fdw app\.notes \(server mem\)\] modify begins at (\d+)", env.p.log())]
    assert stamps and all(started_ms <= t <= time.time() * 1000 for t in stamps)


def test_text_rowid_column(env):
    q(env.sql, "INSERT INTO app.tags VALUES ('a-1', 'one'), ('b-2', 'two'), ('c-3', 'three')")
    q(env.sql, "UPDATE app.tags SET label = 'TWO' WHERE code = 'b-2'")
    q(env.sql, "DELETE FROM app.tags WHERE label LIKE 'th%'")
    assert q(env.sql, "SELECT code, label FROM app.tags ORDER BY code") == [("a-1", "one"), ("b-2", "TWO")]


def test_join_and_aggregate_with_local_table(env):
    q(env.sql, "CREATE TABLE app.buckets (bucket INT PRIMARY KEY, label VARCHAR(8))")
    q(env.sql, "INSERT INTO app.buckets VALUES (7, 'seven'), (42, 'answer')")
    rows = q(env.sql, "SELECT b.label, COUNT(*), MIN(n.id) FROM app.nums n JOIN app.buckets b ON b.bucket = n.bucket "
                      "GROUP BY b.label ORDER BY b.label")
    assert rows == [("answer", 10, 42), ("seven", 10, 7)]
    assert q(env.sql, "SELECT COUNT(*), SUM(id) FROM app.nums") == [(1000, 500500)]


def test_limit_hint_lets_the_guest_stop_early(env):
    before = int(q(env.admin, "SELECT rows_out FROM stats.stats_wasm_fdw_tables WHERE table_name='nums'")[0][0])
    assert q(env.sql, "SELECT id FROM app.nums LIMIT 3 OFFSET 5") == [(6,), (7,), (8,)]
    after = int(q(env.admin, "SELECT rows_out FROM stats.stats_wasm_fdw_tables WHERE table_name='nums'")[0][0])
    assert after - before == 8  # count + offset rows, not the 1000 of the table
    # with a qual the limit is not a hint any more (SQLite filters first): every row is read
    assert q(env.sql, "SELECT id FROM app.nums WHERE bucket = 1 ORDER BY id LIMIT 2") == [(1,), (101,)]


def test_import_foreign_schema(env):
    q(env.admin, "IMPORT WASM FDW SCHEMA remote FROM SERVER series INTO imported EXCEPT (nums)")
    assert q(env.admin, "SELECT schema_name, table_name, server_name, options FROM wasm_fdw_tables "
                        "WHERE schema_name = 'imported'") == [("imported", "nums_hundred", "series", '{"count": "100"}')]
    assert q(env.admin, "SELECT COUNT(*) FROM runtime_wasm_fdw_tables WHERE schema_name = 'imported'") == [("0",)]
    q(env.admin, "IMPORT WASM FDW SCHEMA remote FROM SERVER series INTO imported")
    q(env.admin, "LOAD WASM FDW TO RUNTIME")
    assert q(env.sql, "SELECT COUNT(*) FROM imported.nums_hundred") == [(100,)]
    assert q(env.sql, "SELECT COUNT(*) FROM imported.nums") == [(1000,)]
    with pytest.raises(pymysql.MySQLError) as info:
        q(env.admin, "IMPORT WASM FDW SCHEMA remote FROM SERVER mem INTO imported")
    assert info.value.args == (1105, "server 'mem': its module does not export fdw_import_foreign_schema")
    with pytest.raises(pymysql.MySQLError) as info:
        q(env.admin, "IMPORT WASM FDW SCHEMA remote INTO imported")
    assert info.value.args[0] == 1064 and "LIMIT TO" in info.value.args[1]


def test_compiled_once_and_served_after_restart(env):
    for _ in range(20):
        q(env.sql, "SELECT COUNT(*) FROM app.nums")
    q(env.admin, "LOAD WASM FDW TO RUNTIME")  # unchanged: nothing recompiled
    assert q(env.admin, "SELECT server_name, compiled_from, module_name FROM stats.stats_wasm_fdw_modules "
                        "ORDER BY server_name") == [("mem", "compiled", "example:mem"),
                                                    ("series", "compiled", "example:series")]
    q(env.admin, "SAVE WASM FDW TO DISK")
    env.sql.close()
    env.p.restart()
    env.sql = pymysql.connect(host="127.0.0.1", port=env.p.sql_port, user="app", password="app", autocommit=True)
    env.admin.close()
    env.admin = env.p.admin()
    assert q(env.sql, "SELECT COUNT(*) FROM app.nums") == [(1000,)]
    assert q(env.sql, "SELECT * FROM app.notes") == []  # the in-memory rows do not outlive the process
    assert ("nums",) in q(env.sql, "SHOW TABLES FROM app")
    assert q(env.admin, "SELECT compiled_from FROM stats.stats_wasm_fdw_modules WHERE server_name='series'") in (
        [("disk",)], [("compiled",)])
