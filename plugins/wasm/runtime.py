"""The Wasm sandbox: engine, compile cache, validated modules, instance pools and guarded calls.

Knows nothing about filters or foreign tables: a *guest kind* (:class:`HostInterface`) names its
import module, host functions and required exports, and callers get back a :class:`GuestModule`
whose :class:`InstancePool` hands out ready :class:`GuestInstance` objects.

Hot path design (why this is not plain ``wasmtime.Func.__call__``): the high-level API looks up the
function type, converts every argument into a ``wasmtime_val_t`` and every host-function argument
back out of one on each call, which costs ~100 µs per statement for a guest that makes a few host
calls. Here each export is called through ``wasmtime_func_call_unchecked`` with a preallocated raw
value array, and host functions are defined once per engine with ``define_func_unchecked`` on a
:class:`wasmtime.Linker`; a host function finds its per-call state in a thread-local, because a
guest call runs synchronously on one thread.

When the optional C extension ``plugins/wasm/_native_call.c`` is built (and ``PROXYD_NO_NATIVE`` is
not set), engines are *native*: an outer call is one call into the extension (fuel, deadline, the
unchecked call), host functions with a C implementation (``get_query``) never enter Python, and the
Python host functions find the running call through the extension's thread-local instead. Both
paths give the same verdicts, errors and faults (tests/test_wasm_native.py).
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib
import importlib.metadata
import logging
import os
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import wasmtime
from wasmtime import _ffi as ffi

log = logging.getLogger("proxyd.plugin.wasm")


# -- raw C entry points ---------------------------------------------------------------------------
# A private handle on libwasmtime whose functions take and return plain addresses (ints): no
# pointer objects to build or cast per call, and the bindings' shared prototypes stay untouched.
# Calls that run guest code go through a CDLL handle, which releases the GIL (the epoch ticker must
# run while a guest spins). The few-instruction accessors go through a PyDLL handle, which keeps it:
# cheaper, and no other thread can take the GIL in the middle of a statement.
_lib = ctypes.CDLL(ffi.dll._name)
_lib_gil = ctypes.PyDLL(ffi.dll._name)
_VP, _SZ, _U64 = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint64


def _proto(name: str, restype: Any, *argtypes: Any, lib: Any = _lib) -> Any:
    fn = getattr(lib, name)
    fn.restype, fn.argtypes = restype, list(argtypes)
    return fn


_call_unchecked = _proto("wasmtime_func_call_unchecked", _VP, _VP, _VP, _VP, _SZ, _VP)
_set_fuel = _proto("wasmtime_context_set_fuel", _VP, _VP, _U64, lib=_lib_gil)
_set_epoch_deadline = _proto("wasmtime_context_set_epoch_deadline", None, _VP, _U64, lib=_lib_gil)
_memory_data = _proto("wasmtime_memory_data", _VP, _VP, _VP, lib=_lib_gil)
_memory_data_size = _proto("wasmtime_memory_data_size", _SZ, _VP, _VP, lib=_lib_gil)
_caller_context = _proto("wasmtime_caller_context", _VP, _VP, lib=_lib_gil)
_RAW_ARGS = ctypes.POINTER(ffi.wasmtime_val_raw)
_U32, _U32X2 = struct.Struct("<I"), struct.Struct("<II")
_clock = time.perf_counter
_HOST_CALLBACK = ctypes.CFUNCTYPE(_SZ, _VP, _VP, _RAW_ARGS, _SZ)
_define_func_unchecked = _proto("wasmtime_linker_define_func_unchecked", _VP, _VP, ctypes.c_char_p, _SZ,
                                ctypes.c_char_p, _SZ, _VP, _VP, _VP, _VP)  # callback: a CFUNCTYPE or an address

# -- the native call path (plugins/wasm/_native_call.c), optional --------------------------------
# Built by setup.py when a C compiler is there; PROXYD_NO_NATIVE=1 (read once, when the plugin is
# imported at start-up) keeps the ctypes path. The extension gets wasmtime's functions from the
# library wasmtime-py loaded: one wasmtime in the process, nothing linked at build time.
NATIVE_DISABLED = os.environ.get("PROXYD_NO_NATIVE", "").strip() not in ("", "0")
_native: Any = None
NATIVE_ERROR = "disabled by PROXYD_NO_NATIVE" if NATIVE_DISABLED else ""
if not NATIVE_DISABLED:
    try:
        _native = importlib.import_module("plugins.wasm._native_call")
    except ImportError as exc:
        NATIVE_ERROR = f"not built ({exc})"
    else:
        try:
            _native.setup(tuple(ctypes.cast(getattr(_lib, name), ctypes.c_void_p).value for name in (
                "wasmtime_func_call_unchecked", "wasmtime_context_set_fuel", "wasmtime_context_set_epoch_deadline",
                "wasmtime_memory_data", "wasmtime_memory_data_size", "wasmtime_caller_context", "wasmtime_trap_new",
                "wasmtime_error_delete", "wasm_trap_delete")), ctypes.sizeof(ffi.wasmtime_val_raw))
        except (AttributeError, RuntimeError) as exc:  # a wasmtime this extension was not written for
            log.warning("wasm: native call path not used: %s", exc)
            _native, NATIVE_ERROR = None, f"unusable ({exc})"
NATIVE = _native is not None  #: the native call path is available (and not disabled)
_ticker: Any = None  # plugins/wasm/_native_ticker.c: the epoch ticker without the GIL, optional too
if not NATIVE_DISABLED:
    try:
        _ticker = importlib.import_module("plugins.wasm._native_ticker")
    except ImportError:
        pass

try:
    WASMTIME_VERSION = importlib.metadata.version("wasmtime")
except importlib.metadata.PackageNotFoundError:  # pragma: no cover - vendored copies
    WASMTIME_VERSION = "unknown"
PAGE = 65536


# -- faults ---------------------------------------------------------------------------------------
class GuestFault(Exception):
    """A guest call that did not complete normally; its instance must not be reused."""

    kind = "fault"


class GuestTrap(GuestFault):
    kind = "trap"


class GuestTimeout(GuestFault):
    kind = "timeout"


class GuestFuelExhausted(GuestFault):
    kind = "fuel"


class GuestInvalid(GuestFault):
    """The guest broke the ABI: a bad return value, an out-of-bounds buffer, bad UTF-8 or JSON."""

    kind = "invalid"


class ModuleRefused(Exception):
    """A module cannot be loaded: invalid bytes, missing export, ABI or host-version mismatch."""


@dataclass(frozen=True)
class Limits:
    """Per-module sandbox limits applied to every call."""

    timeout_ms: int = 100
    fuel: int = 100_000_000  # instructions-ish; 0 = unlimited
    max_memory_mb: int = 16


# -- host interfaces --------------------------------------------------------------------------------
I32, I64 = wasmtime.ValType.i32(), wasmtime.ValType.i64()

#: ``fn(call_state, caller_ctx, raw_args) -> None``: reads ``raw_args[i]``, writes results to
#: ``raw_args[0]``. Must not raise for guest mistakes (return a status code instead).
HostFn = Callable[[Any, Any, Any], None]


@dataclass
class HostFunction:
    name: str
    params: Sequence[wasmtime.ValType]
    results: Sequence[wasmtime.ValType]
    impl: HostFn
    #: the name of an equivalent C implementation in ``_native_call`` (used on native engines)
    native: str | None = None


@dataclass
class HostInterface:
    """One guest kind: the import module it links against and the exports it must provide."""

    import_module: str
    functions: Sequence[HostFunction]
    required_exports: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]  # name -> (params, results)
    optional_exports: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=dict)
    marker: str = ""  # an export whose presence says "this module targets this ABI"


_tls = threading.local()


def _tls_instance() -> GuestInstance:
    return _tls.inst


def _native_instance() -> GuestInstance:
    return _native.current().owner  # None outside a call: AttributeError, which becomes a trap


_KEEP_ALIVE: list[Any] = []  # ctypes callbacks must outlive every linker that refers to them


def _make_trampoline(fn: HostFunction, native: bool) -> Any:
    """A Python host function as a ctypes callback; ``native``: for an engine whose calls run
    through ``_native_call`` (the running instance is found there instead of in a thread-local)."""
    impl = fn.impl
    name = fn.name
    current = _native_instance if native else _tls_instance

    def trampoline(_env, caller, args, _nargs):
        inst = None
        try:
            inst = current()
            inst.host_enter()
            ctx = inst.ctx if inst.caller_is_store else _caller_context(caller)
            if inst.caller_is_store is None:  # same pointer as the store's context? then skip the call
                inst.caller_is_store = ctx == inst.ctx
            impl(inst.state, ctx, args)
            inst.host_checkpoint(ctx)
            return 0
        except GuestFault as exc:  # the guest broke the ABI (or a nested call faulted): abort the call
            if inst.host_fault is None:  # type: ignore[union-attr]  # the first (innermost) fault is the cause
                inst.host_fault = exc  # type: ignore[union-attr]
            return ctypes.cast(wasmtime.Trap(str(exc))._consume(), ctypes.c_void_p).value
        except BaseException as exc:  # noqa: BLE001 - a host bug must become a trap, never unwind through wasm
            log.error("host function %s failed: %s: %s", name, type(exc).__name__, exc)
            trap = wasmtime.Trap(f"host function {name} failed: {type(exc).__name__}")
            return ctypes.cast(trap._consume(), ctypes.c_void_p).value

    cb = _HOST_CALLBACK(trampoline)
    _KEEP_ALIVE.append(cb)
    return cb


# -- engine -----------------------------------------------------------------------------------------
class WasmEngine:
    """One wasmtime Engine with fuel and epoch interruption, an epoch ticker and a compile cache."""

    def __init__(self, *, tick_ms: int = 5, cache_dir: Path | None = None, native: bool | None = None):
        #: calls run through the C extension (``_native_call``); None: whenever it is available
        self.native = NATIVE if native is None else bool(native and NATIVE)
        cfg = wasmtime.Config()
        cfg.consume_fuel = True
        cfg.epoch_interruption = True
        cfg.memory_may_move = False  # a guest memory keeps its address: GuestInstance.view relies on it
        self.engine = wasmtime.Engine(cfg)
        self.tick_ms = max(1, tick_ms)
        self.cache_dir = cache_dir
        self._compiled: dict[str, wasmtime.Module] = {}  # sha256 -> Module (memory cache)
        self._linkers: dict[str, wasmtime.Linker] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._native_ticker: Any = None
        self.resume()

    def _tick(self, stop: threading.Event) -> None:
        while not stop.wait(self.tick_ms / 1000):
            self.engine.increment_epoch()

    def resume(self) -> None:
        """Start the epoch ticker (again): without it no deadline would ever expire. A POSIX thread
        (``_native_ticker``) when built: it never takes the GIL, so an idle engine costs the event
        loop nothing; else a Python thread."""
        if _ticker is not None:
            if self._native_ticker is None or not self._native_ticker.alive:
                self._native_ticker = _ticker.Ticker(
                    ctypes.cast(_lib.wasmtime_engine_increment_epoch, ctypes.c_void_p).value,
                    ctypes.cast(self.engine.ptr(), ctypes.c_void_p).value, float(self.tick_ms), self.engine)
            return
        if self._ticker is None or not self._ticker.is_alive():
            self._stop = threading.Event()
            self._ticker = threading.Thread(target=self._tick, args=(self._stop,), name="wasm-epoch", daemon=True)
            self._ticker.start()

    @property
    def ticking(self) -> bool:
        t = self._native_ticker if _ticker is not None else self._ticker
        return t is not None and (t.alive if _ticker is not None else t.is_alive())

    def close(self) -> None:
        """Stop the ticker (the plugin stops); :meth:`resume` restarts it."""
        self._stop.set()
        if self._native_ticker is not None:
            self._native_ticker.stop()
            self._native_ticker = None

    def deadline_ticks(self, timeout_ms: int) -> int:
        # +1: the current tick may be almost over when the call starts
        return -(-timeout_ms // self.tick_ms) + 1

    def linker(self, iface: HostInterface) -> wasmtime.Linker:
        """A linker with the interface's host functions (defined once, shared by every store)."""
        with self._lock:
            linker = self._linkers.get(iface.import_module)
            if linker is None:
                linker = wasmtime.Linker(self.engine)
                mod = iface.import_module.encode()
                in_c = _native.callbacks() if self.native else {}
                for fn in iface.functions:
                    ty = wasmtime.FuncType(list(fn.params), list(fn.results))
                    name = fn.name.encode()
                    cb = in_c.get(fn.native) if fn.native else None
                    if cb is None:
                        cb = _make_trampoline(fn, self.native)
                    err = _define_func_unchecked(_addr(linker.ptr()), mod, len(mod), name, len(name),
                                                 _addr(ty.ptr()), cb, None, None)
                    if err:
                        raise _error(err)
                self._linkers[iface.import_module] = linker
            return linker

    # -- compilation, cached in memory and on disk ----------------------------------------------
    def compile(self, wasm: bytes, sha256: str) -> tuple[wasmtime.Module, str]:
        """Compile verified bytes (the caller checked ``sha256``); returns the module and where it came from."""
        with self._lock:
            mod = self._compiled.get(sha256)
            if mod is not None:
                return mod, "memory"
        mod, source = self._from_disk(sha256), "disk"
        if mod is None:
            try:
                mod, source = wasmtime.Module(self.engine, wasm), "compiled"
            except wasmtime.WasmtimeError as exc:
                raise ModuleRefused(f"invalid module: {_first_line(exc)}") from None
            self._to_disk(sha256, mod)
        with self._lock:
            self._compiled[sha256] = mod
        return mod, source

    def forget(self, keep: set[str]) -> None:
        """Drop compiled modules no longer in use from the memory cache."""
        with self._lock:
            for sha in list(self._compiled):
                if sha not in keep:
                    del self._compiled[sha]

    def _artifact(self, sha256: str) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / f"{sha256}-{WASMTIME_VERSION}.cwasm"

    def _from_disk(self, sha256: str) -> wasmtime.Module | None:
        """A cached artifact is native code: use it only if its own digest matches the one recorded."""
        path = self._artifact(sha256)
        if path is None or not path.exists():
            return None
        digest_file = path.with_suffix(".cwasm.sha256")
        try:
            data = path.read_bytes()
            if not digest_file.exists() or hashlib.sha256(data).hexdigest() != digest_file.read_text().strip():
                log.warning("wasm cache: %s does not match its recorded digest; recompiling", path.name)
                path.unlink(missing_ok=True)
                return None
            return wasmtime.Module.deserialize(self.engine, data)
        except (OSError, wasmtime.WasmtimeError) as exc:
            log.warning("wasm cache: cannot use %s (%s); recompiling", path.name, exc)
            path.unlink(missing_ok=True)
            return None

    def _to_disk(self, sha256: str, mod: wasmtime.Module) -> None:
        path = self._artifact(sha256)
        if path is None:
            return
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            data = bytes(mod.serialize())
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_bytes(data)
            path.with_suffix(".cwasm.sha256").write_text(hashlib.sha256(data).hexdigest())
            tmp.replace(path)
        except OSError as exc:
            log.warning("wasm cache: cannot write %s: %s", path, exc)


def _addr(ptr: Any) -> int:
    return ctypes.cast(ptr, ctypes.c_void_p).value or 0


def _error(err: int) -> wasmtime.WasmtimeError:
    return wasmtime.WasmtimeError._from_ptr(ctypes.cast(err, ctypes.POINTER(ffi.wasmtime_error_t)))


def _cause(exc: Any) -> str:
    """The useful line of a wasmtime error: what follows "Caused by:", else the first line."""
    text = str(getattr(exc, "message", None) or exc)
    if "Caused by:" in text:
        rest = [ln.strip() for ln in text.split("Caused by:", 1)[1].splitlines() if ln.strip()]
        if rest:
            return rest[0]
    return _first_line(exc)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# -- modules and instances --------------------------------------------------------------------------
def _sig(ty: wasmtime.FuncType) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return tuple(str(p) for p in ty.params), tuple(str(r) for r in ty.results)


class GuestModule:
    """A compiled, validated module plus its limits and instance pool."""

    def __init__(self, engine: WasmEngine, iface: HostInterface, name: str, wasm: bytes, sha256: str,
                 limits: Limits, *, max_idle: int = 16):
        self.engine, self.iface, self.name, self.sha256, self.limits = engine, iface, name, sha256, limits
        started = time.perf_counter()
        self.module, self.compiled_from = engine.compile(wasm, sha256)
        self.compile_ms = (time.perf_counter() - started) * 1000
        self.exports = self._validate()
        self.imports = {imp.name for imp in self.module.imports}
        #: the guest imports get_query: its event calls hand the statement text to the C path
        self.reads_query = "get_query" in self.imports
        #: imports served by Python host functions (on a native engine, those without a C implementation)
        in_c = {f.name for f in iface.functions if f.native in _native.callbacks()} if engine.native else set()
        self.python_imports = self.imports - in_c
        self.linker = engine.linker(iface)
        self.pool = InstancePool(self, max_idle)
        self.memory_cap = limits.max_memory_mb * 1024 * 1024

    def _validate(self) -> set[str]:
        exports = {e.name: e.type for e in self.module.exports}
        if self.iface.marker and self.iface.marker not in exports:
            raise ModuleRefused(f"module does not export {self.iface.marker} (not built for this ABI)")
        mem = exports.get("memory")
        if not isinstance(mem, wasmtime.MemoryType):
            raise ModuleRefused("module does not export its linear memory as 'memory'")
        if mem.limits.min * PAGE > self.limits.max_memory_mb * 1024 * 1024:
            raise ModuleRefused(f"module needs {mem.limits.min * PAGE // 1024} KiB of memory at start, "
                                f"above its limit of {self.limits.max_memory_mb} MiB")
        wanted = {**self.iface.required_exports, **self.iface.optional_exports}
        for name, sig in wanted.items():
            ty = exports.get(name)
            if ty is None:
                if name in self.iface.required_exports:
                    raise ModuleRefused(f"module does not export {name}")
                continue
            if not isinstance(ty, wasmtime.FuncType) or _sig(ty) != sig:
                raise ModuleRefused(f"export {name} has the wrong type (expected {_fmt(sig)})")
        provided = {f.name: _sig(wasmtime.FuncType(list(f.params), list(f.results))) for f in self.iface.functions}
        for imp in self.module.imports:
            if imp.module != self.iface.import_module or imp.name not in provided:
                raise ModuleRefused(f"module imports {imp.module}.{imp.name}, which this host does not provide")
            if not isinstance(imp.type, wasmtime.FuncType) or _sig(imp.type) != provided[imp.name]:
                raise ModuleRefused(f"import {imp.module}.{imp.name} has the wrong type "
                                    f"(this host provides {_fmt(provided[imp.name])})")
        return {n for n in wanted if n in exports}

    def instantiate(self) -> GuestInstance:
        return NativeGuestInstance(self) if self.engine.native else GuestInstance(self)

    def fast_event(self, export: str, timings: deque[int], fold: int) -> Any:
        """A C callable doing the usual call of ``export`` (``_native_call.FastEvent``: idle instance,
        call, release, the call's µs appended to ``timings``), or None where calls cannot take it:
        the ctypes path, a module that does not export it, or host functions in Python."""
        if not self.engine.native or self.python_imports or export not in self.exports:
            return None
        return _native.FastEvent(self.pool.idle, self.pool.max_idle, timings, fold, export, self.reads_query)


def _fmt(sig: tuple[tuple[str, ...], tuple[str, ...]]) -> str:
    return f"({', '.join(sig[0])}) -> ({', '.join(sig[1])})"


class GuestInstance:
    """One store + instance with raw handles on its exports; discarded after any fault."""

    def __init__(self, module: GuestModule):
        self.module = module
        self.store = wasmtime.Store(module.engine.engine)
        self.store.set_limits(memory_size=module.memory_cap, instances=1, tables=4, memories=1)
        self.ctx = _addr(self.store._context())
        limits = module.limits
        self.fuel = limits.fuel or (1 << 62)
        self.deadline = module.engine.deadline_ticks(limits.timeout_ms)
        self.store.set_fuel(self.fuel)
        self.store.set_epoch_deadline(self.deadline)
        try:
            self.instance = module.linker.instantiate(self.store, module.module)
        except wasmtime.Trap as exc:
            raise GuestTrap(f"trapped while starting: {_cause(exc)}") from None
        except wasmtime.WasmtimeError as exc:
            raise GuestTrap(f"could not be instantiated: {_cause(exc)}") from None
        exports = self.instance.exports(self.store)
        self.memory: wasmtime.Memory = exports["memory"]
        self.mem = ctypes.addressof(self.memory._memory)
        self._trap = ctypes.c_void_p()
        self._trap_addr = ctypes.addressof(self._trap)
        # name -> (func address, raw value array, its address, its length, i64 flags of the params)
        self.funcs: dict[str, tuple[int, Any, int, int, tuple[bool, ...]]] = {}
        iface = module.iface
        for name in module.exports:
            params, results = iface.required_exports.get(name) or iface.optional_exports[name]
            raw = (ffi.wasmtime_val_raw * max(1, len(params), len(results)))()
            func = exports[name]._func
            self.funcs[name] = (ctypes.addressof(func), raw, ctypes.addressof(raw), len(raw),
                                tuple(p == "i64" for p in params))
            setattr(self, f"_keep_{name}", func)  # the struct must outlive its address
        self.broken = False
        self.started = self.host_started = self.host_time = 0.0
        self.state: Any = None  # what host functions see during a call
        self._alloc = self.funcs.get("proxyd_alloc")

    #: the caller context host functions receive is this store's context (checked on the first host call)
    caller_is_store: bool | None = None
    #: the C call path of this instance (:class:`NativeGuestInstance`), None on the ctypes path
    native: Any = None
    #: why a host function aborted the running call (reported instead of the trap it returned)
    host_fault: GuestFault | None = None

    def host_enter(self) -> None:
        """A host function starts (its time is measured by :meth:`host_checkpoint`)."""
        self.host_started = _clock()

    def has(self, name: str) -> bool:
        return name in self.funcs

    # -- memory (ctx: the store's or a host function's caller context) --------------------------
    def read(self, ctx: int, ptr: int, length: int) -> bytes:
        """Copy ``length`` bytes at ``ptr`` out of guest memory (bounds-checked)."""
        size = _memory_data_size(ctx, self.mem)
        if ptr < 0 or length < 0 or ptr + length > size:
            raise GuestInvalid(f"buffer out of bounds ({ptr}+{length} > {size})")
        return ctypes.string_at(_memory_data(ctx, self.mem) + ptr, length)

    def write(self, ctx: int, ptr: int, data: bytes) -> None:
        size = _memory_data_size(ctx, self.mem)
        if ptr < 0 or ptr + len(data) > size:
            raise GuestInvalid(f"buffer out of bounds ({ptr}+{len(data)} > {size})")
        ctypes.memmove(_memory_data(ctx, self.mem) + ptr, data, len(data))

    def alloc(self, ctx: int, size: int) -> int:
        """Nested call of the guest's ``proxyd_alloc`` from inside a host function (0 = failed)."""
        func, raw, raw_addr, n, _ = self._alloc
        raw[0].i32 = size
        err = _call_unchecked(ctx, func, raw_addr, n, self._trap_addr)
        if err or self._trap.value:
            self.broken = True
            trap, self._trap.value = self._trap.value, None
            raise self._classify(err or 0, trap)
        return raw[0].i32 & 0xFFFFFFFF

    def give(self, ctx: int, data: bytes, ptr_at: int, len_at: int) -> bool:
        """Place ``data`` via ``proxyd_alloc`` and store (ptr, len) as little-endian u32 at the two
        out-pointers; False if the guest's allocator returned 0."""
        ptr = 0
        n = len(data)
        if n:
            self.host_checkpoint(ctx)  # host time so far is not the guest's
            ptr = self.alloc(ctx, n)
            if ptr == 0:
                return False
        view = self.view(ctx, max(ptr + n, ptr_at + 4, len_at + 4))
        if n:
            view[ptr:ptr + n] = data
        if len_at == ptr_at + 4:  # the usual layout: one write for both
            _U32X2.pack_into(view, ptr_at, ptr, n)
        else:
            _U32.pack_into(view, ptr_at, ptr)
            _U32.pack_into(view, len_at, n)
        return True

    # A writable view of guest memory, kept between calls: writing through it costs no foreign call.
    # The engine never moves a memory (memory_may_move off), so only growth past the view refreshes it.
    _view: memoryview | None = None
    _view_size = 0

    def view(self, ctx: int, end: int) -> memoryview:
        """Guest memory as a writable byte view covering at least ``[0, end)``; GuestInvalid if
        ``end`` lies beyond the memory."""
        if end > self._view_size:
            size = _memory_data_size(ctx, self.mem)
            if end > size:
                raise GuestInvalid(f"buffer out of bounds (memory is {size} bytes)")
            base = _memory_data(ctx, self.mem)
            self._view = memoryview((ctypes.c_ubyte * size).from_address(base)).cast("B")
            self._view_size = size
        return self._view  # type: ignore[return-value]

    def write_many(self, ctx: int, items: Sequence[tuple[int, bytes]]) -> None:
        """Several writes with one look-up of the memory's base and size."""
        size = _memory_data_size(ctx, self.mem)
        for ptr, data in items:
            if ptr < 0 or ptr + len(data) > size:
                raise GuestInvalid(f"buffer out of bounds ({ptr}+{len(data)} > {size})")
        base = _memory_data(ctx, self.mem)
        for ptr, data in items:
            ctypes.memmove(base + ptr, data, len(data))

    def memory_size(self) -> int:
        return _memory_data_size(self.ctx, self.mem)

    # -- calls ----------------------------------------------------------------------------------
    def call(self, name: str, args: Sequence[int], state: Any, *, ctx: int = 0, result_i64: bool = False) -> int:
        """Call export ``name`` with integer args under the module's deadline and fuel.

        ``state`` is what host functions see as their call state. ``ctx`` is given for a nested
        call from inside a host function (the caller's context; the outer call's limits apply).
        Raises a :class:`GuestFault` subclass; the instance is then marked broken.
        """
        func, raw, raw_addr, n = self._place(name, args)
        if ctx:
            err = _call_unchecked(ctx, func, raw_addr, n, self._trap_addr)
        else:
            _set_fuel(self.ctx, self.fuel)
            _set_epoch_deadline(self.ctx, self.deadline)
            prev, _tls.inst, self.host_fault = getattr(_tls, "inst", None), self, None
            self.state, self.started, self.host_time = state, _clock(), 0.0
            try:
                err = _call_unchecked(self.ctx, func, raw_addr, n, self._trap_addr)
            finally:
                _tls.inst, self.state = prev, None
        if err or self._trap.value:
            self.broken = True
            raise self._fault(err, nested=bool(ctx))
        return raw[0].i64 if result_i64 else raw[0].i32

    def _place(self, name: str, args: Sequence[int]) -> tuple[int, Any, int, int]:
        """Export ``name``'s raw value array with ``args`` in place: (func, array, its address, length)."""
        func, raw, raw_addr, n, wide = self.funcs[name]
        for i, a in enumerate(args):
            if wide[i]:
                raw[i].i64 = a
            else:
                raw[i].i32 = a
        return func, raw, raw_addr, n

    def call_event(self, name: str, state: Any, text: str | None = None) -> int:
        """:meth:`call` for an export without parameters returning i32, from outside any guest call:
        the per-statement path, without the generic argument handling. ``text``: the statement, for
        host functions implemented in C (ignored here: Python host functions read ``state``)."""
        func, raw, raw_addr, n, _ = self.funcs[name]
        ctx = self.ctx
        _set_fuel(ctx, self.fuel)
        _set_epoch_deadline(ctx, self.deadline)
        tls = _tls
        prev = getattr(tls, "inst", None)
        tls.inst, self.host_fault = self, None
        self.state, self.started, self.host_time = state, _clock(), 0.0
        try:
            err = _call_unchecked(ctx, func, raw_addr, n, self._trap_addr)
        finally:
            tls.inst, self.state = prev, None
        if err or self._trap.value:
            self.broken = True
            raise self._fault(err, nested=False)
        return raw[0].i32

    def host_checkpoint(self, ctx: int) -> None:
        """Inside a host function (before re-entering the guest, and on return): slow host work
        (a first parse, …) is not charged to the guest, so the epoch deadline moves by that much."""
        now = _clock()
        spent, self.host_started = now - self.host_started, now
        if spent > 0.001:
            self.host_time += spent
            guest_ms = (now - self.started - self.host_time) * 1000
            left = max(0.0, self.module.limits.timeout_ms - guest_ms)
            _set_epoch_deadline(ctx, self.module.engine.deadline_ticks(int(left) + 1))

    def _fault(self, err: int, *, nested: bool) -> GuestFault:
        trap, self._trap.value = self._trap.value, None
        host_fault = self.host_fault
        if host_fault is not None and not nested:  # a host function aborted the call: report why
            self.host_fault = None
            _discard(err, trap)
            return host_fault
        return self._classify(err, trap)

    def _classify(self, err: int, trap: int | None) -> GuestFault:
        """The fault of a call that returned ``err`` (a wasmtime_error_t address) or ``trap``; takes
        ownership of both."""
        if err:
            cause: Any = _error(err)
            code = None
            _discard(0, trap)
        else:
            cause = wasmtime.Trap._from_ptr(ctypes.cast(trap, ctypes.POINTER(ffi.wasm_trap_t)))
            code = cause.trap_code
        limits = self.module.limits
        if code == wasmtime.TrapCode.INTERRUPT:
            return GuestTimeout(f"deadline of {limits.timeout_ms} ms exceeded")
        if code == wasmtime.TrapCode.OUT_OF_FUEL:
            return GuestFuelExhausted(f"fuel limit of {limits.fuel} exhausted")
        text = f"guest trapped: {_cause(cause)}"
        used = self.memory_size()
        if used * 2 >= self.module.memory_cap:
            text += f" (memory {used / 1048576:.1f} MiB of its {limits.max_memory_mb} MiB limit in use)"
        return GuestTrap(text)


def _discard(err: int, trap: int | None) -> None:
    """Free an error and a trap nobody will read (their wrappers free them)."""
    if err:
        _error(err)
    if trap:
        wasmtime.Trap._from_ptr(ctypes.cast(trap, ctypes.POINTER(ffi.wasm_trap_t)))


class NativeGuestInstance(GuestInstance):
    """A guest instance whose outer calls run through ``_native_call`` (one C call per event: fuel,
    deadline, the call, the result), with host functions that have a C implementation (get_query)
    served without entering Python. Nested calls from Python host functions use the ctypes path."""

    def __init__(self, module: GuestModule):
        super().__init__(module)
        alloc = self._alloc[0] if self._alloc else 0
        self.native = _native.Handle(self, self.ctx, self.mem, alloc, self._trap_addr, self.fuel, self.deadline,
                                     float(module.limits.timeout_ms), float(module.engine.tick_ms))
        self.host_checkpoint = self.native.checkpoint  # type: ignore[method-assign]
        self.host_enter = self.native.host_enter  # type: ignore[method-assign]

    @property  # type: ignore[override]
    def state(self) -> Any:
        """What host functions see: the running call's state, held by the handle."""
        return self.native.state

    @state.setter
    def state(self, value: Any) -> None:
        if value is not None:
            raise AttributeError("a native instance's call state is set by its calls")

    def call(self, name: str, args: Sequence[int], state: Any, *, ctx: int = 0, result_i64: bool = False) -> int:
        if ctx:  # nested, from inside a host function: the outer call's limits and handle apply
            return super().call(name, args, state, ctx=ctx, result_i64=result_i64)
        func, raw, raw_addr, n = self._place(name, args)
        if self.native.call(func, raw_addr, n, None, state) is None:
            self.broken = True
            raise self._native_fault()
        return raw[0].i64 if result_i64 else raw[0].i32

    def call_event(self, name: str, state: Any, text: str | None = None) -> int:
        func, _, raw_addr, n, _ = self.funcs[name]
        rc = self.native.call(func, raw_addr, n, text, state)
        if rc is None:
            self.broken = True
            raise self._native_fault()
        return rc

    def _native_fault(self) -> GuestFault:
        """Classify a failed native call; a fault raised inside a C host function comes first."""
        h = self.native
        err, found = h.last_error, h.take_fault()
        if found is None:
            return self._fault(err, nested=False)
        trap, self._trap.value = self._trap.value, None
        self.host_fault = None
        _discard(err, trap)  # the outer call's trap only says that the host function aborted it
        kind, detail = found
        if kind == "invalid":
            return GuestInvalid(detail)
        # the nested proxyd_alloc call failed: timeout, fuel, a trap of its own, or an error
        return self._classify(0, detail) if kind == "trap" else self._classify(detail, None)


class InstancePool:
    """Ready instances of one module; a broken instance is dropped instead of returned."""

    def __init__(self, module: GuestModule, max_idle: int):
        self.module, self.max_idle = module, max_idle
        self.idle: deque[GuestInstance] = deque()
        self.created = 0
        self.discarded = 0

    def acquire(self) -> GuestInstance:
        try:
            return self.idle.pop()
        except IndexError:
            self.created += 1
            return self.module.instantiate()

    def release(self, inst: GuestInstance) -> None:
        if inst.broken:
            self.discarded += 1
        elif len(self.idle) < self.max_idle:
            self.idle.append(inst)

    def warm(self, n: int = 1) -> None:
        for _ in range(n - len(self.idle)):
            self.idle.append(self.module.instantiate())
            self.created += 1
