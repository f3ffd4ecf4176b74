"""Helpers shared by the benchmarks: free ports, a throw-away cnf, a proxyd child process, statistics.

The benchmarks only print figures. They never pass or fail on timing: the machines are shared and
noisy, so every figure is printed next to a baseline measured in the same run and next to its target.
"""

from __future__ import annotations

import atexit
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Child processes keep their bytecode in a private cache for the whole benchmark run. A deployed proxyd has
# its .pyc files (pip compiles them on install), but a shell with PYTHONDONTWRITEBYTECODE=1 (as on the
# shared machines) would make every child compile every proxyd module from source again, and that cost
# would grow with the code base rather than with what proxyd does. Nothing is written into the repository.
_PYCACHE = tempfile.mkdtemp(prefix="proxyd-bench-pycache-")
atexit.register(shutil.rmtree, _PYCACHE, ignore_errors=True)


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = _PYCACHE
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000.0


def spread_ms(samples: list[float]) -> str:
    """min..max of the samples, in ms, to show how noisy a median is."""
    return f"{min(samples) * 1000:.1f}..{max(samples) * 1000:.1f}"


def machine_line() -> str:
    return (f"python {platform.python_version()} on {platform.system()} {platform.machine()}, "
            f"{os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.2f}")


class ProxydProcess:
    """One proxyd on free ports with a fresh datadir in its own temporary directory."""

    def __init__(self, plugins: tuple[str, ...] = (), extra_args: tuple[str, ...] = ()):
        self.dir = Path(tempfile.mkdtemp(prefix="proxyd-bench-"))
        self.datadir = self.dir / "data"
        self.admin_port = free_port()
        self.sql_port = free_port()
        self.cnf = self.dir / "proxyd.cnf"
        self.log_path = self.dir / "proxyd.stderr"
        self.extra_args = extra_args
        plist = ", ".join(f'"{p}"' for p in plugins)
        self.cnf.write_text(textwrap.dedent(f"""\
            datadir = "{self.datadir}"
            plugins = ({plist})
            admin_variables = {{
                admin_credentials = "admin:admin"
                mysql_ifaces = "127.0.0.1:{self.admin_port}"
            }}
            mysql_variables = {{
                interfaces = "127.0.0.1:{self.sql_port}"
            }}
            mysql_servers = (
                {{ address = "embedded"; port = 0; hostgroup = 0 }}
            )
            mysql_users = (
                {{ username = "proxyd"; password = "proxyd"; default_hostgroup = 0 }}
            )
            """))
        self.proc: subprocess.Popen | None = None
        self._log = None

    def command(self) -> list[str]:
        return [sys.executable, "-m", "proxyd", "--config", str(self.cnf), "--datadir", str(self.datadir),
                "--log-level", "WARNING", *self.extra_args]

    def spawn(self) -> None:
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.command(), stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO,
                                     env=child_env())

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def admin(self):
        import pymysql
        # ssl_disabled: PyMySQL >= 1.2 otherwise builds a TLS context (loading the CA bundle, ~0.1 s of
        # client CPU) on every connect, which would be timed as proxyd's and slow down the readiness poll.
        return pymysql.connect(host="127.0.0.1", port=self.admin_port, user="admin", password="admin",
                               autocommit=True, connect_timeout=5, ssl_disabled=True)

    def wait_ready(self, timeout: float = 120.0, poll: float = 0.002) -> None:
        """Until a MySQL login on the admin port answers ``SELECT 1`` (polls every ``poll`` seconds)."""
        import pymysql
        deadline = time.perf_counter() + timeout
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"proxyd exited with {self.proc.returncode}:\n{self.log()}")
            try:
                conn = self.admin()
            except pymysql.err.OperationalError:
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"admin port not ready after {timeout}s:\n{self.log()}") from None
                time.sleep(poll)
                continue
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT 1")
                    rows = cur.fetchall()
                if [str(v) for r in rows for v in r] != ["1"]:  # the admin port answers in text, as ProxySQL
                    raise RuntimeError(f"SELECT 1 answered {rows!r}")
            finally:
                conn.close()
            return

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log is not None:
            self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "ProxydProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def best_us_alternating(fns: list[Callable[[int], object]], seconds: float) -> list[float]:
    """Best batch of each function, µs per call, in alternating batches so that load from other
    processes hits every case alike; ``fn(i)`` makes call number i."""
    n = 256
    while True:
        t0 = time.perf_counter()
        for i in range(n):
            fns[0](i)
        if time.perf_counter() - t0 > seconds / 40:
            break
        n *= 2
    best, k = [float("inf")] * len(fns), 0
    deadline = time.perf_counter() + seconds * len(fns)
    while time.perf_counter() < deadline:
        for j, fn in enumerate(fns):
            t0 = time.perf_counter()
            for i in range(k, k + n):
                fn(i)
            best[j] = min(best[j], (time.perf_counter() - t0) / n)
        k += n
    return [b * 1e6 for b in best]


def hook_and_e2e_main(description: str, in_process: list[Callable[[float], None]],
                      end_to_end: Callable[[int, int], None]) -> None:
    """The command line the plugin benchmarks share: in-process parts timed for ``--seconds`` per
    case, then (unless ``--no-e2e``) ``--rounds`` end-to-end rounds of ``--statements`` statements."""
    import argparse

    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=1.0, help="time budget per in-process case")
    ap.add_argument("--statements", type=int, default=2000, help="statements per end-to-end round")
    ap.add_argument("--rounds", type=int, default=5, help="end-to-end rounds (after one warm-up)")
    ap.add_argument("--no-e2e", action="store_true", help="only the in-process part")
    args = ap.parse_args()
    print(machine_line())
    for part in in_process:
        part(args.seconds)
    if not args.no_e2e:
        end_to_end(args.statements, args.rounds)
