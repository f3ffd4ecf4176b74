"""Shared fixtures: a real proxyd process on free ports, reached with real clients."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pymysql
import pytest

REPO = Path(__file__).resolve().parent.parent

# `plugin_distributions`: installs the example and test-only plugin distributions (session-wide).
pytest_plugins = ["tests.plugin_support"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"proxyd exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"port {port} not ready after {timeout}s")


class Proxyd:
    """One proxyd under test: its cnf, datadir, process, and ways to talk to it."""

    def __init__(self, tmp: Path, cnf_body: str = "", plugins: tuple[str, ...] = ()):
        self.dir = tmp
        self.datadir = tmp / "data"
        self.admin_port = free_port()
        self.sql_port = free_port()
        self.cnf = tmp / "proxyd.cnf"
        self.log_path = tmp / "proxyd.stderr"
        self.proc: subprocess.Popen | None = None
        self.write_cnf(cnf_body, plugins)

    def write_cnf(self, body: str = "", plugins: tuple[str, ...] = ()) -> None:
        plist = ", ".join(f'"{p}"' for p in plugins)
        self.cnf.write_text(textwrap.dedent(f"""\
            datadir = "{self.datadir}"
            plugins = ({plist})
            admin_variables = {{
                admin_credentials = "admin:admin;radmin:radmin"
                mysql_ifaces = "127.0.0.1:{self.admin_port}"
            }}
            mysql_variables = {{
                interfaces = "127.0.0.1:{self.sql_port}"
            }}
            """) + textwrap.dedent(body))

    def run(self, *args: str, env: dict | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
        """Run proxyd to completion (for start-up failures); returns the finished process."""
        return subprocess.run([sys.executable, "-m", "proxyd", "--config", str(self.cnf), *args],
                              capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})

    def start(self, *args: str, env: dict | None = None, wait: bool = True) -> "Proxyd":
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self._log = open(self.log_path, "a")
        self.proc = subprocess.Popen([sys.executable, "-m", "proxyd", "--config", str(self.cnf), *args],
                                     stdout=self._log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        if wait:
            try:
                wait_port(self.admin_port, self.proc)
            except Exception as exc:
                raise RuntimeError(f"{exc}\n--- proxyd log ---\n{self.log()}") from exc
        return self

    def stop(self, timeout: float = 15) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def restart(self, *args: str) -> "Proxyd":
        assert self.stop() == 0, self.log()
        return self.start(*args)

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def admin(self, user: str = "admin", password: str = "admin", **kw) -> pymysql.connections.Connection:
        return pymysql.connect(host="127.0.0.1", port=self.admin_port, user=user, password=password,
                               autocommit=True, **kw)

    def query(self, sql: str, conn: pymysql.connections.Connection | None = None) -> list[tuple]:
        own = conn is None
        conn = conn or self.admin()
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return list(cur.fetchall())
        finally:
            if own:
                conn.close()


@pytest.fixture
def proxyd_factory(tmp_path):
    made: list[Proxyd] = []

    def make(cnf_body: str = "", plugins: tuple[str, ...] = (), subdir: str | None = None) -> Proxyd:
        d = tmp_path / (subdir or f"p{len(made)}")
        d.mkdir(parents=True, exist_ok=True)
        p = Proxyd(d, cnf_body, plugins)
        made.append(p)
        return p

    yield make
    for p in made:
        p.stop()


@pytest.fixture
def proxyd(proxyd_factory) -> Proxyd:
    """A running proxyd with no plugins and an embedded hostgroup 0."""
    p = proxyd_factory("""
        mysql_servers = ( { address = "embedded"; port = 0; hostgroup = 0 } )
        mysql_users = ( { username = "app"; password = "app"; default_hostgroup = 0 } )
        """)
    return p.start()
