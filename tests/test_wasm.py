"""The wasm plugin end to end: a real daemon with ``filters`` and ``wasm``, the proxyd-wasm CLI, PyMySQL clients.

The seed scenario (WeScale's "write a Wasm plugin" tutorial), every sandbox fault with the daemon
still serving, tampered-module refusal, module replacement under load, the after-execution stage.
"""

from __future__ import annotations

import functools
import hashlib
import subprocess
import sys
import threading
from pathlib import Path

import pymysql
import pytest
import wasmtime

from plugins.wasm.runtime import NATIVE, NATIVE_ERROR
from tests.conftest import Proxyd

REPO = Path(__file__).resolve().parent.parent
WAT = REPO / "examples" / "wasm" / "wat"

CNF = """
mysql_servers = ( { address = "embedded"; port = 0; hostgroup = 0 } )
mysql_users = ( { username = "app"; password = "app"; default_hostgroup = 0 } )
"""


# Every daemon test runs on both call paths: the C extension (plugins/wasm/_native_call.c, when built)
# and the ctypes path that PROXYD_NO_NATIVE=1 selects.
CALL_PATHS = [pytest.param("native", marks=pytest.mark.skipif(not NATIVE, reason=f"native call path {NATIVE_ERROR}")),
              "ctypes"]


@pytest.fixture(scope="module", params=CALL_PATHS)
def px(request, tmp_path_factory):
    p = Proxyd(tmp_path_factory.mktemp("wasm"), CNF, plugins=("filters", "wasm"))
    env = {"PROXYD_NO_NATIVE": "1" if request.param == "ctypes" else ""}
    p.start = functools.partial(p.start, env=env)  # restarts keep the call path
    p.start()
    p.call_path = request.param
    yield p
    assert p.stop() == 0, p.log()


def cli(px: Proxyd, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "plugins.wasm.cli", *args, "--port", str(px.admin_port)],
                          check=False, capture_output=True, text=True, timeout=60, cwd=REPO)


def sql_conn(px: Proxyd, **kw) -> pymysql.connections.Connection:
    return pymysql.connect(host="127.0.0.1", port=px.sql_port, user="app", password="app", autocommit=True, **kw)


def run(conn, sql: str) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def error_of(conn, sql: str) -> tuple[int, str]:
    with pytest.raises(pymysql.MySQLError) as info:
        run(conn, sql)
    return info.value.args[0], info.value.args[1]


def wasm_hex(name: str) -> tuple[str, str, int]:
    data = bytes(wasmtime.wat2wasm((WAT / name).read_text()))
    return data.hex(), hashlib.sha256(data).hexdigest(), len(data)


def put_module(px: Proxyd, name: str, source: str, **limits) -> None:
    """A wasm_modules row through plain admin SQL (the CLI is tested separately)."""
    hexdata, sha, size = wasm_hex(source)
    cols = {"name": f"'{name}'", "sha256": f"'{sha}'", "size": str(size), "wasm": f"X'{hexdata}'"}
    cols.update({k: f"'{v}'" if isinstance(v, str) else str(v) for k, v in limits.items()})
    px.query(f"REPLACE INTO wasm_modules ({', '.join(cols)}) VALUES ({', '.join(cols.values())})")


def create_filter(px: Proxyd, name: str, module: str, table: str, extra: str = "") -> None:
    args = f'wasm_binary_name="{module}"' + (f"; {extra}" if extra else "")
    px.query(f"CREATE FILTER {name} (priority='100') with_pattern(fully_qualified_table_names='{table}') "
             f"execute(action='WASM_PLUGIN', action_args='{args}')")


def stats(px: Proxyd, name: str) -> dict:
    conn = px.admin()
    try:
        with conn.cursor(pymysql.cursors.DictCursor) as cur:
            cur.execute(f"SELECT * FROM stats_wasm_modules WHERE name = '{name}'")
            row = cur.fetchone()  # the admin port sends text: counters back to ints
            return {k: int(v) if isinstance(v, str) and v.isdigit() else v for k, v in row.items()}
    finally:
        conn.close()


# -- the seed scenario -------------------------------------------------------------------------------
def test_seed_scenario(px):
    app = sql_conn(px)
    run(app, "CREATE DATABASE test_wasm")
    run(app, "USE test_wasm")
    run(app, "CREATE TABLE test_wasm.t1 (c1 INT PRIMARY KEY AUTO_INCREMENT, c2 INT)")
    run(app, "INSERT INTO test_wasm.t1 VALUES (1, 1), (2, 2)")

    out = cli(px, "install", "--wasm-file", str(WAT / "interceptor.wat"), "--name", "my_plugin.wasm",
              "--create-filter")
    assert out.returncode == 0, out.stderr
    assert "created filter 'my_plugin_wasm_filter'" in out.stdout

    conn = px.admin()
    with conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute("SHOW FILTERS")
        (f,) = [r for r in cur.fetchall() if r["name"] == "my_plugin_wasm_filter"]
    conn.close()
    assert (f["status"], f["priority"], f["action"]) == ("ACTIVE", "1000", "WASM_PLUGIN")
    assert f["plans"] == '["Select","Insert","Update","Delete"]'
    assert f["action_args"] == 'wasm_binary_name="my_plugin.wasm"'

    assert run(app, "/*explain filter*/ DELETE FROM test_wasm.t1") == [
        ("my_plugin_wasm_filter", "", "1000", "WASM_PLUGIN", 'wasm_binary_name="my_plugin.wasm"')]
    assert error_of(app, "DELETE FROM test_wasm.t1") == (
        1105, "error from wasm plugin at before execution stage: no where clause")
    assert error_of(app, "UPDATE test_wasm.t1 SET c2 = 5") == (
        1105, "error from wasm plugin at before execution stage: no where clause")
    assert run(app, "SELECT c1, c2 FROM test_wasm.t1 ORDER BY c1") == [(1, 1), (2, 2)]  # nothing changed
    with app.cursor() as cur:
        assert cur.execute("DELETE FROM test_wasm.t1 WHERE c1 = 1") == 1
    assert run(app, "SELECT c1 FROM test_wasm.t1") == [(2,)]
    assert stats(px, "my_plugin.wasm")["errors"] == 2
    assert stats(px, "my_plugin.wasm")["call_path"] == px.call_path  # the daemon runs the path asked for

    out = cli(px, "uninstall", "--filter-name", "my_plugin_wasm_filter")
    assert out.returncode == 0, out.stderr
    assert "my_plugin_wasm_filter" not in str(px.query("SHOW FILTERS"))
    with app.cursor() as cur:
        assert cur.execute("DELETE FROM test_wasm.t1") == 1  # the filter is gone
    out = cli(px, "uninstall", "--name", "my_plugin.wasm")
    assert out.returncode == 0, out.stderr
    assert px.query("SELECT name FROM runtime_wasm_modules WHERE name = 'my_plugin.wasm'") == []
    app.close()


def test_cli_refusals(px, tmp_path):
    junk = tmp_path / "junk.wasm"
    junk.write_bytes(b"\0asm\x01\0\0\0junk")
    out = cli(px, "install", "--wasm-file", str(junk))
    assert out.returncode == 1
    assert "LOAD WASM MODULES TO RUNTIME failed, runtime unchanged: wasm module 'junk.wasm': invalid module" \
        in out.stderr
    # memory was put back as the running set is: no half-installed row is left behind
    assert px.query("SELECT name FROM wasm_modules WHERE name = 'junk.wasm'") == []
    out = cli(px, "uninstall", "--name", "nope.wasm")
    assert out.returncode != 0 and "no wasm module named 'nope.wasm'" in out.stderr


def test_console_script_lists_modules(px):
    """The ``proxyd-wasm`` script (entry point ``plugins.wasm.cli:main``) talks to the admin port."""
    import shutil

    script = shutil.which("proxyd-wasm")
    if script is None:
        pytest.skip("the proxyd-wasm console script is not installed (pip install -e .)")
    put_module(px, "listed.wasm", "allow.wat", comment="listed by the script")
    px.query("LOAD WASM MODULES TO RUNTIME")
    out = subprocess.run([script, "list", "--port", str(px.admin_port)], check=False, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("name\tsha256\tsize")
    assert any(line.startswith("listed.wasm\t") and line.endswith("\tfail_closed\t1") for line in lines)


# -- sandbox faults through the SQL port ---------------------------------------------------------------
FAULTS = [
    # (module row name, action_args mode, limits, expected message tail, stats column)
    ("loop.wasm", "mode=loop", {"timeout_ms": 20}, "deadline of 20 ms exceeded", "timeouts"),
    ("fuel.wasm", "mode=loop", {"fuel": 200000, "timeout_ms": 5000}, "fuel limit of 200000 exhausted",
     "fuel_exhausted"),
    ("bomb.wasm", "mode=bomb", {"max_memory_mb": 2}, "MiB limit in use)", "traps"),
    ("trap.wasm", "mode=trap", {}, "guest trapped: wasm trap: wasm `unreachable` instruction executed", "traps"),
    ("garbage.wasm", "mode=garbage", {}, "invalid reply: before event returned 42, expected 0, 1 or 2", "invalid"),
    ("oob.wasm", "mode=oob", {}, "buffer out of bounds", "invalid"),
    ("deep.wasm", "mode=recurse", {}, "call stack exhausted", "traps"),
]


@pytest.fixture(scope="module")
def faults(px):
    app = sql_conn(px)
    run(app, "CREATE DATABASE IF NOT EXISTS faults")
    for name, mode, limits, _, _ in FAULTS:
        table = name.split(".")[0]
        run(app, f"CREATE TABLE faults.{table} (id INT PRIMARY KEY)")
        run(app, f"INSERT INTO faults.{table} VALUES (1)")
        put_module(px, name, "misbehave.wat", **limits)
    px.query("LOAD WASM MODULES TO RUNTIME")
    for name, mode, _, _, _ in FAULTS:
        table = name.split(".")[0]
        create_filter(px, f"fault_{table}", name, f"faults.{table}", mode)
    app.close()


@pytest.mark.parametrize("name, mode, limits, message, column", FAULTS, ids=[f[0] for f in FAULTS])
def test_fault_fails_closed_and_daemon_serves(px, faults, name, mode, limits, message, column):
    table = name.split(".")[0]
    app, other = sql_conn(px), sql_conn(px)
    code, text = error_of(app, f"SELECT id FROM faults.{table}")
    assert code == 1105
    assert text.startswith(f"error from wasm plugin at before execution stage: wasm module '{name}': ")
    assert message in text
    # the same connection, another connection and the admin port all keep working
    assert run(app, "SELECT 1") == [(1,)]
    assert run(other, "SELECT 2") == [(2,)]
    s = stats(px, name)
    assert s[column] >= 1 and s["instances_discarded"] >= 1 and message in s["last_error"]
    app.close()
    other.close()


def test_fail_open_proceeds_with_a_warning(px, faults):
    app = sql_conn(px)
    run(app, "CREATE TABLE faults.open_t (id INT PRIMARY KEY)")
    run(app, "INSERT INTO faults.open_t VALUES (7)")
    put_module(px, "open.wasm", "misbehave.wat", failure_policy="fail_open")
    px.query("LOAD WASM MODULES TO RUNTIME")
    create_filter(px, "fault_open", "open.wasm", "faults.open_t", "mode=trap")
    assert run(app, "SELECT id FROM faults.open_t") == [(7,)]
    (warning,) = run(app, "SHOW WARNINGS")
    assert warning[:2] == ("Warning", 1105)
    assert warning[2].startswith("wasm module 'open.wasm' failed open at before execution stage: guest trapped")
    s = stats(px, "open.wasm")
    assert (s["failed_open"], s["traps"]) == (1, 1)
    app.close()


def test_threaded_guest_does_not_block_other_connections(px, faults):
    """A guest with a long deadline runs on a worker thread: others are served while it spins."""
    app = sql_conn(px)
    run(app, "CREATE TABLE faults.slow_t (id INT PRIMARY KEY)")
    put_module(px, "slow.wasm", "misbehave.wat", timeout_ms=1500, fuel=0)  # fuel 0: unlimited
    px.query("LOAD WASM MODULES TO RUNTIME")
    create_filter(px, "fault_slow", "slow.wasm", "faults.slow_t", "mode=loop")
    outcome: list = []

    def spin():
        conn = sql_conn(px)
        try:
            run(conn, "SELECT id FROM faults.slow_t")
        except pymysql.MySQLError as exc:
            outcome.append(exc.args)
        conn.close()

    t = threading.Thread(target=spin)
    t.start()
    served = [run(app, f"SELECT {i}") for i in range(20)]
    still_spinning = t.is_alive()
    t.join()
    assert served == [[(i,)] for i in range(20)]
    assert still_spinning, "the looping guest finished before 20 plain statements: it did not hold a thread"
    assert outcome and "deadline of 1500 ms exceeded" in outcome[0][1]
    app.close()


# -- tampering and replacement -------------------------------------------------------------------------
def test_tampered_module_is_refused_and_running_version_stays(px):
    app = sql_conn(px)
    run(app, "CREATE DATABASE IF NOT EXISTS tamper")
    run(app, "CREATE TABLE tamper.t (id INT PRIMARY KEY)")
    put_module(px, "guard.wasm", "interceptor.wat")
    px.query("LOAD WASM MODULES TO RUNTIME")
    create_filter(px, "guard", "guard.wasm", "tamper.t")
    (old_sha,) = px.query("SELECT sha256 FROM runtime_wasm_modules WHERE name = 'guard.wasm'")[0]
    other_hex, _, other_size = wasm_hex("allow.wat")
    px.query(f"UPDATE wasm_modules SET wasm = X'{other_hex}', size = {other_size} WHERE name = 'guard.wasm'")
    with pytest.raises(pymysql.MySQLError) as info:
        px.query("LOAD WASM MODULES TO RUNTIME")
    assert info.value.args[0] == 1105
    assert info.value.args[1].startswith("LOAD WASM MODULES TO RUNTIME failed, runtime unchanged: "
                                         f"wasm module 'guard.wasm': module sha256 mismatch: expected {old_sha}, got ")
    assert px.query("SELECT sha256 FROM runtime_wasm_modules WHERE name = 'guard.wasm'") == [(old_sha,)]
    assert error_of(app, "DELETE FROM tamper.t")[1].endswith("no where clause")  # the old guest still runs
    px.query("SAVE WASM MODULES TO MEMORY")  # back to the running set
    # a wrong ABI column and a missing export are refused the same way
    px.query("UPDATE wasm_modules SET abi = '2' WHERE name = 'guard.wasm'")
    with pytest.raises(pymysql.MySQLError, match="abi '2' is not supported"):
        px.query("LOAD WASM MODULES TO RUNTIME")
    px.query("SAVE WASM MODULES TO MEMORY")
    app.close()


def test_replacement_under_load_fails_no_statement(px):
    app = sql_conn(px)
    run(app, "CREATE DATABASE IF NOT EXISTS busy")
    run(app, "CREATE TABLE busy.t (id INT PRIMARY KEY, v INT)")
    run(app, "INSERT INTO busy.t VALUES (1, 10)")
    put_module(px, "swap.wasm", "counter.wat")
    px.query("LOAD WASM MODULES TO RUNTIME")
    create_filter(px, "swap", "swap.wasm", "busy.t")
    app.close()
    stop, errors, done = threading.Event(), [], [0] * 4

    def client(i: int) -> None:
        conn = sql_conn(px)
        while not stop.is_set():
            try:
                assert run(conn, "SELECT v FROM busy.t WHERE id = 1") == [(10,)]
                done[i] += 1
            except Exception as exc:  # noqa: BLE001 - every failure is collected and reported
                errors.append(repr(exc))
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    shas = set()
    for source in ("allow.wat", "counter.wat", "allow.wat", "counter.wat", "allow.wat", "counter.wat"):
        put_module(px, "swap.wasm", source)
        px.query("LOAD WASM MODULES TO RUNTIME")
        shas.add(px.query("SELECT sha256 FROM runtime_wasm_modules WHERE name = 'swap.wasm'")[0][0])
    while sum(done) < 200:
        threading.Event().wait(0.01)
    stop.set()
    for t in threads:
        t.join()
    assert errors == []
    assert len(shas) == 2 and all(n > 0 for n in done)
    assert stats(px, "swap.wasm")["calls"] >= sum(done)


# -- after execution: the C masking guest --------------------------------------------------------------
def test_after_execution_masks_results(px, tmp_path):
    sys.path.insert(0, str(REPO / "examples" / "wasm"))
    try:
        import build
    finally:
        sys.path.pop(0)
    if not build.have_c_toolchain():
        pytest.skip("clang with the wasm32 target and wasm-ld are not installed (Debian: clang lld)")
    mask = build.build_c(REPO / "examples" / "wasm" / "c" / "mask.c", tmp_path)
    out = cli(px, "install", "--wasm-file", str(mask))
    assert out.returncode == 0, out.stderr
    app = sql_conn(px)
    run(app, "CREATE DATABASE IF NOT EXISTS secret")
    run(app, "CREATE TABLE secret.people (id INT PRIMARY KEY, name VARCHAR(20), phone VARCHAR(20))")
    run(app, "INSERT INTO secret.people VALUES (1, 'ann', '555-0100'), (2, 'bob', NULL)")
    create_filter(px, "mask", "mask.wasm", "secret.people")
    assert run(app, "SELECT id, name, phone FROM secret.people ORDER BY id") == [
        ("****", "****", "****"), ("****", "****", None)]
    with app.cursor() as cur:  # OK packets pass through untouched
        assert cur.execute("UPDATE secret.people SET name = 'eve' WHERE id = 2") == 1
    app.close()


def test_restart_reloads_modules_from_disk_cache(px):
    put_module(px, "persist.wasm", "allow.wat")
    px.query("LOAD WASM MODULES TO RUNTIME")
    px.query("SAVE WASM MODULES TO DISK")
    px.restart()
    sources = dict(px.query("SELECT name, compiled_from FROM stats_wasm_modules"))
    assert "persist.wasm" in sources
    assert {p for (p,) in px.query("SELECT call_path FROM stats_wasm_modules")} == {px.call_path}
    # every module was compiled before the restart: now each comes from the disk cache, or from
    # memory when an earlier row had the same bytes; none is compiled again
    assert "disk" in sources.values() and "compiled" not in sources.values(), sources
    app = sql_conn(px)
    assert error_of(app, "DELETE FROM tamper.t")[1].endswith("no where clause")  # filters came back too
    app.close()


def test_hot_load_and_unload_with_filters(tmp_path):
    """WASM_PLUGIN appears when wasm is loaded after filters, goes inert on unload and comes back."""
    p = Proxyd(tmp_path, CNF, plugins=("filters",))
    p.start()
    try:
        app = sql_conn(p)
        run(app, "CREATE DATABASE hot")
        run(app, "CREATE TABLE hot.t (id INT PRIMARY KEY)")
        p.query("LOAD PLUGIN wasm")
        put_module(p, "guard.wasm", "interceptor.wat")
        p.query("LOAD WASM MODULES TO RUNTIME")
        p.query("SAVE WASM MODULES TO DISK")
        p.query("CREATE FILTER guard with_pattern(fully_qualified_table_names='hot.t') "
                "execute(action='WASM_PLUGIN', action_args='wasm_binary_name=\"guard.wasm\"')")
        refused = (1105, "error from wasm plugin at before execution stage: no where clause")
        assert error_of(app, "DELETE FROM hot.t") == refused
        p.query("UNLOAD PLUGIN wasm")
        with app.cursor() as cur:
            assert cur.execute("DELETE FROM hot.t") == 0  # the action is gone: the filter is inert
        p.query("LOAD PLUGIN wasm")  # modules come back from disk, the action is registered again
        assert error_of(app, "DELETE FROM hot.t") == refused
        assert run(app, "SELECT 1") == [(1,)]
        app.close()
    finally:
        assert p.stop() == 0, p.log()


def test_deadlines_survive_proxyd_stop_start(px, faults):
    """PROXYD STOP stops the epoch ticker with the plugin; PROXYD START must bring deadlines back."""
    px.query("PROXYD STOP")
    px.query("PROXYD START")
    px.query("LOAD FILTERS TO RUNTIME")  # the filters plugin comes back from STOP/START with no runtime filters
    app = sql_conn(px)
    code, text = error_of(app, "SELECT id FROM faults.loop")
    assert (code, text.rsplit(": ", 1)[-1]) == (1105, "deadline of 20 ms exceeded")
    app.close()
