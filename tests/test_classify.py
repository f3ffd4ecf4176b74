"""Statement kinds (spec §4 command kinds) and plan names."""

from __future__ import annotations

import pytest

from proxyd.classify import plan_name, statement_kind
from proxyd.schema import COMMAND_KINDS

# At least one statement per command kind (and the variants each kind has to see through).
CASES: dict[str, list[str]] = {
    "ALTER_TABLE": ["ALTER TABLE t ADD COLUMN c INT", "alter ignore table t drop c",
                    "ALTER ONLINE TABLE t ADD INDEX (a)"],
    "ALTER_VIEW": ["ALTER VIEW v AS SELECT 1",
                   "ALTER ALGORITHM=MERGE DEFINER=`root`@`%` SQL SECURITY INVOKER VIEW v AS SELECT 1"],
    "ANALYZE_TABLE": ["ANALYZE TABLE t", "ANALYZE NO_WRITE_TO_BINLOG TABLE t1, t2", "analyze local table t"],
    "BEGIN": ["BEGIN", "begin work", "BEGIN;"],
    "CALL": ["CALL p(1, 'a')", "call db.p"],
    "CHANGE_MASTER": ["CHANGE MASTER TO MASTER_HOST='h'", "CHANGE REPLICATION SOURCE TO SOURCE_HOST='h'"],
    "COMMIT": ["COMMIT", "commit work and no chain", "COMMIT;"],
    "CREATE_DATABASE": ["CREATE DATABASE d", "CREATE SCHEMA IF NOT EXISTS d"],
    "CREATE_INDEX": ["CREATE INDEX i ON t (a)", "CREATE UNIQUE INDEX i ON t (a)", "CREATE FULLTEXT INDEX i ON t (b)",
                     "CREATE SPATIAL INDEX i ON t (g)"],
    "CREATE_TABLE": ["CREATE TABLE t (a INT)", "create table if not exists t like u",
                     "CREATE OR REPLACE TABLE t (a int)",
                     "CREATE TABLE t AS SELECT * FROM u FOR UPDATE"],
    "CREATE_TEMPORARY": ["CREATE TEMPORARY TABLE t (a INT)", "create temporary table if not exists t select 1"],
    "CREATE_TRIGGER": ["CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.a = 1",
                       "CREATE DEFINER = 'user'@'%' TRIGGER tr AFTER UPDATE ON t FOR EACH ROW BEGIN END",
                       "CREATE DEFINER=user@localhost TRIGGER tr AFTER DELETE ON t FOR EACH ROW DO 1"],
    "CREATE_USER": ["CREATE USER 'u'@'%' IDENTIFIED BY 'p'", "create user if not exists u"],
    "CREATE_VIEW": ["CREATE VIEW v AS SELECT 1", "CREATE OR REPLACE VIEW v AS SELECT 1",
                    "CREATE ALGORITHM=UNDEFINED DEFINER=CURRENT_USER SQL SECURITY DEFINER VIEW v AS SELECT 1"],
    "DEALLOCATE": ["DEALLOCATE PREPARE s", "DROP PREPARE s"],
    "DELETE": ["DELETE FROM t WHERE id = 1", "delete low_priority quick ignore from t", "DELETE t1 FROM t1 JOIN t2"],
    "DESCRIBE": ["DESCRIBE t", "DESC t", "desc db.t c", "EXPLAIN t", "EXPLAIN `select`", "describe select_log"],
    "DROP_DATABASE": ["DROP DATABASE d", "DROP SCHEMA IF EXISTS d"],
    "DROP_INDEX": ["DROP INDEX i ON t"],
    "DROP_TABLE": ["DROP TABLE t", "drop table if exists t1, t2", "DROP TEMPORARY TABLE t"],
    "DROP_TRIGGER": ["DROP TRIGGER IF EXISTS tr"],
    "DROP_USER": ["DROP USER 'u'@'%'"],
    "DROP_VIEW": ["DROP VIEW IF EXISTS v"],
    "EXECUTE": ["EXECUTE s USING @a, @b", "execute s"],
    "EXPLAIN": ["EXPLAIN SELECT 1", "EXPLAIN FORMAT=JSON SELECT * FROM t", "EXPLAIN ANALYZE SELECT 1",
                "DESCRIBE SELECT * FROM t", "desc update t set a = 1", "EXPLAIN (SELECT 1)", "EXPLAIN FOR CONNECTION 5",
                "EXPLAIN EXTENDED SELECT 1", "EXPLAIN WITH c AS (SELECT 1) SELECT * FROM c"],
    "FLUSH": ["FLUSH PRIVILEGES", "flush tables with read lock"],
    "GRANT": ["GRANT SELECT ON *.* TO 'u'@'%'"],
    "INSERT": ["INSERT INTO t VALUES (1)", "insert ignore into t set a = 1",
               "INSERT INTO t SELECT * FROM u FOR UPDATE"],
    "KILL": ["KILL 5", "KILL QUERY 5", "kill connection 7"],
    "LOAD": ["LOAD DATA INFILE 'f' INTO TABLE t", "LOAD XML LOCAL INFILE 'f' INTO TABLE t"],
    "LOCK_TABLE": ["LOCK TABLES t READ", "lock table t write, u read"],
    "OPTIMIZE": ["OPTIMIZE TABLE t", "optimize no_write_to_binlog table t"],
    "PREPARE": ["PREPARE s FROM 'SELECT ?'"],
    "PURGE": ["PURGE BINARY LOGS TO 'mysql-bin.010'", "PURGE MASTER LOGS BEFORE NOW()"],
    "RELEASE_SAVEPOINT": ["RELEASE SAVEPOINT sp1"],
    "RENAME_TABLE": ["RENAME TABLE a TO b", "rename tables a to b, c to d"],
    "RESET_MASTER": ["RESET MASTER", "RESET BINARY LOGS AND GTIDS"],
    "RESET_SLAVE": ["RESET SLAVE", "RESET SLAVE ALL", "RESET REPLICA"],
    "REPLACE": ["REPLACE INTO t VALUES (1)", "replace t set a = 1"],
    "REVOKE": ["REVOKE SELECT ON *.* FROM 'u'@'%'"],
    "ROLLBACK": ["ROLLBACK", "rollback work", "ROLLBACK AND NO CHAIN"],
    "ROLLBACK_SAVEPOINT": ["ROLLBACK TO sp1", "ROLLBACK TO SAVEPOINT sp1", "rollback work to savepoint sp1"],
    "SAVEPOINT": ["SAVEPOINT sp1"],
    "SELECT": ["SELECT 1", "select * from t where a = 'for update'", "(SELECT 1) UNION (SELECT 2)",
               "((select 1))", "SELECT * FROM t -- FOR UPDATE", "SELECT `for update` FROM t",
               "SELECT * FROM t WHERE c = \"LOCK IN SHARE MODE\"", "SELECT 1; SELECT * FROM t FOR UPDATE",
               "WITH c AS (SELECT 1) SELECT * FROM c",
               "WITH RECURSIVE c (n) AS (SELECT 1 UNION ALL SELECT n+1 FROM c) SELECT n FROM c",
               "TABLE t", "VALUES ROW(1, 2)", "SELECT for_update FROM t"],
    "SELECT_FOR_UPDATE": ["SELECT * FROM t WHERE id = 1 FOR UPDATE", "select * from t for\nupdate nowait",
                          "SELECT * FROM t LOCK IN SHARE MODE", "SELECT * FROM t FOR SHARE SKIP LOCKED",
                          "WITH c AS (SELECT 1) SELECT * FROM c FOR UPDATE", "(SELECT * FROM t FOR UPDATE)"],
    "SET": ["SET autocommit = 0", "SET NAMES utf8mb4", "set session transaction isolation level read committed",
            "/*!40101 SET NAMES utf8 */", "/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE */;"],
    "SHOW_TABLE_STATUS": ["SHOW TABLE STATUS", "show table status from db like 't%'"],
    "SHOW": ["SHOW TABLES", "SHOW FULL PROCESSLIST", "show create table t", "SHOW VARIABLES LIKE 'x'", "SHOW TABLE"],
    "START_TRANSACTION": ["START TRANSACTION", "start transaction read only",
                          "START TRANSACTION WITH CONSISTENT SNAPSHOT"],
    "TRUNCATE_TABLE": ["TRUNCATE TABLE t", "truncate t"],
    "UNLOCK_TABLES": ["UNLOCK TABLES", "unlock table"],
    "UPDATE": ["UPDATE t SET a = 1", "update low_priority t set a = 1",
               "WITH c AS (SELECT id FROM u) UPDATE t JOIN c USING (id) SET t.a = 1"],
    "USE": ["USE db", "use `my db`"],
    "UNKNOWN": ["", "   ", "/* only a comment */", "DO 1", "HANDLER t OPEN", "XA START 'x'",
                "CREATE PROCEDURE p() BEGIN END",
                "DROP FUNCTION f", "ALTER USER u IDENTIFIED BY 'p'", "ALTER DATABASE d CHARACTER SET utf8mb4",
                "START SLAVE", "LOCK INSTANCE FOR BACKUP", "RENAME USER a TO b", "RESET QUERY CACHE",
                "CHECKSUM TABLE t", "CHANGE REPLICATION FILTER REPLICATE_DO_DB = (d)", "RELEASE sp", "42",
                "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO SELECT 1",
                "CREATE SPATIAL REFERENCE SYSTEM 4120 NAME 'Greek'"],
}


def test_every_kind_is_covered():
    assert set(CASES) == set(COMMAND_KINDS)
    assert len(COMMAND_KINDS) == 54


@pytest.mark.parametrize("kind,sql", [(k, q) for k, qs in CASES.items() for q in qs])
def test_statement_kind(kind, sql):
    assert statement_kind(sql) == kind


@pytest.mark.parametrize("prefix", [
    "/* c */ ", "/* c */", "  \n\t", "-- c\n", "# c\n", "/* a */ -- b\n # c\n /* d */ ", "(", "( /* c */ (",
    "/*+ hint */ ",
])
def test_leading_noise_is_skipped(prefix):
    assert statement_kind(prefix + "SELECT 1") == "SELECT"
    assert statement_kind(prefix + "update t set a = 1") == "UPDATE"


def test_results_are_command_kinds():
    for qs in CASES.values():
        for q in qs:
            assert statement_kind(q) in COMMAND_KINDS


PLANS = {
    "SELECT": "Select", "SELECT_FOR_UPDATE": "Select", "INSERT": "Insert", "REPLACE": "Replace", "UPDATE": "Update",
    "DELETE": "Delete", "SET": "Set", "SHOW": "Show", "SHOW_TABLE_STATUS": "Show", "BEGIN": "Begin",
    "START_TRANSACTION": "Begin", "COMMIT": "Commit", "ROLLBACK": "Rollback", "SAVEPOINT": "Savepoint",
    "RELEASE_SAVEPOINT": "Release", "ROLLBACK_SAVEPOINT": "RollbackSavepoint", "USE": "Use", "LOAD": "Load",
    "FLUSH": "Flush", "LOCK_TABLE": "LockTables", "UNLOCK_TABLES": "UnlockTables", "CALL": "CallProcedure",
    "DESCRIBE": "OtherRead", "EXPLAIN": "OtherRead", "ALTER_TABLE": "DDL", "ALTER_VIEW": "DDL",
    "CREATE_DATABASE": "DDL", "CREATE_INDEX": "DDL", "CREATE_TABLE": "DDL", "CREATE_TEMPORARY": "DDL",
    "CREATE_TRIGGER": "DDL", "CREATE_VIEW": "DDL", "DROP_DATABASE": "DDL", "DROP_INDEX": "DDL", "DROP_TABLE": "DDL",
    "DROP_TRIGGER": "DDL", "DROP_VIEW": "DDL", "RENAME_TABLE": "DDL", "TRUNCATE_TABLE": "DDL",
    "ANALYZE_TABLE": "OtherAdmin", "OPTIMIZE": "OtherAdmin", "CHANGE_MASTER": "OtherAdmin",
    "RESET_MASTER": "OtherAdmin",
    "RESET_SLAVE": "OtherAdmin", "PURGE": "OtherAdmin", "KILL": "OtherAdmin", "GRANT": "OtherAdmin",
    "REVOKE": "OtherAdmin", "CREATE_USER": "OtherAdmin", "DROP_USER": "OtherAdmin", "PREPARE": "Other",
    "EXECUTE": "Other", "DEALLOCATE": "Other", "UNKNOWN": "Other",
}


def test_plan_names():
    assert set(PLANS) == set(COMMAND_KINDS)
    for kind, plan in PLANS.items():
        assert plan_name(kind) == plan, kind
    assert plan_name("NOT_A_KIND") == "Other"


def test_plan_name_of_classified_statements():
    assert plan_name(statement_kind("select * from t for update")) == "Select"
    assert plan_name(statement_kind("CREATE TABLE t (a int)")) == "DDL"
    assert plan_name(statement_kind("rollback to sp")) == "RollbackSavepoint"
