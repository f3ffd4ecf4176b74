"""``proxyd-wasm``: install and uninstall Wasm modules (and their filters) over the admin port.

Like WeScale's ``wescale_wasm`` tool, it is only a MySQL client: every step is an admin statement
a person could type (``INSERT INTO wasm_modules …``, ``LOAD WASM MODULES TO RUNTIME``,
``CREATE FILTER …``), so the daemon validates everything and the tool needs no special access.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pymysql

LIMITS = ("timeout_ms", "fuel", "max_memory_mb", "failure_policy", "comment")


def quote(text: str) -> str:
    """An SQLite string literal (the admin port speaks SQLite SQL)."""
    return "'" + text.replace("'", "''") + "'"


def read_module(path: Path) -> bytes:
    """The module's bytes; a ``.wat`` file is assembled to binary first (no toolchain needed)."""
    data = path.read_bytes()
    if path.suffix == ".wat":
        import wasmtime

        return bytes(wasmtime.wat2wasm(data.decode()))
    return data


def module_name(path: Path, name: str | None) -> str:
    return name or (path.stem + ".wasm")


def filter_name(module: str, name: str | None) -> str:
    return name or f"{module.rsplit('.', 1)[0]}_wasm_filter"


class Admin:
    def __init__(self, args: argparse.Namespace):
        self.conn = pymysql.connect(host=args.host, port=args.port, user=args.user, password=args.password,
                                    autocommit=True, connect_timeout=10)

    def run(self, sql: str) -> list[tuple]:
        with self.conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())


def install(args: argparse.Namespace, admin: Admin) -> str:
    path = Path(args.wasm_file)
    wasm = read_module(path)
    name = module_name(path, args.name)
    sha = hashlib.sha256(wasm).hexdigest()
    cols = {"name": quote(name), "sha256": quote(sha), "size": str(len(wasm)), "wasm": f"X'{wasm.hex()}'"}
    for col in LIMITS:
        value = getattr(args, col)
        if value is not None:
            cols[col] = quote(value) if isinstance(value, str) else str(int(value))
    updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c != "name")
    admin.run(f"INSERT INTO wasm_modules ({', '.join(cols)}) VALUES ({', '.join(cols.values())}) "
              f"ON CONFLICT(name) DO UPDATE SET {updates}")
    try:
        admin.run("LOAD WASM MODULES TO RUNTIME")
    except pymysql.MySQLError:
        admin.run("SAVE WASM MODULES TO MEMORY")  # put memory back as the running set is
        raise
    admin.run("SAVE WASM MODULES TO DISK")
    out = f"installed wasm module '{name}' ({len(wasm)} bytes, sha256 {sha})"
    if args.create_filter:
        fname = filter_name(name, args.filter_name)
        args_text = f'wasm_binary_name="{name}"'
        admin.run(f"CREATE FILTER {fname} (desc={quote(args.filter_desc)}, priority={quote(str(args.priority))}, "
                  f"status='ACTIVE') with_pattern(plans={quote(args.plans)}) "
                  f"execute(action='WASM_PLUGIN', action_args={quote(args_text)})")
        out += f"; created filter '{fname}'"
    return out


def uninstall(args: argparse.Namespace, admin: Admin) -> str:
    done = []
    if args.filter_name:
        admin.run(f"DROP FILTER {args.filter_name}")  # DDL changes memory, runtime and disk at once
        done.append(f"dropped filter '{args.filter_name}'")
    if args.name:
        if not admin.run(f"SELECT name FROM wasm_modules WHERE name = {quote(args.name)}"):
            raise SystemExit(f"proxyd-wasm: no wasm module named '{args.name}'")
        admin.run(f"DELETE FROM wasm_modules WHERE name = {quote(args.name)}")
        admin.run("LOAD WASM MODULES TO RUNTIME")
        admin.run("SAVE WASM MODULES TO DISK")
        done.append(f"removed wasm module '{args.name}'")
    return "; ".join(done)


def list_modules(args: argparse.Namespace, admin: Admin) -> str:
    rows = admin.run("SELECT name, sha256, size, timeout_ms, fuel, max_memory_mb, failure_policy, active "
                     "FROM runtime_wasm_modules ORDER BY name")
    head = "name\tsha256\tsize\ttimeout_ms\tfuel\tmax_memory_mb\tfailure_policy\tactive"
    return "\n".join([head] + ["\t".join(str(v) for v in r) for r in rows])


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="proxyd-wasm", description="Install Wasm modules into a running proxyd.")
    conn = argparse.ArgumentParser(add_help=False)
    conn.add_argument("--host", default="127.0.0.1", help="admin host (default 127.0.0.1)")
    conn.add_argument("--port", type=int, default=6032, help="admin port (default 6032)")
    conn.add_argument("--user", default="admin")
    conn.add_argument("--password", default="admin")
    sub = p.add_subparsers(dest="command", required=True)
    ins = sub.add_parser("install", parents=[conn], help="store a module, load it, optionally create its filter")
    ins.add_argument("--wasm-file", required=True, help="a .wasm binary or a .wat text module")
    ins.add_argument("--name", help="module name (default: the file's stem + .wasm)")
    ins.add_argument("--create-filter", action="store_true", help="also create an ACTIVE WASM_PLUGIN filter")
    ins.add_argument("--filter-name", help="default: <module stem>_wasm_filter")
    ins.add_argument("--filter-desc", default="", help="the filter's description")
    ins.add_argument("--priority", type=int, default=1000)
    ins.add_argument("--plans", default="Select,Insert,Update,Delete")
    ins.add_argument("--timeout-ms", dest="timeout_ms", type=int)
    ins.add_argument("--fuel", type=int)
    ins.add_argument("--max-memory-mb", dest="max_memory_mb", type=int)
    ins.add_argument("--failure-policy", dest="failure_policy", choices=("fail_closed", "fail_open"))
    ins.add_argument("--comment")
    un = sub.add_parser("uninstall", parents=[conn], help="drop a filter and/or a module")
    un.add_argument("--filter-name")
    un.add_argument("--name", help="module to remove")
    sub.add_parser("list", parents=[conn], help="modules at runtime")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "uninstall" and not (args.filter_name or args.name):
        print("proxyd-wasm uninstall: give --filter-name and/or --name", file=sys.stderr)
        return 2
    try:
        admin = Admin(args)
        action: Any = {"install": install, "uninstall": uninstall, "list": list_modules}[args.command]
        print(action(args, admin))
    except pymysql.MySQLError as exc:
        code, msg = (exc.args + ("",))[:2] if len(exc.args) >= 2 else (0, str(exc))
        print(f"proxyd-wasm: ERROR {code}: {msg}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"proxyd-wasm: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
