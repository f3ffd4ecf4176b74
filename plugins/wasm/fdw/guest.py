"""The foreign-table guest kind on the wasm sandbox: its ABI (import module ``proxyd_fdw_v1``),
host functions, and routine calls with the uniform ``wasm fdw … : <routine>: <detail>`` errors.

Every routine is ``(req_ptr, req_len) -> i64`` with JSON in and ``{"ok": …}``/``{"err": …}`` out;
the host writes a request through the guest's ``proxyd_alloc`` and frees both buffers with
``proxyd_free`` afterwards. Each call runs under the server's deadline, fuel and memory cap
(:class:`plugins.wasm.runtime.GuestInstance.call`); a faulted instance is never reused.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from plugins.wasm.fdw import httpclient
from plugins.wasm.runtime import (
    I32,
    I64,
    GuestFault,
    GuestInstance,
    GuestInvalid,
    HostFunction,
    HostInterface,
)
from proxyd.errors import ProxydError

log = logging.getLogger("proxyd.plugin.wasm.fdw")

IMPORT_MODULE = "proxyd_fdw_v1"
MARKER = "proxyd_fdw_abi_1"
HOST_VERSION = "1.0.0"
ROUTINE = (("i32", "i32"), ("i64",))
REQUIRED = ("fdw_host_version_requirement", "fdw_init", "fdw_begin_scan", "fdw_iter_scan", "fdw_end_scan")
MODIFY = ("fdw_begin_modify", "fdw_insert", "fdw_update", "fdw_delete", "fdw_end_modify")
MAX_ERROR_BYTES = 1024
_SECRET_WORDS = ("key", "token", "secret", "password")


@dataclass
class TableStats:
    """Counters of one foreign table (``stats_wasm_fdw_tables``)."""

    scans: int = 0
    rescans: int = 0
    rows_out: int = 0
    inserts: int = 0
    updates: int = 0
    deletes: int = 0
    http_requests: int = 0
    http_bytes_in: int = 0
    errors: int = 0
    timeouts: int = 0
    fuel_exhausted: int = 0
    traps: int = 0
    guest_us: int = 0
    last_error: str = ""
    last_error_at: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str, n: int = 1) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + n)


@dataclass
class FdwCall:
    """What host functions see during one routine call."""

    inst: GuestInstance
    server: Any          # plugins.wasm.fdw.servers.LoadedServer
    label: str           # "shop.events"
    stats: TableStats
    warnings: list[str] | None = None


# -- host functions -----------------------------------------------------------------------------------
def _text(st: FdwCall, ctx: int, ptr: int, length: int) -> str:
    try:
        return st.inst.read(ctx, ptr & 0xFFFFFFFF, length & 0xFFFFFFFF).decode()
    except UnicodeDecodeError:
        raise GuestInvalid("text is not valid UTF-8") from None


def _http_request(st: FdwCall, ctx: int, a: Any) -> None:
    srv = st.server
    try:
        req = json.loads(_text(st, ctx, a[0].i32, a[1].i32))
    except ValueError:
        req = None
    if not isinstance(req, dict):
        reply: dict = {"err": "http: request is not a JSON object"}
    else:
        st.stats.add("http_requests")
        try:
            ok = httpclient.request(req, srv.allow, min(srv.http_timeout_ms, srv.limits.timeout_ms), srv.http_max_bytes)
            st.stats.add("http_bytes_in", len(ok.get("body") or ok.get("body_b64") or ""))
            reply = {"ok": ok}
        except httpclient.HttpRefused as exc:
            reply = {"err": str(exc)}
    data = json.dumps(reply, separators=(",", ":")).encode()
    st.inst.host_checkpoint(ctx)
    ptr = st.inst.alloc(ctx, len(data))
    if ptr == 0:
        raise GuestInvalid("proxyd_alloc returned 0 for an http reply")
    st.inst.write(ctx, ptr, data)
    a[0].i64 = (ptr << 32) | len(data)


_LEVELS = {0: logging.DEBUG, 1: logging.INFO, 2: logging.WARNING, 3: logging.ERROR}


def _log(st: FdwCall, ctx: int, a: Any) -> None:
    level = _LEVELS.get(a[0].i32, logging.INFO)
    text = _text(st, ctx, a[1].i32, min(a[2].i32 & 0xFFFFFFFF, 65536))
    log.log(level, "[wasm fdw %s (server %s)] %s", st.label, st.server.name, text)


def _warn(st: FdwCall, ctx: int, a: Any) -> None:
    text = _text(st, ctx, a[0].i32, min(a[1].i32 & 0xFFFFFFFF, 4096))
    if st.warnings is not None and len(st.warnings) < 64:
        st.warnings.append(text)
    log.info("[wasm fdw %s (server %s)] warning: %s", st.label, st.server.name, text)


def _now_ms(st: FdwCall, ctx: int, a: Any) -> None:
    a[0].i64 = int(time.time() * 1000)


def _stat_add(st: FdwCall, ctx: int, a: Any) -> None:
    name = _text(st, ctx, a[0].i32, min(a[1].i32 & 0xFFFFFFFF, 256))
    st.server.add_counter(name, a[2].i64)


MAX_KV_KEYS, MAX_KV_VALUE = 10_000, 16 * 1024 * 1024


class KvStore:
    """A server's key-value store shared by all its instances (and kept across loads, not restarts)."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.lock = threading.Lock()


def _kv_get(st: FdwCall, ctx: int, a: Any) -> None:
    key = st.inst.read(ctx, a[0].i32 & 0xFFFFFFFF, min(a[1].i32 & 0xFFFFFFFF, 1024))
    value = st.server.kv.data.get(key)
    if value is None:
        a[0].i64 = 0
        return
    st.inst.host_checkpoint(ctx)
    ptr = st.inst.alloc(ctx, max(1, len(value)))
    if ptr == 0:
        raise GuestInvalid("proxyd_alloc returned 0 for a kv value")
    st.inst.write(ctx, ptr, value)
    a[0].i64 = (ptr << 32) | len(value)


def _kv_set(st: FdwCall, ctx: int, a: Any) -> None:
    key = st.inst.read(ctx, a[0].i32 & 0xFFFFFFFF, min(a[1].i32 & 0xFFFFFFFF, 1024))
    length = a[3].i32 & 0xFFFFFFFF
    if length > MAX_KV_VALUE:
        raise GuestInvalid(f"kv value larger than {MAX_KV_VALUE} bytes")
    value = st.inst.read(ctx, a[2].i32 & 0xFFFFFFFF, length)
    kv = st.server.kv
    with kv.lock:
        if key not in kv.data and len(kv.data) >= MAX_KV_KEYS:
            raise GuestInvalid(f"kv store full ({MAX_KV_KEYS} keys)")
        kv.data[key] = value


FDW_ABI = HostInterface(
    import_module=IMPORT_MODULE,
    functions=[
        HostFunction("http_request", [I32, I32], [I64], _http_request),
        HostFunction("log", [I32, I32, I32], [], _log),
        HostFunction("warn", [I32, I32], [], _warn),
        HostFunction("now_ms", [], [I64], _now_ms),
        HostFunction("stat_add", [I32, I32, I64], [], _stat_add),
        HostFunction("kv_get", [I32, I32], [I64], _kv_get),
        HostFunction("kv_set", [I32, I32, I32, I32], [], _kv_set),
    ],
    required_exports={
        MARKER: ((), ()),
        "proxyd_alloc": (("i32",), ("i32",)),
        "proxyd_free": (("i32", "i32"), ()),
        **{name: ROUTINE for name in REQUIRED},
    },
    optional_exports={"_initialize": ((), ()), "fdw_re_scan": ROUTINE, "fdw_import_foreign_schema": ROUTINE,
                      **{name: ROUTINE for name in MODIFY}},
    marker=MARKER,
)


# -- routine calls ------------------------------------------------------------------------------------
class FdwError(ProxydError):
    """A failed routine: ``ERROR 1105 (HY000) guest fdw error: wasm fdw s.t (server x): <routine>: …``."""


def call_routine(st: FdwCall, routine: str, request: Any) -> Any:
    """Call ``routine`` with a JSON request and return its ``ok`` value; raise FdwError otherwise."""
    inst = st.inst
    started = time.perf_counter()
    try:
        return _call(st, inst, routine, request)
    except GuestFault as exc:
        inst.broken = True  # whatever failed, this instance is never reused
        kind = exc.kind
        st.stats.add({"timeout": "timeouts", "fuel": "fuel_exhausted", "trap": "traps"}.get(kind, "errors"))
        detail = str(exc) if kind != "invalid" else f"invalid reply: {exc}"
        raise fail(st, routine, detail) from None
    finally:
        st.stats.add("guest_us", int((time.perf_counter() - started) * 1e6))


def _call(st: FdwCall, inst: GuestInstance, routine: str, request: Any) -> Any:
    payload = b"" if request is None else json.dumps(request, separators=(",", ":")).encode()
    ptr = 0
    if payload:
        ptr = inst.call("proxyd_alloc", (len(payload),), st) & 0xFFFFFFFF
        if ptr == 0:
            raise GuestInvalid("proxyd_alloc returned 0")
        inst.write(inst.ctx, ptr, payload)
    packed = inst.call(routine, (ptr, len(payload)), st, result_i64=True) & 0xFFFFFFFFFFFFFFFF
    if ptr:
        inst.call("proxyd_free", (ptr, len(payload)), st)
    if packed == 0:
        return None
    rptr, rlen = packed >> 32, packed & 0xFFFFFFFF
    data = inst.read(inst.ctx, rptr, rlen)
    inst.call("proxyd_free", (rptr, rlen), st)
    try:
        reply = json.loads(data)
    except ValueError:
        raise GuestInvalid("not JSON") from None
    if not isinstance(reply, dict) or ("ok" in reply) == ("err" in reply):
        raise GuestInvalid('expected {"ok": …} or {"err": "…"}')
    if "err" in reply:
        inst.broken = True  # a failed routine may have left the guest mid-way: start afresh next time
        st.stats.add("errors")
        raise fail(st, routine, f"guest error: {reply['err']}")
    return reply["ok"]


def fail(st: FdwCall, routine: str, detail: str) -> FdwError:
    """The statement's error for a failed routine (also recorded as the table's last error)."""
    name = routine.removeprefix("fdw_")
    text = sanitize(f"wasm fdw {st.label} (server {st.server.name}): {name}: {detail}", st.server.options)
    with st.stats.lock:
        st.stats.last_error = text
        st.stats.last_error_at = time.strftime("%Y-%m-%d %H:%M:%S")
    return FdwError(f"guest fdw error: {text}", 1105, "HY000")


def sanitize(text: str, options: dict[str, str]) -> str:
    """Mask credential-like option values and cut to MAX_ERROR_BYTES before a client or log sees it."""
    for key, value in options.items():
        if len(value) >= 8 and any(w in key.lower() for w in _SECRET_WORDS):
            text = text.replace(value, "***")
    raw = text.encode()
    return raw[:MAX_ERROR_BYTES].decode(errors="ignore") if len(raw) > MAX_ERROR_BYTES else text
