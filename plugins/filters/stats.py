"""``stats.stats_filters``: per-filter counters, refilled whenever an admin statement reads it."""

from __future__ import annotations

from typing import Any

from plugins.filters.runtime import FilterRuntime

STATS_DDL = """CREATE TABLE stats_filters (
    name VARCHAR NOT NULL PRIMARY KEY,
    action VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    live INT NOT NULL,
    matches INT NOT NULL,
    failed INT NOT NULL,
    answered INT NOT NULL,
    replaced INT NOT NULL,
    queued INT NOT NULL,
    rejected INT NOT NULL,
    wait_time_us INT NOT NULL,
    running INT NOT NULL,
    max_running INT NOT NULL)"""


def refresh(runtime: FilterRuntime, stats_db: Any) -> None:
    stats_db.execute("DELETE FROM stats.stats_filters")
    for f in runtime.current.filters:
        s = f.stats
        stats_db.execute("INSERT INTO stats.stats_filters VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                         (f.name, f.definition.action, f.definition.status, int(f.live), s.matches, s.failed,
                          s.answered, s.replaced, s.queued, s.rejected, s.wait_us, s.running, s.max_running))
