"""sysbench oltp_point_select direct to MariaDB vs through proxyd, in one run, with ratios.

Usage: python bench/sysbench_compare.py [--time 10] [--tables 4] [--table-size 10000]

Needs sysbench and a MariaDB (``PROXYD_TEST_MARIADB=host:port:user:password``, default
127.0.0.1:3307:root:). Each configuration (1 and 8 threads, text and prepared statements) runs
direct, through a byte relay (the floor), through proxyd, through proxyd with its C relay switched off
(``py``) and with its callback fast path switched off (``coro``), back to back, so all see the same
machine load; the figure that matters is the ratio. proxyd's CPU cost per query comes from its /proc counters over the run.
Targets (the issue's): >= 0.55 of direct at 1 thread, >= 0.35 at 8 threads.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ProxydProcess, child_env, free_port, machine_line  # noqa: E402

TARGETS = {1: 0.55, 8: 0.35}


def mariadb_address() -> tuple[str, int, str, str]:
    host, port, user, password = (os.environ.get("PROXYD_TEST_MARIADB") or "127.0.0.1:3307:root:").split(":", 3)
    return host, int(port), user, password


def admin_sql(sql: str) -> None:
    import pymysql

    host, port, user, password = mariadb_address()
    conn = pymysql.connect(host=host, port=port, user=user, password=password, autocommit=True)
    with conn.cursor() as cur:
        for stmt in sql.strip().split(";"):
            if stmt.strip():
                cur.execute(stmt)
    conn.close()


class MariadbProxyd(ProxydProcess):
    """A proxyd whose hostgroup 1 is the MariaDB, and whose user sbtest goes there."""

    def __init__(self, plugins: tuple[str, ...] = ()) -> None:
        super().__init__(plugins)
        host, port, _, _ = mariadb_address()
        text = self.cnf.read_text().replace(
            '{ address = "embedded"; port = 0; hostgroup = 0 }',
            f'{{ address = "embedded"; port = 0; hostgroup = 0 }},\n    {{ address = "{host}"; port = {port}; hostgroup = 1 }}')
        text = text.replace(
            '{ username = "proxyd"; password = "proxyd"; default_hostgroup = 0 }',
            '{ username = "proxyd"; password = "proxyd"; default_hostgroup = 0 },\n'
            '    { username = "sbtest"; password = "sbtest"; default_hostgroup = 1; default_schema = "sbtest" }')
        self.cnf.write_text(text)


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def sysbench(port: int, args: argparse.Namespace, *extra: str) -> str:
    cmd = ["sysbench", "oltp_point_select", "--db-driver=mysql", "--mysql-host=127.0.0.1", f"--mysql-port={port}",
           "--mysql-user=sbtest", "--mysql-password=sbtest", "--mysql-db=sbtest", f"--tables={args.tables}",
           f"--table-size={args.table_size}", *extra]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0 or "FATAL" in out.stdout + out.stderr:
        raise RuntimeError(f"{' '.join(cmd)}:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def qps(text: str) -> tuple[float, int]:
    m = re.search(r"queries:\s+(\d+)\s+\(([\d.]+) per sec", text)
    assert m, text
    return float(m.group(2)), int(m.group(1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time", type=int, default=10, help="seconds per sysbench run (default 10)")
    ap.add_argument("--tables", type=int, default=4)
    ap.add_argument("--table-size", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=1, help="sweeps over the four configurations (default 1)")
    args = ap.parse_args()
    if shutil.which("sysbench") is None:
        print("sysbench is not installed: nothing measured")
        return 0
    host, port, _, _ = mariadb_address()
    admin_sql("DROP DATABASE IF EXISTS sbtest; CREATE DATABASE sbtest;"
              "CREATE USER IF NOT EXISTS 'sbtest'@'%' IDENTIFIED BY 'sbtest';"
              "CREATE USER IF NOT EXISTS 'sbtest'@'localhost' IDENTIFIED BY 'sbtest';"
              "GRANT ALL ON sbtest.* TO 'sbtest'@'%'; GRANT ALL ON sbtest.* TO 'sbtest'@'localhost'")
    sysbench(port, args, "prepare")
    # proxyd without plugins, then the same code with its C half off (PROXYD_NO_NATIVE: the Python fast
    # path), then with the callback fast path off (PROXYD_NO_FAST_PATH: every statement on the
    # coroutine path): what each layer of the data path buys, measured in the same run
    # ("shipped": the first-party plugins of conf/proxyd.cnf loaded, no filter or rule configured)
    variants = {"proxyd": {}, "shipped": {}, "py": {"PROXYD_NO_NATIVE": "1"}, "coro": {"PROXYD_NO_FAST_PATH": "1"}}
    proxies: dict[str, MariadbProxyd] = {}
    for name, env in variants.items():
        proxies[name] = MariadbProxyd(("filters", "wasm", "rewriter") if name == "shipped" else ())
        os.environ.update(env)
        try:
            proxies[name].spawn()
        finally:
            for key in env:
                del os.environ[key]
    for proxy in proxies.values():
        proxy.wait_ready()
    relay_port = free_port()
    relay = subprocess.Popen([sys.executable, str(Path(__file__).with_name("relay_floor.py")), str(relay_port),
                              host, str(port)], stdout=subprocess.PIPE, text=True, env=child_env())
    assert relay.stdout is not None and relay.stdout.readline().strip() == "ready"
    tick_us = 1_000_000 / os.sysconf("SC_CLK_TCK")
    print(machine_line())
    print(f"sysbench oltp_point_select, {args.tables} tables x {args.table_size} rows, {args.time} s per run; "
          f"MariaDB at {host}:{port}")
    print("ratio = q/s through it / q/s direct. floor: a uvloop byte relay that parses nothing "
          "(bench/relay_floor.py);\nproxyd: no plugin (C relay when built); shipped: with filters, wasm, rewriter "
          "loaded, nothing configured;\npy: PROXYD_NO_NATIVE=1 (Python fast path); coro: PROXYD_NO_FAST_PATH=1.\nCPU: microseconds of the relay's own process per query (user+sys).")
    names = ["floor", *proxies]
    print(f"{'threads':>7} {'mode':>9} {'direct q/s':>10} " + " ".join(f"{n + ' q/s':>10}" for n in names) + " "
          + " ".join(f"{n:>6}" for n in names) + f" {'target':>7}  CPU us/q: " + " ".join(f"{n:>6}" for n in names))
    targets = {"floor": (relay.pid, relay_port), **{n: (p.proc.pid, p.sql_port) for n, p in proxies.items()}}
    try:
        for _ in range(args.repeat):
            for threads in (1, 8):
                for mode, label in (("disable", "text"), ("auto", "prepared")):
                    common = (f"--threads={threads}", f"--time={args.time}", f"--db-ps-mode={mode}", "run")
                    direct, _ = qps(sysbench(port, args, *common))
                    rates, cpus = {}, {}
                    for name, (pid, target_port) in targets.items():
                        before = cpu_ticks(pid)
                        rates[name], count = qps(sysbench(target_port, args, *common))
                        cpus[name] = (cpu_ticks(pid) - before) * tick_us / max(count, 1)
                    verdict = "ok" if rates["proxyd"] / direct >= TARGETS[threads] else "below"
                    print(f"{threads:>7} {label:>9} {direct:>10.0f} " + " ".join(f"{rates[n]:>10.0f}" for n in names)
                          + " " + " ".join(f"{rates[n] / direct:>6.2f}" for n in names)
                          + f" {'>=' + str(TARGETS[threads]):>7}            " + " ".join(f"{cpus[n]:>6.1f}" for n in names)
                          + f" {verdict}", flush=True)
    finally:
        relay.terminate()
        relay.wait()
        for proxy in proxies.values():
            proxy.stop()
        sysbench(port, args, "cleanup")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
