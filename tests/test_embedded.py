"""The embedded (SQLite) backend through its Python API: scanner, translation fix-ups, DDL, sessions,
transactions and locking, catalog, errors and warnings."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import apsw
import pytest
from mysql_mimic.types import ColumnType

from proxyd.backends import sqlite_functions as fn
from proxyd.backends.embedded import EmbeddedEngine, EmbeddedSession
from proxyd.backends.embedded_errors import map_sqlite_error
from proxyd.backends.parameterize import PreparedShapes, collapse_rows, count_placeholders, inline, scan
from proxyd.backends.translate import Translator, build_plan, inline_slots
from proxyd.errors import ProxydError
from proxyd.results import Ok, ResultSet


# --------------------------------------------------------------------------------------------------
# helpers


@pytest.fixture
def engine(tmp_path):
    eng = EmbeddedEngine(str(tmp_path))
    yield eng
    eng.close()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def x(s: EmbeddedSession, sql: str, params: Any = None) -> Ok | ResultSet:
    return run(s.execute(sql, params))


def rows(s: EmbeddedSession, sql: str, params: Any = None) -> list[tuple]:
    r = x(s, sql, params)
    assert isinstance(r, ResultSet), r
    return [tuple(row) for row in r.rows]


def err(s: EmbeddedSession, sql: str, params: Any = None) -> ProxydError:
    with pytest.raises(ProxydError) as info:
        x(s, sql, params)
    return info.value


@pytest.fixture
def db(engine):
    """A session on a fresh schema ``app`` with a small table ``t``."""
    s = engine.session()
    x(s, "CREATE DATABASE app")
    x(s, "USE app")
    x(s, "CREATE TABLE t (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20) NOT NULL, n INT DEFAULT 0, "
         "UNIQUE KEY uk_name (name))")
    x(s, "INSERT INTO t (name, n) VALUES ('a', 1), ('b', 2), ('c', 3)")
    yield s
    s.close()


def sql_of(text: str, schema: str | None = "db") -> str:
    return build_plan(text, schema).sql


# --------------------------------------------------------------------------------------------------
# parameterize


def test_scan_literals_and_escapes():
    s = scan("SELECT c FROM sbtest1 WHERE id=5017 AND x = 'it''s' AND y = \"a\\nb\" AND z = 1.5e3 AND w = .5")
    assert s.template == "SELECT c FROM sbtest1 WHERE id=? AND x = ? AND y = ? AND z = ? AND w = ?"
    assert s.values == [5017, "it's", "a\nb", 1500.0, 0.5]
    assert s.raws[1] == "'it''s'"
    # \% and \_ keep their backslash (LIKE escapes), other escapes are decoded
    assert scan(r"SELECT 'a\%b\_c\'d\\e\0'").values == ["a\\%b\\_c'd\\e\0"]
    # numbers inside names and hex numbers stay
    assert scan("SELECT t1.c2, 0x1F, 1abc FROM `tab 3`").template == "SELECT t1.c2, 0x1F, 1abc FROM `tab 3`"
    assert scan("SELECT 99999999999999999999").values == [2 ** 63 - 1]


def test_scan_comments_and_executable_comments():
    s = scan("/* lead */ SELECT 1 -- tail\n# hash\n, 'x /* not a comment */'")
    assert s.template.split() == ["SELECT", "?", ",", "?"]
    assert s.values == [1, "x /* not a comment */"]
    t = scan("CREATE TABLE t (a INT) /*! ENGINE = innodb */ /*!40101 DEFAULT CHARSET=utf8 */").template
    assert "ENGINE = innodb" in t and "DEFAULT CHARSET=utf8" in t and "/*" not in t
    assert "hint" not in scan("SELECT /*+ hint */ 1").template


def test_scan_prefixed_strings():
    s = scan("SELECT x'0A', b'101', N'n', _utf8mb4'u', _binary'b', a LIKE'z'")
    assert s.values == [b"\n", 5, "n", "u", b"b", "z"]
    assert s.template == "SELECT ?, ?, ?, ?, ?, a LIKE?"


def test_scan_parameters():
    s = scan("SELECT * FROM t WHERE a = ? AND b = 'lit' AND c = ?", [1, "x"])
    assert s.values == [1, "lit", "x"] and s.raws == [None, "'lit'", None]
    assert count_placeholders("SELECT ?, '?', `?`, ? /* ? */") == 2
    with pytest.raises(ProxydError) as e:
        scan("SELECT ?", [1, 2])
    assert e.value.code == 1210
    with pytest.raises(ProxydError) as e:
        scan("SELECT ?")  # text protocol: a bare ? is a syntax error
    assert e.value.code == 1064
    # inline() puts literals back as written, never client parameters
    text, rest = inline(scan("SELECT 'a', ? FROM t WHERE x = 3", ["p"]), None)
    assert text == "SELECT 'a', ? FROM t WHERE x = 3" and rest == ["p"]


def test_prepared_shapes_reuse_the_scan():
    shapes = PreparedShapes(size=2)
    a = shapes.scan("SELECT c FROM t WHERE id=? AND k > 5", [1])
    b = shapes.scan("SELECT c FROM t WHERE id=? AND k > 5", [2])
    assert a.template == b.template and a.values == [1, 5] and b.values == [2, 5]
    assert shapes.scan("SELECT ?", [True]).values == [1]  # bool → int
    with pytest.raises(ProxydError):
        shapes.scan("SELECT c FROM t WHERE id=? AND k > 5", [])


def test_collapse_rows():
    t = scan("INSERT INTO t (a, b) VALUES (1, 'x'), (2,'y'),(3, 'z') ON DUPLICATE KEY UPDATE b = VALUES(b)").template
    single, n, head, per = collapse_rows(t)
    assert (n, head, per) == (3, 0, 2)
    assert single == "INSERT INTO t (a, b) VALUES (?, ?) ON DUPLICATE KEY UPDATE b = VALUES(b)"
    assert collapse_rows(scan("INSERT INTO t VALUES (1, 2), (3, NOW())").template) is None  # shapes differ
    assert collapse_rows(scan("INSERT INTO t VALUES (1, 2)").template) is None


# --------------------------------------------------------------------------------------------------
# translation fix-ups (one test each)


def test_fixup_tables_qualified_and_no_database_selected():
    assert sql_of("SELECT c FROM sbtest1 WHERE id = ?") == 'SELECT "c" FROM "db"."sbtest1" WHERE "id" = ?1'
    assert '"Other"' not in sql_of("SELECT * FROM Other.t JOIN u USING (id)")  # schema names fold to lower case
    assert sql_of("WITH c AS (SELECT 1 AS a) SELECT a FROM c") == 'WITH "c" AS (SELECT 1 AS "a") SELECT "a" FROM "c"'
    with pytest.raises(ProxydError) as e:
        build_plan("SELECT * FROM t", None)
    assert (e.value.code, e.value.sqlstate) == (1046, "3D000")
    assert build_plan("SELECT 1", None).sql == 'SELECT 1 AS "1"'


def test_fixup_select_item_names(db):
    r = x(db, "SELECT 1+1, 'abc', COUNT(*), n AS alias, t.name, UPPER(name) FROM t WHERE id = 1")
    assert list(r.columns) == ["1+1", "abc", "COUNT(*)", "alias", "name", "UPPER(name)"]
    assert list(x(db, "SELECT ? , n FROM t WHERE id = 1", ["p"]).columns) == ["?", "n"]


def test_fixup_inline_slots():
    assert inline_slots("SELECT ?, a FROM t WHERE b = ? ORDER BY ? LIMIT ?") == (0, 2)
    assert inline_slots("SELECT a FROM t WHERE d > NOW() - INTERVAL ? DAY AND x = CAST(? AS CHAR(?))") == (0, 2)
    assert inline_slots("SELECT EXTRACT(DAY FROM ?) FROM t WHERE a IN (SELECT b FROM u WHERE c = ?)") == (0,)
    assert inline_slots("SELECT a FROM t WHERE b = DATE ?") == (0,)
    assert inline_slots("UPDATE t SET a = ? WHERE b = ?") == ()


def test_fixup_numbered_placeholders_survive_reordering():
    assert sql_of("SELECT * FROM t LIMIT ?, ?").endswith("LIMIT ?2 OFFSET ?1")


def test_fixup_big_limit(db):
    assert rows(db, "SELECT id FROM t ORDER BY id LIMIT 1, 18446744073709551615") == [(2,), (3,)]


def test_fixup_on_duplicate_key_update(db):
    sql = sql_of("INSERT INTO t (a, b) VALUES (?, ?) ON DUPLICATE KEY UPDATE b = VALUES(b), c = c + 1")
    assert sql.endswith('ON CONFLICT DO UPDATE SET "b" = "excluded"."b", "c" = "c" + 1')
    r = x(db, "INSERT INTO t (name, n) VALUES ('a', 10) ON DUPLICATE KEY UPDATE n = n + VALUES(n)")
    assert r.affected_rows == 2
    assert rows(db, "SELECT n FROM t WHERE name = 'a'") == [(11,)]
    assert x(db, "INSERT INTO t (name, n) VALUES ('d', 4) ON DUPLICATE KEY UPDATE n = 0").affected_rows == 1


def test_fixup_replace_and_ignore(db):
    assert sql_of("REPLACE INTO t (a) VALUES (?)").startswith('INSERT OR REPLACE INTO "db"."t"')
    assert sql_of("INSERT IGNORE INTO t (a) VALUES (?)").startswith("INSERT OR IGNORE INTO")
    assert sql_of("UPDATE IGNORE t SET a = ?").startswith("UPDATE OR IGNORE")
    assert sql_of("DELETE LOW_PRIORITY QUICK FROM t WHERE a = ?") == 'DELETE FROM "db"."t" WHERE "a" = ?1'
    x(db, "REPLACE INTO t (id, name, n) VALUES (1, 'a', 100)")
    assert rows(db, "SELECT id, n FROM t WHERE name = 'a'") == [(1, 100)]


def test_fixup_update_delete_limit(db):
    assert "rowid" in sql_of("UPDATE t SET a = 1 ORDER BY id LIMIT 2")
    assert x(db, "UPDATE t SET n = 0 ORDER BY id DESC LIMIT 2").affected_rows == 2
    assert rows(db, "SELECT id FROM t WHERE n = 0 ORDER BY id") == [(2,), (3,)]
    assert x(db, "DELETE FROM t WHERE n = 0 ORDER BY id LIMIT 1").affected_rows == 1
    assert rows(db, "SELECT id FROM t ORDER BY id") == [(1,), (3,)]


def test_fixup_multi_table_update_delete(db):
    x(db, "CREATE TABLE u (id INT PRIMARY KEY, bonus INT)")
    x(db, "INSERT INTO u VALUES (1, 5), (2, 7)")
    assert x(db, "UPDATE t JOIN u ON u.id = t.id SET t.n = u.bonus WHERE u.bonus > 6").affected_rows == 1
    assert rows(db, "SELECT id, n FROM t ORDER BY id") == [(1, 1), (2, 7), (3, 3)]
    assert x(db, "DELETE t FROM t JOIN u ON u.id = t.id WHERE u.bonus = 5").affected_rows == 1
    assert rows(db, "SELECT id FROM t ORDER BY id") == [(2,), (3,)]


def test_fixup_functions_keep_mysql_semantics(db):
    sql = sql_of("SELECT NOW(), CURRENT_TIMESTAMP, CURDATE(), DATABASE(), VERSION(), RAND(), DATE_FORMAT(d, '%H:%i')")
    for name in ("NOW()", "CURDATE()", "DATABASE()", "VERSION()", "RAND()", "DATE_FORMAT(\"d\", '%H:%i')"):
        assert name in sql
    (db_name, version, r, fmt), = rows(db, "SELECT DATABASE(), VERSION(), RAND(), DATE_FORMAT('2024-01-02 03:04:05', '%H:%i')")
    assert db_name == "app" and version.startswith("8.0") and 0 <= r < 1 and fmt == "03:04"


def test_fixup_date_add_and_interval(db):
    assert rows(db, "SELECT DATE_ADD('2024-01-31', INTERVAL 1 MONTH), '2024-01-01 10:00:00' - INTERVAL 90 MINUTE, "
                    "TIMESTAMPADD(DAY, 2, '2024-02-28'), DATE_SUB('2024-03-01', INTERVAL '1-1' YEAR_MONTH)") == \
        [("2024-02-29", "2024-01-01 08:30:00", "2024-03-01", "2023-02-01")]
    # the amount may be a bound value
    assert rows(db, "SELECT DATE_ADD('2024-01-01', INTERVAL ? DAY)", [10]) == [("2024-01-11",)]


def test_fixup_length_counts_bytes(db):
    assert rows(db, "SELECT LENGTH('é'), CHAR_LENGTH('é'), OCTET_LENGTH('é')") == [(2, 1, 2)]


def test_fixup_extract_and_date_parts(db):
    assert rows(db, "SELECT EXTRACT(YEAR FROM '2024-05-06'), EXTRACT(YEAR_MONTH FROM '2024-05-06'), "
                    "DAYOFWEEK('2024-05-06'), WEEKDAY('2024-05-06')") == [(2024, 202405, 2, 0)]


def test_fixup_casts(db):
    assert rows(db, "SELECT CAST('12abc' AS UNSIGNED), CAST(2.675 AS DECIMAL(5,1)), CAST('2024-01-02 03:04:05' AS DATE),"
                    " CAST('2024-01-02' AS DATETIME), CAST(5 AS CHAR(3)), CONVERT('7', SIGNED)") == \
        [(12, 2.7, "2024-01-02", "2024-01-02 00:00:00", "5", 7)]


def test_fixup_like_escape_and_collate(db):
    assert "ESCAPE '\\'" in sql_of("SELECT * FROM t WHERE a LIKE ?")
    assert rows(db, "SELECT 'a_b' LIKE 'a\\_b', 'axb' LIKE 'a\\_b', 'A' = 'a' COLLATE utf8mb4_general_ci, "
                    "'A' = 'a' COLLATE utf8mb4_bin") == [(1, 0, 1, 0)]
    # text columns compare case-insensitively, like MySQL's default collation
    assert rows(db, "SELECT id FROM t WHERE name = 'B'") == [(2,)]


def test_fixup_operators(db):
    assert rows(db, "SELECT 1 XOR 0, 1 XOR 1, 7 DIV 2, 7 / 2, 1 <=> NULL, NULL <=> NULL, 1 || 0") == \
        [(1, 0, 3, 3.5, 0, 1, 1)]


def test_fixup_variables(db):
    x(db, "SET @x = 41")
    assert rows(db, "SELECT @x + 1, @@autocommit, @@session.max_allowed_packet, @@version_comment LIKE '%SQLite%'") == \
        [(42, 1, 67108864, 1)]
    assert err(db, "SELECT @@no_such_thing").code == 1193


def test_fixup_found_rows(db):
    assert rows(db, "SELECT SQL_CALC_FOUND_ROWS id FROM t ORDER BY id LIMIT 1") == [(1,)]
    assert rows(db, "SELECT FOUND_ROWS()") == [(3,)]
    rows(db, "SELECT id FROM t WHERE id < 3")
    assert rows(db, "SELECT FOUND_ROWS()") == [(2,)]


def test_fixup_dual_and_locking_reads(db):
    assert sql_of("SELECT 1 FROM DUAL") == 'SELECT 1 AS "1"'
    assert "FOR" not in sql_of("SELECT * FROM t WHERE id = 1 FOR UPDATE")
    assert rows(db, "SELECT id FROM t WHERE id = 1 LOCK IN SHARE MODE") == [(1,)]


def test_fixup_template_falls_back_to_full_text(db):
    # "DATE ?" does not parse, so the statement is translated with its literal in place
    assert rows(db, "SELECT id FROM t WHERE DATE '2024-01-01' < '2025-01-01' AND id = 1") == [(1,)]


def test_plan_cache_is_a_bounded_lru():
    tr = Translator(size=2)
    tr.plan("SELECT a FROM t WHERE b = ?", "db")
    tr.plan("SELECT b FROM t WHERE b = ?", "db")
    tr.plan("SELECT a FROM t WHERE b = ?", "db")  # refresh
    tr.plan("SELECT c FROM t WHERE b = ?", "db")  # evicts the b plan
    assert len(tr) == 2
    assert tr.cached("SELECT a FROM t WHERE b = ?", "db") is not None
    assert tr.cached("SELECT b FROM t WHERE b = ?", "db") is None


# --------------------------------------------------------------------------------------------------
# DDL


def test_ddl_sysbench_table(engine):
    s = engine.session()
    x(s, "CREATE DATABASE sbtest")
    x(s, "USE sbtest")
    x(s, "CREATE TABLE sbtest1(id INTEGER NOT NULL AUTO_INCREMENT, k INTEGER DEFAULT '0' NOT NULL, "
         "c CHAR(120) DEFAULT '' NOT NULL, pad CHAR(60) DEFAULT '' NOT NULL, PRIMARY KEY (id)) /*! ENGINE = innodb */")
    sql = s.conn.execute("SELECT sql FROM sbtest.sqlite_master WHERE name = 'sbtest1'").fetchone()[0]
    assert '"id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT' in sql and "innodb" not in sql.lower()
    x(s, "CREATE INDEX k_1 ON sbtest1(k)")
    assert s.conn.execute("SELECT name FROM sbtest.sqlite_master WHERE type = 'index'").fetchall() == [("sbtest1.k_1",)]
    assert rows(s, "SHOW INDEX FROM sbtest1")[1][2] == "k_1"
    s.close()


def test_ddl_mysql_column_features(db):
    x(db, "CREATE TABLE f (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT, code CHAR(3) CHARACTER SET ascii "
          "COLLATE ascii_bin NOT NULL, kind ENUM('x','y') DEFAULT 'x', at DATETIME DEFAULT CURRENT_TIMESTAMP "
          "ON UPDATE CURRENT_TIMESTAMP, note TEXT COMMENT 'n', PRIMARY KEY (id), UNIQUE KEY (code), KEY k_at (at)) "
          "ENGINE=MyISAM AUTO_INCREMENT=50 DEFAULT CHARSET=latin1")
    assert x(db, "INSERT INTO f (code) VALUES ('abc')").last_insert_id == 50
    assert rows(db, "SELECT kind, at IS NOT NULL FROM f") == [("x", 1)]
    assert err(db, "INSERT INTO f (code, kind) VALUES ('abd', 'z')").code == 1265
    # code is *_bin: case-sensitive, so 'ABC' is not a duplicate
    x(db, "INSERT INTO f (code) VALUES ('ABC')")
    cols = {r[0]: r for r in rows(db, "SHOW COLUMNS FROM f")}
    assert cols["id"][1:4] == ("int", "NO", "PRI") and cols["code"][3] == "UNI" and cols["at"][3] == "MUL"
    assert cols["kind"][1] == "enum('x','y')" and cols["at"][4] == "CURRENT_TIMESTAMP"
    create = rows(db, "SHOW CREATE TABLE f")[0][1]
    assert "UNIQUE KEY `code` (`code`)" in create and "KEY `k_at` (`at`)" in create
    assert err(db, "CREATE TABLE g (a INT AUTO_INCREMENT, b INT, PRIMARY KEY (a, b))").code == 1235


def test_ddl_alter_table(db):
    x(db, "ALTER TABLE t ADD COLUMN extra VARCHAR(10) NOT NULL DEFAULT 'e' AFTER name, ADD INDEX idx_n (n)")
    assert rows(db, "SELECT extra FROM t WHERE id = 1") == [("e",)]
    x(db, "ALTER TABLE t CHANGE extra more VARCHAR(30) DEFAULT 'm'")
    x(db, "ALTER TABLE t MODIFY n BIGINT NOT NULL DEFAULT 5")
    x(db, "ALTER TABLE t ALTER COLUMN more SET DEFAULT 'z'")
    x(db, "INSERT INTO t (name) VALUES ('new')")
    assert rows(db, "SELECT more, n FROM t WHERE name = 'new'") == [("z", 5)]
    assert rows(db, "SELECT more FROM t WHERE id = 1") == [("e",)]  # data kept by the rebuild
    assert {r[2] for r in rows(db, "SHOW INDEX FROM t")} == {"PRIMARY", "uk_name", "idx_n"}
    x(db, "ALTER TABLE t DROP INDEX idx_n, DROP COLUMN more, RENAME COLUMN n TO num")
    assert [r[0] for r in rows(db, "DESCRIBE t")] == ["id", "name", "num"]
    assert err(db, "ALTER TABLE t DROP INDEX nope").code == 1091
    assert err(db, "ALTER TABLE nope ADD COLUMN a INT").code == 1146
    x(db, "ALTER TABLE t RENAME TO t2, ENGINE=InnoDB")
    assert rows(db, "SHOW TABLES") == [("t2",)]


def test_ddl_truncate_resets_auto_increment(db):
    x(db, "TRUNCATE TABLE t")
    assert x(db, "INSERT INTO t (name) VALUES ('z')").last_insert_id == 1


def test_ddl_create_like_as_select_views_rename(db):
    x(db, "CREATE TABLE t_copy LIKE t")
    assert rows(db, "SELECT COUNT(*) FROM t_copy") == [(0,)]
    assert err(db, "INSERT INTO t_copy (name) VALUES ('a'), ('a')").code == 1062  # the unique key came along
    x(db, "CREATE TABLE t_sel AS SELECT id, name FROM t WHERE id > 1")
    assert rows(db, "SELECT * FROM t_sel ORDER BY id") == [(2, "b"), (3, "c")]
    x(db, "CREATE VIEW v AS SELECT name FROM t WHERE n > 1")
    assert rows(db, "SELECT * FROM v ORDER BY name") == [("b",), ("c",)]
    x(db, "CREATE OR REPLACE VIEW v AS SELECT id FROM t")
    assert len(rows(db, "SELECT * FROM v")) == 3
    x(db, "RENAME TABLE t_sel TO t_sel2")
    assert ("t_sel2", "BASE TABLE") in rows(db, "SHOW FULL TABLES")
    x(db, "DROP VIEW v")
    x(db, "DROP TABLE t_copy, t_sel2")
    assert rows(db, "SHOW TABLES") == [("t",)]
    assert err(db, "CREATE TEMPORARY TABLE tmp (a INT)").code == 1235


# --------------------------------------------------------------------------------------------------
# schemas and sessions


def test_schema_files_and_use(engine):
    s = engine.session()
    assert err(s, "USE nope").code == 1049
    with pytest.raises(ProxydError) as e:
        s.use("nope")
    assert (e.value.code, e.value.sqlstate) == (1049, "42000")
    x(s, "CREATE DATABASE Shop")
    assert engine.schemas() == ["shop"]
    assert os.path.exists(os.path.join(engine.dir, "shop.sqlite"))
    s.use("SHOP")
    assert s.schema == "shop"
    x(s, "CREATE DATABASE `we!rd`")
    assert os.path.exists(os.path.join(engine.dir, "we@0021rd.sqlite"))
    assert err(s, "CREATE DATABASE main").code == 1102
    with pytest.raises(ProxydError) as e:
        engine.session("nope")
    assert e.value.code == 1049
    s.close()
    # a new engine on the same datadir finds the schemas
    again = EmbeddedEngine(os.path.dirname(engine.dir))
    assert again.schemas() == ["shop", "we!rd"]
    again.close()


def test_create_drop_database_visible_to_other_sessions(engine):
    a, b = engine.session(), engine.session()
    x(a, "CREATE DATABASE one")
    x(a, "CREATE TABLE one.t (v INT)")
    x(a, "INSERT INTO one.t VALUES (1)")
    assert rows(b, "SELECT v FROM one.t") == [(1,)]
    x(b, "USE one")
    x(a, "DROP DATABASE one")
    assert rows(b, "SELECT DATABASE()") == [(None,)]
    assert err(b, "SELECT v FROM one.t").code == 1146
    x(a, "CREATE DATABASE one")  # re-created: b must see the new, empty file
    assert rows(b, "SHOW TABLES FROM one") == []
    a.close()
    b.close()


def test_information_schema(db):
    assert rows(db, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME") == \
        [("app",), ("information_schema",)]
    assert rows(db, "SELECT TABLE_NAME, TABLE_TYPE, ENGINE, AUTO_INCREMENT FROM information_schema.TABLES "
                    "WHERE TABLE_SCHEMA = 'app'") == [("t", "BASE TABLE", "InnoDB", 4)]
    cols = rows(db, "SELECT COLUMN_NAME, ORDINAL_POSITION, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, COLUMN_KEY, EXTRA, "
                    "CHARACTER_MAXIMUM_LENGTH FROM information_schema.COLUMNS WHERE TABLE_NAME = 't' ORDER BY 2")
    assert cols == [("id", 1, "int", "int", "NO", "PRI", "auto_increment", None),
                    ("name", 2, "varchar", "varchar(20)", "NO", "UNI", "", 20),
                    ("n", 3, "int", "int", "YES", "", "", None)]
    # refreshed after DDL
    x(db, "CREATE TABLE later (a INT)")
    assert ("later",) in rows(db, "SELECT TABLE_NAME FROM information_schema.TABLES")
    x(db, "USE information_schema")
    assert rows(db, "SELECT COUNT(*) FROM SCHEMATA") == [(2,)]


def test_show_statements(db):
    assert rows(db, "SHOW DATABASES") == [("information_schema",), ("app",)]
    assert x(db, "SHOW TABLES").columns == ["Tables_in_app"]
    assert rows(db, "SHOW FULL TABLES WHERE Table_type = 'BASE TABLE'") == [("t", "BASE TABLE")]
    assert rows(db, "DESCRIBE t") == [("id", "int", "NO", "PRI", None, "auto_increment"),
                                      ("name", "varchar(20)", "NO", "UNI", None, ""),
                                      ("n", "int", "YES", "", "0", "")]
    assert rows(db, "DESC app.t n") == [("n", "int", "YES", "", "0", "")]
    assert len(x(db, "SHOW FULL COLUMNS FROM t FROM app").columns) == 9
    assert [r[2] for r in rows(db, "SHOW KEYS FROM t")] == ["PRIMARY", "uk_name"]
    create = rows(db, "SHOW CREATE TABLE t")[0][1]
    assert create.startswith("CREATE TABLE `t` (") and "UNIQUE KEY `uk_name` (`name`)" in create
    assert rows(db, "SHOW TABLE STATUS LIKE 't'")[0][:2] == ("t", "InnoDB")
    assert rows(db, "SHOW VARIABLES LIKE 'version'") == [("version", x(db, "SELECT VERSION()").rows[0][0])]
    assert rows(db, "SHOW CREATE DATABASE app")[0][0] == "app"
    assert err(db, "SHOW NONSENSE").code == 1064
    assert err(db, "SHOW COLUMNS FROM nope").code == 1146
    assert x(db, "EXPLAIN SELECT * FROM t WHERE id = 1").columns == ["id", "parent", "notused", "detail"]


def test_no_database_selected(engine):
    s = engine.session()
    assert (err(s, "SELECT * FROM t").code, err(s, "SHOW TABLES").code, err(s, "CREATE TABLE t (a INT)").code) == \
        (1046, 1046, 1046)
    assert rows(s, "SELECT 1") == [(1,)]
    s.close()


# --------------------------------------------------------------------------------------------------
# transactions and locking


def test_transactions_and_savepoints(db):
    x(db, "BEGIN")
    assert db.in_transaction
    x(db, "INSERT INTO t (name) VALUES ('tx')")
    x(db, "SAVEPOINT s1")
    x(db, "UPDATE t SET n = 99")
    x(db, "ROLLBACK TO SAVEPOINT s1")
    x(db, "RELEASE SAVEPOINT s1")
    assert err(db, "ROLLBACK TO s1").code == 1305
    x(db, "COMMIT")
    assert not db.in_transaction
    assert rows(db, "SELECT COUNT(*) FROM t WHERE n = 99") == [(0,)]
    x(db, "START TRANSACTION")
    x(db, "DELETE FROM t")
    x(db, "ROLLBACK")
    assert rows(db, "SELECT COUNT(*) FROM t") == [(4,)]
    x(db, "SAVEPOINT outside")  # autocommit: nothing to do, as in MySQL
    assert not db.in_transaction


def test_autocommit_zero_opens_implicit_transactions(db):
    x(db, "SET autocommit = 0")
    assert not db.autocommit and not db.in_transaction
    x(db, "UPDATE t SET n = 0 WHERE id = 1")
    assert db.in_transaction
    x(db, "ROLLBACK")
    assert rows(db, "SELECT n FROM t WHERE id = 1") == [(1,)]
    x(db, "UPDATE t SET n = 7 WHERE id = 1")
    x(db, "SET autocommit = 1")  # switching back on commits
    assert db.autocommit and not db.in_transaction
    assert rows(db, "SELECT n FROM t WHERE id = 1") == [(7,)]
    assert err(db, "SET autocommit = 'maybe'").code == 1231


def test_ddl_commits_implicitly(db):
    x(db, "BEGIN")
    x(db, "UPDATE t SET n = 42 WHERE id = 1")
    x(db, "CREATE TABLE other (a INT)")
    assert not db.in_transaction
    x(db, "ROLLBACK")
    assert rows(db, "SELECT n FROM t WHERE id = 1") == [(42,)]


def test_begin_commits_an_open_transaction(db):
    x(db, "BEGIN")
    x(db, "UPDATE t SET n = 5 WHERE id = 1")
    x(db, "BEGIN")
    x(db, "ROLLBACK")
    assert rows(db, "SELECT n FROM t WHERE id = 1") == [(5,)]


def test_close_rolls_back(engine, db):
    x(db, "BEGIN")
    x(db, "UPDATE t SET n = -1")
    db.close()
    other = engine.session("app")
    assert rows(other, "SELECT COUNT(*) FROM t WHERE n = -1") == [(0,)]
    other.close()


def test_lock_waits_without_blocking_and_times_out(engine, db):
    other = engine.session("app")

    async def scenario() -> None:
        await db.execute("BEGIN")
        await db.execute("UPDATE t SET n = n + 1 WHERE id = 1")
        waiter = asyncio.create_task(other.execute("UPDATE t SET n = n + 10 WHERE id = 1"))
        # the loop keeps running: other statements are served while `other` waits
        for _ in range(5):
            await asyncio.sleep(0.02)
            assert (await db.execute("SELECT 1")).rows == [(1,)]
        assert not waiter.done()
        await db.execute("COMMIT")
        assert (await asyncio.wait_for(waiter, 5)).affected_rows == 1
        assert (await other.execute("SELECT n FROM t WHERE id = 1")).rows == [(12,)]
        # and a wait longer than the lock wait timeout gives 1205, keeping the transaction
        other.lock_wait_timeout = 0.2
        await db.execute("BEGIN")
        await db.execute("UPDATE t SET n = 0 WHERE id = 2")
        await other.execute("BEGIN")
        t0 = time.monotonic()
        with pytest.raises(ProxydError) as e:
            await other.execute("UPDATE t SET n = 1 WHERE id = 2")
        assert (e.value.code, e.value.sqlstate) == (1205, "HY000")
        assert 0.15 < time.monotonic() - t0 < 2
        assert other.in_transaction
        await db.execute("ROLLBACK")
        await other.execute("ROLLBACK")

    run(scenario())
    x(other, "SET innodb_lock_wait_timeout = 3")
    assert other.lock_wait_timeout == 3 and rows(other, "SELECT @@innodb_lock_wait_timeout") == [(3,)]
    other.close()


def test_stale_snapshot_restarts_or_deadlocks(engine, db):
    other = engine.session("app")
    # other has only read: its write continues on a fresh snapshot
    x(other, "BEGIN")
    assert rows(other, "SELECT n FROM t WHERE id = 3") == [(3,)]
    x(db, "UPDATE t SET n = 30 WHERE id = 3")
    x(other, "UPDATE t SET n = n + 1 WHERE id = 3")
    x(other, "COMMIT")
    assert rows(db, "SELECT n FROM t WHERE id = 3") == [(31,)]
    # other has written to another schema file and then meets a newer commit: 1213, rolled back
    x(db, "CREATE DATABASE side")
    x(db, "CREATE TABLE side.s (a INT)")
    x(other, "BEGIN")
    assert rows(other, "SELECT n FROM t WHERE id = 3") == [(31,)]
    x(other, "INSERT INTO side.s VALUES (1)")
    x(db, "UPDATE t SET n = 0 WHERE id = 3")
    e = err(other, "UPDATE t SET n = n + 1 WHERE id = 3")
    assert (e.code, e.sqlstate) == (1213, "40001")
    assert not other.in_transaction
    assert rows(other, "SELECT COUNT(*) FROM side.s") == [(0,)]
    other.close()


def test_sleep_does_not_block_the_loop(db, engine):
    other = engine.session("app")

    async def scenario() -> tuple[float, list]:
        t0 = time.monotonic()
        results = await asyncio.gather(db.execute("SELECT SLEEP(0.3)"),
                                       other.execute("SELECT id, SLEEP(0.3) FROM t WHERE id = 1"),
                                       other_quick())
        return time.monotonic() - t0, results

    async def other_quick() -> float:
        t0 = time.monotonic()
        await asyncio.sleep(0.01)
        return time.monotonic() - t0

    elapsed, (a, b, quick) = run(scenario())
    assert a.rows == [(0,)] and list(a.columns) == ["SLEEP(0.3)"]
    assert b.rows == [(1, 0)]
    assert elapsed < 0.55 and quick < 0.2  # both sleeps overlapped and the loop stayed responsive
    other.close()


# --------------------------------------------------------------------------------------------------
# errors and warnings


@pytest.mark.parametrize("sql, code, state", [
    ("INSERT INTO t (name) VALUES ('a')", 1062, "23000"),
    ("INSERT INTO t (name) VALUES (NULL)", 1048, "23000"),
    ("SELECT * FROM nope", 1146, "42S02"),
    ("SELECT nope FROM t", 1054, "42S22"),
    ("CREATE TABLE t (a INT)", 1050, "42S01"),
    ("CREATE DATABASE app", 1007, "HY000"),
    ("USE nope", 1049, "42000"),
    ("SELEC 1", 1064, "42000"),
    ("SELECT * FROM t WHERE", 1064, "42000"),
    ("DROP TABLE nope", 1051, "42S02"),
    ("SELECT NOSUCHFUNC(1)", 1305, "42000"),
    ("SELECT id FROM t, t AS t2 WHERE id = 1", 1052, "23000"),
    ("INSERT INTO t (name, n) VALUES ('x')", 1136, "21S01"),
    ("CREATE INDEX uk_name ON t (n)", 1061, "42000"),
    ("SELECT 1 FROM t WHERE id = (SELECT id, name FROM t)", 1241, "21000"),
    ("", 1065, "42000"),
])
def test_error_mapping(db, sql, code, state):
    e = err(db, sql)
    assert (e.code, e.sqlstate) == (code, state), e
    assert rows(db, "SHOW WARNINGS") == [("Error", code, e.message)]
    assert rows(db, "SELECT COUNT(*) FROM t") == [(3,)]  # the session stays usable


def test_error_messages(db):
    assert err(db, "INSERT INTO t (name) VALUES ('A')").message == "Duplicate entry 'A' for key 't.uk_name'"
    assert err(db, "INSERT INTO t (id, name) VALUES (1, 'q')").message == "Duplicate entry '1' for key 't.PRIMARY'"
    assert err(db, "INSERT INTO t (name) VALUES ('x'), ('y'), ('x')").message == \
        "Duplicate entry 'x' for key 't.uk_name'"
    assert err(db, "UPDATE t SET name = ? WHERE id = 2", ["a"]).message == "Duplicate entry 'a' for key 't.uk_name'"
    assert rows(db, "SELECT COUNT(*) FROM t") == [(3,)]  # the failed multi-row insert left nothing
    assert err(db, "INSERT INTO t (name) VALUES (NULL)").message == "Column 'name' cannot be null"
    assert err(db, "SELECT * FROM nope").message == "Table 'app.nope' doesn't exist"
    assert err(db, "SELECT nope FROM t").message == "Unknown column 'nope' in 'field list'"
    assert err(db, "SELECT * FROM t WHERE id = = 1").message.startswith(
        "You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version "
        "for the right syntax to use near '= 1' at line 1")
    x(db, "CREATE TABLE c (a INT, CONSTRAINT positive CHECK (a > 0))")
    e = err(db, "INSERT INTO c VALUES (-1)")
    assert (e.code, e.message) == (3819, "Check constraint 'positive' is violated.")


def test_map_sqlite_error_directly():
    conn = apsw.Connection(":memory:")
    for sql, code in [("SELECT * FROM missing", 1146), ("SELEC", 1064), ("SELECT abs(1, 2)", 1582),
                      ("SAVEPOINT a; ROLLBACK TO b", 1305)]:
        with pytest.raises(apsw.Error) as info:
            conn.execute(sql).fetchall()
        assert map_sqlite_error(info.value, kind="select", schema="db", sql=sql).code == code
    busy = apsw.BusyError("database is locked")
    assert map_sqlite_error(busy, kind="update", schema=None).code == 1205


def test_warnings(db):
    r = x(db, "DROP TABLE IF EXISTS nope, t")
    assert [(w.level, w.code, w.message) for w in r.warnings] == [("Note", 1051, "Unknown table 'app.nope'")]
    assert rows(db, "SHOW WARNINGS") == [("Note", 1051, "Unknown table 'app.nope'")]
    assert rows(db, "SHOW COUNT(*) WARNINGS") == [(1,)]
    x(db, "CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(5), UNIQUE KEY uk (name))")
    x(db, "INSERT INTO t VALUES (1, 'a')")
    r = x(db, "INSERT IGNORE INTO t VALUES (1, 'b'), (2, 'a'), (3, 'c')")
    assert r.affected_rows == 1
    assert [(w.level, w.code, w.message) for w in r.warnings] == [
        ("Warning", 1062, "Duplicate entry '1' for key 't.PRIMARY'"),
        ("Warning", 1062, "Duplicate entry 'a' for key 't.uk'")]
    assert rows(db, "SELECT @@warning_count") == [(2,)]
    rows(db, "SELECT 1")
    assert rows(db, "SHOW WARNINGS") == []


# --------------------------------------------------------------------------------------------------
# results, parameters, ids


def test_parameters_are_bound_never_pasted(db):
    evil = "x' OR '1'='1"
    assert rows(db, "SELECT id FROM t WHERE name = ?", [evil]) == []
    x(db, "INSERT INTO t (name) VALUES (?)", ["o'hara; DROP TABLE t; --"])
    assert rows(db, "SELECT name FROM t WHERE id = ?", [4]) == [("o'hara; DROP TABLE t; --",)]
    assert db.describe_params("SELECT * FROM t WHERE a = ? AND b = '?' AND c IN (?, ?)") == 3
    assert err(db, "SELECT * FROM t WHERE id = ?", []).code == 1210


def test_result_types(db):
    x(db, "CREATE TABLE ty (i INT, b BIGINT UNSIGNED, d DECIMAL(5,2), f DOUBLE, s VARCHAR(5), dt DATETIME, "
          "da DATE, ti TIME, ts TIMESTAMP, bl BLOB)")
    x(db, "INSERT INTO ty VALUES (1, 2, 1.5, 2.5, 'x', '2024-01-01 00:00:00', '2024-01-01', '10:00:00', "
          "'2024-01-01 00:00:00', x'00')")
    r = x(db, "SELECT * FROM ty")
    assert r.types == [ColumnType.LONGLONG, ColumnType.LONGLONG, ColumnType.NEWDECIMAL, ColumnType.DOUBLE,
                       ColumnType.VAR_STRING, ColumnType.DATETIME, ColumnType.DATE, ColumnType.TIME,
                       ColumnType.TIMESTAMP, ColumnType.BLOB]
    assert r.rows[0][9] == b"\x00"
    r = x(db, "SELECT 1, 1.5, 'a', x'01', NULL")
    assert r.types == [ColumnType.LONGLONG, ColumnType.DOUBLE, ColumnType.VAR_STRING, ColumnType.BLOB, ColumnType.NULL]
    r = x(db, "SELECT * FROM ty WHERE 1 = 0")  # no rows: columns and types still known
    assert len(r.columns) == 10 and r.types[0] == ColumnType.LONGLONG


def test_insert_ids_and_affected_rows(db):
    r = x(db, "INSERT INTO t (name) VALUES ('d'), ('e')")
    assert (r.affected_rows, r.last_insert_id) == (2, 4)
    assert rows(db, "SELECT LAST_INSERT_ID()") == [(4,)]
    r = x(db, "INSERT INTO t (id, name) VALUES (100, 'f')")
    assert r.last_insert_id == 100
    assert db.last_insert_id == 4  # an explicit id does not change LAST_INSERT_ID()
    r = x(db, "INSERT INTO t (id, name) VALUES (NULL, 'g')")
    assert r.last_insert_id == db.last_insert_id == 101
    assert x(db, "UPDATE t SET n = n").affected_rows == 7  # rows matched (see the module docstring)
    assert x(db, "DELETE FROM t WHERE id > 100").affected_rows == 1
    x(db, "CREATE TABLE plain (a INT)")
    assert x(db, "INSERT INTO plain VALUES (1)").last_insert_id == 0
    rows(db, "SELECT LAST_INSERT_ID(55)")
    assert db.last_insert_id == 55


SYSBENCH_SETUP = [
    "CREATE TABLE sbtest1(id INTEGER NOT NULL AUTO_INCREMENT, k INTEGER DEFAULT '0' NOT NULL, "
    "c CHAR(120) DEFAULT '' NOT NULL, pad CHAR(60) DEFAULT '' NOT NULL, PRIMARY KEY (id)) /*! ENGINE = innodb */",
]


@pytest.mark.parametrize("prepared", [False, True])
def test_sysbench_oltp_read_write_statements(engine, prepared):
    """Every statement sysbench's oltp_read_write sends, in both protocols, with no error."""
    s = engine.session()
    x(s, "SELECT VERSION()")
    x(s, "SET autocommit=1")
    x(s, "CREATE DATABASE sbtest")
    x(s, "USE sbtest")
    x(s, "DROP TABLE IF EXISTS sbtest1")
    for stmt in SYSBENCH_SETUP:
        x(s, stmt)
    values = ",".join(f"({i % 97}, '{i:011d}-{'c' * 100}', '{i:011d}-{'p' * 40}')" for i in range(1, 1001))
    assert x(s, "INSERT INTO sbtest1(k, c, pad) VALUES" + values).affected_rows == 1000
    x(s, "CREATE INDEX k_1 ON sbtest1(k)")

    def q(template: str, *args: Any) -> Ok | ResultSet:
        if prepared:
            return x(s, template, list(args))
        text = template
        for a in args:
            text = text.replace("?", repr(a) if isinstance(a, str) else str(a), 1)
        return x(s, text)

    for i in range(1, 21):
        q("BEGIN") if prepared else x(s, "BEGIN")
        for j in range(10):
            assert len(q("SELECT c FROM sbtest1 WHERE id=?", (i * 7 + j) % 1000 + 1).rows) == 1
        assert len(q("SELECT c FROM sbtest1 WHERE id BETWEEN ? AND ?", i, i + 99).rows) == 100
        assert q("SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN ? AND ?", i, i + 99).rows[0][0] > 0
        assert len(q("SELECT c FROM sbtest1 WHERE id BETWEEN ? AND ? ORDER BY c", i, i + 99).rows) == 100
        assert len(q("SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN ? AND ? ORDER BY c", i, i + 99).rows) == 100
        assert q("UPDATE sbtest1 SET k=k+1 WHERE id=?", i).affected_rows == 1
        assert q("UPDATE sbtest1 SET c=? WHERE id=?", f"{i:011d}-new", i + 1).affected_rows == 1
        assert q("DELETE FROM sbtest1 WHERE id=?", i + 500).affected_rows == 1
        assert q("INSERT INTO sbtest1 (id, k, c, pad) VALUES (?, ?, ?, ?)", i + 500, i, "c", "p").affected_rows == 1
        x(s, "COMMIT")
    assert rows(s, "SELECT COUNT(*) FROM sbtest1") == [(1000,)]
    x(s, "DROP TABLE IF EXISTS sbtest1")
    s.close()


def test_connection_hooks(engine):
    seen: list[apsw.Connection] = []
    s1 = engine.session()
    engine.add_connection_hook(lambda conn: conn.create_scalar_function("PLUGIN_FN", lambda: 7, 0))
    engine.add_connection_hook(seen.append)
    s2 = engine.session()
    assert rows(s1, "SELECT PLUGIN_FN()") == [(7,)] and rows(s2, "SELECT PLUGIN_FN()") == [(7,)]
    assert seen == [s1.conn, s2.conn]
    s1.close()
    s2.close()


def test_closed_session_refuses(engine):
    s = engine.session()
    s.close()
    s.close()  # idempotent
    assert err(s, "SELECT 1").code == 2006


# --------------------------------------------------------------------------------------------------
# MySQL functions registered on SQLite


def test_date_helpers():
    assert fn.date_add("2024-01-31", 1, "MONTH") == "2024-02-29"
    assert fn.date_add("2024-01-01 00:00:00", "1:30", "HOUR_MINUTE") == "2024-01-01 01:30:00"
    assert fn.date_add("2024-01-01", 1, "HOUR") == "2024-01-01 01:00:00"
    assert fn.date_add("2024-03-31", 1, "MONTH", -1) == "2024-02-29"
    assert fn.date_add("not a date", 1, "DAY") is None
    assert fn.date_format("2024-02-03 04:05:06", "%a %b %e %D %j %H:%i:%s %p %W %M %y %%") == \
        "Sat Feb 3 3rd 034 04:05:06 AM Saturday February 24 %"


def test_session_functions(db):
    (cid, user, rc), = rows(db, "SELECT CONNECTION_ID(), USER(), ROW_COUNT()")
    assert cid == db.connection_id and user == db.user and rc == 3  # the fixture's INSERT
    x(db, "UPDATE t SET n = 0 WHERE id < 3")
    assert rows(db, "SELECT ROW_COUNT()") == [(2,)]
    assert rows(db, "SELECT STR_TO_DATE('03/02/2024 10:11', '%d/%m/%Y %H:%i'), FROM_UNIXTIME(86400 * 365) LIKE '1971%',"
                    " UNIX_TIMESTAMP('1970-01-02 00:00:00') > 0") == [("2024-02-03 10:11:00", 1, 1)]
    assert rows(db, "SELECT SUBSTRING_INDEX('a.b.c', '.', 2), FIELD('b', 'a', 'b'), FIND_IN_SET('b', 'a,b'), "
                    "LPAD('7', 3, '0'), REPEAT('ab', 2), HEX(255), SHA2('abc', 256) = SHA2('abc', 0)") == \
        [("a.b", 2, 2, "007", "abab", "FF", 1)]
    assert rows(db, "SELECT BIT_OR(n), STDDEV_POP(n) FROM t") == [(3, 1.4142135623730951)]


def test_interrupt_and_close_during_sleep(engine):
    s = engine.session()

    async def scenario() -> None:
        task = asyncio.create_task(s.execute("SELECT SLEEP(5), 1"))
        await asyncio.sleep(0.1)
        t0 = time.monotonic()
        s.interrupt()  # KILL QUERY: the statement stops at once with 1317
        with pytest.raises(ProxydError) as e:
            await asyncio.wait_for(task, 2)
        assert (e.value.code, e.value.sqlstate) == (1317, "70100") and time.monotonic() - t0 < 1
        task = asyncio.create_task(s.execute("SELECT SLEEP(5), 2"))
        await asyncio.sleep(0.1)
        task.cancel()  # the client went away while the statement ran on a thread
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (await s.execute("SELECT 3")).rows == [(3,)]  # the next statement waits for it
        task = asyncio.create_task(s.execute("SELECT SLEEP(5)  , 4"))
        await asyncio.sleep(0.1)
        task.cancel()
        s.close()  # closes once the thread has stopped
        await asyncio.sleep(0.2)
        assert s not in engine._sessions

    run(scenario())


def test_ok_info_strings(db):
    assert x(db, "UPDATE t SET n = 1").info == "Rows matched: 3  Changed: 3  Warnings: 0"
    assert x(db, "INSERT INTO t (name) VALUES ('x'), ('y')").info == "Records: 2  Duplicates: 0  Warnings: 0"


# --------------------------------------------------------------------------------------------------
# the sqlglot-free fast path must mean exactly what the sqlglot path means

FAST_SELECTS = [
    "SELECT c FROM sbtest1 WHERE id=3",
    "SELECT c FROM sbtest1 WHERE id BETWEEN 2 AND 5",
    "SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN 1 AND 6",
    "SELECT c FROM sbtest1 WHERE id BETWEEN 1 AND 6 ORDER BY c",
    "SELECT DISTINCT k FROM sbtest1 WHERE id BETWEEN 1 AND 6 ORDER BY k DESC",
    "SELECT count(*), MIN(k), max(k), AVG(k) FROM sbtest1",
    "SELECT * FROM sbtest1 WHERE k IN (1, 2) AND pad IS NOT NULL AND NOT id = 2 ORDER BY id LIMIT 1, 2",
    "SELECT id FROM sbtest1 WHERE (k = 1 OR k = 2) AND id NOT BETWEEN 3 AND 4 ORDER BY id LIMIT 3 OFFSET 0",
    "SELECT `id`, `c` FROM `sbtest1` WHERE -k < -1 ORDER BY 1",
    "SELECT id FROM fast.sbtest1 WHERE k * 2 + 1 > 4 AND c <> 'x' ORDER BY id",
    "SELECT id FROM sbtest1 WHERE c = 'C3'",
]
FAST_WRITES = [
    "UPDATE sbtest1 SET k=k+1 WHERE id=2",
    "UPDATE sbtest1 SET c='new', pad=NULL WHERE id IN (1, 3)",
    "DELETE FROM sbtest1 WHERE id=4",
    "INSERT INTO sbtest1 (id, k, c, pad) VALUES (50, 5, 'x', 'y')",
    "INSERT INTO sbtest1 VALUES (51, 5, 'x', NULL)",
]


def test_fast_path_matches_sqlglot(engine):
    from proxyd.backends.translate_fast import fast_plan
    s = engine.session()
    x(s, "CREATE DATABASE fast")
    x(s, "USE fast")
    x(s, "CREATE TABLE sbtest1 (id INT PRIMARY KEY, k INT, c VARCHAR(10), pad VARCHAR(10))")
    x(s, "INSERT INTO sbtest1 VALUES " + ", ".join(f"({i}, {i % 3}, 'c{i}', 'p{i}')" for i in range(1, 8)))
    tr = engine.translator
    for sql in FAST_SELECTS + FAST_WRITES:
        template = scan(sql).template
        slots = inline_slots(template)
        probe = inline(scan(sql), slots)[0] if slots else template
        assert fast_plan(probe, "fast") is not None, sql
        outcomes = []
        for fast in (True, False):
            tr.fast = fast
            tr.clear()
            x(s, "BEGIN")
            r = x(s, sql)
            after = rows(s, "SELECT * FROM sbtest1 ORDER BY id")
            x(s, "ROLLBACK")
            shape = (list(r.columns), [tuple(row) for row in r.rows], r.types) if isinstance(r, ResultSet) else \
                (r.affected_rows, r.last_insert_id)
            outcomes.append((shape, after))
        assert outcomes[0] == outcomes[1], sql
    tr.fast = True
    s.close()


@pytest.mark.parametrize("sql", [
    "SELECT a FROM t WHERE b LIKE ?", "SELECT a FROM t WHERE b / ? > 1", "SELECT a FROM t x", "SELECT a FROM t JOIN u",
    "SELECT NOW() FROM t", "SELECT key FROM t", "SELECT a FROM t WHERE b = 'x'", "SELECT t.a FROM t",
    "SELECT a FROM t WHERE b || c", "UPDATE t SET a = 1 LIMIT 1", "INSERT INTO t VALUES (?) ON DUPLICATE KEY UPDATE a = 1",
    "SELECT a FROM t WHERE b = 0x1F", "SELECT a FROM t FOR UPDATE", "SELECT COUNT(DISTINCT a) FROM t",
])
def test_fast_path_refuses_what_it_cannot_prove(sql):
    from proxyd.backends.translate_fast import fast_plan
    assert fast_plan(sql, "db") is None


def test_describe_columns_without_running(db):
    assert db.describe_columns("SELECT id, name, n + 1 FROM t WHERE id = ?") == \
        [("id", ColumnType.LONGLONG), ("name", ColumnType.VAR_STRING), ("n + 1", ColumnType.VAR_STRING)]
    assert db.describe_columns("SELECT SLEEP(1)") == [("SLEEP(1)", ColumnType.LONGLONG)]
    assert db.describe_columns("UPDATE t SET n = ? WHERE id = ?") == []
    assert db.describe_columns("SHOW TABLES") == []
    assert db.describe_columns("SELECT * FROM nope") == []
    x(db, "SELECT SLEEP(0)")  # and nothing ran: no rows were read, the statement still works
    assert rows(db, "SELECT id, name, n + 1 FROM t WHERE id = ?", [1]) == [(1, "a", 2)]


def test_read_only_transaction(db):
    x(db, "START TRANSACTION READ ONLY")
    assert rows(db, "SELECT COUNT(*) FROM t") == [(3,)]
    e = err(db, "UPDATE t SET n = 0")
    assert (e.code, e.sqlstate) == (1792, "25006")
    x(db, "COMMIT")
    x(db, "START TRANSACTION READ WRITE, WITH CONSISTENT SNAPSHOT")
    assert x(db, "UPDATE t SET n = 0").affected_rows == 3
    x(db, "COMMIT")
