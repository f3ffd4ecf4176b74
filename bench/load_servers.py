#!/usr/bin/env python3
"""Tier moves of MYSQL SERVERS with 10,000 rows in ``mysql_servers``, over the admin port.

A proxyd (core alone, fresh datadir) is started; 10,000 rows are inserted into ``mysql_servers`` over
the admin port in batches; then each statement below is timed N times (client round trip, median):

* ``LOAD MYSQL SERVERS TO RUNTIME``  (MEMORY -> RUNTIME: read, validate, build the snapshot, swap)
* ``SAVE MYSQL SERVERS TO DISK``     (MEMORY -> DISK: full replace in the on-disk proxyd.db)
* ``LOAD MYSQL SERVERS FROM DISK``   (DISK -> MEMORY)
* ``SELECT COUNT(*) FROM runtime_mysql_servers`` (refreshes the runtime projection, then counts)

Baselines measured in the same run:

* ``SELECT 1`` over the same admin connection: the protocol round trip every figure includes;
* raw apsw, in this process: ``DELETE`` + ``INSERT … SELECT`` of the 10,000 rows between two tables
  of the ``mysql_servers`` shape: memory -> memory, memory -> an attached file (what SAVE … TO DISK
  does) and file -> memory (what LOAD … FROM DISK does). The ratio to it shows what proxyd adds on
  top of SQLite's own copy.

Target: LOAD MYSQL SERVERS TO RUNTIME under 200 ms. Printed, never enforced.

    python bench/load_servers.py [-n 7] [--rows 10000] [--profile]

``--profile`` also runs the statements in-process under cProfile (no network) and prints the top entries.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import apsw

from _common import ProxydProcess, machine_line, median_ms, spread_ms

TARGET_LOAD_MS = 200.0
BATCH = 500

STATEMENTS = [
    "LOAD MYSQL SERVERS TO RUNTIME",
    "SAVE MYSQL SERVERS TO DISK",
    "LOAD MYSQL SERVERS FROM DISK",
    "SELECT COUNT(*) FROM runtime_mysql_servers",
]


def server_rows(n: int) -> list[tuple]:
    """n distinct servers: hostgroups of 100, addresses 10.x.y.z, a few statuses and weights."""
    statuses = ("ONLINE", "ONLINE", "ONLINE", "SHUNNED", "OFFLINE_SOFT")
    return [(i // 100, f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", 3306, 0, statuses[i % 5], 1 + i % 10,
             0, 1000, 0, 0, 0, f"bench server {i}") for i in range(n)]


INSERT = ("INSERT INTO mysql_servers (hostgroup_id, hostname, port, gtid_port, status, weight, compression, "
          "max_connections, max_replication_lag, use_ssl, max_latency_ms, comment) VALUES ")


def sql_values(rows: list[tuple]) -> str:
    def lit(v):
        return str(v) if isinstance(v, int) else "'" + str(v).replace("'", "''") + "'"
    return ",".join("(" + ",".join(lit(v) for v in r) + ")" for r in rows)


def fill(cur, n: int) -> float:
    rows = server_rows(n)
    t0 = time.perf_counter()
    cur.execute("DELETE FROM mysql_servers")
    for i in range(0, n, BATCH):
        cur.execute(INSERT + sql_values(rows[i:i + BATCH]))
    return time.perf_counter() - t0


def time_statement(cur, sql: str) -> float:
    t0 = time.perf_counter()
    cur.execute(sql)
    cur.fetchall()
    return time.perf_counter() - t0


RAW_COPIES = {"memory": ("memory", "memory"), "to file": ("memory", "file"), "from file": ("file", "memory")}


def raw_apsw_copy(n: int, runs: int, direction: str) -> list[float]:
    """DELETE + INSERT … SELECT of n rows between two tables of the mysql_servers shape."""
    from proxyd.schema import MYSQL_SERVERS

    src_kind, dst_kind = RAW_COPIES[direction]
    with tempfile.TemporaryDirectory() as d:
        conn = apsw.Connection(":memory:")
        for name, kind in (("src", src_kind), ("dst", dst_kind)):
            path = os.path.join(d, f"{name}.db") if kind == "file" else ":memory:"
            conn.execute(f"ATTACH DATABASE '{path}' AS {name}")
            conn.execute(MYSQL_SERVERS.replace("CREATE TABLE mysql_servers", f"CREATE TABLE {name}.t"))
        with conn:
            conn.executemany("INSERT INTO src.t VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", server_rows(n))
        out = []
        for _ in range(runs):
            t0 = time.perf_counter()
            with conn:
                conn.execute("DELETE FROM dst.t")
                conn.execute("INSERT INTO dst.t SELECT * FROM src.t")
            out.append(time.perf_counter() - t0)
            assert conn.execute("SELECT COUNT(*) FROM dst.t").fetchall()[0][0] == n
        conn.close()
        return out


def baseline_for(sql: str) -> str:
    if "TO DISK" in sql:
        return "to file"
    if "FROM DISK" in sql:
        return "from file"
    return "memory"


def profile_in_process(n: int) -> None:
    """The same statements through the admin frontend in this process, under cProfile."""
    import asyncio
    import cProfile
    import pstats

    from proxyd.config import load_config
    from proxyd.daemon import Daemon

    with ProxydProcess() as p:  # only for its cnf and temporary datadir; no process is started
        daemon = Daemon(load_config(str(p.cnf)), str(p.datadir), no_plugins=True)
        daemon.boot()
        admin = daemon.admin
        session = admin.new_session(type("C", (), {"client_host": "127.0.0.1", "client_port": 0})(),
                                    admin.lookup_account("admin", "127.0.0.1"))

        async def run(sql: str):
            (res,) = await admin.execute(session, sql)
            if isinstance(res, Exception):
                raise res
            return res

        async def main():
            await run("DELETE FROM mysql_servers")
            rows = server_rows(n)
            for i in range(0, n, BATCH):
                await run(INSERT + sql_values(rows[i:i + BATCH]))
            for sql in STATEMENTS:
                await run(sql)  # warm
                prof = cProfile.Profile()
                prof.enable()
                await run(sql)
                prof.disable()
                print(f"\n--- cProfile: {sql} ---")
                pstats.Stats(prof).sort_stats("cumulative").print_stats(18)

        asyncio.run(main())
        daemon.core.store.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--runs", type=int, default=7, help="runs per statement (default 7)")
    ap.add_argument("--rows", type=int, default=10_000, help="rows in mysql_servers (default 10000)")
    ap.add_argument("--profile", action="store_true", help="also profile the statements in-process")
    args = ap.parse_args()
    n = args.rows

    print(f"proxyd MYSQL SERVERS tier benchmark, {n} rows, {args.runs} runs per statement — {machine_line()}")
    with ProxydProcess(extra_args=("--no-plugins",)) as p:
        p.spawn()
        p.wait_ready()
        conn = p.admin()
        cur = conn.cursor()
        fill_s = fill(cur, n)
        cur.execute("SELECT COUNT(*) FROM mysql_servers")
        assert int(cur.fetchall()[0][0]) == n
        print(f"filled mysql_servers over the admin port in {fill_s * 1000:.0f} ms "
              f"({n // BATCH} INSERTs of {BATCH} rows)")
        for sql in STATEMENTS:  # warm-up, and a check that each one works
            time_statement(cur, sql)
        cur.execute("SELECT COUNT(*) FROM runtime_mysql_servers")
        assert int(cur.fetchall()[0][0]) == n, "runtime_mysql_servers does not hold every row"
        samples: dict[str, list[float]] = {s: [] for s in ["SELECT 1", *STATEMENTS]}
        raw: dict[str, list[float]] = {d: [] for d in RAW_COPIES}
        for _ in range(args.runs):  # round-robin with the in-process baselines
            for sql in samples:
                samples[sql].append(time_statement(cur, sql))
            for d in raw:
                raw[d] += raw_apsw_copy(n, 1, d)
        conn.close()

    print()
    print(f"{'statement':48} {'median ms':>10} {'min..max':>14}  {'x raw copy':>10}  target")
    print(f"{'baseline: SELECT 1 (admin round trip)':48} {median_ms(samples['SELECT 1']):10.1f} "
          f"{spread_ms(samples['SELECT 1']):>14}")
    for d, s in raw.items():
        print(f"{'baseline: apsw DELETE+INSERT…SELECT, ' + d:48} {median_ms(s):10.1f} {spread_ms(s):>14}")
    for sql in STATEMENTS:
        m = median_ms(samples[sql])
        base = median_ms(raw[baseline_for(sql)])
        line = f"{sql:48} {m:10.1f} {spread_ms(samples[sql]):>14}  {m / base:10.1f}"
        if sql == "LOAD MYSQL SERVERS TO RUNTIME":
            line += f"  < {TARGET_LOAD_MS:.0f} ms ({'ok' if m < TARGET_LOAD_MS else 'MISSED'})"
        print(line)
    print()
    print("'x raw copy' = the statement's median / the raw apsw copy's median (to file for SAVE … TO DISK, "
          "from file for LOAD … FROM DISK, memory otherwise)")
    if args.profile:
        profile_in_process(n)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
