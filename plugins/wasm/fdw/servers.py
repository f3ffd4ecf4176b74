"""``wasm_fdw_servers`` and ``wasm_fdw_tables``: validation, module sources, the runtime set.

A load is all or nothing (run by ``LOAD WASM FDW TO RUNTIME``): rows are validated, each active
server's module bytes are read and hashed (``file://`` or ``http(s)://``; a sha256 of exactly 64
lowercase hex digits is required for every source and checked on every load), compiled through the shared engine (cached by sha256),
instantiated once under the server's limits and asked for its host-version requirement.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote, urlsplit

from plugins.wasm.fdw import guest as fdw
from plugins.wasm.fdw.columns import Column, ColumnError, parse_columns
from plugins.wasm.fdw.httpclient import AllowEntry, parse_allow_list
from plugins.wasm.modules import version_matches
from plugins.wasm.runtime import (
    GuestFault,
    GuestModule,
    Limits,
    ModuleRefused,
    WasmEngine,
)

SERVERS_DDL = """CREATE TABLE wasm_fdw_servers (
    server_name VARCHAR NOT NULL PRIMARY KEY,
    module_url VARCHAR NOT NULL,
    module_name VARCHAR NOT NULL DEFAULT '',
    module_version VARCHAR NOT NULL DEFAULT '',
    module_sha256 VARCHAR NOT NULL,
    options VARCHAR NOT NULL DEFAULT '{}',
    http_allow VARCHAR NOT NULL DEFAULT '',
    call_timeout_ms INTEGER,
    fuel_per_call INTEGER,
    max_memory_mb INTEGER,
    http_timeout_ms INTEGER,
    http_max_bytes INTEGER,
    active INTEGER NOT NULL DEFAULT 1,
    comment VARCHAR NOT NULL DEFAULT '')"""

TABLES_DDL = """CREATE TABLE wasm_fdw_tables (
    schema_name VARCHAR NOT NULL,
    table_name VARCHAR NOT NULL,
    server_name VARCHAR NOT NULL,
    columns VARCHAR NOT NULL,
    options VARCHAR NOT NULL DEFAULT '{}',
    active INTEGER NOT NULL DEFAULT 1,
    comment VARCHAR NOT NULL DEFAULT '',
    PRIMARY KEY (schema_name, table_name))"""

log = logging.getLogger("proxyd.plugin.wasm.fdw")
_SHA = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,63}")
#: per-server limit columns and the global variable (``wasm-fdw_<name>``) each falls back to
LIMIT_COLUMNS = ("call_timeout_ms", "fuel_per_call", "max_memory_mb", "http_timeout_ms", "http_max_bytes")


class LoadFailed(Exception):
    """``<what>: <why>``, e.g. ``server 'gh': module sha256 mismatch: …``."""


@dataclass
class LoadedServer:
    row: dict[str, Any]
    name: str
    options: dict[str, str]
    allow: tuple[AllowEntry, ...]
    limits: Limits
    http_timeout_ms: int
    http_max_bytes: int
    module: GuestModule
    requirement: str
    kv: fdw.KvStore = field(default_factory=fdw.KvStore)
    counters: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_counter(self, name: str, delta: int) -> None:
        with self.lock:
            if name in self.counters or len(self.counters) < 1000:
                self.counters[name] = self.counters.get(name, 0) + delta

    @property
    def can_modify(self) -> bool:
        return all(name in self.module.exports for name in fdw.MODIFY)


@dataclass(frozen=True)
class ForeignTable:
    schema: str
    name: str
    server: str
    columns: tuple[Column, ...]
    options: dict[str, str]
    rowid_column: int | None      # index into columns
    estimated_rows: int

    @property
    def label(self) -> str:
        return f"{self.schema}.{self.name}"


def _json_options(text: Any, what: str) -> dict[str, str]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        raise LoadFailed(f"{what}: options must be a JSON object of strings") from None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise LoadFailed(f"{what}: options must be a JSON object of strings")
    return value


def check_table(row: dict[str, Any], servers: Mapping[str, dict]) -> ForeignTable:
    schema, name = str(row.get("schema_name") or "").lower(), str(row.get("table_name") or "")
    what = f"table {schema}.{name}"
    if not _NAME.fullmatch(schema) or not _NAME.fullmatch(name):
        raise LoadFailed(f"{what}: schema_name and table_name must be plain identifiers")
    server = servers.get(row.get("server_name"))
    if server is None or not server.get("active"):
        raise LoadFailed(f"{what}: server '{row.get('server_name')}' does not exist or is not active")
    try:
        columns = parse_columns(str(row.get("columns") or ""))
    except ColumnError as exc:
        raise LoadFailed(f"{what}: {exc}") from None
    options = _json_options(row.get("options"), what)
    rowid = options.get("rowid_column")
    rowid_index = None
    if rowid is not None:
        found = [i for i, c in enumerate(columns) if c.name.lower() == rowid.lower()]
        if not found:
            raise LoadFailed(f"{what}: rowid_column '{rowid}' is not one of its columns")
        rowid_index = found[0]
    try:
        estimated = int(options.get("estimated_rows", "1000"))
    except ValueError:
        raise LoadFailed(f"{what}: estimated_rows must be an integer") from None
    return ForeignTable(schema, name, row["server_name"], columns, options, rowid_index, max(1, estimated))


def read_module(row: dict[str, Any], *, allow_unverified: bool, download_timeout_s: float,
                download_max_bytes: int, blobs: Path | None = None) -> bytes:
    """The module's bytes, verified against ``module_sha256`` (raises ModuleRefused).

    Downloads are kept in ``blobs`` as ``<sha256>.wasm``, written only after verification and
    hashed again on every read: a blob that no longer matches is deleted and downloaded again."""
    url = str(row.get("module_url") or "")
    sha = row.get("module_sha256") or ""
    parts = urlsplit(url)
    if sha == "" and allow_unverified and parts.scheme == "file":
        pass
    elif not isinstance(sha, str) or not _SHA.fullmatch(sha):
        raise ModuleRefused("module_sha256 must be 64 lowercase hex digits (no prefix)")
    if parts.scheme == "file":
        path = Path(unquote(parts.path))
        if not path.is_absolute() or parts.netloc not in ("", "localhost"):
            raise ModuleRefused(f"module_url '{url}' must be file:///absolute/path")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ModuleRefused(f"cannot read {path}: {exc.strerror}") from None
    elif parts.scheme in ("http", "https"):
        data = _cached_blob(blobs, sha)
        if data is None:
            data = _download(url, download_timeout_s, download_max_bytes)
            if hashlib.sha256(data).hexdigest() == sha:
                _store_blob(blobs, sha, data)
    else:
        raise ModuleRefused(f"module_url '{url}': scheme must be file://, http:// or https://")
    if sha:
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha:
            raise ModuleRefused(f"module sha256 mismatch: expected {sha}, got {actual}")
    return data


def _cached_blob(blobs: Path | None, sha: str) -> bytes | None:
    if blobs is None or not sha:
        return None
    path = blobs / f"{sha}.wasm"
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if hashlib.sha256(data).hexdigest() != sha:
        log.warning("wasm fdw: cached module %s does not match its sha256; deleted, downloading it again", path)
        path.unlink(missing_ok=True)
        return None
    return data


def _store_blob(blobs: Path | None, sha: str, data: bytes) -> None:
    if blobs is None:
        return
    try:
        blobs.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = blobs / f".{sha}.{os.getpid()}.tmp"
        tmp.write_bytes(data)
        tmp.replace(blobs / f"{sha}.wasm")
    except OSError as exc:
        log.warning("wasm fdw: cannot cache module %s: %s", sha, exc)


class _NoProxy(urllib.request.ProxyHandler):
    def __init__(self) -> None:
        super().__init__({})


def _download(url: str, timeout_s: float, max_bytes: int) -> bytes:
    opener = urllib.request.build_opener(_NoProxy())
    try:
        with opener.open(url, timeout=timeout_s) as resp:
            data = resp.read(max_bytes + 1)
    except OSError as exc:
        raise ModuleRefused(f"cannot download {url}: {exc}") from None
    if len(data) > max_bytes:
        raise ModuleRefused(f"{url} is larger than {max_bytes} bytes")
    return data


def load_server(engine: WasmEngine, row: dict[str, Any], wasm: bytes, settings: Callable[[str], int],
                kv: fdw.KvStore) -> LoadedServer:
    """Compile (or reuse), validate, instantiate once and check the guest's host-version requirement."""
    name = row["server_name"]
    what = f"server '{name}'"
    options = _json_options(row.get("options"), what)
    try:
        allow = parse_allow_list(str(row.get("http_allow") or ""))
    except ValueError as exc:
        raise LoadFailed(f"{what}: {exc}") from None
    value = {col: row.get(col) if row.get(col) is not None else settings(col) for col in LIMIT_COLUMNS}
    for col, v in value.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < (0 if col == "fuel_per_call" else 1):
            raise LoadFailed(f"{what}: {col} must be a positive integer (got {v!r})")
    limits = Limits(timeout_ms=value["call_timeout_ms"], fuel=value["fuel_per_call"], max_memory_mb=value["max_memory_mb"])
    try:
        module = GuestModule(engine, fdw.FDW_ABI, f"fdw:{name}", wasm, row.get("module_sha256") or
                             hashlib.sha256(wasm).hexdigest(), limits, max_idle=4)
    except ModuleRefused as exc:
        raise LoadFailed(f"{what}: {exc}") from None
    server = LoadedServer(dict(row), name, options, allow, limits, value["http_timeout_ms"], value["http_max_bytes"],
                          module, "", kv)
    inst = module.pool.acquire()
    st = fdw.FdwCall(inst, server, f"(server {name})", fdw.TableStats())
    try:
        if inst.has("_initialize"):
            inst.call("_initialize", (), st)
        requirement = fdw.call_routine(st, "fdw_host_version_requirement", None)
    except (GuestFault, fdw.FdwError) as exc:
        raise LoadFailed(f"{what}: fdw_host_version_requirement failed: {exc}") from None
    if not isinstance(requirement, str):
        raise LoadFailed(f"{what}: fdw_host_version_requirement must reply a string")
    try:
        ok = version_matches(requirement, fdw.HOST_VERSION)
    except ModuleRefused as exc:
        raise LoadFailed(f"{what}: {exc}") from None
    if not ok:
        raise LoadFailed(f"{what}: guest requires host version '{requirement}'; this host is {fdw.HOST_VERSION}")
    server.requirement = requirement
    module.pool.release(inst)
    return server


@dataclass
class FdwRuntime:
    """The runtime servers and tables, replaced whole by a successful load."""

    servers: Mapping[str, LoadedServer] = field(default_factory=lambda: MappingProxyType({}))
    tables: Mapping[tuple[str, str], ForeignTable] = field(default_factory=lambda: MappingProxyType({}))
    failed: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # left out at start-up
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {"wasm_fdw_servers": [], "wasm_fdw_tables": []})
