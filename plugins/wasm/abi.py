"""ABI v1 of statement guests (filter actions): host functions in import module ``proxyd_v1``.

Every host function returns an i32 status (:data:`OK` …). Data crosses as ``(ptr, len)``: the guest
passes buffers it owns; data going to the guest is placed with the guest's ``proxyd_alloc`` and
its address and length are written (little-endian u32) to two out-pointers the guest supplied.
The reference for guest authors is ``docs/wasm-abi.md``; this module is its implementation.
"""

from __future__ import annotations

import json
import logging
import struct
import threading
from typing import Any

from plugins.wasm.resultcodec import decode_result, encode_result
from plugins.wasm.runtime import (
    I32,
    I64,
    GuestInstance,
    GuestInvalid,
    HostFunction,
    HostInterface,
)

log = logging.getLogger("proxyd.plugin.wasm")

IMPORT_MODULE = "proxyd_v1"
MARKER = "proxyd_abi_v1"
HOST_VERSION = "1.0.0"
BEFORE, AFTER = "proxyd_before_execution", "proxyd_after_execution"
ALLOC, REQUIREMENT = "proxyd_alloc", "proxyd_host_version_requirement"

# status codes returned by every host function
OK, NOT_FOUND, BAD_ARGUMENT, WRONG_STAGE, TOO_LARGE, ALLOC_FAILED = 0, 1, 2, 3, 4, 5

# event return codes
CONTINUE, FAIL, ANSWER = 0, 1, 2

MAX_KV_KEY, MAX_KV_VALUE, MAX_KV_KEYS, MAX_LOG = 256, 65536, 10_000, 4096
MAX_TO_GUEST = 16 * 1024 * 1024


class SharedStore:
    """The key-value store shared by every instance of one module (thread-safe, bounded)."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.lock = threading.Lock()

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def set(self, key: bytes, value: bytes) -> int:
        with self.lock:
            if key not in self.data and len(self.data) >= MAX_KV_KEYS:
                return TOO_LARGE
            self.data[key] = value
        return OK

    def add(self, key: bytes, delta: int) -> int | None:
        """Atomically add to an integer value (missing = 0); None if the value is not an integer."""
        with self.lock:
            old = self.data.get(key, b"0")
            try:
                new = int(old) + delta
            except ValueError:
                return None
            if key not in self.data and len(self.data) >= MAX_KV_KEYS:
                return None
            self.data[key] = str(new).encode()
            return new


class StatementCall:
    """What host functions see during one event call: the statement, the stage, the verdict so far.

    One is made per event call, so it is a plain slotted class (no dataclass machinery)."""

    __slots__ = ("config", "error", "inst", "kv", "module_name", "qctx", "result", "stage")

    def __init__(self, inst: GuestInstance, qctx: Any, stage: str, config: str, kv: SharedStore,
                 module_name: str) -> None:
        self.inst, self.qctx, self.config, self.kv = inst, qctx, config, kv
        self.stage = stage  # "before" | "after"
        self.module_name = module_name
        self.error: str | None = None  # set_error
        self.result: Any = None  # set_result (Ok | ResultSet)


def call_state(inst: GuestInstance, qctx: Any, stage: str, config: str, kv: SharedStore,
               module_name: str) -> StatementCall:
    """The instance's :class:`StatementCall`, reset for a new event: an instance serves one call at a
    time, so its call state is reused rather than allocated per statement."""
    st: StatementCall | None = getattr(inst, "_statement_call", None)
    if st is None:
        st = inst._statement_call = StatementCall(inst, qctx, stage, config, kv, module_name)  # type: ignore[attr-defined]
        return st
    st.qctx, st.stage, st.config, st.kv, st.module_name = qctx, stage, config, kv, module_name
    st.error = st.result = None
    return st


#: The call state of guests whose imports are all served in C (no Python host function can see or
#: change it): always blank, shared by every such call.
BLANK_CALL = StatementCall(None, None, "", "", None, "")  # type: ignore[arg-type]


# -- helpers ------------------------------------------------------------------------------------------
def _give(st: StatementCall, ctx: Any, args: Any, data: bytes, ptr_at: int, len_at: int) -> None:
    """Place ``data`` in guest memory (via proxyd_alloc) and report (ptr, len) through out-pointers."""
    if len(data) > MAX_TO_GUEST:
        args[0].i32 = TOO_LARGE
    elif st.inst.give(ctx, data, ptr_at & 0xFFFFFFFF, len_at & 0xFFFFFFFF):
        args[0].i32 = OK
    else:
        args[0].i32 = ALLOC_FAILED


def _text(st: StatementCall, ctx: Any, ptr: int, length: int) -> str:
    try:
        return st.inst.read(ctx, ptr & 0xFFFFFFFF, length & 0xFFFFFFFF).decode()
    except UnicodeDecodeError:
        raise GuestInvalid("text is not valid UTF-8") from None


# -- host functions -------------------------------------------------------------------------------------
def get_query(st: StatementCall, ctx: Any, a: Any) -> None:
    # the hot host call (most guests read the statement): _give inlined, one args element built.
    # On a native engine cb_get_query in _native_call.c does the same in C; keep the two in step.
    a0 = a[0]
    if st is None:  # outside an event (the host-version requirement, a start function)
        a0.i32 = NOT_FOUND
        return
    data = st.qctx.sql.encode()
    if len(data) > MAX_TO_GUEST:
        a0.i32 = TOO_LARGE
    else:
        a0.i32 = OK if st.inst.give(ctx, data, a0.i32 & 0xFFFFFFFF, a[1].i32 & 0xFFFFFFFF) else ALLOC_FAILED


def set_query(st: StatementCall, ctx: Any, a: Any) -> None:
    if st.stage != "before":
        a[0].i32 = WRONG_STAGE
        return
    sql = _text(st, ctx, a[0].i32, a[1].i32)
    if not sql.strip():
        a[0].i32 = BAD_ARGUMENT
        return
    st.qctx.sql = sql
    if st.inst.native is not None:  # a later get_query of this call is served in C: give it the new text
        st.inst.native.set_sql(sql)
    a[0].i32 = OK


def get_context(st: StatementCall, ctx: Any, a: Any) -> None:
    q = st.qctx
    info = {
        "stage": st.stage, "user": q.user, "client_address": q.client_address, "schema": q.schema,
        "connection_id": q.connection_id, "kind": q.kind, "digest": q.digest.hex,
        "digest_text": q.digest.text, "tables": [f"{s}.{t}" if s else t for s, t in q.tables],
        "module": st.module_name,
    }
    _give(st, ctx, a, json.dumps(info, separators=(",", ":")).encode(), a[0].i32, a[1].i32)


def get_config(st: StatementCall, ctx: Any, a: Any) -> None:
    _give(st, ctx, a, st.config.encode(), a[0].i32, a[1].i32)


def get_result(st: StatementCall, ctx: Any, a: Any) -> None:
    res = st.result if st.result is not None else st.qctx.result
    if res is None or (st.result is None and st.qctx.error is not None):
        a[0].i32 = NOT_FOUND
        return
    _give(st, ctx, a, encode_result(res), a[0].i32, a[1].i32)


def set_result(st: StatementCall, ctx: Any, a: Any) -> None:
    raw = st.inst.read(ctx, a[0].i32 & 0xFFFFFFFF, a[1].i32 & 0xFFFFFFFF)
    try:
        st.result = decode_result(raw)
    except ValueError as exc:
        log.warning("wasm module '%s': set_result refused: %s", st.module_name, exc)
        a[0].i32 = BAD_ARGUMENT
        return
    st.error = None
    a[0].i32 = OK


def get_error(st: StatementCall, ctx: Any, a: Any) -> None:
    err = st.error if st.error is not None else (st.qctx.error.message if st.qctx.error is not None else None)
    if err is None:
        a[0].i32 = NOT_FOUND
        return
    _give(st, ctx, a, err.encode(), a[0].i32, a[1].i32)


def set_error(st: StatementCall, ctx: Any, a: Any) -> None:
    msg = _text(st, ctx, a[0].i32, a[1].i32)
    st.error = msg[:1024] or "error"
    st.result = None
    a[0].i32 = OK


_LEVELS = {0: logging.DEBUG, 1: logging.INFO, 2: logging.WARNING, 3: logging.ERROR}


def log_message(st: StatementCall, ctx: Any, a: Any) -> None:
    level = _LEVELS.get(a[0].i32)
    if level is None:
        a[0].i32 = BAD_ARGUMENT
        return
    text = st.inst.read(ctx, a[1].i32 & 0xFFFFFFFF, min(a[2].i32 & 0xFFFFFFFF, MAX_LOG)).decode(errors="replace")
    log.log(level, "[wasm %s] %s", st.module_name, text)
    a[0].i32 = OK


def kv_get(st: StatementCall, ctx: Any, a: Any) -> None:
    key = st.inst.read(ctx, a[0].i32 & 0xFFFFFFFF, a[1].i32 & 0xFFFFFFFF)
    value = st.kv.get(key)
    if value is None:
        a[0].i32 = NOT_FOUND
        return
    _give(st, ctx, a, value, a[2].i32, a[3].i32)


def kv_set(st: StatementCall, ctx: Any, a: Any) -> None:
    klen, vlen = a[1].i32 & 0xFFFFFFFF, a[3].i32 & 0xFFFFFFFF
    if klen > MAX_KV_KEY or vlen > MAX_KV_VALUE:
        a[0].i32 = TOO_LARGE
        return
    key = st.inst.read(ctx, a[0].i32 & 0xFFFFFFFF, klen)
    value = st.inst.read(ctx, a[2].i32 & 0xFFFFFFFF, vlen)
    a[0].i32 = st.kv.set(key, value)


def kv_add(st: StatementCall, ctx: Any, a: Any) -> None:
    klen = a[1].i32 & 0xFFFFFFFF
    if klen > MAX_KV_KEY:
        a[0].i32 = TOO_LARGE
        return
    key = st.inst.read(ctx, a[0].i32 & 0xFFFFFFFF, klen)
    out = a[3].i32 & 0xFFFFFFFF
    new = st.kv.add(key, a[2].i64)
    if new is None:
        a[0].i32 = BAD_ARGUMENT
        return
    if out:
        st.inst.write(ctx, out, struct.pack("<q", new))
    a[0].i32 = OK


def _fn(name: str, params: list, impl: Any) -> HostFunction:
    return HostFunction(name, params, [I32], impl)


STATEMENT_ABI = HostInterface(
    import_module=IMPORT_MODULE,
    functions=[
        HostFunction("get_query", [I32, I32], [I32], get_query, native="get_query"),
        _fn("set_query", [I32, I32], set_query),
        _fn("get_context", [I32, I32], get_context),
        _fn("get_config", [I32, I32], get_config),
        _fn("get_result", [I32, I32], get_result),
        _fn("set_result", [I32, I32], set_result),
        _fn("get_error", [I32, I32], get_error),
        _fn("set_error", [I32, I32], set_error),
        _fn("log", [I32, I32, I32], log_message),
        _fn("kv_get", [I32, I32, I32, I32], kv_get),
        _fn("kv_set", [I32, I32, I32, I32], kv_set),
        _fn("kv_add", [I32, I32, I64, I32], kv_add),
    ],
    required_exports={
        MARKER: ((), ()),
        ALLOC: (("i32",), ("i32",)),
        REQUIREMENT: ((), ("i64",)),
    },
    optional_exports={BEFORE: ((), ("i32",)), AFTER: ((), ("i32",))},
    marker=MARKER,
)
