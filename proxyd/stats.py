"""In-memory statistics the data path updates cheaply and the stats tables show on read.

Counting costs a dict lookup and a few integer adds per statement; the ``stats_*`` tables are
rebuilt from these structures only when an admin statement names them.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass

from proxyd.schema import COMMAND_KINDS

#: Upper bounds (µs) of the latency buckets of stats_mysql_commands_counters; above the last: cnt_INFs.
BUCKETS_US = (100, 500, 1_000, 5_000, 10_000, 50_000, 100_000, 500_000, 1_000_000, 5_000_000, 10_000_000)


class CommandCounters:
    def __init__(self) -> None:
        # per kind: [total_time_us, total_cnt, *12 buckets]
        self.rows: dict[str, list[int]] = {k: [0] * 14 for k in COMMAND_KINDS}

    def record(self, kind: str, elapsed_us: int) -> list[int]:
        """Count one statement of ``kind``; its row (callers may keep it and :meth:`add` to it)."""
        row = self.rows.get(kind) or self.rows["UNKNOWN"]
        self.add(row, elapsed_us)
        return row

    @staticmethod
    def add(row: list[int], elapsed_us: int) -> None:
        row[0] += elapsed_us
        row[1] += 1
        row[2 + bisect_left(BUCKETS_US, elapsed_us)] += 1

    def table_rows(self) -> list[tuple]:
        return [(k, *v) for k, v in self.rows.items()]


@dataclass(slots=True)
class DigestEntry:
    digest_text: str
    count_star: int = 0
    first_seen: int = 0
    last_seen: int = 0
    sum_time: int = 0
    min_time: int = 0
    max_time: int = 0
    sum_rows_affected: int = 0
    sum_rows_sent: int = 0

    def add(self, elapsed_us: int, rows_affected: int, rows_sent: int) -> None:
        self.count_star += 1
        self.last_seen = int(time.time())
        self.sum_time += elapsed_us
        if elapsed_us < self.min_time:
            self.min_time = elapsed_us
        if elapsed_us > self.max_time:
            self.max_time = elapsed_us
        self.sum_rows_affected += rows_affected
        self.sum_rows_sent += rows_sent


DigestKey = tuple[int, str, str, str, str]  # hostgroup, schema, user, client address, digest


class DigestStats:
    def __init__(self) -> None:
        self.entries: dict[DigestKey, DigestEntry] = {}

    def record(self, key: DigestKey, digest_text: str, elapsed_us: int, rows_affected: int,
               rows_sent: int) -> DigestEntry:
        """Count one statement; its entry (valid while ``entries`` is this same dict: a reset
        replaces it)."""
        e = self.entries.get(key)
        if e is None:
            e = self.entries[key] = DigestEntry(digest_text, first_seen=int(time.time()), min_time=elapsed_us)
        e.add(elapsed_us, rows_affected, rows_sent)
        return e

    def table_rows(self, reset: bool = False) -> list[tuple]:
        rows = [(hg, schema, user, addr, digest, e.digest_text, e.count_star, e.first_seen, e.last_seen, e.sum_time,
                 e.min_time, e.max_time, e.sum_rows_affected, e.sum_rows_sent)
                for (hg, schema, user, addr, digest), e in self.entries.items()]
        if reset:
            self.entries = {}
        return rows

    def reset(self) -> None:
        self.entries = {}


class Stats:
    """Everything the stats schema shows for the core."""

    def __init__(self) -> None:
        self.started = time.time()
        self.commands = CommandCounters()
        self.digests = DigestStats()
        self.globals: Counter[str] = Counter()

    def global_rows(self, gauges: dict[str, int] | None = None) -> list[tuple]:
        values = {"Uptime": int(time.time() - self.started), **self.globals, **(gauges or {})}
        return [(k, str(v)) for k, v in sorted(values.items())]
