"""What the rewriter costs a statement with 1,000 enabled rules, next to no rules, in one run.

    python bench/rewriter_bench.py [--seconds 1.0] [--statements 2000] [--rounds 5] [--no-e2e]

Two parts:

* **hook** (in-process): µs per statement for building the statement's context, its digest (which
  the SQL port computes for every statement anyway) and the rewriter's two per-statement hooks
  (``post_parse``, ``before_execution``). Cases: no rewriter at all, the rewriter with no rules,
  1,000 rules and a statement that matches none, 1,000 rules and a statement that matches one (and
  is rewritten). "overhead" is the case minus the no-rewriter case, the figure the target
  (≤ 10 µs for a statement matching no rule) is about; ratios are to the rewriter with no rules.
  Literals change on every call, as in real traffic.
* **end to end**: a real proxyd per case (embedded backend) and a PyMySQL client sending point
  selects over the SQL port; median µs per statement over ``--rounds`` rounds run round-robin, as
  ratios to the same proxyd with the rewriter loaded and no rules, and to the core with no plugins.

Rules: ``SELECT c<i> FROM sbtest1 WHERE id = ?`` for i = 1..999 (999 distinct keys that a
``SELECT c …`` never hits) plus ``SELECT c FROM sbtest1 WHERE id = ?`` → ``… LIMIT 1``. Nothing here
fails on timing: the machines are shared and noisy, so read the ratios.
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
from plugins.rewriter.plugin import TABLE, RewriterPlugin
from proxyd.digest import DigestOptions
from proxyd.errors import ProxydError
from proxyd.pipeline import QueryContext
from proxyd.variables import core_variables

N_RULES = 1000
SCHEMA = "sbtest"  # the rules name sbtest1 unqualified: they are bound to this schema
MATCH_RULE = ("SELECT c FROM sbtest1 WHERE id = ?", "SELECT c FROM sbtest1 WHERE id = ? LIMIT 1")
NO_MATCH_SQL = "SELECT pad FROM sbtest1 WHERE id = {}"
MATCH_SQL = "SELECT c FROM sbtest1 WHERE id = {}"


def rule_rows() -> list[dict[str, Any]]:
    rows = [{"id": i, "pattern": f"SELECT c{i} FROM sbtest1 WHERE id = ?", "pattern_database": SCHEMA,
             "replacement": f"SELECT c FROM sbtest1 WHERE id = ? /* rule {i} */", "enabled": "YES"}
            for i in range(1, N_RULES)]
    rows.append({"id": N_RULES, "pattern": MATCH_RULE[0], "pattern_database": SCHEMA, "replacement": MATCH_RULE[1],
                 "enabled": "YES"})
    return rows


# -- in-process: the hook -------------------------------------------------------------------------------
class _Services:
    """The two things the hook asks its services for: variable values (defaults) and a log."""

    def __init__(self) -> None:
        self.values = {v.name: v.default for v in core_variables()}
        self.values.update({"rewriter-enabled": "true", "rewriter-verbose": "1", "rewriter-skip_users": ""})

    def get_variable(self, name: str) -> str:
        return self.values[name.lower()]

    def log_message(self, level: int, message: str) -> None:
        pass

    @property
    def admin_db(self) -> Any:
        raise ProxydError("no admin database in the hook benchmark")  # computed columns stay pending


def plugin_with(rows: list[dict[str, Any]]) -> RewriterPlugin:
    plugin = RewriterPlugin()
    plugin.services = _Services()
    plugin.load_rules({TABLE: rows})
    return plugin


def hook_part(seconds: float) -> None:
    options = DigestOptions()
    empty, loaded = plugin_with([]), plugin_with(rule_rows())
    assert len(loaded.ruleset) == N_RULES

    def statement(plugin: RewriterPlugin | None, template: str) -> Callable[[int], object]:
        def run(i: int) -> object:
            ctx = QueryContext(template.format(i % 100003), schema=SCHEMA, digest_options=options)
            ctx.digest  # noqa: B018  (the SQL port computes it for every statement)
            if plugin is not None:
                plugin.post_parse(ctx)
                plugin.before_execution(ctx)  # the plugin's other per-statement hook
            return ctx.sql
        return run

    check = QueryContext(MATCH_SQL.format(7), schema=SCHEMA, digest_options=options)
    loaded.post_parse(check)
    assert check.sql == "SELECT c FROM sbtest1 WHERE id = 7 LIMIT 1", check.sql
    cases = [("no rewriter (context + digest)", None, NO_MATCH_SQL),
             ("rewriter, no rules", empty, NO_MATCH_SQL),
             (f"rewriter, {N_RULES} rules, matches none", loaded, NO_MATCH_SQL),
             (f"rewriter, {N_RULES} rules, matches one", loaded, MATCH_SQL)]
    print(f"\nper statement in-process (context, digest, post_parse, before_execution): best batch of "
          f"{seconds:.1f} s per case, interleaved")
    print(f"{'case':<38}{'µs/stmt':>9}{'overhead µs':>13}{'vs no rules':>13}")
    timings = best_us([statement(plugin, template) for _, plugin, template in cases], seconds)
    bare, no_rules = timings[0], timings[1]
    for (label, _, _), us in zip(cases, timings):
        print(f"{label:<38}{us:>9.2f}{us - bare:>13.2f}{us / no_rules:>13.2f}")
    print("target: overhead ≤ 10 µs for a statement that matches no rule")


# -- end to end -----------------------------------------------------------------------------------------
def e2e_part(statements: int, rounds: int) -> None:
    import pymysql

    procs = {"core, no plugins": ProxydProcess(), "rewriter, no rules": ProxydProcess(("rewriter",)),
             f"rewriter, {N_RULES} rules": ProxydProcess(("rewriter",))}
    try:
        for p in procs.values():
            p.spawn()
        for name, p in procs.items():
            p.wait_ready()
            if name.endswith("rules") and not name.endswith("no rules"):
                with p.admin() as adm, adm.cursor() as cur:
                    for r in rule_rows():
                        cur.execute("INSERT INTO query_rewrite_rules (id, pattern, pattern_database, replacement) "
                                    "VALUES (%s, %s, %s, %s)", (r["id"], r["pattern"], SCHEMA, r["replacement"]))
                    cur.execute("LOAD QUERY REWRITE RULES TO RUNTIME")
        clients = {}
        for name, p in procs.items():
            c = pymysql.connect(host="127.0.0.1", port=p.sql_port, user="proxyd", password="proxyd", autocommit=True,
                                ssl_disabled=True)
            with c.cursor() as cur:
                cur.execute("CREATE DATABASE IF NOT EXISTS sbtest")
                cur.execute("USE sbtest")
                cur.execute("CREATE TABLE sbtest1 (id INT PRIMARY KEY, k INT, c CHAR(120), pad CHAR(60))")
                cur.execute("INSERT INTO sbtest1 VALUES " + ", ".join(f"({i}, {i}, 'c{i}', 'p{i}')" for i in range(1, 1001)))
            clients[name] = c
        cases = [(name, NO_MATCH_SQL) for name in procs]
        cases.append((f"{list(procs)[2]}, matching", MATCH_SQL))
        # the rewritten text sent as it is: what the backend alone makes of it
        cases.append((f"{list(procs)[1]}, rewritten text", MATCH_SQL + " LIMIT 1"))
        samples: dict[str, list[float]] = {label: [] for label, _ in cases}
        for r in range(rounds + 1):  # round 0 warms up
            for label, template in cases:
                c = clients[label.split(", matching")[0].split(", rewritten")[0]]
                with c.cursor() as cur:
                    t0 = time.perf_counter()
                    for i in range(statements):
                        cur.execute(template.format(i % 1000 + 1))
                        cur.fetchall()
                    dt = (time.perf_counter() - t0) / statements
                if r:
                    samples[label].append(dt * 1e6)
        with clients[list(procs)[2]].cursor() as cur:
            cur.execute(MATCH_SQL.format(3))
            got = (cur.fetchall(), clients[list(procs)[2]]._result.warning_count)
            assert got == ((("c3",),), 1), f"the matching statement was not rewritten: {got}"
        core, no_rules = (statistics.median(samples[n]) for n in list(procs)[:2])
        print(f"\nend to end over the SQL port: {statements} point selects per round, median of {rounds} rounds")
        print(f"{'case':<42}{'µs/stmt':>10}{'vs no rules':>13}{'vs core':>9}")
        for label, _ in cases:
            us = statistics.median(samples[label])
            print(f"{label:<42}{us:>10.1f}{us / no_rules:>13.3f}{us / core:>9.3f}")
        for c in clients.values():
            c.close()
    finally:
        for p in procs.values():
            p.stop()


def main() -> None:
    hook_and_e2e_main(__doc__.splitlines()[0], [hook_part], e2e_part)


if __name__ == "__main__":
    main()
