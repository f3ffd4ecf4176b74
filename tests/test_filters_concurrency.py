"""CONCURRENCY_CONTROL under 50 concurrent clients: the limit holds, overflow is refused, nothing is lost."""

from __future__ import annotations

import math
import threading
import time

import pymysql
import pytest

from tests.conftest import Proxyd
from tests.test_filters_helpers import (
    BACKEND_CNF,
    admin,
    close_cached,
    connect,
    drop_all_filters,
    fails,
    run,
    stats,
)

CLIENTS = 50
SLEEP = 0.2


@pytest.fixture(scope="module")
def p(tmp_path_factory) -> Proxyd:
    d = Proxyd(tmp_path_factory.mktemp("filters_cc"), BACKEND_CNF, ("filters",))
    d.start()
    yield d
    close_cached(d)
    d.stop()


@pytest.fixture(autouse=True)
def clean(p):
    yield
    drop_all_filters(p)


def cc_filter(p: Proxyd, name: str, queue: int, concurrency: int, pattern: str = "query_regex='SLEEP'") -> None:
    admin(p, f"create filter {name} with_pattern (plans='Select', {pattern}) execute (action='CONCURRENCY_CONTROL', "
             f"action_args='max_queue_size={queue}; max_concurrency={concurrency}')")


def storm(p: Proxyd, sql: str, clients: int = CLIENTS) -> tuple[list, float]:
    """Run ``sql`` once on each of ``clients`` connections, all released together; (outcomes, start)."""
    conns = [connect(p) for _ in range(clients)]
    barrier = threading.Barrier(clients + 1)
    outcomes: list = [None] * clients

    def client(i: int) -> None:
        barrier.wait()
        try:
            with conns[i].cursor() as cur:
                cur.execute(sql)
                outcomes[i] = ("ok", cur.fetchall(), time.monotonic())
        except pymysql.MySQLError as exc:
            outcomes[i] = ("error", exc.args, time.monotonic())

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.monotonic()
    for t in threads:
        t.join(60)
    for c in conns:
        c.close()
    return outcomes, start


def test_fifty_clients_never_exceed_max_concurrency(p):
    cc_filter(p, "ccl", queue=30, concurrency=5)
    outcomes, start = storm(p, f"SELECT SLEEP({SLEEP})")
    ok = [o for o in outcomes if o is not None and o[0] == "ok"]
    errors = [o for o in outcomes if o is not None and o[0] == "error"]
    assert len(ok) + len(errors) == CLIENTS  # nothing lost: every client got an answer
    assert all(o[1] == ((0,),) for o in ok)
    assert all(e[1][0] == 1637 and "too many queued statements for filter 'ccl'" in e[1][1] for e in errors), errors
    assert len(ok) >= 30 and errors  # the queue admits 30 at a time; the rest of the burst is refused
    s = stats(p, "ccl")
    assert s["max_running"] == 5 and s["running"] == 0
    assert s["matches"] == CLIENTS and s["rejected"] == len(errors) == s["failed"]
    assert s["queued"] >= len(ok) - 5 and s["wait_time_us"] > 0
    # an independent check of the limit: five at a time, the successes need at least this long
    last = max(o[2] for o in ok)
    assert last - start >= math.ceil(len(ok) / 5) * SLEEP * 0.95


def test_queue_size_zero_refuses_everything(p):
    cc_filter(p, "closed", queue=0, concurrency=1)
    code, msg = fails(p, "SELECT SLEEP(0)")
    assert code == 1637 and "(0 >= max_queue_size 0)" in msg
    assert run(p, "SELECT 1") == [(1,)]  # not matched by the pattern


def test_slot_released_when_the_statement_fails(p):
    cc_filter(p, "one", queue=1, concurrency=1, pattern="query_regex='nope_table'")
    for _ in range(3):  # each failure must give its slot back, or the second try would be refused
        code, _ = fails(p, "SELECT * FROM nope_table")
        assert code != 1637
    assert stats(p, "one")["running"] == 0 and stats(p, "one")["max_running"] == 1


def test_drop_lets_queued_statements_run(p):
    cc_filter(p, "gate", queue=10, concurrency=1)
    outcomes: list = []
    holders = [threading.Thread(target=lambda: outcomes.append(run(p, "SELECT SLEEP(0.5)", conn=connect(p))))
               for _ in range(3)]
    for t in holders:
        t.start()
    deadline = time.monotonic() + 10
    while stats(p, "gate")["queued"] < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert stats(p, "gate")["queued"] == 2
    admin(p, "drop filter gate")
    for t in holders:
        t.join(10)
    assert outcomes == [[(0,)]] * 3


@pytest.mark.parametrize("kill", ["KILL QUERY", "KILL"])
def test_killed_statement_gives_its_slot_back(p, kill):
    """KILL cancels a statement mid-execution: the core still runs after_execution for it, so the slot
    comes back at once, before the connection sends anything else (KILL QUERY) or ends (KILL)."""
    cc_filter(p, "solo", queue=5, concurrency=1)
    victim = connect(p)
    victim_id = run(p, "SELECT CONNECTION_ID()", conn=victim)[0][0]
    got: list = []

    def sleeper() -> None:
        try:
            run(p, "SELECT SLEEP(30)", conn=victim)
        except pymysql.MySQLError as exc:
            got.append(exc.args[0])

    t = threading.Thread(target=sleeper)
    t.start()
    deadline = time.monotonic() + 10
    while stats(p, "solo")["running"] < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    run(p, f"{kill} {victim_id}", conn=connect(p))
    t.join(10)
    assert got and got[0] in (1317, 2013)  # interrupted (KILL QUERY) or connection lost (KILL)
    deadline = time.monotonic() + 10
    while stats(p, "solo")["running"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert stats(p, "solo")["running"] == 0  # (the victim is still connected and silent)
    if kill == "KILL QUERY":
        assert run(p, "SELECT 'next'", conn=victim) == [("next",)]  # and in sync
    victim.close()
    assert run(p, "SELECT SLEEP(0)", conn=connect(p)) == [(0,)]  # the slot is free again
