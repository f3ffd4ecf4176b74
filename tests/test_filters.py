"""The filters plugin over real sockets: every statement, every pattern field, every action.

One daemon per module (filters + the ``filters_demo`` action plugin, embedded backend); each test
drops the filters it made. Filter statements run on the SQL port as ``boss`` (listed in
``filters-admin_users``) unless the test is about the admin port.
"""

from __future__ import annotations

import mysql.connector
import pytest

from tests.conftest import Proxyd
from tests.test_filters_helpers import (
    BACKEND_CNF,
    admin,
    close_cached,
    connect,
    demo_env,
    demo_site,
    drop_all_filters,
    fails,
    run,
    stats,
)

SEED_FOO = """create filter foo(
        desc='filter foo 的描述',
        priority='1000',
        status='ACTIVE'
)
with_pattern(
        plans='Select,Insert',
        fully_qualified_table_names='d1.t1'
)
execute(
        action='FAIL'
);"""

SEED_FOO_ALTER = """alter filter foo(
        desc='filter foo 的新描述',
        priority='1000',
        status='ACTIVE'
)
with_pattern(
        plans='Select,Insert',
        fully_qualified_table_names='d1.t1'
)
execute(
        action='FAIL'
);"""

SEED_CCL = """create filter ccl(
        desc='filter ccl 的描述',
        priority='1000',
        status='ACTIVE'
)with_pattern(
        plans='Update,Delete',
        fully_qualified_table_names='d1.t1'
)execute(
        action='CONCURRENCY_CONTROL',
        action_args='max_queue_size=100; max_concurrency=10'
);"""

SEED_FOO_CREATE = ("create filter foo ( desc='filter foo 的描述', priority='1000', status='ACTIVE' ) with_pattern ( "
                   "plans='Select,Insert', fully_qualified_table_names='d1.t1', query_regex='', query_template='', "
                   "request_ip_regex='', user_regex='', leading_comment_regex='', trailing_comment_regex='', "
                   "bind_var_conds='' ) execute ( action='FAIL', action_args='' )")

SHOW_COLUMNS = ["id", "create_timestamp", "update_timestamp", "name", "description", "priority", "status", "plans",
                "fully_qualified_table_names", "query_regex", "query_template", "request_ip_regex", "user_regex",
                "leading_comment_regex", "trailing_comment_regex", "bind_var_conds", "action", "action_args"]


@pytest.fixture(scope="module")
def p(tmp_path_factory) -> Proxyd:
    root = tmp_path_factory.mktemp("filters")
    d = Proxyd(root, BACKEND_CNF, ("filters", "filters_demo"))
    d.start(env=demo_env(demo_site(root)))
    for stmt in ("CREATE DATABASE d1", "CREATE DATABASE d2", "CREATE TABLE d1.t1 (id INT PRIMARY KEY, v INT)",
                 "CREATE TABLE d1.t2 (id INT PRIMARY KEY, v INT)", "CREATE TABLE d2.t1 (id INT PRIMARY KEY, v INT)",
                 "INSERT INTO d1.t1 VALUES (1, 10), (2, 20)", "INSERT INTO d1.t2 VALUES (1, 10), (150, 15)",
                 "INSERT INTO d2.t1 VALUES (1, 10)"):
        run(d, stmt)
    yield d
    close_cached(d)
    d.stop()


@pytest.fixture(autouse=True)
def clean(p):
    yield
    drop_all_filters(p)


def boss(p: Proxyd, sql: str, db: str | None = None) -> list[tuple]:
    return run(p, sql, "boss", db)


def show(p: Proxyd) -> list[tuple]:
    return boss(p, "SHOW FILTERS")


def columns(p: Proxyd, sql: str, user: str = "boss") -> list[str]:
    with connect(p, user) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return [d[0] for d in cur.description]


def make(p: Proxyd, name: str, pattern: str = "", action: str = "FAIL", args: str = "", meta: str = "") -> None:
    execute = f"action='{action}'" + (f", action_args='{args}'" if args else "")
    boss(p, f"create filter {name} ({meta}) with_pattern ({pattern}) execute ({execute})")


# -- the seed's examples, verbatim ---------------------------------------------------------------------
def test_seed_foo_create_show_explain_fail_alter_drop(p):
    assert boss(p, SEED_FOO) == []
    assert columns(p, "SHOW FILTERS") == SHOW_COLUMNS
    (row,) = show(p)
    assert row[3:] == ("foo", "filter foo 的描述", "1000", "ACTIVE", '["Select","Insert"]', '["d1.t1"]',
                       "", "", "", "", "", "", "", "FAIL", "")
    assert row[1] == row[2] and len(row[1]) == len("2024-05-17 15:29:31")
    assert columns(p, "show create filter foo") == ["Filter", "Create Filter"]
    assert boss(p, "show create filter foo") == [("foo", SEED_FOO_CREATE)]
    assert columns(p, "/*explain filter*/select * from t1") == ["Name", "description", "priority", "action",
                                                                  "action_args"]
    assert run(p, "/*explain filter*/select * from t1", db="d1") == [("foo", "filter foo 的描述", "1000", "FAIL", "")]
    code, msg = fails(p, "select * from t1", db="d1")
    assert code == 1105 and "disallowed due to rule: foo" in msg
    assert run(p, "select * from t2", db="d1") == [(1, 10), (150, 15)]  # other table
    assert run(p, "update d1.t1 set v = v where id = 1") == []  # other plan
    assert boss(p, SEED_FOO_ALTER) == []
    assert show(p)[0][4] == "filter foo 的新描述"
    assert boss(p, "drop filter foo;") == []
    assert show(p) == []
    assert run(p, "select * from t1", db="d1") == [(1, 10), (2, 20)]


def test_seed_ccl_example(p):
    boss(p, SEED_CCL)
    (row,) = show(p)
    assert row[7:9] == ('["Update","Delete"]', '["d1.t1"]')
    assert row[16:] == ("CONCURRENCY_CONTROL", "max_queue_size=100; max_concurrency=10")
    assert run(p, "update d1.t1 set v = 10 where id = 1") == []
    assert stats(p, "ccl")["matches"] == 1 and stats(p, "ccl")["running"] == 0


def test_seed_wasm_filter_row_kept_inert_without_the_wasm_plugin(p):
    """The wasm seed's SHOW FILTERS row, made through the tiered table while no plugin provides WASM_PLUGIN."""
    admin(p, """INSERT INTO filters (name, plans, action, action_args) VALUES ('my_plugin_wasm_filter',
               '["Select","Insert","Update","Delete"]', 'WASM_PLUGIN', 'wasm_binary_name="my_plugin.wasm"')""")
    admin(p, "LOAD FILTERS TO RUNTIME")
    (row,) = show(p)
    assert row[3:] == ("my_plugin_wasm_filter", "", "1000", "ACTIVE", '["Select","Insert","Update","Delete"]', "[]",
                       "", "", "", "", "", "", "", "WASM_PLUGIN", 'wasm_binary_name="my_plugin.wasm"')
    # inert: not explained, not run, flagged in stats
    assert run(p, "/*explain filter*/ DELETE FROM d1.t2 WHERE id = 0") == []
    assert run(p, "DELETE FROM d1.t2 WHERE id = 0") == []
    assert stats(p, "my_plugin_wasm_filter")["live"] == 0
    assert "WASM_PLUGIN is not registered" in p.log()


# -- statements ----------------------------------------------------------------------------------------
def test_keywords_case_insensitive_defaults_and_show_filter(p):
    boss(p, "/* deploy 42 */ CREATE FILTER IF NOT EXISTS Lower WITH_PATTERN (PLANS='select') EXECUTE (ACTION='fail')")
    row = boss(p, "SHOW FILTER Lower")[0]
    assert row[3:8] == ("Lower", "", "1000", "ACTIVE", '["Select"]') and row[16] == "FAIL"
    # IF NOT EXISTS on an existing filter: a note, nothing changes
    conn = connect(p, "boss")
    run(p, "create filter if not exists Lower with_pattern () execute (action='CONTINUE')", conn=conn)
    assert run(p, "SHOW WARNINGS", conn=conn) == [("Note", 1304, "FILTER Lower already exists")]
    conn.close()
    assert boss(p, "SHOW FILTER Lower")[0][16] == "FAIL"


def test_alter_changes_only_given_fields_and_keeps_id(p):
    make(p, "a1", "plans='Select', user_regex='^nobody$'", meta="desc='one', priority='7'")
    before = boss(p, "show filter a1")[0]
    boss(p, "alter filter a1 execute (action='CONTINUE')")
    after = boss(p, "show filter a1")[0]
    assert after[0] == before[0] and after[1] == before[1]  # id and create_timestamp kept
    assert after[4:8] == ("one", "7", "ACTIVE", '["Select"]') and after[12] == "^nobody$"
    assert after[16] == "CONTINUE"


def test_ddl_writes_memory_runtime_and_disk_at_once(p):
    make(p, "tiers", "plans='Delete'", meta="desc='x'")
    for table in ("main.filters", "runtime_filters", "disk.filters"):
        assert admin(p, f"SELECT name, description FROM {table}") == [("tiers", "x")], table
    boss(p, "alter filter tiers (desc='y')")
    for table in ("main.filters", "runtime_filters", "disk.filters"):
        assert admin(p, f"SELECT description FROM {table}") == [("y",)], table
    boss(p, "drop filter tiers")
    for table in ("main.filters", "runtime_filters", "disk.filters"):
        assert admin(p, f"SELECT count(*) FROM {table}") == [("0",)], table


def test_admin_port_statements(p):
    admin(p, SEED_FOO)
    assert admin(p, "SHOW FILTERS")[0][3] == "foo"
    assert admin(p, "show create filter foo") == [("foo", SEED_FOO_CREATE)]
    admin(p, SEED_FOO_ALTER)
    assert admin(p, "SHOW FILTER foo")[0][4] == "filter foo 的新描述"
    assert [r[0] for r in admin(p, "SHOW FILTER ACTIONS")] == [
        "CONCURRENCY_CONTROL", "CONTINUE", "DEMO_ANSWER", "DEMO_BOOM", "DEMO_RECORD", "DEMO_REPLACE", "FAIL"]
    admin(p, "drop filter if exists foo")
    admin(p, "drop filter if exists foo")
    assert admin(p, "SHOW FILTERS") == []


def test_show_filter_actions_names_providers_and_use(p):
    make(p, "uses_fail", "plans='Delete'")
    rows = {r[0]: r for r in boss(p, "SHOW FILTER ACTIONS")}
    assert columns(p, "SHOW FILTER ACTIONS") == ["action", "description", "takes_args", "plugin", "filters"]
    assert rows["FAIL"][2:] == ("NO", "filters", "1")
    assert rows["CONCURRENCY_CONTROL"][2:] == ("YES", "filters", "0")
    assert rows["DEMO_RECORD"][3] == "filters_demo"
    assert rows["FAIL"][1].startswith("refuse the statement")  # filters_demo's clashing FAIL lost
    assert "filter action FAIL contributed twice; keeping Fail" in p.log()


def test_sql_port_needs_a_listed_user(p):
    make(p, "guarded", "plans='Delete'")
    for sql in ("show filters", "SHOW FILTER guarded", "show create filter guarded", "SHOW FILTER ACTIONS",
                "create filter x with_pattern () execute (action='FAIL')", "alter filter guarded (desc='x')",
                "drop filter guarded"):
        code, msg = fails(p, sql, "app")
        assert code == 1227 and "filters-admin_users" in msg, sql
    assert [r[3] for r in show(p)] == ["guarded"] and show(p)[0][4] == ""
    # the explain comment is open to every user
    assert run(p, "/* explain  filter */ delete from d1.t2 where id = 0", "app")[0][0] == "guarded"


def test_admin_users_variable_is_live(p):
    admin(p, "SET filters-admin_users = 'boss, other'")
    admin(p, "LOAD FILTERS VARIABLES TO RUNTIME")
    try:
        assert run(p, "SHOW FILTERS", "other") == []
    finally:
        admin(p, "SET filters-admin_users = 'boss'")
        admin(p, "LOAD FILTERS VARIABLES TO RUNTIME")
    assert fails(p, "SHOW FILTERS", "other")[0] == 1227


BAD_STATEMENTS = [
    ("create filter", 1064, "a filter name"),
    ("create filter x execute (action='FAIL')", 1064, "missing WITH_PATTERN"),
    ("create filter x with_pattern ()", 1064, "missing EXECUTE"),
    ("create filter x with_pattern (plans=Select) execute (action='FAIL')", 1064, "quoted value for plans"),
    ("create filter x with_pattern (tables='d1.t1') execute (action='FAIL')", 1064, "unknown field 'tables'"),
    ("create filter x (desc='a', desc='b') with_pattern () execute (action='FAIL')", 1064, "given twice"),
    ("create filter x with_pattern () execute (action='FAIL') trailing", 1064, "expected WITH_PATTERN or EXECUTE"),
    ("create filter x with_pattern () execute ()", 1525, "needs an action"),
    ("create filter x (priority='high') with_pattern () execute (action='FAIL')", 1525, "Incorrect priority"),
    ("create filter x (priority='-1') with_pattern () execute (action='FAIL')", 1525, "out of range"),
    ("create filter x (status='maybe') with_pattern () execute (action='FAIL')", 1525, "Incorrect status"),
    ("create filter x with_pattern (plans='Select,Selects') execute (action='FAIL')", 1525, "unknown plan 'Selects'"),
    ("create filter x with_pattern (fully_qualified_table_names='t1') execute (action='FAIL')", 1525, "not db.table"),
    ("create filter x with_pattern (query_regex='(a') execute (action='FAIL')", 1525, "Incorrect query_regex"),
    ("create filter x with_pattern (user_regex='(?<=a)b') execute (action='FAIL')", 1525, "Incorrect user_regex"),
    ("create filter x with_pattern (request_ip_regex='[') execute (action='FAIL')", 1525, "request_ip_regex"),
    ("create filter x with_pattern (leading_comment_regex='a{2,1}') execute (action='FAIL')", 1525,
     "leading_comment_regex"),
    ("create filter x with_pattern (trailing_comment_regex='(a)\\\\1') execute (action='FAIL')", 1525,
     "trailing_comment_regex"),
    ("create filter x with_pattern (bind_var_conds='id > 1') execute (action='FAIL')", 1525, "needs a query_template"),
    (("create filter x with_pattern (query_template='select * from t where id = :id', bind_var_conds='nope > 1') "
     "execute (action='FAIL')"), 1525, "':nope' is not a placeholder"),
    ("create filter x with_pattern () execute (action='NO_SUCH')", 1525, "unknown action 'NO_SUCH'"),
    ("create filter x with_pattern () execute (action='FAIL', action_args='a=1')", 1525, "does not support action_args"),
    ("create filter x with_pattern () execute (action='CONCURRENCY_CONTROL')", 1525, "needs action_args"),
    ("create filter x with_pattern () execute (action='CONCURRENCY_CONTROL', action_args='max_queue_size=10')",
     1525, "needs max_concurrency"),
    (("create filter x with_pattern () execute (action='CONCURRENCY_CONTROL', "
     "action_args='max_queue_size=10; max_concurrency=0')"), 1525, "max_concurrency must be >= 1"),
    ("create filter x with_pattern () execute (action='CONCURRENCY_CONTROL', action_args='size 10')", 1064,
     "not of the form"),
    ("create filter x with_pattern () execute (action='DEMO_RECORD')", 1064, "needs a file path"),
    ("alter filter missing (desc='x')", 1305, "FILTER missing does not exist"),
    ("drop filter missing", 1305, "FILTER missing does not exist"),
    ("show create filter missing", 1305, "FILTER missing does not exist"),
    ("create filter existing with_pattern () execute (action='CONTINUE')", 1304, "FILTER existing already exists"),
    ("alter filter existing with_pattern (query_regex='(') ", 1525, "Incorrect query_regex"),
]


@pytest.mark.parametrize("sql,code,text", BAD_STATEMENTS, ids=[f"bad{i}" for i in range(len(BAD_STATEMENTS))])
def test_bad_statements_name_the_problem_and_change_nothing(p, sql, code, text):
    make(p, "existing", "plans='Delete', user_regex='^nobody$'")
    before = (show(p), admin(p, "CHECKSUM MEMORY FILTERS"), admin(p, "CHECKSUM DISK FILTERS"))
    for on_admin_port in (False, True):
        got_code, msg = fails(p, sql, "boss", admin=on_admin_port)
        assert got_code == code and text in msg, (on_admin_port, got_code, msg)
    assert (show(p), admin(p, "CHECKSUM MEMORY FILTERS"), admin(p, "CHECKSUM DISK FILTERS")) == before


def test_drop_if_exists_missing_is_a_note(p):
    conn = connect(p, "boss")
    assert run(p, "drop filter if exists nothing_here", conn=conn) == []
    assert run(p, "SHOW WARNINGS", conn=conn) == [("Note", 1305, "FILTER nothing_here does not exist")]
    conn.close()


def test_values_round_trip_through_show_create(p):
    boss(p, r"""create filter `odd name` (desc='it''s a \'quote\' and \\ backslash') with_pattern (
                query_regex='^select \d+ from t$', bind_var_conds='', query_template='') execute (action='CONTINUE')""")
    (name, text) = boss(p, "show create filter `odd name`")[0]
    original = show(p)[0]
    boss(p, "drop filter `odd name`")
    boss(p, text)
    again = show(p)[0]
    assert name == "odd name" and again[3:] == original[3:]
    assert again[4] == "it's a 'quote' and \\ backslash" and again[9] == r"^select \d+ from t$"


# -- pattern fields --------------------------------------------------------------------------------------
def blocked(p: Proxyd, sql: str, user: str = "app", db: str | None = None, name: str = "f") -> bool:
    try:
        run(p, sql, user, db)
    except Exception as exc:  # noqa: BLE001 - any refusal counts; the text is checked
        assert f"disallowed due to rule: {name}" in str(exc), exc
        return True
    return False


def test_plans(p):
    make(p, "f", "plans='Insert,Delete'")
    assert blocked(p, "insert into d1.t2 values (3, 3)")
    assert blocked(p, "delete from d1.t2 where id = 3")
    assert not blocked(p, "select * from d1.t2")
    assert not blocked(p, "replace into d1.t2 values (3, 3)")
    boss(p, "alter filter f with_pattern (plans='Replace,Show')")
    assert blocked(p, "replace into d1.t2 values (3, 3)")
    assert blocked(p, "show tables from d1")
    assert not blocked(p, "delete from d1.t2 where id = 3")


def test_fully_qualified_table_names(p):
    make(p, "f", "fully_qualified_table_names='d1.t2, d2.*'")
    assert blocked(p, "select * from d1.t2")
    assert blocked(p, "select * from t2", db="d1")  # unqualified: the session schema
    assert blocked(p, "select * from d2.t1")
    assert blocked(p, "select a.id from d1.t1 a join d1.t2 b on a.id = b.id")  # any table of the statement
    assert not blocked(p, "select * from d1.t1")
    assert blocked(p, "select * from t1", db="d2")  # d2.* covers it
    assert not blocked(p, "select * from t1", db="d1")


def test_query_regex(p):
    make(p, "f", r"plans='Select', query_regex='(?i)from d1\.t2 where id = 4\d$'")
    assert blocked(p, "SELECT * FROM d1.t2 WHERE id = 42")
    assert not blocked(p, "SELECT * FROM d1.t2 WHERE id = 52")
    assert not blocked(p, "SELECT * FROM d1.t2 WHERE id = 420")


def test_query_template(p):
    make(p, "f", "query_template='select v from d1.t2 where id = :id'")
    assert blocked(p, "SELECT v FROM d1.t2 WHERE id = 1")
    assert blocked(p, "select v from d1.t2 where id = 'x'")
    assert not blocked(p, "select v from d1.t2 where id = 1 and v = 1")
    assert not blocked(p, "select id from d1.t2 where id = 1")


def test_bind_var_conds_on_literals_and_prepared_values(p):
    make(p, "f", "query_template='select v from d1.t2 where id = :id', bind_var_conds='id >= 100 AND id NOT IN (150)'")
    assert blocked(p, "select v from d1.t2 where id = 120")
    assert not blocked(p, "select v from d1.t2 where id = 150")
    assert not blocked(p, "select v from d1.t2 where id = 1")
    # server-side prepared statements: the values come bound to ? markers
    conn = mysql.connector.connect(host="127.0.0.1", port=p.sql_port, user="app", password="app")
    try:
        cur = conn.cursor(prepared=True)
        cur.execute("select v from d1.t2 where id = ?", (1,))
        assert cur.fetchall() == [(10,)]
        with pytest.raises(mysql.connector.Error) as info:
            cur.execute("select v from d1.t2 where id = ?", (120,))
            cur.fetchall()
        assert "disallowed due to rule: f" in str(info.value)
        cur.close()
    finally:
        conn.close()


def test_request_ip_regex(p):
    make(p, "f", r"plans='Select', request_ip_regex='^127\.0\.0\.1$'")
    assert blocked(p, "select 1")
    boss(p, r"alter filter f with_pattern (plans='Select', request_ip_regex='^10\.')")
    assert not blocked(p, "select 1")


def test_user_regex(p):
    make(p, "f", "plans='Select', user_regex='^oth'")
    assert blocked(p, "select 1", user="other")
    assert not blocked(p, "select 1", user="app")


def test_leading_and_trailing_comment_regex(p):
    make(p, "f", "plans='Select', leading_comment_regex='tenant=bad'")
    assert blocked(p, "/* tenant=bad */ select 1")
    assert not blocked(p, "/* tenant=good */ select 1")
    assert not blocked(p, "select 1 /* tenant=bad */")
    boss(p, "alter filter f with_pattern (plans='Select', leading_comment_regex='', trailing_comment_regex='^trace')")
    assert blocked(p, "select 1 /* trace-id 7 */")
    assert not blocked(p, "/* trace-id 7 */ select 1")


def test_all_given_fields_must_match(p):
    make(p, "f", "plans='Select', fully_qualified_table_names='d1.t2', user_regex='^other$'")
    assert blocked(p, "select * from d1.t2", user="other")
    assert not blocked(p, "select * from d1.t2", user="app")
    assert not blocked(p, "select * from d1.t1", user="other")
    assert not blocked(p, "delete from d1.t2 where id = 99", user="other")


def test_inactive_filters_do_nothing(p):
    make(p, "f", "plans='Select'", meta="status='INACTIVE'")
    assert not blocked(p, "select 1")
    assert run(p, "/*explain filter*/ select 1") == []
    boss(p, "alter filter f (status='active')")
    assert blocked(p, "select 1")


def test_priority_order_and_ties_by_name(p):
    make(p, "f_late", "plans='Select'", meta="priority='20'")
    make(p, "f_early", "plans='Select'", meta="priority='10'")
    make(p, "f_tie_b", "plans='Select'", meta="priority='5'")
    make(p, "f_tie_a", "plans='Select'", meta="priority='5'")
    assert [r[0] for r in run(p, "/*explain filter*/ select 1")] == ["f_tie_a", "f_tie_b", "f_early", "f_late"]
    assert blocked(p, "select 1", name="f_tie_a")


# -- actions ---------------------------------------------------------------------------------------------
def test_continue_runs_the_statement_and_counts_the_match(p):
    make(p, "c", "plans='Select'", action="CONTINUE")
    assert run(p, "select v from d1.t1 where id = 1") == [(10,)]
    assert run(p, "/*explain filter*/ select 1") == [("c", "", "1000", "CONTINUE", "")]
    s = stats(p, "c")
    assert (s["matches"], s["failed"], s["live"]) == (1, 0, 1)


def test_fail_counts_failures(p):
    make(p, "f", "plans='Select'")
    assert blocked(p, "select 1") and blocked(p, "select 2")
    s = stats(p, "f")
    assert (s["matches"], s["failed"]) == (2, 2)


def test_before_and_after_order_with_async_actions(p, tmp_path):
    log = tmp_path / "order.log"
    make(p, "r2", "plans='Select'", action="DEMO_RECORD", args=str(log), meta="priority='2'")
    make(p, "r1", "plans='Select'", action="DEMO_RECORD", args=str(log), meta="priority='1'")
    make(p, "r3", "plans='Select'", action="DEMO_RECORD", args=str(log), meta="priority='3'")
    assert run(p, "select 7") == [(7,)]
    assert log.read_text().split("\n")[:-1] == ["before r1", "before r2", "before r3",
                                                "after r3 ok", "after r2 ok", "after r1 ok"]


def test_an_answer_stops_the_chain_but_after_still_runs_for_those_that_ran(p, tmp_path):
    log = tmp_path / "answer.log"
    make(p, "a_rec", "plans='Select'", action="DEMO_RECORD", args=str(log), meta="priority='1'")
    make(p, "b_answer", "plans='Select'", action="DEMO_ANSWER", meta="priority='2'")
    make(p, "c_rec", "plans='Select'", action="DEMO_RECORD", args=str(log), meta="priority='3'")
    assert run(p, "select * from d1.t1") == [("answered by b_answer",)]
    assert log.read_text().split("\n")[:-1] == ["before a_rec", "after a_rec ok"]
    assert stats(p, "b_answer")["answered"] == 1 and stats(p, "c_rec")["matches"] == 1


def test_fail_stops_the_chain_and_after_sees_the_error(p, tmp_path):
    log = tmp_path / "fail.log"
    make(p, "a_rec", "plans='Select'", action="DEMO_RECORD", args=str(log), meta="priority='1'")
    make(p, "b_fail", "plans='Select'", meta="priority='2'")
    make(p, "c_rec", "plans='Select'", action="DEMO_RECORD", args=str(log), meta="priority='3'")
    assert blocked(p, "select 1", name="b_fail")
    assert log.read_text().split("\n")[:-1] == ["before a_rec", "after a_rec error"]


def test_after_may_replace_result_or_error(p):
    make(p, "rep", "plans='Select'", action="DEMO_REPLACE", args="hello", meta="priority='1'")
    assert run(p, "select 1") == [("hello (was result)",)]
    make(p, "f", "plans='Select'", meta="priority='2'")
    assert run(p, "select 1") == [("hello (was error 1105)",)]  # FAIL's error, replaced on the way back
    assert stats(p, "rep")["replaced"] == 2


def test_a_raising_action_fails_only_its_statement(p):
    make(p, "boom", "fully_qualified_table_names='d1.t1'", action="DEMO_BOOM")
    conn = connect(p)
    code, msg = fails(p, "select * from d1.t1", conn=conn)
    assert code == 1105 and msg == ("filter 'boom' action DEMO_BOOM failed before execution: "
                                    "RuntimeError: demo action exploded")
    assert run(p, "select * from d1.t2 where id = 1", conn=conn) == [(1, 10)]  # same connection still fine
    conn.close()


def test_explain_filter_does_not_execute(p):
    make(p, "f", "plans='Delete'")
    assert run(p, "/*explain filter*/ delete from d1.t1") == [("f", "", "1000", "FAIL", "")]
    assert run(p, "select count(*) from d1.t1") == [(2,)]
    assert run(p, "/*explain filter*/ select * from d1.t1") == []


# -- the tiered table ------------------------------------------------------------------------------------
def test_table_edits_follow_load_and_save(p):
    admin(p, "INSERT INTO filters (name, plans, action) VALUES ('tbl', 'Select', 'FAIL')")
    assert not blocked(p, "select 1", name="tbl")  # memory only
    assert admin(p, "SELECT count(*) FROM runtime_filters") == [("0",)]
    admin(p, "LOAD FILTERS TO RUNTIME")
    assert blocked(p, "select 1", name="tbl")
    assert show(p)[0][7] == '["Select"]'
    assert admin(p, "SELECT count(*) FROM disk.filters") == [("0",)]
    admin(p, "SAVE FILTERS TO DISK")
    assert admin(p, "SELECT name FROM disk.filters") == [("tbl",)]


@pytest.mark.parametrize("column,value,text", [
    ("action", "'NO_SUCH'", None),  # an unknown action is accepted, inert (checked below)
    ("query_regex", "'(x'", "Incorrect query_regex value"),
    ("plans", "'Selectt'", "unknown plan 'Selectt'"),
    ("priority", "'soon'", "Incorrect priority value"),
    ("action_args", "'x=1'", "does not support action_args"),
])
def test_load_refuses_bad_rows_and_keeps_the_runtime(p, column, value, text):
    make(p, "keep", "plans='Delete'")
    admin(p, "INSERT INTO filters (name, action) VALUES ('row', 'FAIL')")
    admin(p, f"UPDATE filters SET {column} = {value} WHERE name = 'row'")
    if text is None:
        admin(p, "LOAD FILTERS TO RUNTIME")
        assert stats(p, "row")["live"] == 0
        return
    code, msg = fails(p, "LOAD FILTERS TO RUNTIME", admin=True)
    assert code == 1105
    assert "runtime unchanged" in msg and "row" in msg and text in msg, msg
    assert [r[3] for r in show(p)] == ["keep"]


def test_stats_filters_columns(p):
    make(p, "s", "plans='Select'", action="CONTINUE")
    run(p, "select 1")
    assert admin(p, "SELECT name, action, status, live, matches, failed, answered, replaced, queued, rejected, "
                   "wait_time_us, running, max_running FROM stats_filters") == [
        ("s", "CONTINUE", "ACTIVE", "1", "1", "0", "0", "0", "0", "0", "0", "0", "0")]


def test_actions_follow_their_plugin(p):
    """UNLOAD PLUGIN filters_demo: its filters go inert; LOAD PLUGIN: live again, same definition."""
    make(p, "ans", "plans='Select'", action="DEMO_ANSWER")
    assert run(p, "select 1") == [("answered by ans",)]
    conn = connect(p)
    admin(p, "UNLOAD PLUGIN filters_demo")
    try:
        assert run(p, "select 1", conn=conn) == [(1,)]
        assert stats(p, "ans")["live"] == 0
        assert "DEMO_ANSWER" not in [r[0] for r in admin(p, "SHOW FILTER ACTIONS")]
        assert fails(p, "create filter y with_pattern () execute (action='DEMO_ANSWER')", "boss")[0] == 1525
    finally:
        admin(p, "LOAD PLUGIN filters_demo")
    assert run(p, "select 1", conn=conn) == [("answered by ans",)]
    conn.close()


def test_many_complex_regexes_still_match(p):
    """600 regexes overflow one RE2 set's memory budget: they are split into several sets."""
    admin(p, r"""WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 599)
                 INSERT INTO filters (name, action, plans, query_regex)
                 SELECT printf('rx%03d', i), 'FAIL', 'Select',
                        '(?i)from\s+audit_' || i || '\b.*where\s+x' || i || '\s*=\s*[0-9]+.*[a-z]{3,40}' FROM n""")
    admin(p, "LOAD FILTERS TO RUNTIME")
    assert "regexes did not fit one RE2 set" in p.log()
    for i in (0, 301, 599):
        assert blocked(p, f"SELECT * FROM audit_{i} WHERE x{i} = 7 AND name = 'abcd'", name=f"rx{i:03d}")
    assert run(p, "SELECT 'from audit_5 where x6 = 7 abcd'") == [("from audit_5 where x6 = 7 abcd",)]


def test_save_filters_to_memory_restores_the_runtime_rows(p):
    make(p, "kept", "plans='Delete'", meta="desc='live'")
    admin(p, "UPDATE filters SET description = 'edited' WHERE name = 'kept'")
    admin(p, "INSERT INTO filters (name, action) VALUES ('pending', 'FAIL')")
    admin(p, "SAVE FILTERS TO MEMORY")
    assert admin(p, "SELECT name, description FROM filters") == [("kept", "live")]
    assert admin(p, "CHECKSUM MEMORY FILTERS")[0][1] == admin(p, "CHECKSUM RUNTIME FILTERS")[0][1]


def test_read_only_admin_refuses_filter_ddl(p):
    make(p, "ro", "plans='Delete'")
    admin(p, "PROXYD READONLY")  # sets admin-read_only at runtime too
    try:
        for sql in ("create filter x with_pattern () execute (action='FAIL')", "alter filter ro (desc='x')",
                    "drop filter ro"):
            code, msg = fails(p, sql, "boss")
            assert code == 1290 and "admin-read_only" in msg, (sql, code, msg)
        assert [r[3] for r in show(p)] == ["ro"]  # reading is fine
    finally:
        admin(p, "PROXYD READWRITE")
    boss(p, "drop filter ro")


def test_reload_plugin_filters_keeps_other_plugins_actions(p):
    """RELOAD PLUGIN filters re-imports plugins.filters: action classes built on the previous import
    (filters_demo's, which requires filters and is restarted with it) must still register."""
    make(p, "ans", "plans='Select'", action="DEMO_ANSWER")
    conn = connect(p)
    admin(p, "RELOAD PLUGIN filters")
    assert run(p, "select 1", conn=conn) == [("answered by ans",)]
    admin(p, "RELOAD PLUGIN filters_demo")  # its classes now subclass the re-imported FilterAction
    assert run(p, "select 1", conn=conn) == [("answered by ans",)]
    assert "DEMO_ANSWER" in [r[0] for r in boss(p, "SHOW FILTER ACTIONS")]
    make(p, "cc", "plans='Delete'", action="CONCURRENCY_CONTROL", args="max_queue_size=2; max_concurrency=1")
    assert run(p, "delete from d1.t2 where id = 999", conn=conn) == []
    assert (stats(p, "cc")["matches"], stats(p, "cc")["max_running"]) == (1, 1)  # counters wired after reload
    conn.close()
