"""Filters across restarts and hot plugin loads: persistence, the cnf seed, UNLOAD/LOAD/RELOAD PLUGIN,
and an action that appears when its plugin loads after the filters plugin."""

from __future__ import annotations

import pymysql
import pytest

from tests.conftest import Proxyd
from tests.test_filters_helpers import (
    BACKEND_CNF,
    connect,
    demo_env,
    demo_site,
    fails,
    run,
)

FAIL_SELECTS = ("create filter no_select with_pattern (plans='Select', fully_qualified_table_names='d1.*') "
                "execute (action='FAIL')")


def refused(conn: pymysql.connections.Connection, sql: str = "SELECT * FROM d1.t") -> bool:
    try:
        run(None, sql, conn=conn)  # type: ignore[arg-type]
    except pymysql.MySQLError as exc:
        assert "disallowed due to rule: no_select" in exc.args[1]
        return True
    return False


@pytest.fixture
def started(proxyd_factory):
    p = proxyd_factory(BACKEND_CNF, plugins=("filters",))
    p.start()
    with connect(p) as conn:
        run(p, "CREATE DATABASE d1", conn=conn)
        run(p, "CREATE TABLE d1.t (id INT PRIMARY KEY)", conn=conn)
    return p


def test_persistence_across_restart(started):
    p = started
    with connect(p, "boss") as conn:
        run(p, FAIL_SELECTS, conn=conn)
        before = run(p, "SHOW FILTERS", conn=conn)
    p.query("INSERT INTO filters (name, plans, action) VALUES ('saved', 'Delete', 'FAIL')")
    p.query("SAVE FILTERS TO DISK")
    p.query("INSERT INTO filters (name, action) VALUES ('memory_only', 'CONTINUE')")  # never saved
    p.restart()
    with connect(p, "boss") as conn:
        after = run(p, "SHOW FILTERS", conn=conn)
        assert [r[3] for r in after] == ["no_select", "saved"]
        assert after[0] == before[0]  # id and timestamps too
        assert refused(conn)
        assert fails(p, "DELETE FROM d1.t", conn=conn)[1] == "disallowed due to rule: saved"


def test_proxyd_stop_and_start_keep_the_runtime_filters(started):
    p = started
    with connect(p, "boss") as conn:
        run(p, "CREATE FILTER IF NOT EXISTS stop_start (priority='5') WITH_PATTERN (plans='Delete', "
               "fully_qualified_table_names='d1.t') EXECUTE (action='FAIL')", conn=conn)
    p.query("PROXYD STOP")
    p.query("PROXYD START")
    with connect(p) as conn:
        assert fails(p, "DELETE FROM d1.t", conn=conn) == (1105, "disallowed due to rule: stop_start")
    with connect(p, "boss") as conn:
        run(p, "DROP FILTER stop_start", conn=conn)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """Started with a cnf ``filters`` section and the demo action plugin on the path (not loaded)."""
    root = tmp_path_factory.mktemp("filters_seeded")
    p = Proxyd(root, BACKEND_CNF + """
        filters = ( { name = "from_cnf"; plans = "Select"; query_regex = "forbidden"; action = "FAIL" } )
        """, ("filters",))
    p.start(env=demo_env(demo_site(root)))
    yield p
    p.stop()


def test_cnf_seeds_the_first_boot(seeded):
    p = seeded
    with connect(p) as conn:
        code, msg = fails(p, "SELECT 'forbidden'", conn=conn)
        assert (code, msg) == (1105, "disallowed due to rule: from_cnf")
        assert run(p, "SELECT 'fine'", conn=conn) == [("fine",)]
    assert p.query("SELECT name, plans FROM disk.filters") == [("from_cnf", "Select")]
    assert p.query("SELECT name, plans FROM runtime_filters") == [("from_cnf", '["Select"]')]


def test_hot_unload_load_reload_plugin_filters(started):
    p = started
    p.query(FAIL_SELECTS)
    conn = connect(p)  # kept open throughout
    assert refused(conn)
    assert p.query("UNLOAD PLUGIN filters") == []
    assert not refused(conn)  # no plugin, no filter
    with pytest.raises(pymysql.MySQLError):
        p.query("SHOW FILTERS")
    assert p.query("SELECT name FROM disk.filters") == [("no_select",)]  # disk rows stay for a later load
    p.query("LOAD PLUGIN filters")
    assert refused(conn)
    assert p.query("SELECT matches, failed FROM stats_filters") == [("1", "1")]
    p.query("RELOAD PLUGIN filters")
    assert refused(conn)
    with connect(p, "boss") as boss:
        run(p, "drop filter no_select", conn=boss)
    assert not refused(conn)
    conn.close()
    assert p.stop() == 0


def test_action_plugin_loaded_after_filters(seeded):
    """A filter naming an action nobody provides yet is kept inert, and goes live with its plugin."""
    p = seeded
    p.query("INSERT INTO filters (name, plans, action) VALUES ('answers', 'Select', 'DEMO_ANSWER')")
    # DEMO_RECORD refuses empty action_args: when its plugin arrives this one filter stays inert
    p.query("INSERT INTO filters (name, plans, action) VALUES ('no_args', 'Delete', 'DEMO_RECORD')")
    p.query("LOAD FILTERS TO RUNTIME")
    conn = connect(p)
    assert run(p, "SELECT 1", conn=conn) == [(1,)]
    assert p.query("SELECT live FROM stats_filters WHERE name = 'answers'") == [("0",)]
    p.query("LOAD PLUGIN filters_demo")
    assert run(p, "SELECT 1", conn=conn) == [("answered by answers",)]
    assert p.query("SELECT name, live FROM stats_filters WHERE name != 'from_cnf' ORDER BY name") == [
        ("answers", "1"), ("no_args", "0")]
    assert "filter 'no_args' is inert: action DEMO_RECORD needs a file path" in p.log()
    with pytest.raises(pymysql.MySQLError, match="required by filters_demo"):
        p.query("UNLOAD PLUGIN filters")
    p.query("UNLOAD PLUGIN filters_demo")
    assert run(p, "SELECT 1", conn=conn) == [(1,)]
    conn.close()
