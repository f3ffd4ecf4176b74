"""The ``wasm_modules`` table: validating rows, loading them into the sandbox, the runtime set.

A load is all or nothing: every active row is verified (sha256 over the exact bytes, size, ABI,
limits), compiled (or taken from the cache), checked for its exports and imports, instantiated once
and asked for its host-version requirement. Any refusal raises and the running set stays as it was.
A row whose bytes and limits did not change keeps its loaded module, pool included.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from plugins.wasm import abi
from plugins.wasm.runtime import (
    GuestFault,
    GuestModule,
    Limits,
    ModuleRefused,
    WasmEngine,
)

MODULES_DDL = """CREATE TABLE wasm_modules (
    name VARCHAR NOT NULL PRIMARY KEY,
    sha256 VARCHAR NOT NULL,
    size INTEGER NOT NULL,
    wasm BLOB NOT NULL,
    abi VARCHAR NOT NULL DEFAULT '1',
    timeout_ms INTEGER NOT NULL DEFAULT 20,
    fuel INTEGER NOT NULL DEFAULT 50000000,
    max_memory_mb INTEGER NOT NULL DEFAULT 16,
    failure_policy VARCHAR NOT NULL DEFAULT 'fail_closed',
    active INTEGER NOT NULL DEFAULT 1,
    comment VARCHAR NOT NULL DEFAULT '')"""

STATS_DDL = """CREATE TABLE stats_wasm_modules (
    name VARCHAR NOT NULL PRIMARY KEY,
    sha256 VARCHAR NOT NULL,
    calls INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    traps INTEGER NOT NULL,
    timeouts INTEGER NOT NULL,
    fuel_exhausted INTEGER NOT NULL,
    invalid INTEGER NOT NULL,
    failed_open INTEGER NOT NULL,
    total_us INTEGER NOT NULL,
    max_us INTEGER NOT NULL,
    instances_created INTEGER NOT NULL,
    instances_discarded INTEGER NOT NULL,
    instances_idle INTEGER NOT NULL,
    compiled_from VARCHAR NOT NULL,
    host_version_requirement VARCHAR NOT NULL,
    last_error VARCHAR NOT NULL,
    call_path VARCHAR NOT NULL)"""

POLICIES = ("fail_closed", "fail_open")
_SHA = re.compile(r"[0-9a-f]{64}")


_FAULT_COUNTERS = {"trap": "traps", "timeout": "timeouts", "fuel": "fuel_exhausted", "invalid": "invalid",
                   "error": "errors"}


class ModuleStats:
    """Counters of one module name; they survive replacement of the module's bytes.

    Exact without a lock on the statement path: a call's µs are appended to a deque (one atomic
    operation, from any thread), and the totals fold the pending entries in when they are read or
    every :attr:`FOLD` calls, under a lock only folders take. Faults (rare) update their counters
    under that lock too. No entry is lost or counted twice.
    """

    FOLD = 4096

    def __init__(self) -> None:
        self.pending: deque[int] = deque()  # µs of calls not folded in yet
        self.lock = threading.Lock()
        self._calls = self._total_us = self._max_us = 0
        self.errors = self.traps = self.timeouts = self.fuel_exhausted = self.invalid = self.failed_open = 0
        self.last_error = ""

    def record(self, us: int, kind: str | None = None, message: str = "") -> None:
        """One call that took ``us``; ``kind``: its fault or refusal (see ``_FAULT_COUNTERS``)."""
        if kind is None:
            pending = self.pending
            pending.append(us)
            if len(pending) > self.FOLD:
                self.fold()
            return
        attr = _FAULT_COUNTERS[kind]
        with self.lock:
            self.pending.append(us)
            setattr(self, attr, getattr(self, attr) + 1)
            self.last_error = message

    def count_failed_open(self) -> None:
        with self.lock:
            self.failed_open += 1

    def fold(self) -> None:
        """Move the pending entries into the totals."""
        with self.lock:
            self._fold_locked()

    def _fold_locked(self) -> None:
        pending = self.pending
        batch = [pending.popleft() for _ in range(len(pending))]  # appends racing this stay for the next fold
        if batch:
            self._calls += len(batch)
            self._total_us += sum(batch)
            self._max_us = max(self._max_us, max(batch))

    def snapshot(self) -> dict[str, Any]:
        """Every counter, from one fold: consistent with each other."""
        with self.lock:
            self._fold_locked()
            return {"calls": self._calls, "errors": self.errors, "traps": self.traps, "timeouts": self.timeouts,
                    "fuel_exhausted": self.fuel_exhausted, "invalid": self.invalid, "failed_open": self.failed_open,
                    "total_us": self._total_us, "max_us": self._max_us, "last_error": self.last_error}

    @property
    def calls(self) -> int:
        self.fold()
        return self._calls

    @property
    def total_us(self) -> int:
        self.fold()
        return self._total_us

    @property
    def max_us(self) -> int:
        self.fold()
        return self._max_us


@dataclass
class LoadedModule:
    """A module at runtime: its row, the sandboxed guest, and what the statement path needs."""

    row: dict[str, Any]
    guest: GuestModule
    requirement: str
    kv: abi.SharedStore
    stats: ModuleStats
    #: set when a load replaced or dropped this module: a runner that cached it looks it up again
    retired: bool = False

    def __post_init__(self) -> None:
        # what the statement path reads, one attribute away (it runs for every statement)
        self.has_before = abi.BEFORE in self.guest.exports
        self.has_after = abi.AFTER in self.guest.exports
        self.timeout_ms = self.guest.limits.timeout_ms
        #: the usual before-execution call in C, when the guest can take it (runtime.GuestModule.fast_event)
        self.fast_before = self.guest.fast_event(abi.BEFORE, self.stats.pending, self.stats.FOLD)

    @property
    def name(self) -> str:
        return self.row["name"]

    @property
    def fail_open(self) -> bool:
        return self.row["failure_policy"] == "fail_open"


def version_matches(requirement: str, version: str = abi.HOST_VERSION) -> bool:
    """Semver requirement check: ``^1.0``, ``~1.2``, ``=1.0.3``, ``1.0``, or PEP 440 (``>=1.0,<2``)."""
    req = requirement.strip()
    have = Version(version)
    try:
        if req.startswith("^"):
            base = Version(req[1:].strip())
            major = base.release[0]
            if major == 0:
                minor = base.release[1] if len(base.release) > 1 else 0
                return base <= have and have.release[:2] == (0, minor)
            return base <= have and have.release[0] == major
        if req.startswith("~") and not req.startswith("~="):
            base = Version(req[1:].strip())
            return base <= have and have.release[:2] == (base.release + (0,))[:2]
        if req.startswith("=") and not req.startswith("=="):
            return have == Version(req[1:].strip())
        if req and req[0].isdigit():
            return have == Version(req)
        return have in SpecifierSet(req)
    except (InvalidSpecifier, ValueError, IndexError):
        raise ModuleRefused(f"invalid host version requirement '{requirement}'") from None


def _int(row: dict, col: str, lo: int, hi: int) -> int:
    v = row.get(col)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ModuleRefused(f"{col} must be an integer from {lo} to {hi} (got {v!r})")
    return v


def check_row(row: dict[str, Any]) -> tuple[bytes, Limits]:
    """Validate one row's fields and bytes; the sha256 is computed over the exact bytes every time."""
    wasm = row.get("wasm")
    if isinstance(wasm, str):  # WAT inserted as text: the digest covers its UTF-8 bytes
        wasm = wasm.encode()
    if not isinstance(wasm, (bytes, bytearray, memoryview)) or not wasm:
        raise ModuleRefused("wasm must be a non-empty BLOB")
    wasm = bytes(wasm)
    sha = row.get("sha256")
    if not isinstance(sha, str) or not _SHA.fullmatch(sha):
        raise ModuleRefused("sha256 must be 64 lowercase hex digits (no prefix)")
    actual = hashlib.sha256(wasm).hexdigest()
    if actual != sha:
        raise ModuleRefused(f"module sha256 mismatch: expected {sha}, got {actual}")
    if row.get("size") != len(wasm):
        raise ModuleRefused(f"size {row.get('size')!r} does not match the module ({len(wasm)} bytes)")
    if str(row.get("abi")) != "1":
        raise ModuleRefused(f"abi '{row.get('abi')}' is not supported (this host speaks ABI 1)")
    if row.get("failure_policy") not in POLICIES:
        raise ModuleRefused(f"failure_policy must be one of {', '.join(POLICIES)} (got {row.get('failure_policy')!r})")
    limits = Limits(timeout_ms=_int(row, "timeout_ms", 1, 60_000), fuel=_int(row, "fuel", 0, 1 << 62),
                    max_memory_mb=_int(row, "max_memory_mb", 1, 4096))
    return wasm, limits


def load_module(engine: WasmEngine, row: dict[str, Any], kv: abi.SharedStore, stats: ModuleStats, *,
                max_idle: int) -> LoadedModule:
    """Verify, compile, link and instantiate one module; raise ModuleRefused with the reason."""
    wasm, limits = check_row(row)
    guest = GuestModule(engine, abi.STATEMENT_ABI, row["name"], wasm, row["sha256"], limits, max_idle=max_idle)
    if not ({abi.BEFORE, abi.AFTER} & guest.exports):
        raise ModuleRefused(f"module exports neither {abi.BEFORE} nor {abi.AFTER}")
    try:
        inst = guest.pool.acquire()
        packed = inst.call(abi.REQUIREMENT, (), None, result_i64=True) & 0xFFFFFFFFFFFFFFFF
        requirement = inst.read(inst.ctx, packed >> 32, min(packed & 0xFFFFFFFF, 256)).decode()
    except GuestFault as exc:
        raise ModuleRefused(f"{abi.REQUIREMENT} failed: {exc}") from None
    except UnicodeDecodeError:
        raise ModuleRefused(f"{abi.REQUIREMENT} returned text that is not UTF-8") from None
    if not version_matches(requirement):
        raise ModuleRefused(f"guest requires host version '{requirement}'; this host is {abi.HOST_VERSION}")
    guest.pool.release(inst)
    return LoadedModule(dict(row, wasm=bytes(wasm)), guest, requirement, kv, stats)


class ModuleSet:
    """The runtime modules, replaced whole by a successful load (readers never see half a load)."""

    def __init__(self, engine_factory: Any, max_idle: Any):
        self._engine_factory, self._max_idle = engine_factory, max_idle
        self.modules: Mapping[str, LoadedModule] = MappingProxyType({})
        self.rows: list[dict[str, Any]] = []  # every row at runtime, inactive ones included
        self.stats: dict[str, ModuleStats] = {}
        self.kv: dict[str, abi.SharedStore] = {}

    def load(self, rows: list[dict[str, Any]]) -> None:
        engine = self._engine_factory()
        new: dict[str, LoadedModule] = {}
        for row in rows:
            name = row.get("name") or ""
            if not str(name).strip():
                raise ModuleRefused("wasm_modules row with an empty name")
            if not row.get("active"):
                continue
            current = self.modules.get(name)
            kv = self.kv.get(name) or abi.SharedStore()
            stats = self.stats.get(name) or ModuleStats()
            try:
                if current is not None and _same(current.row, row):
                    check_row(row)  # bytes are re-verified even when the compiled module is reused
                    new[name] = current
                else:
                    new[name] = load_module(engine, row, kv, stats, max_idle=self._max_idle())
            except ModuleRefused as exc:
                raise ModuleRefused(f"wasm module '{name}': {exc}") from None
        for name, mod in new.items():
            self.kv.setdefault(name, mod.kv)
            self.stats.setdefault(name, mod.stats)
        self.rows = [dict(r) for r in rows]
        old, self.modules = self.modules, MappingProxyType(new)
        kept = {id(m) for m in new.values()}
        for m in old.values():
            if id(m) not in kept:
                m.retired = True  # after the swap: whoever looks again finds the new set
        engine.forget({m.guest.sha256 for m in new.values()})


_LIMIT_COLS = ("sha256", "size", "abi", "timeout_ms", "fuel", "max_memory_mb", "failure_policy")


def _same(old: dict, new: dict) -> bool:
    return all(old.get(c) == new.get(c) for c in _LIMIT_COLS) and bytes(old["wasm"]) == _as_bytes(new.get("wasm"))


def _as_bytes(v: Any) -> bytes:
    return v.encode() if isinstance(v, str) else bytes(v or b"")
