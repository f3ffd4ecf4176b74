"""DDL of the core admin tables (ProxySQL's columns and checks)."""

MYSQL_SERVERS = """CREATE TABLE mysql_servers (
    hostgroup_id INT CHECK (hostgroup_id>=0) NOT NULL DEFAULT 0,
    hostname VARCHAR NOT NULL,
    port INT CHECK (port >= 0 AND port <= 65535) NOT NULL DEFAULT 3306,
    gtid_port INT CHECK ((gtid_port <> port OR gtid_port=0) AND gtid_port >= 0 AND gtid_port <= 65535) NOT NULL DEFAULT 0,
    status VARCHAR CHECK (UPPER(status) IN ('ONLINE','SHUNNED','OFFLINE_SOFT','OFFLINE_HARD')) NOT NULL DEFAULT 'ONLINE',
    weight INT CHECK (weight >= 0 AND weight <=10000000) NOT NULL DEFAULT 1,
    compression INT CHECK (compression IN (0,1)) NOT NULL DEFAULT 0,
    max_connections INT CHECK (max_connections >=0) NOT NULL DEFAULT 1000,
    max_replication_lag INT CHECK (max_replication_lag >= 0 AND max_replication_lag <= 126144000) NOT NULL DEFAULT 0,
    use_ssl INT CHECK (use_ssl IN(0,1)) NOT NULL DEFAULT 0,
    max_latency_ms INT UNSIGNED CHECK (max_latency_ms>=0) NOT NULL DEFAULT 0,
    comment VARCHAR NOT NULL DEFAULT '',
    PRIMARY KEY (hostgroup_id, hostname, port) )"""

MYSQL_USERS = """CREATE TABLE mysql_users (
    username VARCHAR NOT NULL,
    password VARCHAR,
    active INT CHECK (active IN (0,1)) NOT NULL DEFAULT 1,
    use_ssl INT CHECK (use_ssl IN (0,1)) NOT NULL DEFAULT 0,
    default_hostgroup INT NOT NULL DEFAULT 0,
    default_schema VARCHAR,
    schema_locked INT CHECK (schema_locked IN (0,1)) NOT NULL DEFAULT 0,
    transaction_persistent INT CHECK (transaction_persistent IN (0,1)) NOT NULL DEFAULT 1,
    fast_forward INT CHECK (fast_forward IN (0,1)) NOT NULL DEFAULT 0,
    backend INT CHECK (backend IN (0,1)) NOT NULL DEFAULT 1,
    frontend INT CHECK (frontend IN (0,1)) NOT NULL DEFAULT 1,
    max_connections INT CHECK (max_connections >=0) NOT NULL DEFAULT 10000,
    attributes VARCHAR CHECK (JSON_VALID(attributes) OR attributes = '') NOT NULL DEFAULT '',
    comment VARCHAR NOT NULL DEFAULT '',
    PRIMARY KEY (username, backend),
    UNIQUE (username, frontend))"""

MYSQL_GROUP_REPLICATION_HOSTGROUPS = """CREATE TABLE mysql_group_replication_hostgroups (
    writer_hostgroup INT CHECK (writer_hostgroup>=0) NOT NULL PRIMARY KEY,
    backup_writer_hostgroup INT CHECK (backup_writer_hostgroup>=0 AND backup_writer_hostgroup<>writer_hostgroup) NOT NULL,
    reader_hostgroup INT NOT NULL CHECK (reader_hostgroup<>writer_hostgroup AND backup_writer_hostgroup<>reader_hostgroup AND reader_hostgroup>0),
    offline_hostgroup INT NOT NULL CHECK (offline_hostgroup<>writer_hostgroup AND offline_hostgroup<>reader_hostgroup AND backup_writer_hostgroup<>offline_hostgroup AND offline_hostgroup>=0),
    active INT CHECK (active IN (0,1)) NOT NULL DEFAULT 1,
    max_writers INT NOT NULL CHECK (max_writers >= 0) DEFAULT 1,
    writer_is_also_reader INT CHECK (writer_is_also_reader IN (0,1,2)) NOT NULL DEFAULT 0,
    max_transactions_behind INT CHECK (max_transactions_behind>=0) NOT NULL DEFAULT 0,
    comment VARCHAR,
    UNIQUE (reader_hostgroup),
    UNIQUE (offline_hostgroup),
    UNIQUE (backup_writer_hostgroup))"""

GLOBAL_VARIABLES = """CREATE TABLE global_variables (
    variable_name VARCHAR NOT NULL PRIMARY KEY,
    variable_value VARCHAR NOT NULL)"""

RUNTIME_PLUGINS = """CREATE TABLE runtime_plugins (
    name VARCHAR NOT NULL PRIMARY KEY,
    version VARCHAR NOT NULL,
    distribution VARCHAR NOT NULL,
    state VARCHAR NOT NULL,
    status_json VARCHAR NOT NULL)"""

_DIGEST_COLS = """(
    hostgroup INT,
    schemaname VARCHAR NOT NULL,
    username VARCHAR NOT NULL,
    client_address VARCHAR NOT NULL,
    digest VARCHAR NOT NULL,
    digest_text VARCHAR NOT NULL,
    count_star INTEGER NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    sum_time INTEGER NOT NULL,
    min_time INTEGER NOT NULL,
    max_time INTEGER NOT NULL,
    sum_rows_affected INTEGER NOT NULL,
    sum_rows_sent INTEGER NOT NULL,
    PRIMARY KEY(hostgroup, schemaname, username, client_address, digest))"""

_POOL_COLS = """(
    hostgroup VARCHAR, srv_host VARCHAR, srv_port VARCHAR, status VARCHAR,
    ConnUsed INT, ConnFree INT, ConnOK INT, ConnERR INT, MaxConnUsed INT, Queries INT,
    Queries_GTID_sync INT, Bytes_data_sent INT, Bytes_data_recv INT, Latency_us INT)"""

STATS_TABLES = {
    "stats_mysql_query_digest": "CREATE TABLE stats_mysql_query_digest " + _DIGEST_COLS,
    "stats_mysql_query_digest_reset": "CREATE TABLE stats_mysql_query_digest_reset " + _DIGEST_COLS,
    "stats_mysql_commands_counters": """CREATE TABLE stats_mysql_commands_counters (
    Command VARCHAR NOT NULL PRIMARY KEY, Total_Time_us INT NOT NULL, Total_cnt INT NOT NULL,
    cnt_100us INT NOT NULL, cnt_500us INT NOT NULL, cnt_1ms INT NOT NULL, cnt_5ms INT NOT NULL,
    cnt_10ms INT NOT NULL, cnt_50ms INT NOT NULL, cnt_100ms INT NOT NULL, cnt_500ms INT NOT NULL,
    cnt_1s INT NOT NULL, cnt_5s INT NOT NULL, cnt_10s INT NOT NULL, cnt_INFs INT NOT NULL)""",
    "stats_mysql_connection_pool": "CREATE TABLE stats_mysql_connection_pool " + _POOL_COLS,
    "stats_mysql_connection_pool_reset": "CREATE TABLE stats_mysql_connection_pool_reset " + _POOL_COLS,
    "stats_mysql_global": """CREATE TABLE stats_mysql_global (
    Variable_Name VARCHAR NOT NULL PRIMARY KEY, Variable_Value VARCHAR NOT NULL)""",
    "stats_mysql_processlist": """CREATE TABLE stats_mysql_processlist (
    ThreadID INT NOT NULL, SessionID INTEGER PRIMARY KEY, user VARCHAR, db VARCHAR, cli_host VARCHAR,
    cli_port INT, hostgroup INT, l_srv_host VARCHAR, l_srv_port INT, srv_host VARCHAR, srv_port INT,
    command VARCHAR, time_ms INT NOT NULL, info VARCHAR, status_flags INT, extended_info VARCHAR)""",
}

#: The 54 command kinds of stats_mysql_commands_counters, in ProxySQL's order.
COMMAND_KINDS = """ALTER_TABLE ALTER_VIEW ANALYZE_TABLE BEGIN CALL CHANGE_MASTER COMMIT CREATE_DATABASE
CREATE_INDEX CREATE_TABLE CREATE_TEMPORARY CREATE_TRIGGER CREATE_USER CREATE_VIEW DEALLOCATE DELETE
DESCRIBE DROP_DATABASE DROP_INDEX DROP_TABLE DROP_TRIGGER DROP_USER DROP_VIEW EXECUTE EXPLAIN FLUSH
GRANT INSERT KILL LOAD LOCK_TABLE OPTIMIZE PREPARE PURGE RELEASE_SAVEPOINT RENAME_TABLE RESET_MASTER
RESET_SLAVE REPLACE REVOKE ROLLBACK ROLLBACK_SAVEPOINT SAVEPOINT SELECT SELECT_FOR_UPDATE SET
SHOW_TABLE_STATUS SHOW START_TRANSACTION TRUNCATE_TABLE UNLOCK_TABLES UPDATE USE UNKNOWN""".split()
