"""The proxyd command line and process: --help, cnf errors, boot rules (first boot, --reload, --initial),
persistence across restarts, signals and shutdown commands, the error log, and config export
(spec admin-interface.md §8, §10, §12)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time

import pymysql
import pytest

from proxyd import __version__
from proxyd.cli import build_parser
from proxyd.config import parse_config_text
from tests.admin_helpers import expect_error, rows, run, scalar, write_cnf
from tests.conftest import Proxyd

MAIN_TABLES = ["mysql_servers", "mysql_users", "mysql_group_replication_hostgroups", "global_variables"]


def wait_exit(p: Proxyd, timeout: float = 15) -> int:
    rc = p.proc.wait(timeout)
    p._log.close()
    return rc


def dump(p: Proxyd, schema: str = "main") -> dict[str, list[tuple]]:
    c = p.admin()
    try:
        return {t: rows(c, f"SELECT * FROM {schema}.{t} ORDER BY 1, 2") for t in MAIN_TABLES}
    finally:
        c.close()


def log_since(p: Proxyd, offset: int) -> str:
    return p.log()[offset:]


# -- --help ----------------------------------------------------------------------------------------------
def test_help_documents_every_flag():
    r = subprocess.run([sys.executable, "-m", "proxyd", "--help"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0
    flat = " ".join(r.stdout.split())
    for action in build_parser()._actions:
        assert action.help, f"{action.option_strings} has no help text"
        for opt in action.option_strings:
            assert opt in r.stdout, f"{opt} missing from --help"
        assert " ".join(action.help.replace("%(default)s", "").split())[:40] in flat
    for phrase in ("--initial", "proxyd.db.bak", "--reload", "conf/proxyd.cnf", "--disable-plugin NAME"):
        assert phrase in flat
    r = subprocess.run([sys.executable, "-m", "proxyd", "--version"], capture_output=True, text=True, timeout=30)
    assert (r.returncode, r.stdout.strip()) == (0, f"proxyd {__version__}")
    r = subprocess.run([sys.executable, "-m", "proxyd", "--initial", "--reload"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 2 and "not allowed with argument" in r.stderr


# -- cnf errors: exit 2 with file:line --------------------------------------------------------------------
# Each cnf marks the line the error must point at with '#<'.
CNF_ERRORS = {
    "syntax": ('mysql_servers = (\n  { address = "x"; hostgroup = 0 }\n  { address = "y"; hostgroup = 1 } #<\n)\n',
               "syntax error"),
    "unclosed": ('mysql_users = ( { username = "u" }\nfoo = 1 #<\n', "syntax error"),
    "unknown key": ('frobnicate = 1 #<\n', "unknown key 'frobnicate'"),
    "unknown row field": ('mysql_servers = (\n  { address = "x"\n    colour = "red" #<\n    hostgroup = 0 }\n)\n',
                          "unknown field 'colour' in mysql_servers[0]"),
    "wrong type": ('mysql_users = (\n  { username = "u"; active = "yes" } #<\n)\n',
                   "mysql_users[0].active must be an integer"),
    "wrong type of process key": ('pidfile = 5 #<\n', "'pidfile' must be a string"),
    "unknown mysql variable": ('mysql_variables = {\n  no_such_variable = 1 #<\n}\n', "'mysql-no_such_variable'"),
    "unknown admin variable": ('admin_variables = {\n  nope = true #<\n}\n', "'admin-nope'"),
    "bad variable value": ('mysql_variables = {\n  max_connections = "abc" #<\n}\n', "'mysql-max_connections'"),
    "row refused by the table": ('mysql_servers = (\n  { address = "x"; hostgroup = 0; port = 70000 } #<\n)\n',
                                 "mysql_servers[0]"),
}


@pytest.mark.parametrize("case", list(CNF_ERRORS))
def test_cnf_errors_exit_2_with_file_and_line(tmp_path, case):
    text, named = CNF_ERRORS[case]
    datadir = tmp_path / "data"
    cnf = tmp_path / "proxyd.cnf"
    full = f'datadir = "{datadir}"\n' + text
    cnf.write_text(full)
    line = next(i for i, ln in enumerate(full.splitlines(), 1) if "#<" in ln)
    r = subprocess.run([sys.executable, "-m", "proxyd", "-c", str(cnf)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r.stderr
    assert f"{cnf}:{line}: " in r.stderr and named in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert not (datadir / "proxyd.db").exists()  # a failed first boot leaves no db behind


def test_failed_boot_does_not_stick(proxyd_factory):
    """After a refused cnf is fixed, the next boot is still a first boot (or keeps the old db after --initial)."""
    p = proxyd_factory()
    body = 'mysql_servers = ( { address = "a"; hostgroup = 0 } )\n'
    write_cnf(p, mysql_vars={"no_such": 1}, body=body)
    assert p.run().returncode == 2
    write_cnf(p, body=body)
    p.start()
    assert dump(p)["mysql_servers"][0][:2] == ("0", "a")
    assert p.stop() == 0
    write_cnf(p, mysql_vars={"no_such": 1}, body='mysql_servers = ( { address = "b"; hostgroup = 0 } )\n')
    r = p.run("--initial")
    assert r.returncode == 2 and "'mysql-no_such'" in r.stderr
    write_cnf(p, body='mysql_servers = ( { address = "b"; hostgroup = 0 } )\n')
    p.start()  # the old db came back from .bak: cnf ignored
    assert [x[1] for x in dump(p)["mysql_servers"]] == ["a"]


# -- boot rules --------------------------------------------------------------------------------------------
def test_boot_rules_first_boot_ignored_cnf_reload_initial(proxyd_factory):
    p = proxyd_factory()
    write_cnf(p, mysql_vars={"max_connections": 300}, body="""
        mysql_servers = ( { address = "a"; hostgroup = 0; comment = "cnf-1" } )
        mysql_users = ( { username = "u1"; password = "p" } )
    """)
    p.start()  # first boot: cnf -> memory -> disk, then runtime
    c = p.admin()
    for schema in ("main", "disk"):
        assert rows(c, f"SELECT hostname, comment FROM {schema}.mysql_servers") == [("a", "cnf-1")]
        assert rows(c, f"SELECT username FROM {schema}.mysql_users") == [("u1",)]
        assert scalar(c, f"SELECT variable_value FROM {schema}.global_variables "
                         "WHERE variable_name='mysql-max_connections'") == "300"
    assert rows(c, "SELECT hostname FROM runtime_mysql_servers") == [("a",)]
    assert scalar(c, "SELECT variable_value FROM runtime_global_variables "
                     "WHERE variable_name='mysql-max_connections'") == "300"
    assert "ignored" not in p.log()
    c.close()

    # later boots: the cnf's tables and variables are ignored, with one log line saying so
    write_cnf(p, mysql_vars={"max_connections": 400}, body="""
        mysql_servers = ( { address = "b"; hostgroup = 0; comment = "cnf-2" },
                          { address = "a"; hostgroup = 0; comment = "cnf-2" } )
        mysql_users = ( { username = "u2"; password = "p" } )
    """)
    mark = len(p.log())
    p.restart()
    assert [r[1] for r in dump(p)["mysql_servers"]] == ["a"]
    assert scalar(p.admin(), "SELECT @@mysql-max_connections") == "300"
    lines = [ln for ln in log_since(p, mark).splitlines() if "ignored" in ln]
    assert len(lines) == 1, lines
    for part in ("admin_variables", "mysql_variables", "mysql_servers", "mysql_users",
                 str(p.datadir / "proxyd.db"), "--initial", "--reload"):
        assert part in lines[0], (part, lines[0])

    # --reload merges: rows only on disk survive, cnf rows win on key collisions
    c = p.admin()
    run(c, "INSERT INTO mysql_servers (hostgroup_id, hostname) VALUES (5, 'disk-only')")
    run(c, "SAVE MYSQL SERVERS TO DISK")
    c.close()
    mark = len(p.log())
    p.restart("--reload")
    assert "ignored" not in log_since(p, mark)
    c = p.admin()
    expected = [("0", "a", "cnf-2"), ("0", "b", "cnf-2"), ("5", "disk-only", "")]
    for table in ("main.mysql_servers", "disk.mysql_servers", "runtime_mysql_servers"):
        assert rows(c, f"SELECT hostgroup_id, hostname, comment FROM {table} ORDER BY 1, 2") == expected, table
    assert rows(c, "SELECT username FROM mysql_users ORDER BY 1") == [("u1",), ("u2",)]
    assert scalar(c, "SELECT variable_value FROM runtime_global_variables "
                     "WHERE variable_name='mysql-max_connections'") == "400"
    c.close()

    # --initial: the cnf alone; the old db is kept as proxyd.db.bak
    p.restart("--initial")
    c = p.admin()
    for table in ("main.mysql_servers", "disk.mysql_servers", "runtime_mysql_servers"):
        assert rows(c, f"SELECT hostname FROM {table} ORDER BY 1") == [("a",), ("b",)], table
    assert rows(c, "SELECT username FROM mysql_users") == [("u2",)]
    c.close()
    bak = sqlite3.connect(p.datadir / "proxyd.db.bak")
    assert bak.execute("SELECT hostname FROM mysql_servers ORDER BY 1").fetchall() == [("a",), ("b",), ("disk-only",)]
    bak.close()
    # and the re-seeded db is what the next plain boot uses
    p.restart()
    assert [r[1] for r in dump(p)["mysql_servers"]] == ["a", "b"]


def test_save_to_disk_survives_restart(proxyd):
    c = proxyd.admin()
    run(c, "INSERT INTO mysql_servers (hostgroup_id, hostname, port, comment) VALUES (3, 'saved', 3310, 'x')")
    run(c, "INSERT INTO mysql_users (username, password) VALUES ('saved_user', 'pw')")
    run(c, "INSERT INTO mysql_group_replication_hostgroups (writer_hostgroup, backup_writer_hostgroup, "
           "reader_hostgroup, offline_hostgroup) VALUES (10, 11, 12, 13)")
    run(c, "SET mysql-max_connections=777")
    run(c, "SET admin-stats_credentials='stats:stats;mon:mon'")
    for m in ("MYSQL SERVERS", "MYSQL USERS", "MYSQL VARIABLES", "ADMIN VARIABLES"):
        run(c, f"SAVE {m} TO DISK")
    run(c, "SET mysql-long_query_time=5")  # memory only: lost on restart
    run(c, "INSERT INTO mysql_servers (hostgroup_id, hostname) VALUES (4, 'unsaved')")
    memory = dump(proxyd)
    c.close()
    proxyd.restart()
    c = proxyd.admin()
    after = dump(proxyd)
    assert after["mysql_servers"] == [r for r in memory["mysql_servers"] if r[1] != "unsaved"]
    assert after["mysql_users"] == memory["mysql_users"]
    assert after["mysql_group_replication_hostgroups"] == memory["mysql_group_replication_hostgroups"]
    assert ("mysql-long_query_time", "1000") in after["global_variables"]
    # ... and runtime was loaded from it
    assert rows(c, "SELECT hostname FROM runtime_mysql_servers WHERE hostgroup_id=3") == [("saved",)]
    assert rows(c, "SELECT DISTINCT username FROM runtime_mysql_users ORDER BY 1") == [("app",), ("saved_user",)]
    assert rows(c, "SELECT writer_hostgroup FROM runtime_mysql_group_replication_hostgroups") == [("10",)]
    assert scalar(c, "SELECT variable_value FROM runtime_global_variables "
                     "WHERE variable_name='mysql-max_connections'") == "777"
    mon = pymysql.connect(host="127.0.0.1", port=proxyd.admin_port, user="mon", password="mon")
    assert scalar(mon, "SELECT DATABASE()") == "stats"
    mon.close()
    c.close()


# -- stopping ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "PROXYD SHUTDOWN", "PROXYSQL SHUTDOWN", "PROXYD SHUTDOWN SLOW",
                                 "PROXYD KILL"])
def test_stop_exits_0(proxyd, how):
    if how.startswith("SIG"):
        proxyd.proc.send_signal(getattr(signal, how))
    elif how.endswith("KILL"):
        c = proxyd.admin()
        with pytest.raises(pymysql.err.OperationalError):  # immediate exit: no reply
            run(c, how)
    else:
        c = proxyd.admin()
        r = run(c, how)
        assert r.columns is None  # the OK arrives before the process goes
    assert wait_exit(proxyd) == 0, proxyd.log()
    if not how.endswith("KILL"):
        assert "stopped" in proxyd.log()


# -- error log ---------------------------------------------------------------------------------------------
def test_errorlog_and_flush_logs(proxyd_factory):
    p = proxyd_factory()
    errorlog = p.dir / "logs" / "proxyd.err"
    write_cnf(p, extra=f'errorlog = "{errorlog}"\n')
    p.start()
    deadline = time.monotonic() + 10  # the line is written just after the admin port opens
    while "ready" not in errorlog.read_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "ready" in errorlog.read_text()
    c = p.admin()
    rotated = errorlog.with_suffix(".err.1")
    errorlog.rename(rotated)
    run(c, "LOGENTRY before-flush")
    assert run(c, "PROXYD FLUSH LOGS").columns is None
    run(c, "LOGENTRY after-flush")
    run(c, "PROXYSQL FLUSH LOGS")
    assert "before-flush" in rotated.read_text() and "after-flush" not in rotated.read_text()
    assert "after-flush" in errorlog.read_text() and "before-flush" not in errorlog.read_text()
    c.close()
    assert p.stop() == 0
    assert "stopped" in errorlog.read_text()


# -- config export ---------------------------------------------------------------------------------------
def test_select_config_file_round_trip_and_save_config(proxyd_factory):
    p = proxyd_factory()
    write_cnf(p, mysql_vars={"server_version": "8.0.11-\"q\""}, body="""
        mysql_servers = ( { address = "db1"; hostgroup = 0; port = 3306; status = "OFFLINE_SOFT";
                            comment = "quote \\" and backslash \\\\ and tab\\t" },
                          { address = "/tmp/mysql.sock"; hostgroup = 1; port = 0; weight = 5 } )
        mysql_users = ( { username = "u1"; password = "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19";
                          default_schema = "shop"; attributes = "{\\"k\\": [1, 2]}"; max_connections = 9 },
                        { username = "u2"; active = 0 } )
        mysql_group_replication_hostgroups = ( { writer_hostgroup = 10; backup_writer_hostgroup = 11;
                                                 reader_hostgroup = 12; offline_hostgroup = 13; comment = "gr" } )
    """)
    p.start()
    c = p.admin()
    run(c, "SET mysql-max_connections=123")  # memory state is what gets exported
    run(c, "INSERT INTO mysql_servers (hostgroup_id, hostname) VALUES (2, 'added')")
    run(c, "SAVE MYSQL USERS TO MEMORY")  # users as split frontend/backend rows
    text = scalar(c, "SELECT CONFIG FILE")
    assert text.startswith("#") and f'datadir="{p.datadir}"' in text and "plugins=()" in text
    parse_config_text(text)  # valid cnf

    r = run(c, "SAVE CONFIG TO FILE 'export.cnf'")  # relative: the datadir
    assert r.info == f"File {p.datadir / 'export.cnf'} is saved."
    assert (p.datadir / "export.cnf").read_text() == text
    out = p.dir / "outfile.cnf"
    assert run(c, f"SELECT CONFIG INTO OUTFILE {out}").info == f"File {out} is saved."
    assert out.read_text() == text
    with expect_error(1105, "HY000", match="empty file name"):
        run(c, "SAVE CONFIG TO FILE ''")
    with expect_error(1105, "HY000", match="Cannot open file /nonexistent/dir/x.cnf"):
        run(c, "SAVE CONFIG TO FILE /nonexistent/dir/x.cnf")
    c.close()
    before = dump(p)
    assert p.stop() == 0

    # proxyd --initial with the exported file rebuilds the same main tables (here in another datadir)
    q = proxyd_factory()
    q.cnf.write_text(text)
    q.admin_port = p.admin_port  # the exported admin_variables carry the first instance's port
    q.start("--initial", "-D", str(q.datadir))
    try:
        assert (q.datadir / "proxyd.db").exists() and not (p.datadir / "proxyd.db.bak").exists()
        assert dump(q) == before
        assert dump(q, "disk") == before
    finally:
        assert q.stop() == 0
