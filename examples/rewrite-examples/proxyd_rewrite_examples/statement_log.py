"""``statement_log``: what the client sent next to what reached the backend.

A ``before_execution`` observer that keeps the last ``statement_log-size`` statements of the SQL
port in memory and shows them, oldest first, in ``stats.stats_statement_log`` (filled only when
somebody reads it). Handy to see what rewrite plugins did; the rewriter's tests read it.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from proxyd.hookspecs import hookimpl
from proxyd.variables import int_range

LOG_DDL = """CREATE TABLE stats_statement_log (
    seq INTEGER NOT NULL PRIMARY KEY,
    connection_id INTEGER NOT NULL,
    username VARCHAR NOT NULL,
    schemaname VARCHAR,
    original_sql VARCHAR NOT NULL,
    sent_sql VARCHAR NOT NULL)"""


class StatementLog:
    PROXYD_ABI = ">=1.0,<2"

    def __init__(self) -> None:
        self.services: Any = None
        self.seq = 0
        self.entries: deque[tuple] = deque(maxlen=100)

    @hookimpl
    def init(self, services: Any) -> None:
        self.services = services
        services.register_variable("statement_log-size", 100, check=int_range(1, 100000),
                                   doc="statements kept in stats_statement_log")
        services.register_table("stats", "stats_statement_log", LOG_DDL, refresh=self.refresh)

    @hookimpl
    def before_execution(self, ctx: Any) -> None:
        self.seq += 1
        self.entries.append((self.seq, ctx.connection_id, ctx.user, ctx.schema, ctx.original_sql, ctx.sql))

    def refresh(self) -> None:
        size = int(self.services.get_variable("statement_log-size"))
        if self.entries.maxlen != size:
            self.entries = deque(self.entries, maxlen=size)
        db = self.services.stats_db
        db.execute("DELETE FROM stats.stats_statement_log")
        for row in self.entries:
            db.execute("INSERT INTO stats.stats_statement_log VALUES (?, ?, ?, ?, ?, ?)", row)
