"""Rows per second scanned from a Wasm foreign table, against the same rows in a local table.

    python bench/wasm_fdw_bench.py [--rows 20000] [--rounds 5] [--batches 16,256,1024]

One proxyd (wasm plugin, embedded backend). The foreign table ``bench.nums`` is served by the C
example guest ``examples/wasm/fdw/c/series.c`` (generated rows ``[id, "row-<id>", id % 100]``, no
HTTP), the local table ``bench.local_nums`` holds the same rows. Two statements per table, through the
SQL port with PyMySQL, rounds alternating between the tables; medians:

* **scan in the server**: ``SELECT COUNT(*), SUM(bucket), MAX(LENGTH(name)) FROM t`` — every row and
  column crosses the guest boundary, one row goes to the client;
* **fetch to the client**: ``SELECT * FROM t`` — adds the wire protocol and PyMySQL's decoding,
  which are the same for both tables.

The foreign table is also timed at several ``wasm-fdw_batch_rows`` settings (rows per ``fdw_iter_scan``
call), which shows what batching buys. Needs clang + wasm-ld for the guest. Never fails on timing.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pymysql

from bench._common import ProxydProcess, machine_line

REPO = Path(__file__).resolve().parent.parent
SCAN = "SELECT COUNT(*), SUM(bucket), MAX(LENGTH(name)) FROM bench.{t}"
FETCH = "SELECT * FROM bench.{t}"


def _build_module():
    spec = importlib.util.spec_from_file_location("fdw_build", REPO / "examples" / "wasm" / "fdw" / "build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def timed(conn, sql: str) -> float:
    with conn.cursor() as c:
        t0 = time.perf_counter()
        c.execute(sql)
        c.fetchall()
        return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batches", default="16,256,1024", help="wasm-fdw_batch_rows values to time")
    args = ap.parse_args()
    build = _build_module()
    if not build.have_c_toolchain():
        print("skipped: the series guest needs clang with the wasm32 target and wasm-ld (Debian: clang lld)")
        return
    print(machine_line())
    with ProxydProcess(plugins=("wasm",)) as p:
        guest = build.build_c(REPO / "examples" / "wasm" / "fdw" / "c" / "series.c", p.dir)
        p.spawn()
        p.wait_ready()
        admin = p.admin()
        with admin.cursor() as c:
            c.execute("INSERT INTO wasm_fdw_servers (server_name, module_url, module_sha256, options) VALUES "
                      "('series', %s, %s, %s)", (f"file://{guest}", hashlib.sha256(guest.read_bytes()).hexdigest(),
                                                 f'{{"count":"{args.rows}"}}'))
            c.execute("INSERT INTO wasm_fdw_tables (schema_name, table_name, server_name, columns) VALUES "
                      "('bench', 'nums', 'series', 'id BIGINT, name VARCHAR(32), bucket INT')")
            c.execute("LOAD WASM FDW TO RUNTIME")
        sql = pymysql.connect(host="127.0.0.1", port=p.sql_port, user="proxyd", password="proxyd",
                              autocommit=True, ssl_disabled=True)
        with sql.cursor() as c:
            c.execute("CREATE TABLE bench.local_nums (id BIGINT PRIMARY KEY, name VARCHAR(32), bucket INT)")
            for start in range(1, args.rows + 1, 1000):
                rows = ",".join(f"({i},'row-{i}',{i % 100})" for i in range(start, min(start + 1000, args.rows + 1)))
                c.execute(f"INSERT INTO bench.local_nums VALUES {rows}")
            c.execute(SCAN.format(t="nums"))
            foreign_check = c.fetchall()
            c.execute(SCAN.format(t="local_nums"))
            assert c.fetchall() == foreign_check, "the two tables must hold the same rows"

        batches = [int(b) for b in args.batches.split(",")]
        samples: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.rounds + 1):  # the first round warms up and is dropped
            for batch in batches:
                with admin.cursor() as c:
                    c.execute(f"SET wasm-fdw_batch_rows = '{batch}'")
                    c.execute("LOAD WASM VARIABLES TO RUNTIME")
                for kind, stmt in (("scan", SCAN), ("fetch", FETCH)):
                    samples.setdefault((kind, f"foreign, batch_rows={batch}"), []).append(timed(sql, stmt.format(t="nums")))
            for kind, stmt in (("scan", SCAN), ("fetch", FETCH)):
                samples.setdefault((kind, "local table"), []).append(timed(sql, stmt.format(t="local_nums")))
        sql.close()
        admin.close()

    n = args.rows
    for kind, title in (("scan", "scan in the server (one result row)"), ("fetch", "fetch every row to the client")):
        print(f"\n{title}, {n} rows, median of {args.rounds} rounds:")
        local = statistics.median(samples[(kind, "local table")][1:])
        print(f"  {'local table':<28} {n / local:>12,.0f} rows/s   (baseline)")
        for batch in batches:
            t = statistics.median(samples[(kind, f"foreign, batch_rows={batch}")][1:])
            print(f"  {f'foreign, batch_rows={batch}':<28} {n / t:>12,.0f} rows/s   "
                  f"{local / t:5.2f}x the local rate ({t / local:.1f}x the time)")


if __name__ == "__main__":
    main()
