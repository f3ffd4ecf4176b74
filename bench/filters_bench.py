"""What the filter engine costs a statement, next to no filters, in one run.

    python bench/filters_bench.py [--seconds 1.0] [--statements 2000] [--rounds 5] [--no-e2e]

Two parts:

* **hook** (in-process): µs per statement for building the statement's context, its digest and kind
  (which the SQL port computes for every statement anyway) and the plugin's ``before_execution`` and
  ``after_execution``. Cases: no filters (the baseline); 1,000 active filters none of which matches
  (plans, tables, templates and user regexes that this traffic never meets); 100 ``query_regex``
  filters none of which matches (every statement's text goes through one RE2 set); and the same
  100 plus one matching CONTINUE filter (the chain actually runs). Literals change on every call, as
  in real traffic, so the digest cache is hit but the statement text differs. The overhead column is
  the case minus the baseline: the target is ≤ 10 µs with 1,000 non-matching filters.
* **end to end**: a real proxyd per case (embedded backend) and a PyMySQL client sending point selects
  over the SQL port; median µs per statement over ``--rounds`` rounds run round-robin, as ratios to
  the same proxyd with the filters plugin and no filters, and to the core with no plugins.

Nothing here fails on timing: the machines are shared and noisy, so read the ratios.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import ProxydProcess, hook_and_e2e_main
from bench._common import best_us_alternating as best_us
from plugins.filters.model import from_fields
from plugins.filters.plugin import FiltersPlugin
from proxyd.digest import DigestOptions
from proxyd.pipeline import QueryContext

SCHEMA = "sbtest"
POINT_SELECT = "SELECT c FROM sbtest1 WHERE id = {}"


def non_matching_rows(n: int = 1000) -> list[dict[str, Any]]:
    """``n`` filters of four shapes, none of which a point select on sbtest.sbtest1 by user app meets."""
    rows: list[dict[str, Any]] = []
    for i in range(n):
        row: dict[str, Any] = {"name": f"nm{i:04d}", "action": "FAIL", "priority": i}
        shape = i % 4
        if shape == 0:
            row["fully_qualified_table_names"] = f"db{i}.t{i}"
        elif shape == 1:
            row["plans"], row["fully_qualified_table_names"] = "Select", f"sbtest.other{i}"
        elif shape == 2:
            row["query_template"] = f"select c{i} from sbtest1 where id = :id"
        else:
            row["plans"], row["user_regex"] = "Select", f"^batch_user_{i}$"
        rows.append(row)
    return rows


def regex_rows(n: int = 100) -> list[dict[str, Any]]:
    return [{"name": f"rx{i:03d}", "action": "FAIL", "query_regex": rf"(?i)from\s+audit_{i}\b.*where"}
            for i in range(n)]


MATCHING_CONTINUE = {"name": "watch", "action": "CONTINUE", "plans": "Select", "query_regex": "sbtest1"}


# -- in-process: the hooks ------------------------------------------------------------------------------
def plugin_with(rows: list[dict[str, Any]]) -> FiltersPlugin:
    plugin = FiltersPlugin()  # no services: the registry falls back to the built-in actions
    plugin.runtime.refresh_actions()
    plugin.runtime.install(plugin.runtime.build([from_fields(r) for r in rows]))
    assert len(plugin.runtime.current.live) == len(rows)
    return plugin


def hook_part(seconds: float) -> None:
    options = DigestOptions()

    def statement(plugin: FiltersPlugin) -> Callable[[int], object]:
        def run(i: int) -> object:
            ctx = QueryContext(POINT_SELECT.format(i % 100003), user="app", client_address="127.0.0.1:50000",
                               schema=SCHEMA, digest_options=options)
            ctx.digest, ctx.kind  # noqa: B018  (the SQL port computes both for every statement)
            out = plugin.before_execution(ctx)
            plugin.after_execution(ctx)
            return out
        return run

    cases = [("no filters", plugin_with([])),
             ("1000 filters, none matches", plugin_with(non_matching_rows())),
             ("100 query_regex filters, none matches", plugin_with(regex_rows())),
             ("100 regex + 1 matching CONTINUE", plugin_with([*regex_rows(), MATCHING_CONTINUE]))]
    for _, plugin in cases:  # every case answers as intended
        assert statement(plugin)(1) is None
    probe = QueryContext(POINT_SELECT.format(5), user="app", schema=SCHEMA)
    assert [f.name for f in cases[3][1].runtime.current.match(probe)] == ["watch"]
    assert cases[1][1].runtime.current.match(probe) == ()

    print(f"\nhook (context + digest + kind + before/after_execution), best batch of {seconds:.1f} s per case")
    print(f"{'case':<40}{'µs/stmt':>10}{'overhead µs':>13}{'ratio':>8}")
    timings = best_us([statement(plugin) for _, plugin in cases], seconds)
    base = timings[0]
    for (label, _), us in zip(cases, timings):
        print(f"{label:<40}{us:>10.2f}{us - base:>13.2f}{us / base:>8.2f}")

    # a digest seen for the first time: the plan-level pass over every filter (then cached)
    plugin = cases[1][1]
    t0 = time.perf_counter()
    n = 200
    for i in range(n):
        ctx = QueryContext(f"SELECT c{i}x FROM sbtest1 WHERE id = 1", user="app", schema=SCHEMA)
        plugin.before_execution(ctx)
    cold = (time.perf_counter() - t0) / n * 1e6
    print(f"{'1000 filters, first statement of a digest':<40}{cold:>10.2f}  (once per digest and schema)")
    print("target: overhead ≤ 10 µs with 1,000 active filters none of which matches")


# -- end to end -----------------------------------------------------------------------------------------
def load_filters(p: ProxydProcess, rows: list[dict[str, Any]]) -> None:
    with p.admin() as adm, adm.cursor() as cur:
        for r in rows:
            cols = ", ".join(r)
            cur.execute(f"INSERT INTO filters ({cols}) VALUES ({', '.join(['%s'] * len(r))})", tuple(r.values()))
        cur.execute("LOAD FILTERS TO RUNTIME")
        cur.execute("SELECT count(*) FROM runtime_filters")
        assert int(cur.fetchone()[0]) == len(rows)


def e2e_part(statements: int, rounds: int) -> None:
    import pymysql

    cases = {"core, no plugins": ((), []), "filters, no filters": (("filters",), []),
             "filters, 1000 non-matching": (("filters",), non_matching_rows()),
             "filters, 100 regex non-matching": (("filters",), regex_rows())}
    procs = {name: ProxydProcess(plugins) for name, (plugins, _) in cases.items()}
    try:
        for p in procs.values():
            p.spawn()
        clients = {}
        for name, p in procs.items():
            p.wait_ready()
            if cases[name][1]:
                load_filters(p, cases[name][1])
            c = pymysql.connect(host="127.0.0.1", port=p.sql_port, user="proxyd", password="proxyd", autocommit=True,
                                ssl_disabled=True)
            with c.cursor() as cur:
                cur.execute("CREATE DATABASE IF NOT EXISTS sbtest")
                cur.execute("USE sbtest")
                cur.execute("CREATE TABLE sbtest1 (id INT PRIMARY KEY, k INT, c CHAR(120), pad CHAR(60))")
                cur.execute("INSERT INTO sbtest1 VALUES " + ", ".join(f"({i}, {i}, 'c{i}', 'p{i}')"
                                                                      for i in range(1, 1001)))
            clients[name] = c
        samples: dict[str, list[float]] = {name: [] for name in procs}
        for r in range(rounds + 1):  # round 0 warms up
            for name, c in clients.items():
                with c.cursor() as cur:
                    t0 = time.perf_counter()
                    for i in range(statements):
                        cur.execute(POINT_SELECT.format(i % 1000 + 1))
                        cur.fetchall()
                    dt = (time.perf_counter() - t0) / statements
                if r:
                    samples[name].append(dt * 1e6)
        core, empty = (statistics.median(samples[n]) for n in list(procs)[:2])
        print(f"\nend to end over the SQL port: {statements} point selects per round, median of {rounds} rounds")
        print(f"{'case':<36}{'µs/stmt':>10}{'vs no filters':>15}{'vs core':>9}")
        for name in procs:
            us = statistics.median(samples[name])
            print(f"{name:<36}{us:>10.1f}{us / empty:>15.3f}{us / core:>9.3f}")
        for c in clients.values():
            c.close()
    finally:
        for p in procs.values():
            p.stop()


def main() -> None:
    hook_and_e2e_main(__doc__.splitlines()[0], [hook_part], e2e_part)


if __name__ == "__main__":
    main()
