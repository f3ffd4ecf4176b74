"""Micro-benchmark of the embedded backend: µs per statement through ``EmbeddedSession.execute`` next
to raw apsw on the same table (same file, WAL, same ``synchronous``), measured in the same run.

    python bench/embedded_bench.py [--rows 10000] [--seconds 1.0]

Figures: a sysbench point select and a sysbench non-index UPDATE (autocommit), each in text form
(literals in the SQL: scan + cached plan + bindings) and prepared form (``?`` + parameters), and
the cost of a statement shape seen for the first time (translation by the sqlglot-free fast path
of ``translate_fast``, and by sqlglot). The ratio to raw
apsw is the figure to watch; the machines are shared and noisy, so nothing here fails on timing.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Awaitable, Callable

import apsw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import machine_line  # noqa: E402
from proxyd.backends.embedded import EmbeddedEngine  # noqa: E402

CREATE = ("CREATE TABLE sbtest1(id INTEGER NOT NULL AUTO_INCREMENT, k INTEGER DEFAULT '0' NOT NULL, "
          "c CHAR(120) DEFAULT '' NOT NULL, pad CHAR(60) DEFAULT '' NOT NULL, PRIMARY KEY (id)) /*! ENGINE = innodb */")


def best_us(fn: Callable[[int], None], seconds: float) -> float:
    """Best of timed batches, µs per call; ``fn(i)`` runs call number i."""
    n = 64
    while True:
        t0 = time.perf_counter()
        for i in range(n):
            fn(i)
        dt = time.perf_counter() - t0
        if dt > seconds / 10:
            break
        n *= 2
    best = dt / n
    deadline = time.perf_counter() + seconds
    base = n
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        for i in range(base, base + n):
            fn(i)
        best = min(best, (time.perf_counter() - t0) / n)
        base += n
    return best * 1e6


async def best_us_async(fn: Callable[[int], Awaitable[object]], seconds: float) -> float:
    n = 64
    while True:
        t0 = time.perf_counter()
        for i in range(n):
            await fn(i)
        dt = time.perf_counter() - t0
        if dt > seconds / 10:
            break
        n *= 2
    best = dt / n
    deadline = time.perf_counter() + seconds
    base = n
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        for i in range(base, base + n):
            await fn(i)
        best = min(best, (time.perf_counter() - t0) / n)
        base += n
    return best * 1e6


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10000)
    ap.add_argument("--seconds", type=float, default=1.0, help="measuring time per figure")
    args = ap.parse_args()
    rows = args.rows

    tmp = tempfile.mkdtemp(prefix="proxyd-embedded-bench-")
    engine = EmbeddedEngine(tmp)
    s = engine.session()
    try:
        await s.execute("CREATE DATABASE sbtest")
        await s.execute("USE sbtest")
        await s.execute(CREATE)
        values = ",".join(f"({i % 1000}, '{i:011d}-{'c' * 107}', '{i:011d}-{'p' * 47}')" for i in range(1, rows + 1))
        t0 = time.perf_counter()
        await s.execute("INSERT INTO sbtest1(k, c, pad) VALUES" + values)
        load_ms = (time.perf_counter() - t0) * 1e3

        raw = apsw.Connection(engine.path("sbtest"))
        raw.execute(f"PRAGMA synchronous={engine.synchronous}")
        cur = raw.cursor()

        def key(i: int) -> int:
            return (i * 7919) % rows + 1

        figures: list[tuple[str, float, float]] = []

        async def text_select(i: int) -> object:
            return await s.execute(f"SELECT c FROM sbtest1 WHERE id={key(i)}")

        async def prep_select(i: int) -> object:
            return await s.execute("SELECT c FROM sbtest1 WHERE id=?", (key(i),))

        def raw_select(i: int) -> None:
            cur.execute("SELECT c FROM sbtest1 WHERE id=?", (key(i),)).fetchall()

        async def text_update(i: int) -> object:
            return await s.execute(f"UPDATE sbtest1 SET k=k+1 WHERE id={key(i)}")

        async def prep_update(i: int) -> object:
            return await s.execute("UPDATE sbtest1 SET k=k+1 WHERE id=?", (key(i),))

        def raw_update(i: int) -> None:
            cur.execute("UPDATE sbtest1 SET k=k+1 WHERE id=?", (key(i),))

        raw_sel = best_us(raw_select, args.seconds)
        figures.append(("point select, text", await best_us_async(text_select, args.seconds), raw_sel))
        figures.append(("point select, prepared", await best_us_async(prep_select, args.seconds), raw_sel))
        raw_upd = best_us(raw_update, args.seconds)
        figures.append(("UPDATE k=k+1, text", await best_us_async(text_update, args.seconds), raw_upd))
        figures.append(("UPDATE k=k+1, prepared", await best_us_async(prep_update, args.seconds), raw_upd))

        # a statement shape never seen before: translated by the fast path, or by sqlglot
        first: dict[bool, float] = {}
        await s.execute("SELECT c, pad FROM sbtest1 WHERE id BETWEEN 1 AND 2")  # imports, warm-up
        for fast in (True, False):
            engine.translator.fast = fast
            samples = []
            for j in range(7):
                engine.translator.clear()
                t0 = time.perf_counter()
                await s.execute(f"SELECT c, pad FROM sbtest1 WHERE id BETWEEN {j} AND {j + 10} ORDER BY c LIMIT 3")
                samples.append((time.perf_counter() - t0) * 1e6)
            first[fast] = statistics.median(samples)
        engine.translator.fast = True
        raw.close()
    finally:
        s.close()
        engine.close()
        shutil.rmtree(tmp, ignore_errors=True)

    print(machine_line())
    print(f"table: {rows} sbtest rows (multi-row INSERT in {load_ms:.0f} ms); synchronous={engine.synchronous}")
    print(f"{'statement':<26}{'session µs':>12}{'raw apsw µs':>13}{'ratio':>8}")
    for name, ours, base in figures:
        print(f"{name:<26}{ours:>12.1f}{base:>13.1f}{ours / base:>8.2f}")
    print(f"first execution of a new statement shape: {first[True]:.0f} µs with the sqlglot-free fast path, "
          f"{first[False]:.0f} µs through sqlglot (median of 7)")


if __name__ == "__main__":
    asyncio.run(main())
