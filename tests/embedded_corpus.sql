-- Corpus of realistic MySQL statements for the embedded (SQLite) backend, run in order in one
-- session by tests/test_embedded_corpus.py. A statement ends with ";" at the end of a line; the
-- "-- <keyword> ..." lines after it say what it must produce:
--   -- ok N [id N] [warnings [codes]]   an OK packet: affected rows, last insert id, warning codes
--   -- rows <JSON>                      a result set's rows (JSON lists; null for NULL)
--   -- columns <JSON>                   a result set's column names
--   -- error CODE [SQLSTATE]            a ProxydError with that MySQL code (and SQLSTATE)
--   -- params <JSON>                    run as a prepared statement with these parameters
-- Other "--" lines are comments.

-- == schema setup ==========================================================================
SELECT DATABASE();
-- rows [[null]]
SELECT * FROM t;
-- error 1046 3D000
CREATE DATABASE corpus;
-- ok 1
CREATE DATABASE corpus;
-- error 1007 HY000
CREATE DATABASE IF NOT EXISTS corpus;
-- ok 0 warnings [1007]
USE nosuchdb;
-- error 1049 42000
USE corpus;
-- ok 0
SELECT DATABASE(), VERSION() LIKE '8.0%';
-- rows [["corpus", 1]]

-- == sysbench oltp_read_write: prepare ===================================================
DROP TABLE IF EXISTS sbtest1;
-- ok 0 warnings [1051]
CREATE TABLE sbtest1(
  id INTEGER NOT NULL AUTO_INCREMENT,
  k INTEGER DEFAULT '0' NOT NULL,
  c CHAR(120) DEFAULT '' NOT NULL,
  pad CHAR(60) DEFAULT '' NOT NULL,
  PRIMARY KEY (id)
) /*! ENGINE = innodb */;
-- ok 0
INSERT INTO sbtest1(k, c, pad) VALUES(5014, '68487932199-96439406143-93774651418-41631865787-96406072701-20604855487-25459966574-28203206787-41238978918-19503783441', '22195207048-70116052123-74140395089-76317954521-98694025897'),(4994, '13241531885-45658403807-79170748828-69419634012-13605813761-77983377181-01582588137-21344716829-87370944992-02457486289', '28733802923-10548894641-11867531929-71265603657-36546888392'),(5009, '51185622598-89397522786-28007882305-52050087550-68686337807-48942386476-96555734557-05264042377-33586177817-31986479495', '00592560354-80393027097-78244247549-39135306455-88936868384'),(4993, '54133149494-75722987476-23015721680-47254589498-40242947469-55055884969-23675271222-20181439230-74473404563-55407972672', '88488171626-98596569412-94026374972-58040528656-38000028170');
-- ok 4 id 1
CREATE INDEX k_1 ON sbtest1(k);
-- ok 0
SELECT COUNT(*) FROM sbtest1;
-- rows [[4]]

-- == sysbench oltp_read_write: one transaction (text protocol) =============================
BEGIN;
-- ok 0
SELECT c FROM sbtest1 WHERE id=2;
-- rows [["13241531885-45658403807-79170748828-69419634012-13605813761-77983377181-01582588137-21344716829-87370944992-02457486289"]]
SELECT c FROM sbtest1 WHERE id BETWEEN 1 AND 3;
-- columns ["c"]
SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN 1 AND 4;
-- columns ["SUM(k)"]
-- rows [[20010]]
SELECT c FROM sbtest1 WHERE id BETWEEN 2 AND 3 ORDER BY c;
-- rows [["13241531885-45658403807-79170748828-69419634012-13605813761-77983377181-01582588137-21344716829-87370944992-02457486289"], ["51185622598-89397522786-28007882305-52050087550-68686337807-48942386476-96555734557-05264042377-33586177817-31986479495"]]
SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN 1 AND 4 ORDER BY c LIMIT 1;
-- rows [["13241531885-45658403807-79170748828-69419634012-13605813761-77983377181-01582588137-21344716829-87370944992-02457486289"]]
UPDATE sbtest1 SET k=k+1 WHERE id=3;
-- ok 1
UPDATE sbtest1 SET c='04516960513-73154226498-77342453428-92853271785-42283285768-68622024651-85493713359-26698963733-23456097484-79519004434' WHERE id=4;
-- ok 1
DELETE FROM sbtest1 WHERE id=1;
-- ok 1
INSERT INTO sbtest1 (id, k, c, pad) VALUES (1, 5003, '35838262127-15432587813-50545283932-50138802208-45651208154-14617543183-07532637214-66961289223-02788519089-15563394718', '97034434018-54624357898-25574640962-31224289787-63960585380');
-- ok 1 id 1
COMMIT;
-- ok 0
SELECT k FROM sbtest1 WHERE id=3;
-- rows [[5010]]

-- == the same in prepared-statement mode ==================================================
SELECT c FROM sbtest1 WHERE id=?;
-- params [4]
-- rows [["04516960513-73154226498-77342453428-92853271785-42283285768-68622024651-85493713359-26698963733-23456097484-79519004434"]]
SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN ? AND ?;
-- params [1, 2]
-- rows [[9997]]
UPDATE sbtest1 SET k=k+1 WHERE id=?;
-- params [2]
-- ok 1
DELETE FROM sbtest1 WHERE id=?;
-- params [2]
-- ok 1
INSERT INTO sbtest1 (id, k, c, pad) VALUES (?, ?, ?, ?);
-- params [2, 4995, "x", "y"]
-- ok 1 id 2
SELECT id, k FROM sbtest1 WHERE id = ? OR c = ?;
-- params [2, "' OR 1=1 --"]
-- rows [[2, 4995]]

-- == an application schema ================================================================
CREATE TABLE users (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  email VARCHAR(191) NOT NULL,
  name VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci DEFAULT NULL,
  status ENUM('active','banned') NOT NULL DEFAULT 'active',
  score DOUBLE NOT NULL DEFAULT 0,
  balance DECIMAL(10,2) NOT NULL DEFAULT '0.00',
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TIMESTAMP NULL DEFAULT NULL ON UPDATE CURRENT_TIMESTAMP,
  UNIQUE KEY uniq_email (email),
  KEY idx_status (status)
) ENGINE=InnoDB AUTO_INCREMENT=1000 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci COMMENT='app users';
-- ok 0
CREATE TABLE `orders` (
  `id` BIGINT(20) UNSIGNED NOT NULL AUTO_INCREMENT,
  `user_id` INT UNSIGNED NOT NULL,
  `total` DECIMAL(12,2) NOT NULL,
  `placed_at` DATETIME NOT NULL,
  PRIMARY KEY (`id`),
  KEY `idx_user` (`user_id`),
  CONSTRAINT `fk_orders_user` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
-- ok 0
CREATE TABLE users (id INT);
-- error 1050 42S01
CREATE TABLE IF NOT EXISTS users (id INT);
-- ok 0 warnings [1050]
INSERT INTO users (email, name, score) VALUES ('ann@example.com', 'Ann', 9.5), ('bob@example.com', 'Bob', 7), ('cy@example.com', NULL, 3.25);
-- ok 3 id 1000
SELECT LAST_INSERT_ID();
-- rows [[1000]]
INSERT INTO users (email, name) VALUES ('ANN@example.com', 'Ann again');
-- error 1062 23000
INSERT INTO users (email) VALUES (NULL);
-- error 1048 23000
INSERT INTO users (email, status) VALUES ('dee@example.com', 'deleted');
-- error 1265
INSERT IGNORE INTO users (email, name) VALUES ('bob@example.com', 'Bob 2'), ('dee@example.com', 'Dee');
-- ok 1 warnings [1062]
INSERT INTO users (id, email, name) VALUES (1000, 'ann@example.com', 'Annie') ON DUPLICATE KEY UPDATE name = VALUES(name), score = score + 1;
-- ok 2
SELECT name, score FROM users WHERE id = 1000;
-- rows [["Annie", 10.5]]
REPLACE INTO users (id, email, name) VALUES (1001, 'bob@example.com', 'Robert');
-- ok 1
INSERT INTO orders (user_id, total, placed_at) VALUES (1000, 19.99, '2024-01-05 10:00:00'), (1000, 5.00, '2024-02-01 12:30:00'), (1001, 42.50, '2024-02-03 08:15:00');
-- ok 3 id 1
INSERT INTO orders (user_id, total, placed_at) VALUES (4242, 1, '2024-01-01');
-- error 1452 23000
SELECT u.name, COUNT(o.id) AS orders, ROUND(SUM(o.total), 2) AS spent FROM users u LEFT JOIN orders o ON o.user_id = u.id GROUP BY u.id, u.name HAVING orders > 0 ORDER BY spent DESC;
-- columns ["name", "orders", "spent"]
-- rows [["Robert", 1, 42.5], ["Annie", 2, 24.99]]
SELECT id, email FROM users WHERE name LIKE 'a%' ORDER BY id;
-- rows [[1000, "ann@example.com"]]
SELECT id FROM users WHERE name IS NULL;
-- rows [[1002]]
SELECT email FROM users WHERE id IN (SELECT user_id FROM orders WHERE total > 10) ORDER BY email;
-- rows [["ann@example.com"], ["bob@example.com"]]
SELECT status, COUNT(*) FROM users GROUP BY status;
-- rows [["active", 4]]
SELECT id, email FROM users ORDER BY id LIMIT 1, 2;
-- rows [[1001, "bob@example.com"], [1002, "cy@example.com"]]
SELECT id FROM users ORDER BY id DESC LIMIT 2 OFFSET 1;
-- rows [[1002], [1001]]
SELECT 1 + 1, 'abc', 10 / 4, 10 DIV 4, 10 MOD 4, NULL;
-- columns ["1 + 1", "abc", "10 / 4", "10 DIV 4", "10 MOD 4", "NULL"]
-- rows [[2, "abc", 2.5, 2, 2, null]]
SELECT CONCAT('a', 'b', 1), CONCAT('a', NULL), CONCAT_WS('-', 'x', NULL, 'y'), IFNULL(NULL, 'd'), IF(2 > 1, 'yes', 'no');
-- rows [["ab1", null, "x-y", "d", "yes"]]
SELECT DATE_ADD('2024-01-31', INTERVAL 1 MONTH), DATE_SUB('2024-03-01 00:30:00', INTERVAL 1 HOUR), '2024-12-31' + INTERVAL 1 DAY;
-- rows [["2024-02-29", "2024-02-29 23:30:00", "2025-01-01"]]
SELECT DATE_FORMAT(placed_at, '%Y-%m'), COUNT(*) FROM orders GROUP BY DATE_FORMAT(placed_at, '%Y-%m') ORDER BY 1;
-- rows [["2024-01", 1], ["2024-02", 2]]
SELECT YEAR(placed_at), MONTH(placed_at), DAYOFMONTH(placed_at), HOUR(placed_at) FROM orders WHERE id = 3;
-- rows [[2024, 2, 3, 8]]
SELECT DATEDIFF('2024-03-01', '2024-02-01'), TIMESTAMPDIFF(HOUR, '2024-01-01 00:00:00', '2024-01-02 06:00:00');
-- rows [[29, 30]]
SELECT NOW() IS NOT NULL, CURDATE() = DATE(NOW()), UNIX_TIMESTAMP() > 1700000000;
-- rows [[1, 1, 1]]
SELECT LEFT('proxyd', 2), RIGHT('proxyd', 1), UPPER('a'), LCASE('B'), LENGTH('héllo'), CHAR_LENGTH('héllo'), MD5('');
-- rows [["pr", "d", "A", "b", 6, 5, "d41d8cd98f00b204e9800998ecf8427e"]]
SELECT GREATEST(3, 7, 5), LEAST('b', 'a'), COALESCE(NULL, NULL, 3), NULLIF(2, 2), ABS(-4), ROUND(2.567, 1), FLOOR(2.7), CEIL(2.1);
-- rows [[7, "a", 3, null, 4, 2.6, 2, 3]]
SELECT CAST('42abc' AS UNSIGNED), CAST(12.345 AS DECIMAL(6,2)), CAST(7 AS CHAR), CAST('2024-05-06 07:08:09' AS DATE);
-- rows [[42, 12.35, "7", "2024-05-06"]]
SELECT CASE status WHEN 'active' THEN 'A' ELSE 'B' END AS st FROM users WHERE id = 1000;
-- rows [["A"]]
SELECT GROUP_CONCAT(name ORDER BY name SEPARATOR ', ') FROM users WHERE name IS NOT NULL;
-- rows [["Annie, Dee, Robert"]]
-- text columns compare case-insensitively (MySQL's default _ci collation); LIKE too
SELECT COUNT(*) FROM users WHERE name = 'ANNIE';
-- rows [[1]]
SELECT 'abc' LIKE 'A_C', 'x_y' LIKE 'x\_y', 'xay' LIKE 'x\_y';
-- rows [[1, 1, 0]]
SELECT 1 FROM DUAL WHERE 1 = 1;
-- rows [[1]]
SELECT id FROM users WHERE id = 1000 FOR UPDATE;
-- rows [[1000]]
UPDATE users SET score = score * 2 WHERE status = 'active' ORDER BY id LIMIT 2;
-- ok 2
DELETE FROM orders WHERE user_id = 1000 ORDER BY placed_at LIMIT 1;
-- ok 1
SELECT COUNT(*) FROM orders;
-- rows [[2]]
UPDATE users u JOIN orders o ON o.user_id = u.id SET u.score = 0 WHERE o.total > 40;
-- ok 1
SELECT score FROM users WHERE id = 1001;
-- rows [[0.0]]
SELECT nosuchcolumn FROM users;
-- error 1054 42S22
SELECT * FROM nosuchtable;
-- error 1146 42S02
SELECT * FROM nosuchdb.t;
-- error 1146 42S02
SELEKT 1;
-- error 1064 42000
SELECT * FROM users WHERE;
-- error 1064 42000
INSERT INTO users (email, name) VALUES ('only-one-value');
-- error 1136 21S01

-- == variables and session statements ====================================================
SET NAMES utf8mb4;
-- ok 0
SET SESSION sql_mode = 'STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION';
-- ok 0
SELECT @@sql_mode, @@autocommit, @@session.tx_isolation;
-- rows [["STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION", 1, "REPEATABLE-READ"]]
SET @total = (SELECT COUNT(*) FROM users), @label = 'users';
-- ok 0
SELECT @label, @total;
-- rows [["users", 4]]
SELECT @@no_such_variable;
-- error 1193 HY000

-- == transactions =========================================================================
START TRANSACTION;
-- ok 0
-- the row INSERT IGNORE skipped used up an id, as with InnoDB
INSERT INTO users (email) VALUES ('tx@example.com');
-- ok 1 id 1005
SAVEPOINT sp1;
-- ok 0
DELETE FROM users WHERE email = 'tx@example.com';
-- ok 1
ROLLBACK TO SAVEPOINT sp1;
-- ok 0
SELECT COUNT(*) FROM users WHERE email = 'tx@example.com';
-- rows [[1]]
ROLLBACK;
-- ok 0
SELECT COUNT(*) FROM users WHERE email = 'tx@example.com';
-- rows [[0]]
ROLLBACK TO SAVEPOINT nosuch;
-- error 1305 42000
SET autocommit = 0;
-- ok 0
UPDATE users SET name = 'Temp' WHERE id = 1002;
-- ok 1
ROLLBACK;
-- ok 0
SET autocommit = 1;
-- ok 0
SELECT name FROM users WHERE id = 1002;
-- rows [[null]]

-- == catalog ==============================================================================
SHOW TABLES;
-- columns ["Tables_in_corpus"]
-- rows [["orders"], ["sbtest1"], ["users"]]
SHOW FULL TABLES LIKE 'user%';
-- rows [["users", "BASE TABLE"]]
DESCRIBE sbtest1;
-- rows [["id", "int", "NO", "PRI", null, "auto_increment"], ["k", "int", "NO", "MUL", "0", ""], ["c", "char(120)", "NO", "", "", ""], ["pad", "char(60)", "NO", "", "", ""]]
SHOW COLUMNS FROM users LIKE 'status';
-- rows [["status", "enum('active','banned')", "NO", "MUL", "active", ""]]
SHOW INDEX FROM orders;
-- columns ["Table", "Non_unique", "Key_name", "Seq_in_index", "Column_name", "Collation", "Cardinality", "Sub_part", "Packed", "Null", "Index_type", "Comment", "Index_comment", "Visible", "Expression"]
SHOW DATABASES;
-- rows [["information_schema"], ["corpus"]]
SHOW VARIABLES LIKE 'autocommit';
-- rows [["autocommit", "ON"]]
SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'corpus' ORDER BY TABLE_NAME;
-- rows [["orders", "BASE TABLE"], ["sbtest1", "BASE TABLE"], ["users", "BASE TABLE"]]
SELECT COLUMN_NAME, DATA_TYPE, IS_NULLABLE, COLUMN_KEY FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'orders' ORDER BY ORDINAL_POSITION;
-- rows [["id", "int", "NO", "PRI"], ["user_id", "int", "NO", "MUL"], ["total", "decimal", "NO", ""], ["placed_at", "datetime", "NO", ""]]
SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'corpus';
-- rows [["corpus"]]

-- == what mysqldump and connectors send =================================================
/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
-- ok 0
/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */;
-- ok 0
LOCK TABLES `users` WRITE;
-- ok 0
/*!40000 ALTER TABLE `users` DISABLE KEYS */;
-- ok 0
/*!40000 ALTER TABLE `users` ENABLE KEYS */;
-- ok 0
UNLOCK TABLES;
-- ok 0
/*!40014 SET FOREIGN_KEY_CHECKS=@OLD_FOREIGN_KEY_CHECKS */;
-- ok 0
SELECT @@session.auto_increment_increment AS auto_increment_increment, @@character_set_client AS character_set_client, @@max_allowed_packet AS max_allowed_packet, @@lower_case_table_names AS lower_case_table_names;
-- columns ["auto_increment_increment", "character_set_client", "max_allowed_packet", "lower_case_table_names"]
-- rows [[1, "utf8mb4", 67108864, 2]]
SHOW COLLATION WHERE Charset = 'utf8mb4' AND Collation = 'utf8mb4_bin';
-- rows [["utf8mb4_bin", "utf8mb4", 46, "", "Yes", 1, "PAD SPACE"]]
SELECT CAST('test plain returns' AS CHAR(60)) AS anon_1;
-- rows [["test plain returns"]]
(SELECT id FROM users WHERE id = 1000) UNION ALL (SELECT id FROM users WHERE id = 1001) ORDER BY id DESC;
-- rows [[1001], [1000]]
SELECT status, COUNT(*) FROM users GROUP BY status WITH ROLLUP;
-- error 1235 42000

-- == DDL changes ==========================================================================
ALTER TABLE users ADD COLUMN age TINYINT UNSIGNED NOT NULL DEFAULT 0 AFTER name, ADD INDEX idx_age (age);
-- ok 0
ALTER TABLE users MODIFY score DOUBLE NULL;
-- ok 0
ALTER TABLE users DROP INDEX idx_age;
-- ok 0
ALTER TABLE users DROP INDEX idx_age;
-- error 1091 42000
SELECT age, score FROM users WHERE id = 1000;
-- rows [[0, 21.0]]
TRUNCATE TABLE orders;
-- ok 0
INSERT INTO orders (user_id, total, placed_at) VALUES (1000, 1, '2024-06-01');
-- ok 1 id 1
CREATE VIEW big_spenders AS SELECT user_id, SUM(total) AS spent FROM orders GROUP BY user_id;
-- ok 0
SELECT * FROM big_spenders;
-- rows [[1000, 1]]
DROP VIEW big_spenders;
-- ok 0
DROP TABLE orders, nosuch;
-- error 1051 42S02
DROP TABLE IF EXISTS orders, nosuch;
-- ok 0 warnings [1051]
DROP TABLE IF EXISTS sbtest1;
-- ok 0
DROP DATABASE corpus;
-- ok 1
SELECT DATABASE();
-- rows [[null]]
