"""Wasm foreign tables end to end: WAT guests serve SQLite virtual tables on the embedded backend,
queried through the SQL port with PyMySQL; a JSON API on loopback stands in for a remote source.

One daemon for the module (servers and tables loaded once); each test uses its own tables.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import shutil
import socket
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pymysql
import pytest

from tests.conftest import Proxyd

WAT = Path(__file__).resolve().parent.parent / "examples" / "wasm" / "fdw" / "wat"
EVENTS = [[1, "PushEvent", "alice", "2026-01-02 03:04:05"], [2, "IssuesEvent", "bob", "2026-01-02 04:00:00"],
          [3, "PushEvent", "carol", "2026-01-02 05:00:00"]]
COLUMNS = "id BIGINT, type VARCHAR(32), login VARCHAR(32), created_at DATETIME"


class Api(http.server.BaseHTTPRequestHandler):
    """GET /events (the rows), /slow (2 s late), /big (2 MiB), /bad (a non-integer id); other
    methods on /events are recorded. Every request is appended to ``server.seen``."""

    def _record(self) -> bytes:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        self.server.seen.append((self.command, self.path, body.decode()))
        return body

    def _reply(self, body: bytes, length: bool = True) -> None:
        self.send_response(200)
        if length:
            self.send_header("content-length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first (timeouts and size caps do that on purpose)

    def do_GET(self) -> None:
        self._record()
        if self.path == "/slow":
            time.sleep(2)
        if self.path.startswith("/guest/"):
            return self._reply((WAT / self.path.removeprefix("/guest/")).read_bytes())
        if self.path == "/big":
            return self._reply(b"[" + b" " * (2 << 20) + b"]", length=False)  # no length: read to the cap
        rows = [["abc", "x", "y", "2026-01-01 00:00:00"]] if self.path == "/bad" else EVENTS
        self._reply(json.dumps(rows).encode())

    def do_POST(self) -> None:
        self._record()
        self._reply(b"{}")

    do_PUT = do_DELETE = do_POST

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fdw")
    api = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
    api.seen = []
    threading.Thread(target=api.serve_forever, daemon=True).start()
    port = api.server_address[1]
    closed = socket.socket()  # a port nothing may connect to
    closed.bind(("127.0.0.1", 0))
    closed.listen(1)
    closed.setblocking(False)
    q = closed.getsockname()[1]
    p = Proxyd(tmp, """
        mysql_servers = ( { address = "embedded"; port = 0; hostgroup = 0 } )
        mysql_users = ( { username = "app"; password = "app"; default_hostgroup = 0 } )
        """, plugins=("wasm",)).start()
    base, allow = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}"
    servers = {  # name: (guest, url option, extra columns)
        "gh": ("passthru", f"{base}/events", {}),
        "echo": ("echo", "", {}),
        "spin": ("spin", "", {"call_timeout_ms": 1000}),
        "fuel": ("spin", "", {"call_timeout_ms": 60000, "fuel_per_call": 1000000}),
        "far": ("passthru", f"http://127.0.0.1:{q}/x", {}),
        "slow": ("passthru", f"{base}/slow", {"http_timeout_ms": 300}),
        "big": ("passthru", f"{base}/big", {"http_max_bytes": 1048576}),
        "bad": ("passthru", f"{base}/bad", {}),
        "poster": ("poster", f"{base}/events", {}),
        "gh2": ("passthru", f"{base}/events", {}),
        "hog": ("hog", "", {"max_memory_mb": 16}),
        "leaky": ("passthru", f"http://127.0.0.1:{q}/x?sig=s3cr3t-v4lue", {}),
    }
    tables = {"events": ("gh", COLUMNS, {}), "echo": ("echo", "k INT, name VARCHAR(16)", {}),
              "spin": ("spin", "x INT", {}), "fuel": ("fuel", "x INT", {}), "far": ("far", COLUMNS, {}),
              "slow": ("slow", COLUMNS, {}), "big": ("big", COLUMNS, {}), "bad": ("bad", COLUMNS, {}),
              "outbox": ("poster", COLUMNS, {"rowid_column": "id"}), "outbox2": ("poster", COLUMNS, {}),
              "mirror": ("gh2", COLUMNS, {}), "hog": ("hog", "x INT", {}), "leaky": ("leaky", "x INT", {})}
    admin = p.admin()
    with admin.cursor() as c:
        for name, (guest, url, extra) in servers.items():
            murl, sha = _module_named(tmp, guest, name)
            cols = ["server_name", "module_url", "module_sha256", "options", "http_allow", *extra]
            options = {"url": url, **({"api_token": "s3cr3t-v4lue"} if name == "leaky" else {})}
            c.execute(f"INSERT INTO wasm_fdw_servers ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})",
                      (name, murl, sha, json.dumps(options), allow, *extra.values()))
        for name, (server, cols, opts) in tables.items():
            c.execute("INSERT INTO wasm_fdw_tables (schema_name, table_name, server_name, columns, options) "
                      "VALUES ('shop', %s, %s, %s, %s)", (name, server, cols, json.dumps(opts)))
        c.execute("LOAD WASM FDW TO RUNTIME")
    sql = pymysql.connect(host="127.0.0.1", port=p.sql_port, user="app", password="app", autocommit=True)
    env = SimpleNamespace(p=p, api=api, port=port, q=q, closed=closed, admin=admin, sql=sql, tmp=tmp)
    yield env
    env.sql.close()
    env.admin.close()
    p.stop()
    api.shutdown()
    closed.close()


def _module_named(tmp: Path, guest: str, server: str) -> tuple[str, str]:
    dst = tmp / f"{server}.wat"
    shutil.copy(WAT / f"{guest}.wat", dst)
    return f"file://{dst}", hashlib.sha256(dst.read_bytes()).hexdigest()


def q(conn, sql: str, args=None) -> list[tuple]:
    with conn.cursor() as c:
        c.execute(sql, args)
        return list(c.fetchall())


def fails(conn, sql: str) -> tuple[int, str]:
    with pytest.raises(pymysql.MySQLError) as info:
        q(conn, sql)
    return info.value.args[0], info.value.args[1]


def table_stats(env, table: str) -> dict:
    with env.admin.cursor(pymysql.cursors.DictCursor) as c:
        c.execute("SELECT * FROM stats.stats_wasm_fdw_tables WHERE table_name = %s", (table,))
        return {k: (int(v) if isinstance(v, str) and v.isdigit() else v) for k, v in c.fetchone().items()}


def gets(env, path: str) -> int:
    return sum(1 for m, p, _ in env.api.seen if m == "GET" and p == path)


# -- reading ----------------------------------------------------------------------------------------
def test_foreign_table_through_sql_port_quals_ignored_by_guest(env):
    before = gets(env, "/events")
    rows = q(env.sql, "SELECT id, type FROM shop.events WHERE type = 'PushEvent' ORDER BY id")
    assert rows == [(1, "PushEvent"), (3, "PushEvent")]  # passthru ignored the qual; SQLite applied it
    assert gets(env, "/events") == before + 1
    s = table_stats(env, "events")
    assert (s["scans"], s["rows_out"], s["http_requests"]) == (1, 3, 1)
    assert q(env.sql, "SELECT created_at FROM shop.events WHERE id = 2")[0][0].isoformat() == "2026-01-02T04:00:00"
    assert ("events",) in q(env.sql, "SHOW TABLES FROM shop")
    assert [r[0] for r in q(env.sql, "DESCRIBE shop.events")] == ["id", "type", "login", "created_at"]


def test_join_with_local_table(env):
    q(env.sql, "CREATE TABLE shop.users (login VARCHAR(32) PRIMARY KEY, tier VARCHAR(8))")
    q(env.sql, "INSERT INTO shop.users VALUES ('alice', 'gold'), ('carol', 'free')")
    before = gets(env, "/events")
    rows = q(env.sql, "SELECT e.id, u.tier FROM shop.events e JOIN shop.users u ON u.login = e.login ORDER BY e.id")
    assert rows == [(1, "gold"), (3, "free")]
    assert gets(env, "/events") == before + 1  # one remote scan, the foreign table in the outer loop
    assert q(env.sql, "SELECT COUNT(*) FROM shop.events e JOIN shop.users u ON u.login = e.login") == [(2,)]


def _echo_contexts(env, start: int) -> list[dict]:
    text = env.p.log()[start:]
    return [json.loads(m.group(1)) for m in re.finditer(r"\[wasm fdw shop\.echo \(server echo\)\] (\{.*\})", text)]


def test_pushdown_hints_reach_the_guest(env):
    mark = len(env.p.log())
    assert q(env.sql, "SELECT * FROM shop.echo WHERE k = 5 AND name LIKE 'a%' ORDER BY k DESC") == []
    ctx = _echo_contexts(env, mark)[-1]
    quals = [{k: v for k, v in qual.items() if k in ("field", "operator", "value")} for qual in ctx["quals"]]
    assert {"field": "k", "operator": "=", "value": 5} in quals
    # MySQL's LIKE carries an ESCAPE clause in SQLite, which SQLite does not hand to virtual
    # tables; it offers the equivalent prefix range instead (case-insensitive column)
    assert {"field": "name", "operator": ">=", "value": "A"} in quals
    assert {"field": "name", "operator": "<", "value": "b"} in quals
    assert ctx["sorts"][0]["field"] == "k" and ctx["sorts"][0]["reversed"] is True
    assert ctx["limit"] is None
    assert [(c["name"], c["used"]) for c in ctx["columns"]] == [("k", True), ("name", True)]
    mark = len(env.p.log())
    assert q(env.sql, "SELECT * FROM shop.echo LIMIT 3 OFFSET 2") == []
    assert _echo_contexts(env, mark)[-1]["limit"] == {"count": 3, "offset": 2}
    mark = len(env.p.log())
    assert q(env.sql, "SELECT name FROM shop.echo") == []
    assert [(c["name"], c["used"]) for c in _echo_contexts(env, mark)[-1]["columns"]] == [("k", False),
                                                                                          ("name", True)]


# -- writing -----------------------------------------------------------------------------------------
def test_modify_forwards_insert_update_delete(env):
    seen = len(env.api.seen)
    assert q(env.sql, "INSERT INTO shop.outbox VALUES (4, 'ForkEvent', 'dave', '2026-01-03 00:00:00')") == []
    assert env.sql.affected_rows() == 1
    posted = [(m, json.loads(b)) for m, p, b in env.api.seen[seen:] if m != "GET"]
    assert posted == [("POST", {"row": [4, "ForkEvent", "dave", "2026-01-03 00:00:00"]})]
    seen = len(env.api.seen)
    q(env.sql, "UPDATE shop.outbox SET login = 'bobby' WHERE id = 2")
    q(env.sql, "DELETE FROM shop.outbox WHERE type = 'PushEvent'")
    sent = [(m, json.loads(b)) for m, p, b in env.api.seen[seen:] if m != "GET"]
    assert sent == [("PUT", {"rowid": 2, "row": [2, "IssuesEvent", "bobby", "2026-01-02 04:00:00"]}),
                    ("DELETE", {"rowid": 1}), ("DELETE", {"rowid": 3})]
    s = table_stats(env, "outbox")
    assert (s["inserts"], s["updates"], s["deletes"]) == (1, 1, 2)
    code, msg = fails(env.sql, "DELETE FROM shop.outbox2 WHERE id = 1")
    assert (code, msg) == (1105, "foreign table shop.outbox2 has no rowid_column; UPDATE and DELETE are not supported")
    assert fails(env.sql, "INSERT INTO shop.events VALUES (9, 'x', 'y', '2026-01-01 00:00:00')") == (
        1036, "Table 'events' is read only")
    assert fails(env.sql, "DROP TABLE shop.events") == (
        1105, "'shop.events' is a foreign table; change it on the admin port (wasm_fdw_tables)")
    assert q(env.sql, "SELECT COUNT(*) FROM shop.events") == [(3,)]


def test_names_collide_neither_way(env):
    code, msg = fails(env.sql, "CREATE TABLE shop.events (x INT)")
    assert code == 1050 and "events" in msg
    q(env.admin, "INSERT INTO wasm_fdw_tables (schema_name, table_name, server_name, columns) "
                 "VALUES ('shop', 'users', 'gh', 'login VARCHAR(32)')")
    try:
        assert fails(env.admin, "LOAD WASM FDW TO RUNTIME") == (
            1105, ("LOAD WASM FDW TO RUNTIME failed, runtime unchanged: table shop.users: a regular table of "
                  "that name exists in the embedded backend"))
    finally:
        q(env.admin, "DELETE FROM wasm_fdw_tables WHERE table_name = 'users'")
    assert q(env.sql, "SELECT COUNT(*) FROM shop.users") == [(2,)]


# -- limits and failures ------------------------------------------------------------------------------
def test_runaway_guest_stopped_by_deadline_others_keep_going(env):
    other = pymysql.connect(host="127.0.0.1", port=env.p.sql_port, user="app", password="app", autocommit=True)
    outcome: list = []
    runner = threading.Thread(target=lambda: outcome.append(fails(env.sql, "SELECT * FROM shop.spin")))
    runner.start()
    time.sleep(0.1)
    assert q(other, "SELECT 1") == [(1,)]
    answered_while_spinning = runner.is_alive()
    runner.join()
    other.close()
    assert answered_while_spinning  # the guest runs off the event loop
    assert outcome == [(1105, ("guest fdw error: wasm fdw shop.spin (server spin): begin_scan: "
                              "deadline of 1000 ms exceeded"))]
    assert q(env.sql, "SELECT 1") == [(1,)]  # same connection, still usable
    assert table_stats(env, "spin")["timeouts"] == 1


def test_fuel_limit(env):
    assert fails(env.sql, "SELECT * FROM shop.fuel") == (
        1105, "guest fdw error: wasm fdw shop.fuel (server fuel): begin_scan: fuel limit of 1000000 exhausted")
    assert table_stats(env, "fuel")["fuel_exhausted"] == 1


def test_memory_cap(env):
    code, msg = fails(env.sql, "SELECT * FROM shop.hog")
    assert code == 1105
    assert msg.startswith("guest fdw error: wasm fdw shop.hog (server hog): begin_scan: guest trapped: ")
    assert msg.endswith("of its 16 MiB limit in use)")
    assert table_stats(env, "hog")["traps"] == 1
    assert q(env.sql, "SELECT COUNT(*) FROM shop.events") == [(3,)]


def test_disallowed_host_refused(env):
    code, msg = fails(env.sql, "SELECT * FROM shop.far")
    assert (code, msg) == (1105, ("guest fdw error: wasm fdw shop.far (server far): begin_scan: guest error: "
                                 f"http: destination not allowed: http://127.0.0.1:{env.q}/x"))
    with pytest.raises(BlockingIOError):
        env.closed.accept()  # nothing connected to the port that is not allowed


def test_credentials_masked_in_errors(env):
    assert fails(env.sql, "SELECT * FROM shop.leaky") == (
        1105, ("guest fdw error: wasm fdw shop.leaky (server leaky): begin_scan: guest error: "
              f"http: destination not allowed: http://127.0.0.1:{env.q}/x?sig=***"))
    assert "s3cr3t" not in q(env.admin, "SELECT last_error FROM stats.stats_wasm_fdw_tables "
                                        "WHERE table_name = 'leaky'")[0][0]


def test_http_timeout_and_size_cap(env):
    assert fails(env.sql, "SELECT * FROM shop.slow") == (
        1105, ("guest fdw error: wasm fdw shop.slow (server slow): begin_scan: guest error: "
              f"http: timeout after 300 ms: http://127.0.0.1:{env.port}/slow"))
    assert fails(env.sql, "SELECT * FROM shop.big") == (
        1105, ("guest fdw error: wasm fdw shop.big (server big): begin_scan: guest error: "
              f"http: response larger than 1048576 bytes: http://127.0.0.1:{env.port}/big"))


def test_invalid_reply_names_column_and_row(env):
    assert fails(env.sql, "SELECT * FROM shop.bad") == (
        1105, ("guest fdw error: wasm fdw shop.bad (server bad): iter_scan: invalid reply: "
              "column 'id' row 1: expected an integer, got \"abc\""))
    assert q(env.sql, "SELECT COUNT(*) FROM shop.events") == [(3,)]


# -- loading -------------------------------------------------------------------------------------------
def _runtime_servers(env) -> list[tuple]:
    return q(env.admin, "SELECT server_name, module_sha256 FROM runtime_wasm_fdw_servers ORDER BY server_name")


def test_tampered_module_refused_old_runtime_kept(env):
    path = env.tmp / "gh2.wat"
    good = path.read_bytes()
    sha = hashlib.sha256(good).hexdigest()
    before = _runtime_servers(env)
    bad = bytearray(good)
    bad[10] ^= 0x01
    path.write_bytes(bytes(bad))
    try:
        code, msg = fails(env.admin, "LOAD WASM FDW TO RUNTIME")
        assert code == 1105
        assert msg.endswith(f"server 'gh2': module sha256 mismatch: expected {sha}, "
                            f"got {hashlib.sha256(bytes(bad)).hexdigest()}")
        assert _runtime_servers(env) == before
        assert q(env.sql, "SELECT COUNT(*) FROM shop.mirror") == [(3,)]  # the old module keeps serving
        assert q(env.admin, "SELECT verify_failures FROM stats.stats_wasm_fdw_modules "
                            "WHERE server_name = 'gh2'") == [("1",)]
    finally:
        path.write_bytes(good)
    q(env.admin, f"UPDATE wasm_fdw_servers SET module_sha256 = 'sha256:{sha}' WHERE server_name = 'gh2'")
    try:
        code, msg = fails(env.admin, "LOAD WASM FDW TO RUNTIME")
        assert msg.endswith("server 'gh2': module_sha256 must be 64 lowercase hex digits (no prefix)")
        assert _runtime_servers(env) == before
    finally:
        q(env.admin, f"UPDATE wasm_fdw_servers SET module_sha256 = '{sha}' WHERE server_name = 'gh2'")
    q(env.admin, "LOAD WASM FDW TO RUNTIME")


def test_host_version_and_imports_checked_at_load(env):
    for name, text, expected in [
        ("v2", (WAT / "spin.wat").read_text().replace("^1.0", "^2.0"),
         "server 'v2': guest requires host version '^2.0'; this host is 1.0.0"),
        ("x", (WAT / "spin.wat").read_text().replace('(func (export "proxyd_fdw_abi_1"))', ""),
         "server 'x': module does not export proxyd_fdw_abi_1 (not built for this ABI)"),
        ("y", (WAT / "spin.wat").read_text().replace("(memory", '(import "env" "foo" (func))\n  (memory'),
         "server 'y': module imports env.foo, which this host does not provide"),
    ]:
        path = env.tmp / f"{name}.wat"
        path.write_text(text)
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        q(env.admin, "INSERT INTO wasm_fdw_servers (server_name, module_url, module_sha256) VALUES (%s, %s, %s)",
          (name, f"file://{path}", sha))
        try:
            code, msg = fails(env.admin, "LOAD WASM FDW TO RUNTIME")
            assert (code, msg) == (1105, f"LOAD WASM FDW TO RUNTIME failed, runtime unchanged: {expected}")
        finally:
            q(env.admin, "DELETE FROM wasm_fdw_servers WHERE server_name = %s", (name,))
    assert ("v2", ) not in [r[:1] for r in _runtime_servers(env)]


def test_unload_and_load_plugin_with_connections_kept(env):
    q(env.admin, "SAVE WASM FDW TO DISK")
    q(env.admin, "UNLOAD PLUGIN wasm")
    assert fails(env.sql, "SELECT * FROM shop.events") == (
        1105, "foreign table shop.events: the wasm plugin is not loaded")
    assert q(env.sql, "SELECT COUNT(*) FROM shop.users") == [(2,)]  # local tables are unaffected
    q(env.admin, "LOAD PLUGIN wasm")
    assert q(env.sql, "SELECT COUNT(*) FROM shop.events") == [(3,)]
    fresh = pymysql.connect(host="127.0.0.1", port=env.p.sql_port, user="app", password="app", autocommit=True)
    try:
        assert q(fresh, "SELECT id FROM shop.events WHERE login = 'bob'") == [(2,)]
    finally:
        fresh.close()


def test_module_downloaded_over_http_while_loading(env):
    url = f"http://127.0.0.1:{env.port}/guest/passthru.wat"
    sha = hashlib.sha256((WAT / "passthru.wat").read_bytes()).hexdigest()
    q(env.admin, "INSERT INTO wasm_fdw_servers (server_name, module_url, module_sha256, options, http_allow) "
                 "VALUES ('remote', %s, %s, %s, %s)",
      (url, sha, json.dumps({"url": f"http://127.0.0.1:{env.port}/events"}), f"http://127.0.0.1:{env.port}"))
    q(env.admin, "INSERT INTO wasm_fdw_tables (schema_name, table_name, server_name, columns) "
                 "VALUES ('shop', 'remote', 'remote', %s)", (COLUMNS,))
    q(env.admin, "LOAD WASM FDW TO RUNTIME")
    assert gets(env, "/guest/passthru.wat") == 1
    for _ in range(3):
        assert q(env.sql, "SELECT COUNT(*) FROM shop.remote") == [(3,)]
    assert gets(env, "/guest/passthru.wat") == 1  # queries never download
    q(env.admin, "LOAD WASM FDW TO RUNTIME")
    assert gets(env, "/guest/passthru.wat") == 1  # verified bytes come from the blob cache
    blob = env.p.datadir / "wasm" / "blobs" / f"{sha}.wasm"
    blob.write_bytes(blob.read_bytes().replace(b"passthru", b"PASSTHRU", 1))  # tampered cache
    q(env.admin, "LOAD WASM FDW TO RUNTIME")
    assert gets(env, "/guest/passthru.wat") == 2  # deleted, downloaded and verified again
    assert "does not match its sha256; deleted, downloading it again" in env.p.log()
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == sha
    assert q(env.sql, "SELECT COUNT(*) FROM shop.remote") == [(3,)]
    q(env.admin, "UPDATE wasm_fdw_servers SET module_sha256 = %s WHERE server_name = 'remote'", ("0" * 64,))
    assert fails(env.admin, "LOAD WASM FDW TO RUNTIME")[1].endswith(f"server 'remote': module sha256 mismatch: expected {'0' * 64}, got {sha}")
    assert q(env.sql, "SELECT COUNT(*) FROM shop.remote") == [(3,)]
    q(env.admin, "UPDATE wasm_fdw_servers SET module_sha256 = %s WHERE server_name = 'remote'", (sha,))


def test_restart_leaves_a_failing_server_out(env):
    q(env.admin, "LOAD WASM FDW TO RUNTIME")
    q(env.admin, "SAVE WASM FDW TO DISK")
    path = env.tmp / "gh2.wat"
    good = path.read_bytes()
    sha, bad = hashlib.sha256(good).hexdigest(), good.replace(b"passthru", b"PASSTHRU", 1)
    path.write_bytes(bad)
    env.sql.close()
    env.admin.close()
    env.p.restart()
    env.sql = pymysql.connect(host="127.0.0.1", port=env.p.sql_port, user="app", password="app", autocommit=True)
    env.admin = env.p.admin()
    reason = f"module sha256 mismatch: expected {sha}, got {hashlib.sha256(bad).hexdigest()}"
    assert fails(env.sql, "SELECT * FROM shop.mirror") == (
        1105, f"wasm fdw shop.mirror: server 'gh2' is not loaded: {reason}")
    assert q(env.sql, "SELECT COUNT(*) FROM shop.events") == [(3,)]  # the other servers started
    assert q(env.sql, "SELECT COUNT(*) FROM shop.remote") == [(3,)]  # from the verified blob cache
    assert q(env.admin, "SELECT last_error FROM stats.stats_wasm_fdw_modules WHERE server_name = 'gh2'") == [
        (f"server 'gh2': {reason}",)]
    path.write_bytes(good)
    q(env.admin, "LOAD WASM FDW TO RUNTIME")
    assert q(env.sql, "SELECT COUNT(*) FROM shop.mirror") == [(3,)]


def test_prepared_statement_through_another_client(env):
    import mysql.connector

    conn = mysql.connector.connect(host="127.0.0.1", port=env.p.sql_port, user="app", password="app",
                                   use_pure=True)
    try:
        cur = conn.cursor(prepared=True)
        cur.execute("SELECT id, login FROM shop.events WHERE id >= ? ORDER BY id DESC", (2,))
        assert [tuple(r) for r in cur.fetchall()] == [(3, "carol"), (2, "bob")]
        cur.close()
    finally:
        conn.close()


def test_rescans_for_in_lists_and_inner_loops(env):
    before = table_stats(env, "events")
    assert q(env.sql, "SELECT id FROM shop.events WHERE id IN (1, 3) ORDER BY id") == [(1,), (3,)]
    # CROSS JOIN keeps the written order in SQLite: the foreign table is the inner loop, scanned again
    # (end_scan + begin_scan: passthru has no fdw_re_scan) for each user
    rows = q(env.sql, "SELECT u.login, e.id FROM shop.users u CROSS JOIN shop.events e "
                      "WHERE e.login = u.login ORDER BY e.id")
    assert rows == [("alice", 1), ("carol", 3)]
    after = table_stats(env, "events")
    assert after["rescans"] > before["rescans"]
    assert after["http_requests"] - before["http_requests"] == after["scans"] - before["scans"] + (
        after["rescans"] - before["rescans"])
