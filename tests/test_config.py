"""Unit tests for proxyd.config (cnf reader) and proxyd.cnf_render (cnf writer)."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from proxyd.cnf_render import quote_string, render_config
from proxyd.config import (
    Config,
    ConfigError,
    check_unclaimed,
    load_config,
    parse_config_text,
)

SHIPPED = """\
# proxyd configuration (libconfig syntax, ProxySQL-compatible keys)
datadir = "data"
# errorlog = "data/proxyd.log"
plugins = ("filters", "wasm", "rewriter")

admin_variables = {
    admin_credentials = "admin:admin"
    stats_credentials = "stats:stats"
    mysql_ifaces = "127.0.0.1:6032"
}

mysql_variables = {
    interfaces = "127.0.0.1:6033"
    server_version = "8.0.11"
    max_connections = 2048
    default_schema = "information_schema"
}

# hostgroup 0 is served by the built-in SQLite engine
mysql_servers = (
    { address = "embedded"; port = 0; hostgroup = 0; comment = "built-in SQLite backend" }
)

mysql_users = (
    { username = "proxyd"; password = "proxyd"; default_hostgroup = 0 }
)
"""


def parse_error(text: str, path: str = "t.cnf") -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config_text(text, path)
    return info.value


# ---------------------------------------------------------------- valid files

def test_shipped_cnf(tmp_path: Path) -> None:
    f = tmp_path / "proxyd.cnf"
    f.write_text(SHIPPED)
    cfg = load_config(str(f))

    assert isinstance(cfg, Config)
    assert cfg.path == str(f) and os.path.isabs(cfg.path)
    assert cfg.text == SHIPPED
    assert cfg.datadir == "data"  # relative: kept as written
    assert cfg.errorlog is None and cfg.pidfile is None  # commented out / absent
    assert cfg.plugins == ["filters", "wasm", "rewriter"]
    assert cfg.admin_variables == {
        "admin_credentials": "admin:admin",
        "stats_credentials": "stats:stats",
        "mysql_ifaces": "127.0.0.1:6032",
    }
    assert cfg.mysql_variables == {
        "interfaces": "127.0.0.1:6033",
        "server_version": "8.0.11",
        "max_connections": "2048",
        "default_schema": "information_schema",
    }
    assert cfg.mysql_servers == [
        {"hostname": "embedded", "port": 0, "hostgroup_id": 0, "comment": "built-in SQLite backend"}
    ]
    assert cfg.mysql_users == [{"username": "proxyd", "password": "proxyd", "default_hostgroup": 0}]
    assert cfg.mysql_group_replication_hostgroups == []
    assert cfg.extra_sections == {}
    assert cfg.positions == {"datadir": 2, "plugins": 4, "admin_variables": 6,
                             "mysql_variables": 12, "mysql_servers": 20, "mysql_users": 24}
    assert cfg.line_of("mysql_users") == 24
    assert cfg.line_of("errorlog") is None
    assert cfg.table_sections_present() == ["admin_variables", "mysql_variables",
                                            "mysql_servers", "mysql_users"]
    assert cfg.variable_line("mysql", "max_connections") == 15
    assert cfg.variable_line("mysql", "mysql-max_connections") == 15
    assert cfg.variable_line("admin", "mysql_ifaces") == 9
    assert cfg.variable_line("admin", "nope") is None
    assert cfg.location("mysql_servers", 0) == (str(f), 21)
    assert cfg.location("mysql_users", 0, "default_hostgroup") == (str(f), 25)
    check_unclaimed(cfg, set())  # nothing extra: no error


def test_shipped_file_in_repo_parses() -> None:
    repo_cnf = Path(__file__).resolve().parent.parent / "conf" / "proxyd.cnf"
    if not repo_cnf.exists():
        pytest.skip("conf/proxyd.cnf not present")
    cfg = load_config(str(repo_cnf))
    assert cfg.datadir is not None


def test_types_and_value_forms() -> None:
    cfg = parse_config_text("""
        datadir: "/var/lib/proxyd",
        errorlog = "log/" "proxyd" ".log";      // adjacent strings concatenate
        pidfile = "run/proxyd.pid"
        plugins = ["a", "b"]                     /* array form is accepted too */
        mysql_variables = {
            hex = 0x1F
            long = 5000000000L
            neg = -3
            ratio = 0.5
            flag = true
            off = FALSE
            empty = ""
        }
        mysql_servers = (
            { hostname = "db1"; hostgroup_id = 0x0A; port = 3306L; use_ssl = true; compression = false },
            { address = "db2", hostgroup = 2, status = "SHUNNED", }
        )
        mysql_group_replication_hostgroups = (
            { writer_hostgroup = 1; backup_writer_hostgroup = 2; reader_hostgroup = 3;
              offline_hostgroup = 4; writer_is_also_reader = 2; comment = "gr" }
        )
    """)
    assert cfg.datadir == "/var/lib/proxyd"
    assert cfg.errorlog == "log/proxyd.log"
    assert cfg.pidfile == "run/proxyd.pid"
    assert cfg.plugins == ["a", "b"]
    assert cfg.mysql_variables == {"hex": "31", "long": "5000000000", "neg": "-3", "ratio": "0.5",
                                   "flag": "true", "off": "false", "empty": ""}
    assert cfg.mysql_servers == [
        {"hostname": "db1", "hostgroup_id": 10, "port": 3306, "use_ssl": 1, "compression": 0},
        {"hostname": "db2", "hostgroup_id": 2, "status": "SHUNNED"},
    ]
    # exact types: booleans became ints, libconf's int64 subclass became plain int
    assert all(type(v) is int for v in cfg.mysql_servers[0].values() if not isinstance(v, str))
    assert cfg.mysql_group_replication_hostgroups == [
        {"writer_hostgroup": 1, "backup_writer_hostgroup": 2, "reader_hostgroup": 3,
         "offline_hostgroup": 4, "writer_is_also_reader": 2, "comment": "gr"}
    ]


def test_empty_plugins_list_differs_from_absent() -> None:
    assert parse_config_text("plugins = ()").plugins == []
    assert parse_config_text("plugins = []").plugins == []
    assert parse_config_text("datadir = \"d\"").plugins is None


def test_empty_file_and_comments_only() -> None:
    cfg = parse_config_text("# nothing\n// still nothing\n/* and\n nothing */\n")
    assert cfg.datadir is None and cfg.positions == {} and cfg.table_sections_present() == []


def test_three_comment_kinds_and_line_numbers() -> None:
    text = (
        "# hash comment with \"quote\" and { brace\n"      # 1
        "// slash comment datadir = \"no\"\n"               # 2
        "/* block comment\n"                                 # 3
        "   spanning = lines;\n"                             # 4
        "   @include \"does-not-exist.cnf\"\n"               # 5: not an include, it is commented out
        "*/ datadir = \"yes\" # trailing\n"                  # 6
        "pidfile = /* inline */ \"p.pid\" // end\n"          # 7
        "mysql_variables = {\n"                              # 8
        "  a = \"# not a comment\" /* c */\n"                # 9
        "  b = \"// nor this\"\n"                            # 10
        "}\n"
    )
    cfg = parse_config_text(text)
    assert cfg.datadir == "yes"
    assert cfg.pidfile == "p.pid"
    assert cfg.mysql_variables == {"a": "# not a comment", "b": "// nor this"}
    assert cfg.positions == {"datadir": 6, "pidfile": 7, "mysql_variables": 8}
    assert cfg.variable_line("mysql", "b") == 10


def test_string_escapes_and_multiline_string_keep_lines_right() -> None:
    text = 'a = "x\\"y\\\\z\\n\\t\\x41é"\nb = "two\nlines"\nc = 1\n'
    cfg = parse_config_text(text)
    assert cfg.extra_sections == {"a": 'x"y\\z\n\tAé', "b": "two\nlines", "c": 1}
    assert cfg.positions == {"a": 1, "b": 2, "c": 4}


def test_extra_sections_are_plain_python() -> None:
    cfg = parse_config_text("""
        wasm_modules = (
            { name = "m"; path = "m.wasm"; opts = { fuel = 10L; on = true }; tags = ["x", "y"] }
        )
        threshold = 3
    """)
    assert cfg.extra_sections == {
        "wasm_modules": [{"name": "m", "path": "m.wasm", "opts": {"fuel": 10, "on": True},
                          "tags": ["x", "y"]}],
        "threshold": 3,
    }
    mods = cfg.extra_sections["wasm_modules"]
    assert type(mods) is list and type(mods[0]) is dict
    assert type(mods[0]["opts"]["fuel"]) is int
    assert cfg.location("wasm_modules", 0, "path") == ("<string>", 3)
    assert cfg.table_sections_present() == []


# ---------------------------------------------------------------- syntax errors

@pytest.mark.parametrize("text, line, fragment", [
    ('datadir = "d"\nplugins = ("a" "b"\nmysql_variables = {}\n', 3, "list opened at line 2"),
    ('a = 1\nb = {\n  x = 1\n', 3, "end of input"),
    ('a = 1\nb c\n', 2, "expected '=' or ':' after 'b'"),
    ('a = 1\n\nb = \n}\n', 4, "expected a value for 'b'"),
    ('a = 1\nb = "unterminated\n', 2, "unterminated string"),
    ('a = 1\n/* never closed\n', 2, "unterminated /* comment"),
    ('a = 1\nb = $\n', 2, "unexpected '$"),
    ('a = 1\n7 = 2\n', 2, "expected a setting name"),
    ('x = (\n {a=1}\n {b=2}\n)\n', 3, "expected ',' or ')'"),
    ('x = [1, {a=1}]\n', 1, "arrays hold scalars only"),
    ('a = 1\na = 2\n', 2, "duplicate setting 'a' (first set at line 1)"),
    ('m = {\n p = 1\n\n p = 2 }\n', 4, "duplicate setting 'p'"),
    ('a = "\\xZZ"\n', 1, "invalid string escape"),
])
def test_syntax_errors_carry_file_and_line(text: str, line: int, fragment: str) -> None:
    err = parse_error(text, "conf/x.cnf")
    assert err.path == "conf/x.cnf"
    assert err.line == line
    assert fragment in err.message
    assert str(err) == f"conf/x.cnf:{line}: {err.message}"


def test_load_config_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.cnf"
    with pytest.raises(ConfigError) as info:
        load_config(str(missing))
    assert info.value.line is None
    assert str(info.value) == f"{missing}: file not found"


def test_load_config_not_utf8(tmp_path: Path) -> None:
    f = tmp_path / "bad.cnf"
    f.write_bytes(b'datadir = "\xff"\n')
    with pytest.raises(ConfigError, match="not valid UTF-8"):
        load_config(str(f))


def test_crlf_line_endings(tmp_path: Path) -> None:
    f = tmp_path / "crlf.cnf"
    f.write_bytes(b'datadir = "d"\r\n\r\npidfile = "p"\r\n')
    cfg = load_config(str(f))
    assert cfg.datadir == "d" and cfg.positions == {"datadir": 1, "pidfile": 3}


def test_config_error_forms() -> None:
    assert str(ConfigError("f.cnf", 7, "boom")) == "f.cnf:7: boom"
    assert str(ConfigError("f.cnf", None, "boom")) == "f.cnf: boom"
    bare = ConfigError("just a message")
    assert str(bare) == "just a message" and bare.message == "just a message" and bare.line is None
    again = pickle.loads(pickle.dumps(ConfigError("f.cnf", 7, "boom")))
    assert str(again) == "f.cnf:7: boom"


# ---------------------------------------------------------------- type errors

@pytest.mark.parametrize("text, expected", [
    ('\n\n\n\n\n\ndatadir = 5\n', "conf/proxyd.cnf:7: 'datadir' must be a string"),
    ('errorlog = ("a")\n', "conf/proxyd.cnf:1: 'errorlog' must be a string"),
    ('pidfile = true\n', "conf/proxyd.cnf:1: 'pidfile' must be a string"),
    ('plugins = "filters"\n', "conf/proxyd.cnf:1: 'plugins' must be a list of strings"),
    ('plugins = ("a", 1)\n', "conf/proxyd.cnf:1: 'plugins' must be a list of strings"),
    ('\nplugins = ("a", "a")\n', "conf/proxyd.cnf:2: plugin 'a' is listed twice"),
    ('mysql_variables = ("a")\n', "conf/proxyd.cnf:1: 'mysql_variables' must be a group"),
    ('admin_variables = {\n  x = 1\n  y = { z = 1 }\n}\n',
     "conf/proxyd.cnf:3: 'admin_variables.y' must be a string, number or boolean"),
    ('mysql_servers = { hostname = "h"; hostgroup = 0 }\n',
     "conf/proxyd.cnf:1: 'mysql_servers' must be a list of groups"),
    ('mysql_users = ( "u" )\n', "conf/proxyd.cnf:1: 'mysql_users' must be a list of groups"),
    ('mysql_servers = (\n  { hostname = "a"; hostgroup = 0 },\n  { hostname = "b"; hostgroup = 0;\n'
     '    port = "3306" }\n)\n', "conf/proxyd.cnf:4: mysql_servers[1].port must be an integer"),
    ('mysql_servers = ({ hostname = "a"; hostgroup = 1.5 })\n',
     "conf/proxyd.cnf:1: mysql_servers[0].hostgroup must be an integer"),
    ('mysql_servers = ({ hostname = 10; hostgroup = 1 })\n',
     "conf/proxyd.cnf:1: mysql_servers[0].hostname must be a string"),
    ('mysql_users = ({ username = "u"; password = true })\n',
     "conf/proxyd.cnf:1: mysql_users[0].password must be a string"),
    ('mysql_group_replication_hostgroups = ({ writer_hostgroup = "1"; backup_writer_hostgroup = 2;'
     ' reader_hostgroup = 3; offline_hostgroup = 4 })\n',
     "conf/proxyd.cnf:1: mysql_group_replication_hostgroups[0].writer_hostgroup must be an integer"),
])
def test_wrong_types(text: str, expected: str) -> None:
    assert str(parse_error(text, "conf/proxyd.cnf")).startswith(expected)


# ---------------------------------------------------------------- row fields

def test_unknown_row_field_reports_its_line() -> None:
    text = "\n" * 9 + (
        "mysql_servers = (\n"                       # 10
        "  { address = \"h\"; hostgroup = 0;\n"     # 11
        "    prot = 3306 }\n"                       # 12
        ")\n"
    )
    err = parse_error(text, "conf/proxyd.cnf")
    assert str(err) == "conf/proxyd.cnf:12: unknown field 'prot' in mysql_servers[0]"
    assert (err.path, err.line) == ("conf/proxyd.cnf", 12)


def test_unknown_field_in_users_and_gr() -> None:
    err = parse_error('mysql_users = (\n {username="u"},\n {username="v"\n  hostgroup=1}\n)\n')
    assert (err.line, err.message) == (4, "unknown field 'hostgroup' in mysql_users[1]")
    err = parse_error('mysql_group_replication_hostgroups = (\n { writer = 1 }\n)\n')
    assert (err.line, err.message) == (
        2, "unknown field 'writer' in mysql_group_replication_hostgroups[0]")


@pytest.mark.parametrize("text, line, message", [
    ('mysql_servers = (\n  {\n    hostgroup = 0\n  }\n)\n', 2,
     "mysql_servers[0] is missing required field 'address' (or 'hostname')"),
    ('mysql_servers = (\n  { address = "a" }\n)\n', 2,
     "mysql_servers[0] is missing required field 'hostgroup' (or 'hostgroup_id')"),
    ('mysql_users = (\n  { username = "a" },\n\n  { password = "p" }\n)\n', 4,
     "mysql_users[1] is missing required field 'username'"),
    ('mysql_group_replication_hostgroups = (\n { writer_hostgroup = 1; reader_hostgroup = 2;'
     ' offline_hostgroup = 3 }\n)\n', 2,
     "mysql_group_replication_hostgroups[0] is missing required field 'backup_writer_hostgroup'"),
])
def test_required_fields_reported_at_row_line(text: str, line: int, message: str) -> None:
    err = parse_error(text)
    assert (err.line, err.message) == (line, message)


def test_both_spellings_of_one_column_is_an_error() -> None:
    err = parse_error('mysql_servers = (\n { address = "a"; hostgroup = 0;\n hostname = "b" }\n)\n')
    assert (err.line, err.message) == (3, "mysql_servers[0] sets both 'address' and 'hostname'")


def test_all_documented_fields_accepted() -> None:
    cfg = parse_config_text("""
        mysql_servers = ({ hostname = "h"; port = 1; hostgroup_id = 2; gtid_port = 3; status = "ONLINE";
            weight = 4; compression = 1; max_connections = 5; max_replication_lag = 6; use_ssl = 0;
            max_latency_ms = 7; comment = "c" })
        mysql_users = ({ username = "u"; password = "p"; active = 1; use_ssl = 0; default_hostgroup = 1;
            default_schema = "s"; schema_locked = 0; transaction_persistent = 1; fast_forward = 0;
            backend = 1; frontend = 1; max_connections = 9; attributes = "{}"; comment = "c" })
        mysql_group_replication_hostgroups = ({ writer_hostgroup = 1; backup_writer_hostgroup = 2;
            reader_hostgroup = 3; offline_hostgroup = 4; active = 1; max_writers = 1;
            writer_is_also_reader = 0; max_transactions_behind = 0; comment = "c" })
    """)
    assert len(cfg.mysql_servers[0]) == 12
    assert len(cfg.mysql_users[0]) == 14
    assert len(cfg.mysql_group_replication_hostgroups[0]) == 9


# ---------------------------------------------------------------- unclaimed keys

def test_check_unclaimed_reports_first_unclaimed_key_with_line() -> None:
    text = 'datadir = "d"\n\nfilters = ( { name = "f" } )\n# x\nuuid = "abc"\nwasm_fdw_servers = ()\n'
    cfg = parse_config_text(text, "conf/proxyd.cnf")  # unknown keys are not errors yet
    assert list(cfg.extra_sections) == ["filters", "uuid", "wasm_fdw_servers"]
    assert cfg.line_of("uuid") == 5

    with pytest.raises(ConfigError) as info:
        check_unclaimed(cfg, {"wasm_fdw_servers"})
    assert str(info.value) == "conf/proxyd.cnf:3: unknown key 'filters'"

    with pytest.raises(ConfigError) as info:
        check_unclaimed(cfg, {"filters", "wasm_fdw_servers"})
    assert str(info.value) == "conf/proxyd.cnf:5: unknown key 'uuid'"

    check_unclaimed(cfg, {"filters", "uuid", "wasm_fdw_servers", "unused"})


def test_variable_error_helper_points_at_variable() -> None:
    cfg = parse_config_text('mysql_variables = {\n  interfaces = "x"\n  foo = 1\n}\n', "c.cnf")
    assert cfg.variable_line("mysql", "foo") == 3
    assert str(cfg.variable_error("mysql", "foo", "unknown variable 'mysql-foo'")) == \
        "c.cnf:3: unknown variable 'mysql-foo'"
    # error() falls back to the closest known position, then to the file
    assert str(cfg.error("bad", "mysql_variables", "nope")) == "c.cnf:1: bad"
    assert str(cfg.error("bad", "nothing")) == "c.cnf: bad"


# ---------------------------------------------------------------- @include

def test_include(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    (conf / "sub").mkdir(parents=True)
    (conf / "vars.cnf").write_text('  max_connections = 10\n  server_version = "8.0"\n')
    (conf / "sub" / "servers.cnf").write_text(
        '# servers\nmysql_servers = (\n  { address = "h"; hostgroup = 1 }\n)\n')
    (conf / "main.cnf").write_text(
        'datadir = "d"\n'
        'mysql_variables = {\n'
        '  @include "vars.cnf"\n'                 # inside a group: textual inclusion
        '  interfaces = "0.0.0.0:6033"\n'
        '}\n'
        '@include "sub/servers.cnf"  # relative to this file\n'
        'pidfile = "p"\n')
    cfg = load_config(str(conf / "main.cnf"))
    assert cfg.mysql_variables == {"max_connections": "10", "server_version": "8.0",
                                   "interfaces": "0.0.0.0:6033"}
    assert cfg.mysql_servers == [{"hostname": "h", "hostgroup_id": 1}]
    assert cfg.pidfile == "p"
    # lines of the main file are not shifted by the included text
    assert cfg.positions["pidfile"] == 7
    assert cfg.variable_line("mysql", "interfaces") == 4
    # positions inside the included files name those files
    assert cfg.location("mysql_variables", "server_version") == (str(conf / "vars.cnf"), 2)
    assert cfg.location("mysql_servers", 0) == (str(conf / "sub" / "servers.cnf"), 3)
    assert cfg.positions["mysql_servers"] == 2
    assert cfg.text.count("@include") == 2  # raw text of the main file only


def test_errors_inside_included_file_name_that_file(tmp_path: Path) -> None:
    (tmp_path / "rows.cnf").write_text('mysql_users = (\n  { username = "u";\n    pasword = "p" }\n)\n')
    (tmp_path / "main.cnf").write_text('datadir = "d"\n@include "rows.cnf"\n')
    with pytest.raises(ConfigError) as info:
        load_config(str(tmp_path / "main.cnf"))
    assert str(info.value) == f"{tmp_path / 'rows.cnf'}:3: unknown field 'pasword' in mysql_users[0]"

    (tmp_path / "broken.cnf").write_text('a = 1\nb = = 2\n')
    (tmp_path / "main2.cnf").write_text('@include "broken.cnf"\n')
    with pytest.raises(ConfigError) as info:
        load_config(str(tmp_path / "main2.cnf"))
    assert (info.value.path, info.value.line) == (str(tmp_path / "broken.cnf"), 2)

    (tmp_path / "extra.cnf").write_text('\n\nunknown_thing = 1\n')
    (tmp_path / "main3.cnf").write_text('@include "extra.cnf"\n')
    cfg = load_config(str(tmp_path / "main3.cnf"))
    with pytest.raises(ConfigError) as info:
        check_unclaimed(cfg, set())
    assert str(info.value) == f"{tmp_path / 'extra.cnf'}:3: unknown key 'unknown_thing'"


def test_include_missing_and_circular(tmp_path: Path) -> None:
    (tmp_path / "main.cnf").write_text('datadir = "d"\n\n@include "gone.cnf"\n')
    with pytest.raises(ConfigError) as info:
        load_config(str(tmp_path / "main.cnf"))
    assert info.value.line == 3 and "cannot @include 'gone.cnf'" in info.value.message

    (tmp_path / "a.cnf").write_text('@include "b.cnf"\n')
    (tmp_path / "b.cnf").write_text('x = 1\n@include "a.cnf"\n')
    with pytest.raises(ConfigError) as info:
        load_config(str(tmp_path / "a.cnf"))
    assert (info.value.path, info.value.line) == (str(tmp_path / "b.cnf"), 2)
    assert "circular @include" in info.value.message


# ---------------------------------------------------------------- render_config

def test_quote_string() -> None:
    assert quote_string('a"b\\c\nd\te\x01é') == '"a\\"b\\\\c\\nd\\te\\x01é"'


def test_render_shape() -> None:
    text = render_config(
        datadir="/var/lib/proxyd", plugins=["filters"],
        admin_variables={"admin_credentials": "admin:admin", "refresh_interval": "2000"},
        mysql_variables={"commands_stats": "true", "server_version": "8.0.11", "ratio": "0.5"},
        tables=[("mysql_servers", [{"hostgroup_id": 0, "hostname": "h", "port": 3306,
                                    "comment": "", "status": None}])],
        header="proxyd configuration\nexported")
    lines = text.splitlines()
    assert lines[:4] == ["# proxyd configuration", "# exported", 'datadir="/var/lib/proxyd"',
                         'plugins=("filters")']
    assert "    refresh_interval=2000" in lines          # pure integers unquoted
    assert "    commands_stats=true" in lines            # booleans unquoted
    assert '    ratio="0.5"' in lines
    assert "comment" not in text and "status" not in text  # empty / None omitted
    assert "        hostgroup_id=0" in lines and '        hostname="h"' in lines


def test_render_omits_absent_parts() -> None:
    text = render_config(datadir=None, plugins=None, admin_variables={}, mysql_variables={},
                         tables=[("mysql_users", [])], header="h")
    assert text == "# h\n"
    assert parse_config_text(text).positions == {}


def test_render_server_rows_use_column_names() -> None:
    text = render_config(datadir=None, plugins=None, admin_variables={}, mysql_variables={},
                         tables=[("mysql_servers", [{"address": "h", "hostgroup": 3}])])
    assert "hostname=" in text and "hostgroup_id=3" in text and "address" not in text
    assert parse_config_text(text).mysql_servers == [{"hostname": "h", "hostgroup_id": 3}]


def test_render_rejects_unwritable_names() -> None:
    with pytest.raises(ValueError):
        render_config(datadir=None, plugins=None, admin_variables={"bad name": "x"},
                      mysql_variables={}, tables=[])
    with pytest.raises(ValueError):
        render_config(datadir=None, plugins=None, admin_variables={}, mysql_variables={},
                      tables=[("t", [{"x": 2 ** 70}])])


def test_round_trip() -> None:
    tricky = 'quote " backslash \\ newline \n tab \t cr \r bell \x07 unicode é ✓ 😀 /* not */ # no'
    admin = {"admin_credentials": "admin:admin;stats:st\"ats", "refresh_interval": "2000",
             "read_only": "false", "version": "007", "negzero": "-0", "neg": "-12",
             "big": "9000000000", "huge": "123456789012345678901234567890", "empty": "",
             "float": "1.50", "upper": "TRUE", "web_enabled": "true"}
    mysql = {"interfaces": "0.0.0.0:6033;/tmp/proxysql.sock", "server_version": "8.0.11",
             "max_connections": "2048", "default_schema": tricky, "hex": "0x10"}
    servers = [
        {"hostgroup_id": 0, "hostname": "embedded", "port": 0, "gtid_port": 0, "status": "ONLINE",
         "weight": 1, "compression": 0, "max_connections": 1000, "max_replication_lag": 0,
         "use_ssl": 0, "max_latency_ms": 0, "comment": "built-in"},
        {"hostgroup_id": 10, "hostname": "/var/run/mysqld.sock", "port": 0, "comment": tricky},
    ]
    users = [
        {"username": "app", "password": "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19", "active": 1,
         "use_ssl": 0, "default_hostgroup": 10, "default_schema": None, "schema_locked": 0,
         "transaction_persistent": 1, "fast_forward": 0, "backend": 1, "frontend": 1,
         "max_connections": 10000, "attributes": '{"a": "b\\\\c"}', "comment": ""},
    ]
    gr = [{"writer_hostgroup": 1, "backup_writer_hostgroup": 2, "reader_hostgroup": 3,
           "offline_hostgroup": 4, "active": 1, "max_writers": 1, "writer_is_also_reader": 0,
           "max_transactions_behind": 100, "comment": None}]
    plugin_rows = [{"rule_id": 1, "active": 1, "pattern": "^SELECT \\d+$", "weight": 0.25,
                    "big": 2 ** 40, "neg": -7, "flag": True},
                   {"rule_id": 2, "pattern": tricky}]

    text = render_config(datadir="data dir/\"x\"", plugins=["filters", "wasm"],
                         admin_variables=admin, mysql_variables=mysql,
                         tables=[("mysql_users", users), ("filters_rules", plugin_rows),
                                 ("mysql_servers", servers),
                                 ("mysql_group_replication_hostgroups", gr)])
    cfg = parse_config_text(text, "export.cnf")

    assert cfg.datadir == 'data dir/"x"'
    assert cfg.plugins == ["filters", "wasm"]
    assert cfg.admin_variables == admin
    assert cfg.mysql_variables == mysql
    assert cfg.mysql_servers == servers
    assert cfg.mysql_users == [{k: v for k, v in users[0].items() if v not in (None, "")}]
    assert cfg.mysql_group_replication_hostgroups == [
        {k: v for k, v in gr[0].items() if v is not None}]
    assert cfg.extra_sections == {"filters_rules": plugin_rows}
    assert cfg.table_sections_present() == ["admin_variables", "mysql_variables", "mysql_users",
                                            "mysql_servers", "mysql_group_replication_hostgroups"]
    # ints stay ints, strings stay strings
    assert type(cfg.mysql_servers[0]["port"]) is int
    assert type(cfg.extra_sections["filters_rules"][0]["big"]) is int
    # rendering the parsed result again is stable
    again = render_config(datadir=cfg.datadir, plugins=cfg.plugins,
                          admin_variables=cfg.admin_variables, mysql_variables=cfg.mysql_variables,
                          tables=[("mysql_users", cfg.mysql_users),
                                  ("filters_rules", cfg.extra_sections["filters_rules"]),
                                  ("mysql_servers", cfg.mysql_servers),
                                  ("mysql_group_replication_hostgroups",
                                   cfg.mysql_group_replication_hostgroups)])
    assert again == text


def test_round_trip_of_shipped_cnf() -> None:
    cfg = parse_config_text(SHIPPED)
    text = render_config(datadir=cfg.datadir, plugins=cfg.plugins,
                         admin_variables=cfg.admin_variables, mysql_variables=cfg.mysql_variables,
                         tables=[("mysql_users", cfg.mysql_users), ("mysql_servers", cfg.mysql_servers)])
    back = parse_config_text(text)
    for name in ("datadir", "plugins", "admin_variables", "mysql_variables", "mysql_servers",
                 "mysql_users"):
        assert getattr(back, name) == getattr(cfg, name), name
