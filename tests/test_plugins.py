"""The plugin host over real sockets: plugin-api.md §14 acceptance checks 1-12 and start-up failures.

Plugins come from two real distributions installed by ``plugin_distributions``: the documented
example (``hello``, examples/hello-plugin) and the test plugins (``t_*``, tests/plugin_fixtures).
Most checks share one daemon (``main``) and run in file order, each leaving it serving the full
plugin list; start-up failures run proxyd to completion.
"""

from __future__ import annotations

import importlib.metadata as md
import inspect
import json
import re
from pathlib import Path
from typing import Any, Iterator

import pluggy
import pymysql

from tests.admin_helpers import ok_info
import pytest

from proxyd import HOST_ABI, hookspecs
from tests.conftest import Proxyd
from tests.plugin_support import plugin_distributions  # noqa: F401  (the fixture)

pytestmark = pytest.mark.usefixtures("plugin_distributions")

CORE_ROWS = """
mysql_servers = ( { address = "embedded"; port = 0; hostgroup = 0 },
                  { address = "db1.example"; port = 3306; hostgroup = 10; weight = 5 } )
mysql_users = ( { username = "app"; password = "app"; default_hostgroup = 0 } )
mysql_group_replication_hostgroups = ( { writer_hostgroup = 10; backup_writer_hostgroup = 20;
                                         reader_hostgroup = 30; offline_hostgroup = 40 } )
"""
HELLO_CNF = """
hello_greetings = ( { name = "ann"; greeting = "hi" }, { name = "bob" } )
hello_variables = { punctuation = "?" }
"""
# cnf order on purpose not dependency order: t_needs_a needs t_rec_a, t_hook_user needs t_hook_provider
MAIN_PLUGINS = ("hello", "t_commands", "t_needs_a", "t_rec_b", "t_rec_a", "t_status_raises", "t_hook_user",
                "t_hook_provider", "t_reloadable", "t_owner")
PLUGIN_COLUMNS = ["name", "version", "distribution", "state", "status_json"]


# -- helpers ------------------------------------------------------------------------------------
def rows(conn: pymysql.connections.Connection, sql: str) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def dict_rows(conn: pymysql.connections.Connection, sql: str) -> list[dict[str, Any]]:
    with conn.cursor() as cur:
        cur.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]


def ok(conn: pymysql.connections.Connection, sql: str) -> tuple[int, str]:
    """Run a statement that answers OK: (rows affected, info text)."""
    with conn.cursor() as cur:
        affected = cur.execute(sql)
    return affected, ok_info(conn._result.message if conn._result is not None else None).decode()


def error(conn: pymysql.connections.Connection, sql: str) -> tuple[int, str]:
    with pytest.raises(pymysql.err.MySQLError) as info:
        rows(conn, sql)
    return info.value.args[0], info.value.args[1]


def records(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def plugin_names(conn: pymysql.connections.Connection) -> list[str]:
    return [r[0] for r in rows(conn, "SHOW PLUGINS")]


def cnf_line(p: Proxyd, key: str) -> int:
    for n, line in enumerate(p.cnf.read_text().splitlines(), 1):
        if line.lstrip().startswith(key):
            return n
    raise AssertionError(f"{key} not in the cnf")


def failed_start(p: Proxyd, *args: str, env: dict | None = None) -> tuple[int, str]:
    """Run proxyd expecting start-up to fail; returns (exit status, stderr)."""
    done = p.run(*args, env=env)
    assert done.returncode != 0, done.stderr
    assert "listening on" not in done.stderr, "listeners opened although start-up failed"
    return done.returncode, done.stderr


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if " ERROR proxyd: " in line]


# -- the shared daemon ----------------------------------------------------------------------------
class MainProxyd(Proxyd):
    """The shared daemon, with the files its test plugins write (record) and read (marker)."""

    def __init__(self, tmp: Path):
        super().__init__(tmp, CORE_ROWS + HELLO_CNF, MAIN_PLUGINS)
        self.record = tmp / "record"
        self.marker = tmp / "marker"
        self.marker.write_text("v1")

    def start(self, *args: str, env: dict | None = None, wait: bool = True) -> "MainProxyd":
        env = {"PROXYD_TEST_RECORD": str(self.record), "PROXYD_TEST_RELOAD_FILE": str(self.marker), **(env or {})}
        super().start(*args, env=env, wait=wait)
        return self


@pytest.fixture(scope="module")
def main(plugin_distributions, tmp_path_factory) -> Iterator[MainProxyd]:  # noqa: F811
    p = MainProxyd(tmp_path_factory.mktemp("main")).start()
    yield p
    assert p.stop() == 0, p.log()


@pytest.fixture(scope="module")
def conn(main: MainProxyd) -> Iterator[pymysql.connections.Connection]:
    """One admin connection for the whole module: hot plugging must never drop it."""
    c = main.admin()
    yield c
    c.close()


# -- 1. SHOW PLUGINS / runtime_plugins ---------------------------------------------------------------
def test_show_plugins_and_runtime_plugins(conn):
    with conn.cursor() as cur:
        cur.execute("SHOW PLUGINS")
        assert [d[0] for d in cur.description] == PLUGIN_COLUMNS
        shown = list(cur.fetchall())
    assert sorted(r[0] for r in shown) == sorted(MAIN_PLUGINS)
    by_name = {r[0]: dict(zip(PLUGIN_COLUMNS, r)) for r in shown}
    hello = by_name["hello"]
    assert (hello["version"], hello["distribution"], hello["state"]) == ("0.1.0", "proxyd-hello", "running")
    assert json.loads(hello["status_json"]) == {"greetings": 2, "greets_served": 0}
    assert by_name["t_rec_a"]["distribution"] == "proxyd-test-plugins"
    assert all(r["state"] == "running" for r in by_name.values())
    assert json.loads(by_name["t_reloadable"]["status_json"]) == {"imports": 1, "marker": "v1"}  # a JSON text
    assert json.loads(by_name["t_rec_a"]["status_json"]) == {}  # no status_json hook
    # a status_json that raises shows an object with an "error" key, and the others still show
    assert json.loads(by_name["t_status_raises"]["status_json"]) == {
        "error": "ValueError: status is unavailable on purpose"}

    table = dict_rows(conn, "SELECT * FROM runtime_plugins")
    assert list(table[0]) == PLUGIN_COLUMNS
    assert sorted(tuple(r.values()) for r in table) == sorted(shown)


# -- 5. dependency order ----------------------------------------------------------------------------
def test_requires_orders_plugins_regardless_of_cnf_order(main, conn):
    order = plugin_names(conn)
    assert order.index("t_rec_a") < order.index("t_needs_a")
    assert order.index("t_hook_provider") < order.index("t_hook_user")
    # ties keep cnf order
    assert order.index("hello") < order.index("t_commands") < order.index("t_rec_b") < order.index("t_owner")
    # every init before any start, both in load order
    assert records(main.record)[:6] == ["t_rec_a:init", "t_needs_a:init", "t_rec_b:init",
                                        "t_rec_a:start", "t_needs_a:start", "t_rec_b:start"]


# -- 6. canonical matching ----------------------------------------------------------------------------
@pytest.mark.parametrize("spelling", [
    "T ECHO", "t echo", "  T   eChO  ", "t\techo", "T\r\nECHO;", "t echo ;  \n", "T ECHO;;",
    "/* a comment */ t echo", "t  echo  again",
])
def test_command_matches_any_spelling_and_sees_canonical_text(conn, spelling):
    assert rows(conn, spelling) == [("T ECHO",)]


def test_prefix_command_gets_untouched_arguments(conn):
    assert rows(conn, "t  args   'Some  Text'\tMiXeD ;") == [("T ARGS", "T ARGS 'Some  Text'\tMiXeD",
                                                              "'Some  Text'\tMiXeD")]
    assert rows(conn, "T ARGS LONGER x") == [("T ARGS LONGER", "T ARGS LONGER x", "x")]
    assert rows(conn, "T ARGS") == [("T ARGS", "T ARGS", "")]
    assert error(conn, "T ECHOES")[0] == 1064  # no prefix match inside a word


# -- 12 (commands) and §7 results -------------------------------------------------------------------
def test_command_results_and_errors(main, conn):
    assert ok(conn, "T OK") == (3, "three things done")
    assert ok(conn, "T NONE") == (0, "")
    assert ok(conn, "T ASYNC") == (0, "awaited")
    assert error(conn, "T FAIL") == (1234, "T FAIL refuses with its own code")
    code, message = error(conn, "T BOOM")
    assert code == 1105
    assert "plugin 't_commands'" in message and "ZeroDivisionError" in message
    # the connection and the daemon survived
    assert rows(conn, "T ECHO") == [("T ECHO",)]
    assert main.proc.poll() is None


def test_command_context_and_databases(main, conn):
    [(user, address, servers, stats_tables, init_error)] = rows(conn, "T CONTEXT")
    assert user == "admin"
    assert address == "127.0.0.1:%d" % conn._sock.getsockname()[1]
    assert int(servers) == 2 and int(stats_tables) > 0  # the databases work from start() on, not in init()
    assert init_error == "plugin 't_commands': databases are usable from start() on, not during init()"


def test_log_message_levels(main):
    log = main.log()
    assert "ERROR proxyd.plugin.t_commands: [t_commands] severity three is an error" in log
    assert "WARNING proxyd.plugin.t_commands: [t_commands] severity four is a warning" in log
    assert "INFO proxyd.plugin.t_commands: [t_commands] a logging level works too" in log


def test_stats_refresh_is_one_transaction(conn):
    assert rows(conn, "SELECT fill FROM stats.stats_t_flaky") == [("1",)]
    code, message = error(conn, "SELECT fill FROM stats.stats_t_flaky")  # the 2nd refill fails half-way
    assert code == 1105 and "plugin 't_commands'" in message and "refill 2 failed half-way" in message
    assert rows(conn, "T FLAKY ROWS") == [("1",)]  # its DELETE and INSERT were rolled back
    assert rows(conn, "SELECT fill FROM stats_t_flaky") == [("3",)]


# -- 11. snapshots ----------------------------------------------------------------------------------
def snapshot_rows(conn, sql: str = "T SNAPSHOTS") -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for kind, row in rows(conn, sql):
        if kind != "current":
            out.setdefault(kind, []).append(
                {k: None if v is None else str(v) for k, v in json.loads(row).items()})
    return out


def runtime_rows(conn) -> dict[str, list[dict]]:
    users = dict_rows(conn, "SELECT * FROM runtime_mysql_users")
    for u in users:  # the table lists a frontend and a backend row per user; a snapshot one merged row
        u["frontend"] = u["backend"] = "1"
    return {"users": [dict(t) for t in sorted({tuple(u.items()) for u in users})],
            "servers": dict_rows(conn, "SELECT * FROM runtime_mysql_servers"),
            "group_replication_hostgroups": dict_rows(conn, "SELECT * FROM runtime_mysql_group_replication_hostgroups")}


def test_snapshots_follow_runtime_and_only_change_on_load(conn):
    before = snapshot_rows(conn)
    assert before == runtime_rows(conn)
    assert [r["hostname"] for r in before["servers"]] == ["embedded", "db1.example"]
    assert [r["writer_hostgroup"] for r in before["group_replication_hostgroups"]] == ["10"]
    assert [r["username"] for r in before["users"]] == ["app"]

    ok(conn, "T SNAPSHOT HOLD")
    ok(conn, "INSERT INTO mysql_servers (hostgroup_id, hostname, port) VALUES (30, 'db2.example', 3306)")
    ok(conn, "INSERT INTO mysql_users (username, password) VALUES ('bee', 'pw')")
    ok(conn, "INSERT INTO mysql_group_replication_hostgroups (writer_hostgroup, backup_writer_hostgroup, "
             "reader_hostgroup, offline_hostgroup) VALUES (100, 200, 300, 400)")
    assert snapshot_rows(conn) == before  # memory changed, runtime did not
    ok(conn, "LOAD MYSQL SERVERS TO RUNTIME")
    ok(conn, "LOAD MYSQL USERS TO RUNTIME")
    after = snapshot_rows(conn)
    assert after == runtime_rows(conn)
    assert "db2.example" in [r["hostname"] for r in after["servers"]]
    assert [r["writer_hostgroup"] for r in after["group_replication_hostgroups"]] == ["10", "100"]
    assert [r["username"] for r in after["users"]] == ["app", "bee"]
    # a snapshot held by the plugin is immutable: it still shows the old set
    assert rows(conn, "T SNAPSHOT HELD")[0] == ("current", "0")
    assert snapshot_rows(conn, "T SNAPSHOT HELD")["servers"] == before["servers"]


# -- 7. the hello plugin's tiered object ---------------------------------------------------------------
def tier(conn, schema: str) -> list[tuple]:
    return sorted(rows(conn, f"SELECT name, greeting FROM {schema}"))


def test_hello_cnf_seeded_memory_disk_and_runtime_on_first_boot(conn):
    expected = [("ann", "hi"), ("bob", "hello")]  # bob's greeting is the column default
    assert tier(conn, "main.hello_greetings") == expected
    assert tier(conn, "disk.hello_greetings") == expected
    assert tier(conn, "runtime_hello_greetings") == expected
    assert rows(conn, "SELECT variable_value FROM global_variables WHERE variable_name='hello-punctuation'") \
        == [("?",)]
    assert rows(conn, "HELLO GREET ann") == [("ann", "hi, ann?")]


LOAD_SAVE = {
    "memory_to_disk": ["SAVE HELLO GREETINGS TO DISK", "SAVE HELLO GREETINGS FROM MEMORY",
                       "SAVE HELLO GREETINGS FROM MEM"],
    "disk_to_memory": ["LOAD HELLO GREETINGS FROM DISK", "LOAD HELLO GREETINGS TO MEMORY",
                       "LOAD HELLO GREETINGS TO MEM"],
    "memory_to_runtime": ["LOAD HELLO GREETINGS TO RUNTIME", "LOAD HELLO GREETINGS TO RUN",
                          "LOAD HELLO GREETINGS FROM MEMORY", "LOAD HELLO GREETINGS FROM MEM"],
    "runtime_to_memory": ["SAVE HELLO GREETINGS TO MEMORY", "SAVE HELLO GREETINGS TO MEM",
                          "SAVE HELLO GREETINGS FROM RUNTIME", "SAVE HELLO GREETINGS FROM RUN"],
}


def test_hello_all_fourteen_load_save_spellings(conn):
    assert sum(map(len, LOAD_SAVE.values())) == 14
    for i, sql in enumerate(LOAD_SAVE["memory_to_disk"]):
        ok(conn, f"INSERT INTO hello_greetings VALUES ('disk{i}', 'yo')")
        ok(conn, sql.lower().replace(" ", "  "))
        assert tier(conn, "disk.hello_greetings") == tier(conn, "main.hello_greetings"), sql
        assert ("disk%d" % i, "yo") in tier(conn, "disk.hello_greetings")
    for i, sql in enumerate(LOAD_SAVE["disk_to_memory"]):
        ok(conn, f"INSERT INTO hello_greetings VALUES ('memonly{i}', 'yo')")
        ok(conn, sql)
        assert tier(conn, "main.hello_greetings") == tier(conn, "disk.hello_greetings"), sql
        assert not [r for r in tier(conn, "main.hello_greetings") if r[0].startswith("memonly")]
    for i, sql in enumerate(LOAD_SAVE["memory_to_runtime"]):
        ok(conn, f"INSERT INTO hello_greetings VALUES ('run{i}', 'hey')")
        affected, _ = ok(conn, sql)
        assert affected == len(tier(conn, "main.hello_greetings")), sql
        assert tier(conn, "runtime_hello_greetings") == tier(conn, "main.hello_greetings"), sql
        assert rows(conn, f"HELLO GREET run{i}") == [(f"run{i}", f"hey, run{i}?")]
    for i, sql in enumerate(LOAD_SAVE["runtime_to_memory"]):
        runtime = tier(conn, "runtime_hello_greetings")
        ok(conn, f"UPDATE hello_greetings SET greeting = 'changed{i}'")
        ok(conn, sql)
        assert tier(conn, "main.hello_greetings") == runtime, sql


def test_hello_runtime_refuses_bad_rows_and_keeps_old_state(conn):
    ok(conn, "LOAD HELLO GREETINGS FROM DISK")
    ok(conn, "LOAD HELLO GREETINGS TO RUNTIME")
    live = tier(conn, "runtime_hello_greetings")
    ok(conn, "INSERT INTO hello_greetings VALUES ('eve', '  ')")
    code, message = error(conn, "LOAD HELLO GREETINGS TO RUNTIME")
    assert code == 1105
    assert message == ("LOAD HELLO GREETINGS TO RUNTIME failed, runtime unchanged: "
                       "hello_greetings row 'eve': empty greeting")
    assert tier(conn, "runtime_hello_greetings") == live  # refreshed on read, still the old state
    assert error(conn, "HELLO GREET eve")[0] == 1105
    ok(conn, "DELETE FROM hello_greetings WHERE name = 'eve'")


def test_hello_from_config_and_checksums(conn):
    ok(conn, "DELETE FROM hello_greetings")
    ok(conn, "INSERT INTO hello_greetings VALUES ('zed', 'hola')")
    affected, _ = ok(conn, "LOAD HELLO GREETINGS FROM CONFIG")  # re-reads the cnf file, merges into memory
    assert affected == 2
    assert tier(conn, "main.hello_greetings") == [("ann", "hi"), ("bob", "hello"), ("zed", "hola")]
    ok(conn, "SAVE HELLO GREETINGS TO DISK")
    ok(conn, "LOAD HELLO GREETINGS TO RUNTIME")

    def checksums() -> dict[str, str]:
        out = {}
        for word in ("", "MEMORY ", "MEM ", "DISK ", "RUNTIME "):
            with conn.cursor() as cur:
                cur.execute(f"checksum {word.lower()}hello   greetings")
                assert [d[0] for d in cur.description] == ["table", "checksum"]
                [(table, value)] = cur.fetchall()
            assert table == "HELLO GREETINGS" and re.fullmatch(r"0x[0-9A-F]{16}", value)
            out[word.strip() or "default"] = value
        return out

    same = checksums()
    assert len(set(same.values())) == 1  # all three tiers hold the same rows
    ok(conn, "UPDATE hello_greetings SET greeting = 'hallo' WHERE name = 'zed'")
    changed = checksums()
    assert changed["MEMORY"] == changed["MEM"] == changed["default"] != same["MEMORY"]
    assert changed["DISK"] == changed["RUNTIME"] == same["DISK"]
    ok(conn, "LOAD HELLO GREETINGS TO RUNTIME")
    assert checksums()["RUNTIME"] == changed["MEMORY"]


def test_hello_variable_command_and_stats(main, conn):
    def greets() -> dict[str, int]:
        return {name: int(n) for name, n in rows(conn, "SELECT name, greets FROM stats.stats_hello")}

    def served() -> int:
        status = dict(rows(conn, "SELECT name, status_json FROM runtime_plugins"))["hello"]
        return json.loads(status)["greets_served"]

    before, before_served = greets(), served()
    ok(conn, "SET hello-punctuation = '!!'")
    assert rows(conn, "HELLO GREET ann") == [("ann", "hi, ann?")]  # memory only, runtime unchanged
    ok(conn, "LOAD HELLO VARIABLES TO RUNTIME")
    assert rows(conn, "hello greet 'ann'") == [("ann", "hi, ann!!")]
    assert rows(conn, "HELLO GREET `bob`") == [("bob", "hello, bob!!")]
    code, message = error(conn, "SET hello-punctuation = 'abc'")
    assert code == 1231 and "use at most three of . ! ?" in message
    assert error(conn, "HELLO GREET") == (1064, "usage: HELLO GREET <name>")
    code, message = error(conn, "HELLO GREET nobody")
    assert code == 1105 and "no greeting for 'nobody' at runtime" in message

    after = greets()  # stats_hello is refilled on every read
    assert after.get("ann", 0) - before.get("ann", 0) == 2
    assert after.get("bob", 0) - before.get("bob", 0) == 1
    assert "nobody" not in after
    assert served() - before_served == 3


# -- plugin-defined hookspecs -----------------------------------------------------------------------
def test_plugin_defined_hookspec(conn):
    assert rows(conn, "T PARTS") == [("provider",), ("user",)]


# -- 9, 4, 8. hot plugging, rollback, clashes ----------------------------------------------------------
def test_hot_load_and_unload(main, conn):
    seen = len(records(main.record))
    assert ok(conn, "LOAD PLUGIN t_rec_c") == (0, "plugin 't_rec_c' loaded")
    assert "t_rec_c" in plugin_names(conn)
    assert dict(rows(conn, "SELECT name, state FROM runtime_plugins"))["t_rec_c"] == "running"
    assert error(conn, "LOAD PLUGIN t_rec_c") == (1105, "plugin 't_rec_c' is already loaded")
    assert ok(conn, "UNLOAD PLUGIN `t_rec_c`") == (0, "plugin 't_rec_c' unloaded")
    assert "t_rec_c" not in plugin_names(conn)
    assert records(main.record)[seen:] == ["t_rec_c:init", "t_rec_c:start", "t_rec_c:stop"]
    assert error(conn, "UNLOAD PLUGIN t_rec_c") == (1105, "plugin 't_rec_c' is not loaded")
    assert error(conn, "LOAD PLUGIN") == (1064, "a plugin name is required")


def test_plugins_changed_is_broadcast_on_load_and_unload(conn):
    def seen() -> list[list[str]]:
        return json.loads(dict(rows(conn, "SELECT name, status_json FROM runtime_plugins"))["t_watcher"])["seen"]

    ok(conn, "LOAD PLUGIN t_watcher")
    try:
        first = seen()
        assert first and first[-1][-1] == "t_watcher"  # told about its own arrival
        ok(conn, "LOAD PLUGIN t_rec_c")
        ok(conn, "UNLOAD PLUGIN t_rec_c")
        after = seen()[len(first):]
        assert after == [first[-1] + ["t_rec_c"], first[-1]]
    finally:
        ok(conn, "UNLOAD PLUGIN t_watcher")


def test_unloading_a_required_plugin_is_refused(conn):
    assert error(conn, "UNLOAD PLUGIN t_rec_a") == (
        1105, "plugin 't_rec_a' cannot be unloaded: required by t_needs_a")
    assert error(conn, "UNLOAD PLUGIN t_hook_provider") == (
        1105, "plugin 't_hook_provider' cannot be unloaded: required by t_hook_user")
    assert {"t_rec_a", "t_hook_provider"} <= set(plugin_names(conn))


def test_unload_and_load_hello_keeps_disk_rows(conn):
    ok(conn, "SAVE HELLO GREETINGS TO DISK")
    ok(conn, "SAVE HELLO VARIABLES TO DISK")
    saved = tier(conn, "disk.hello_greetings")
    punctuation = rows(conn, "SELECT variable_value FROM global_variables WHERE variable_name='hello-punctuation'")
    ok(conn, "UNLOAD PLUGIN hello")
    assert rows(conn, "SHOW TABLES LIKE '%hello%'") == []
    assert rows(conn, "SHOW TABLES FROM stats LIKE '%hello%'") == []
    assert rows(conn, "SHOW VARIABLES LIKE 'hello-%'") == []
    assert tier(conn, "disk.hello_greetings") == saved  # disk tables and rows stay for a later load
    assert error(conn, "HELLO GREET ann")[0] == 1064
    assert error(conn, "LOAD HELLO GREETINGS TO RUNTIME")[0] == 1064
    assert error(conn, "LOAD HELLO VARIABLES TO RUNTIME")[0] == 1064

    ok(conn, "LOAD PLUGIN hello")
    assert tier(conn, "main.hello_greetings") == saved
    assert tier(conn, "runtime_hello_greetings") == saved
    assert rows(conn, "SHOW VARIABLES LIKE 'hello-%'") == [("hello-punctuation", punctuation[0][0])]
    assert rows(conn, "HELLO GREET ann") == [("ann", f"hi, ann{punctuation[0][0]}")]
    status = dict(rows(conn, "SELECT name, status_json FROM runtime_plugins"))["hello"]
    assert json.loads(status) == {"greetings": len(saved), "greets_served": 1}  # a fresh instance


def test_reload_reimports_and_restarts_dependents(main, conn):
    main.marker.write_text("v2")
    assert ok(conn, "RELOAD PLUGIN t_reloadable") == (0, "reloaded: t_reloadable")
    assert rows(conn, "T RELOADABLE") == [("2", "v2")]  # re-imported: module code ran again
    status = {r[0]: r[4] for r in rows(conn, "SHOW PLUGINS")}["t_reloadable"]
    assert json.loads(status) == {"imports": 2, "marker": "v2"}

    seen = len(records(main.record))
    assert ok(conn, "RELOAD PLUGIN t_rec_a") == (0, "reloaded: t_rec_a, t_needs_a")
    assert records(main.record)[seen:] == ["t_needs_a:stop", "t_rec_a:stop", "t_rec_a:init", "t_rec_a:start",
                                           "t_needs_a:init", "t_needs_a:start"]
    # a plugin that publishes hookspecs can be reloaded too, and its hook still reaches its users
    assert ok(conn, "RELOAD PLUGIN t_hook_provider") == (0, "reloaded: t_hook_provider, t_hook_user")
    assert rows(conn, "T PARTS") == [("provider",), ("user",)]
    assert error(conn, "RELOAD PLUGIN t_rec_c") == (1105, "plugin 't_rec_c' is not loaded")


def test_failed_reload_leaves_plugin_unloaded_until_loaded_again(main, conn):
    main.marker.write_text("fail-init")
    code, message = error(conn, "RELOAD PLUGIN t_reloadable")
    assert (code, message) == (1105, "plugin 't_reloadable' failed in init(): "
                                     "RuntimeError: the marker file asks init to fail")
    assert "t_reloadable" not in plugin_names(conn)
    main.marker.write_text("v3")
    ok(conn, "LOAD PLUGIN t_reloadable")
    assert dict(rows(conn, "SELECT name, state FROM runtime_plugins"))["t_reloadable"] == "running"


@pytest.mark.parametrize("name, message", [
    ("t_init_raise", "plugin 't_init_raise' failed in init(): RuntimeError: init exploded on purpose"),
    ("t_init_false", "plugin 't_init_false' failed in init(): returned False"),
    ("t_start_raise", "plugin 't_start_raise' failed in start(): RuntimeError: start exploded on purpose"),
    ("t_start_false", "plugin 't_start_false' failed in start(): returned False"),
    ("t_abi_mismatch", f"plugin 't_abi_mismatch' needs ABI >=2.0,<3; host provides {HOST_ABI}"),
    ("t_import_error", "plugin 't_import_error' failed in import: "
                       "ImportError: proxyd_test_plugins.import_error is broken on purpose"),
    ("t_nowhere", "plugin 't_nowhere': no entry point 't_nowhere' in group 'proxyd.plugins' (is it installed?)"),
    ("t_requires_missing", "plugin 't_requires_missing' failed in init(): requires 't_absent', which is not loaded"),
    # 8. clashes with the core and with another plugin
    ("t_clash_core_table", "plugin 't_clash_core_table' failed in init(): table 'mysql_servers' clashes with a "
                           "core table"),
    ("t_clash_core_command", "plugin 't_clash_core_command' failed in init(): command 'SHOW PLUGINS' is already "
                             "registered by core"),
    ("t_clash_table", "plugin 't_clash_table' failed in init(): table 'STATS_T_SHARED' (stats) is already "
                      "registered by t_owner"),
    ("t_clash_command", "plugin 't_clash_command' failed in init(): command 't shared command' is already "
                        "registered by t_owner"),
])
def test_failing_hot_load_is_an_error_and_the_daemon_keeps_serving(main, conn, name, message):
    before = plugin_names(conn)
    seen = len(records(main.record))
    assert error(conn, f"LOAD PLUGIN {name}") == (1105, message)
    assert plugin_names(conn) == before
    assert main.proc.poll() is None
    assert rows(conn, "T ECHO") == [("T ECHO",)]
    with main.admin() as fresh:  # new clients are served too
        assert rows(fresh, "SELECT 1") == [("1",)]
    if name.startswith("t_start"):  # init succeeded, so stop() ran once
        expected = [f"{name}:init", f"{name}:start", f"{name}:stop"]
    elif name.startswith("t_init"):  # init failed: no stop()
        expected = [f"{name}:init"]
    else:  # refused before init
        expected = []
    assert records(main.record)[seen:] == expected
    # the plugin that was there first keeps what it registered
    assert ok(conn, "T SHARED COMMAND") == (0, "Owner answered")
    assert rows(conn, "SELECT * FROM stats.stats_t_shared") == []


def test_failed_init_leaves_no_trace(main, conn):
    def traces() -> list:
        found = []
        for schema in ("main", "disk", "stats"):
            found += rows(conn, f"SELECT '{schema}', name FROM {schema}.sqlite_master WHERE name LIKE '%t_rb%'")
        found += rows(conn, "SELECT * FROM main.global_variables WHERE variable_name LIKE 'trb-%'")
        found += rows(conn, "SELECT * FROM disk.global_variables WHERE variable_name LIKE 'trb-%'")
        return found

    code, message = error(conn, "LOAD PLUGIN t_rollback")
    assert (code, message) == (1105, "plugin 't_rollback' failed in init(): RuntimeError: failing after "
                                     "registering a table, commands, a tiered object and a variable")
    ok(conn, "LOAD PLUGIN t_rec_c")  # a later successful load must not resurrect any of it
    try:
        assert traces() == []
        assert "t_rollback" not in plugin_names(conn)
        for sql in ("T RB COMMAND", "T RB PREFIX anything", "LOAD T RB THINGS TO RUNTIME",
                    "SAVE T RB THINGS TO DISK", "CHECKSUM T RB THINGS", "LOAD TRB VARIABLES TO RUNTIME"):
            assert error(conn, sql)[0] == 1064, sql
        assert error(conn, "SET trb-level = 2")[0] == 1193
        assert rows(conn, "T PARTS") == [("provider",), ("user",)]  # its hookimpl is gone too
        assert "plugin 't_rollback' failed in stop()" not in main.log()  # its stop() raises if ever called
    finally:
        ok(conn, "UNLOAD PLUGIN t_rec_c")


def test_proxyd_stop_and_start_show_plugin_state(main, conn):
    seen = len(records(main.record))
    ok(conn, "PROXYD STOP")
    try:
        assert {r[3] for r in rows(conn, "SHOW PLUGINS")} == {"stopped"}
    finally:
        ok(conn, "PROXYD START")
    assert {r[3] for r in rows(conn, "SELECT * FROM runtime_plugins")} == {"running"}
    new = records(main.record)[seen:]
    stops = [line for line in new if line.endswith(":stop")]
    starts = [line for line in new if line.endswith(":start")]
    assert [s.split(":")[0] for s in stops] == [s.split(":")[0] for s in reversed(starts)]
    assert set(new) == set(stops) | set(starts)


def test_query_hook_exception_is_an_error_and_the_client_survives(proxyd_factory):
    """Check 12 for query hooks; needs the SQL port, which is served once the embedded backend exists."""
    p = proxyd_factory(CORE_ROWS, plugins=("t_query_hooks",)).start()
    try:
        client = pymysql.connect(host="127.0.0.1", port=p.sql_port, user="app", password="app", autocommit=True)
    except pymysql.err.OperationalError as exc:
        if exc.args[0] != 2003:  # only "can't connect" means the port is not there
            raise
        pytest.skip("the SQL port is not served yet (no embedded backend)")
    with client:
        code, message = error(client, "SELECT 't_query_boom'")
        assert code == 1105
        assert message == "plugin 't_query_hooks' failed in before_execution: " \
                          "RuntimeError: before_execution exploded on purpose"
        client.ping(reconnect=False)
        assert str(rows(client, "SELECT 1")[0][0]) == "1"
    assert p.proc.poll() is None
    with p.admin() as c:
        status = json.loads(dict(rows(c, "SELECT name, status_json FROM runtime_plugins"))["t_query_hooks"])
    assert status["before_execution"] >= 2 and status["query_done"] >= 1


def test_the_connection_survived_everything(main, conn):
    conn.ping(reconnect=False)  # raises if the server ever dropped it
    assert rows(conn, "T ECHO") == [("T ECHO",)]


# -- restart: persistence, cnf seeding, stop() once in reverse order --------------------------------------
def test_restart_keeps_saved_rows_and_ignores_cnf_rows(proxyd_factory):
    p = proxyd_factory(HELLO_CNF, plugins=("t_needs_a", "hello", "t_rec_b", "t_rec_a"))
    record = p.dir / "record"
    env = {"PROXYD_TEST_RECORD": str(record)}
    p.start(env=env)
    with p.admin() as c:
        assert tier(c, "main.hello_greetings") == [("ann", "hi"), ("bob", "hello")]  # cnf seeds a first boot
        ok(c, "DELETE FROM hello_greetings WHERE name = 'bob'")
        ok(c, "INSERT INTO hello_greetings VALUES ('cy', 'ahoy')")
        ok(c, "SAVE HELLO GREETINGS TO DISK")
        ok(c, "INSERT INTO hello_greetings VALUES ('unsaved', 'lost')")  # memory only: gone after a restart
    assert p.stop() == 0
    # stop() exactly once per successful init, in reverse load order
    assert records(record) == ["t_rec_a:init", "t_needs_a:init", "t_rec_b:init",
                               "t_rec_a:start", "t_needs_a:start", "t_rec_b:start",
                               "t_rec_b:stop", "t_needs_a:stop", "t_rec_a:stop"]

    p.start(env=env)
    with p.admin() as c:
        saved = [("ann", "hi"), ("cy", "ahoy")]
        assert tier(c, "main.hello_greetings") == saved  # from disk: the cnf's bob is not back
        assert tier(c, "runtime_hello_greetings") == saved
        assert rows(c, "HELLO GREET cy") == [("cy", "ahoy, cy?")]
    assert p.stop() == 0
    assert re.search(r"cnf sections .*hello_greetings.* ignored: .*proxyd\.db exists", p.log())


# -- 10. running without plugins ------------------------------------------------------------------------
def test_no_plugins_flag_and_environment(proxyd_factory):
    p = proxyd_factory(CORE_ROWS + HELLO_CNF, plugins=MAIN_PLUGINS + ("t_init_raise", "t_nowhere"))
    for args, env in ((("--no-plugins",), None), ((), {"PROXYD_NO_PLUGINS": "1"})):
        p.start(*args, env=env)
        with p.admin() as c:
            assert rows(c, "SHOW PLUGINS") == []
            assert rows(c, "SELECT * FROM runtime_plugins") == []
            assert rows(c, "SHOW TABLES LIKE '%hello%'") == []
            assert error(c, "HELLO GREET ann")[0] == 1064
            assert rows(c, "SELECT count(*) FROM runtime_mysql_servers") == [("2",)]  # the core works
        assert p.stop() == 0
    assert p.log().count("unknown key 'hello_greetings' (ignored: plugins are disabled)") == 2


def test_disable_plugin(proxyd_factory):
    p = proxyd_factory(HELLO_CNF, plugins=("hello", "t_rec_a", "t_init_raise", "t_needs_a"))
    p.start("--disable-plugin", "hello", "--disable-plugin", "t_init_raise")
    with p.admin() as c:
        assert plugin_names(c) == ["t_rec_a", "t_needs_a"]
    assert p.stop() == 0
    # disabling a plugin that another one requires is refused like a missing one
    status, stderr = failed_start(p, "--disable-plugin", "t_rec_a")
    assert status == 1
    assert "plugin 't_needs_a' requires 't_rec_a', which is not configured" in stderr


# -- start-up failures -------------------------------------------------------------------------------
STARTUP_FAILURES = [
    # 2. ABI, refused before init
    (("t_rec_a", "t_abi_mismatch"), f"plugin 't_abi_mismatch' needs ABI >=2.0,<3; host provides {HOST_ABI}", []),
    (("t_abi_invalid",), "plugin 't_abi_invalid' has an invalid PROXYD_ABI requirement 'version one, please'", []),
    (("t_abi_missing",), "plugin 't_abi_missing' declares no PROXYD_ABI requirement", []),
    (("t_rec_a", "t_import_error"), "plugin 't_import_error' failed in import: "
                                    "ImportError: proxyd_test_plugins.import_error is broken on purpose", []),
    (("t_rec_a", "t_nowhere"), "plugin 't_nowhere': no entry point 't_nowhere' in group 'proxyd.plugins'", []),
    # 5. requirements, refused before init
    (("t_rec_a", "t_requires_missing"), "plugin 't_requires_missing' requires 't_absent', which is not configured",
     []),
    (("t_rec_a", "t_cycle_x", "t_cycle_y"), "plugin dependency cycle: t_cycle_x -> t_cycle_y -> t_cycle_x", []),
    # 3. init / start failures: stop() for every successful init, in reverse, never for the failed one
    (("t_needs_a", "t_rec_b", "t_rec_a", "t_init_false"), "plugin 't_init_false' failed in init(): returned False",
     ["t_rec_a:init", "t_needs_a:init", "t_rec_b:init", "t_init_false:init",
      "t_rec_b:stop", "t_needs_a:stop", "t_rec_a:stop"]),
    (("t_rec_a", "t_init_raise", "t_rec_b"),
     "plugin 't_init_raise' failed in init(): RuntimeError: init exploded on purpose",
     ["t_rec_a:init", "t_init_raise:init", "t_rec_a:stop"]),
    (("t_rec_a", "t_start_raise", "t_rec_b"),
     "plugin 't_start_raise' failed in start(): RuntimeError: start exploded on purpose",
     ["t_rec_a:init", "t_start_raise:init", "t_rec_b:init", "t_rec_a:start", "t_start_raise:start",
      "t_rec_b:stop", "t_start_raise:stop", "t_rec_a:stop"]),
    (("t_start_false", "t_rec_a"), "plugin 't_start_false' failed in start(): returned False",
     ["t_start_false:init", "t_rec_a:init", "t_start_false:start", "t_rec_a:stop", "t_start_false:stop"]),
    # 8. clashes
    (("t_rec_a", "t_clash_core_table"),
     "plugin 't_clash_core_table' failed in init(): table 'mysql_servers' clashes with a core table",
     ["t_rec_a:init", "t_rec_a:stop"]),
    (("t_owner", "t_clash_command"),
     "plugin 't_clash_command' failed in init(): command 't shared command' is already registered by t_owner", []),
    (("t_owner", "t_clash_table"),
     "plugin 't_clash_table' failed in init(): table 'STATS_T_SHARED' (stats) is already registered by t_owner",
     []),
    (("t_rollback",), "plugin 't_rollback' failed in init(): RuntimeError: failing after registering", []),
]


@pytest.mark.parametrize("plugins, message, expected_records", STARTUP_FAILURES,
                         ids=[re.search(r"t_\w+", case[1]).group(0) for case in STARTUP_FAILURES])
def test_startup_failure(proxyd_factory, plugins, message, expected_records):
    p = proxyd_factory(plugins=plugins)
    record = p.dir / "record"
    status, stderr = failed_start(p, env={"PROXYD_TEST_RECORD": str(record)})
    assert status == 1
    [line] = error_lines(stderr)  # one clear message
    assert line.split(" ERROR proxyd: ", 1)[1].startswith("start-up failed: " + message), stderr
    assert records(record) == expected_records
    assert "Traceback" not in stderr


def test_cnf_section_nobody_claims_exits_2_with_file_and_line(proxyd_factory):
    p = proxyd_factory(HELLO_CNF + "nobody_claims = ( { a = 1 } )\n", plugins=("hello",))
    status, stderr = failed_start(p)
    assert status == 2
    assert f"{p.cnf}:{cnf_line(p, 'nobody_claims')}: unknown key 'nobody_claims'" in stderr


@pytest.mark.parametrize("section, message", [
    ('hello_variables = { punctuation = "xyz" }',
     "Variable 'hello-punctuation' can't be set to the value of 'xyz' (use at most three of . ! ?)"),
    ('hello_variables = { volume = 11 }', "unknown variable 'hello-volume'"),
    ('hello_greetings = ( { name = "a"; colour = "red" } )', "hello_greetings[0]: "),
])
def test_bad_plugin_cnf_section_exits_2_with_file_and_line(proxyd_factory, section, message):
    p = proxyd_factory(section + "\n", plugins=("hello",))
    status, stderr = failed_start(p)
    assert status == 2, stderr
    assert f"{p.cnf}:{cnf_line(p, section.split()[0])}: {message}" in stderr, stderr


# -- the hookspec module is the reference ----------------------------------------------------------------
EXERCISED = (set(MAIN_PLUGINS) | {name for case in STARTUP_FAILURES for name in case[0]}
             | {"t_rec_c", "t_rollback", "t_query_hooks", "t_watcher"})


def test_every_hookspec_is_documented_and_implemented():
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    specs = [name for name in dir(hookspecs) if pm.parse_hookspec_opts(hookspecs, name) is not None]
    assert {"init", "start", "stop", "status_json"} <= set(specs)

    implementers: dict[str, set[str]] = {name: set() for name in specs}
    ours = {"proxyd-hello", "proxyd-test-plugins"}
    for ep in md.entry_points(group="proxyd.plugins"):
        if ep.dist is None or ep.dist.name not in ours or ep.name == "t_import_error":
            continue
        target = ep.load()
        for name in specs:
            if hasattr(target, name) and pm.parse_hookimpl_opts(target, name) is not None:
                implementers[name].add(ep.name)

    for name in specs:
        doc = inspect.getdoc(getattr(hookspecs, name)) or ""
        assert len(doc.split()) >= 25, f"hookspec {name} needs a docstring of substance"
        assert implementers[name] & EXERCISED, f"no plugin exercised by these tests implements {name}"
