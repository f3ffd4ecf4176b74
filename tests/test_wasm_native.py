"""The native call path (plugins/wasm/_native_call.c) against the ctypes path it accelerates.

In-process, with real wasmtime: the C path is the one taken when the extension is built (and only
then), and both paths give the same verdicts, the same errors and the same sandbox faults, including
the faults that only the C implementation of ``get_query`` can raise (its nested ``proxyd_alloc``
call trapping, looping, running out of fuel, handing back a bad pointer). The daemon-level tests in
test_wasm.py run on both paths too.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import threading
import types
from pathlib import Path

import pytest
import wasmtime

from plugins.wasm import abi
from plugins.wasm.action import GuestRunner, call_guest
from plugins.wasm.modules import ModuleStats, load_module
from plugins.wasm.runtime import NATIVE, NATIVE_ERROR, GuestInstance, ModuleRefused, NativeGuestInstance, WasmEngine
from proxyd.errors import ProxydError
from proxyd.pipeline import QueryContext

REPO = Path(__file__).resolve().parent.parent
WAT = REPO / "examples" / "wasm" / "wat"
BUILT = importlib.util.find_spec("plugins.wasm._native_call") is not None
needs_native = pytest.mark.skipif(not NATIVE, reason=f"native call path {NATIVE_ERROR}")


@pytest.fixture(scope="module")
def engines():
    """(native engine, ctypes engine); the first is None when the extension is not available."""
    native = WasmEngine(tick_ms=2, native=True) if NATIVE else None
    py = WasmEngine(tick_ms=2, native=False)
    yield native, py
    for eng in (native, py):
        if eng is not None:
            eng.close()


def load(engine: WasmEngine, wasm: bytes, **kw):
    row = {"name": "g.wasm", "sha256": hashlib.sha256(wasm).hexdigest(), "size": len(wasm), "wasm": wasm, "abi": "1",
           "timeout_ms": 20, "fuel": 50_000_000, "max_memory_mb": 16, "failure_policy": "fail_closed"}
    row.update(kw)
    return load_module(engine, row, abi.SharedStore(), ModuleStats(), max_idle=4)


def before(mod, sql: str, config: str = ""):
    return call_guest(mod, QueryContext(sql), "before", abi.BEFORE, config)


def outcome_text(result) -> tuple:
    """What the client would see, comparable across paths."""
    outcome, fault = result
    if isinstance(outcome, ProxydError):
        return ("error", outcome.code, outcome.message)
    return ("fault", fault) if fault is not None else ("outcome", repr(outcome))


# -- which path runs ---------------------------------------------------------------------------------
def test_environment_selects_the_path():
    code = "import plugins.wasm.runtime as r; print(r.NATIVE, r.NATIVE_ERROR or '-')"
    env = {k: v for k, v in os.environ.items() if k != "PROXYD_NO_NATIVE"}
    off = subprocess.run([sys.executable, "-c", code], env={**env, "PROXYD_NO_NATIVE": "1"}, cwd=REPO,
                         capture_output=True, text=True, check=True).stdout.split(maxsplit=1)
    assert off == ["False", "disabled by PROXYD_NO_NATIVE\n"]
    on = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True,
                        check=True).stdout.split()
    assert on[0] == str(BUILT)  # built: used by default; not built: the ctypes path, and it says why
    # an extension that cannot be imported (not built): the ctypes path, and the reason is kept
    missing = "import sys; sys.modules['plugins.wasm._native_call'] = None; " + code
    out = subprocess.run([sys.executable, "-c", missing], env=env, cwd=REPO, capture_output=True, text=True,
                         check=True).stdout
    assert out.startswith("False not built (")


@needs_native
def test_native_path_is_the_one_taken(engines):
    native, py = engines
    mod = load(native, bytes(wasmtime.wat2wasm((WAT / "allow.wat").read_text())))
    inst = mod.guest.pool.idle[-1]
    assert isinstance(inst, NativeGuestInstance) and mod.guest.python_imports == set()
    calls, host_calls = inst.native.calls, inst.native.host_calls
    for i in range(5):
        assert before(mod, f"SELECT {i}") == (None, None)
    assert mod.guest.pool.idle[-1] is inst
    assert (inst.native.calls - calls, inst.native.host_calls - host_calls) == (5, 5)  # get_query served in C
    # the ctypes engine's instances have no handle
    other = load(py, bytes(wasmtime.wat2wasm((WAT / "allow.wat").read_text())))
    assert type(other.guest.pool.idle[-1]) is GuestInstance and other.guest.pool.idle[-1].native is None
    assert other.guest.python_imports == {"get_query"}


@needs_native
def test_filter_path_settles_the_usual_call_in_c(engines):
    """Through a filter's runner, the allow guest's usual call is settled by FastEvent: the pool and
    the stats see it exactly as call_guest would have done it."""
    native, _ = engines
    mod = load(native, bytes(wasmtime.wat2wasm((WAT / "allow.wat").read_text())))
    runner, inst = runner_for(mod), mod.guest.pool.idle[-1]
    calls, host_calls = inst.native.calls, inst.native.host_calls
    for i in range(7):
        assert runner.before(QueryContext(f"SELECT {i}")) is None
    assert mod.fast_before.settled == 7 and (inst.native.calls - calls, inst.native.host_calls - host_calls) == (7, 7)
    assert list(mod.guest.pool.idle) == [inst] and mod.stats.calls == 7 and mod.stats.max_us >= 0


@needs_native
def test_fast_path_folds_stats_and_falls_back_on_an_empty_pool(engines):
    native, _ = engines
    wasm = bytes(wasmtime.wat2wasm((WAT / "allow.wat").read_text()))
    stats = ModuleStats()
    stats.FOLD = 3  # FastEvent asks for a fold once 3 calls are pending
    row = {"name": "g.wasm", "sha256": hashlib.sha256(wasm).hexdigest(), "size": len(wasm), "wasm": wasm,
           "abi": "1", "timeout_ms": 20, "fuel": 50_000_000, "max_memory_mb": 16, "failure_policy": "fail_closed"}
    mod = load_module(native, row, abi.SharedStore(), stats, max_idle=4)
    runner = runner_for(mod)
    for i in range(10):
        assert runner.before(QueryContext(f"SELECT {i}")) is None
        assert len(stats.pending) <= 3
    assert mod.fast_before.settled == 10 and stats.calls == 10
    # a pool that keeps no idle instance: FastEvent finds none and the usual path serves every call
    empty = load_module(native, row, abi.SharedStore(), ModuleStats(), max_idle=0)
    runner = runner_for(empty)
    for i in range(3):
        assert runner.before(QueryContext(f"DELETE FROM t{i}")) is None
    assert empty.fast_before.settled == 0 and empty.stats.calls == 3 and empty.guest.pool.created == 4


@needs_native
def test_python_host_functions_run_under_the_native_path(engines):
    """A guest mixing C and Python host functions: the Python ones find their call via the C handle."""
    native, _ = engines
    mod = load(native, bytes(wasmtime.wat2wasm((WAT / "counter.wat").read_text())))
    inst = mod.guest.pool.idle[-1]
    assert mod.guest.python_imports  # kv_add and friends stay Python
    calls = inst.native.calls
    for _ in range(3):
        assert before(mod, "SELECT 1") == (None, None)
    assert inst.native.calls - calls == 3 and mod.kv.get(b"statements") == b"3"


# -- equivalence ---------------------------------------------------------------------------------------
GUEST = """(module
  (import "proxyd_v1" "get_query" (func $get_query (param i32 i32) (result i32)))
  (import "proxyd_v1" "set_query" (func $set_query (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (data (i32.const 16) "^1.0")
  (data (i32.const 24) "=9.9")
  (data (i32.const 32) "X1")
  (func (export "proxyd_abi_v1"))
  (func (export "proxyd_host_version_requirement") (result i64) REQUIREMENT)
  (func (export "proxyd_alloc") (param $n i32) (result i32) ALLOC)
  ;; the verdict carries what get_query did: status * 1000 + the length it reported + 10, so that
  ;; the host's "invalid reply: before event returned N" shows it
  (func (export "proxyd_before_execution") (result i32) (local $s i32) BEFORE)
)"""
BUMP = """(local $p i32)
    (local.set $p (global.get $heap))
    (if (i32.gt_u (i32.add (local.get $p) (local.get $n)) (i32.mul (memory.size) (i32.const 65536)))
      (then (if (i32.eq (memory.grow (i32.add (i32.shr_u (local.get $n) (i32.const 16)) (i32.const 1))) (i32.const -1))
        (then (return (i32.const 0))))))
    (global.set $heap (i32.add (local.get $p) (local.get $n)))
    (local.get $p)"""
REPORT = """(global.set $heap (i32.const 1024))
    (local.set $s (call $get_query (i32.const 0) (i32.const 4)))
    (i32.add (i32.add (i32.mul (local.get $s) (i32.const 1000)) (i32.load (i32.const 4))) (i32.const 10))"""
VERSION_OK = "(i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 4))"


def guest(alloc: str = BUMP, before_body: str = REPORT, requirement: str = VERSION_OK) -> bytes:
    """A guest importing get_query, and set_query only when it calls it (imports all in C: the
    native engine's FastEvent path; with set_query: the Python call-state path)."""
    text = GUEST.replace("REQUIREMENT", requirement).replace("ALLOC", alloc).replace("BEFORE", before_body)
    if "call $set_query" not in text:
        text = text.replace('  (import "proxyd_v1" "set_query" (func $set_query (param i32 i32) (result i32)))\n', "")
    return bytes(wasmtime.wat2wasm(text))


def runner_for(mod) -> GuestRunner:
    plugin = types.SimpleNamespace(modules=types.SimpleNamespace(modules={mod.name: mod}), inline_max=60_000)
    return GuestRunner(plugin, mod.name, "", "wasm:f")  # type: ignore[arg-type]


def runner_text(out) -> str | None:
    return None if out is None else out.message


def returned(n: int) -> tuple:
    return ("fault", f"invalid reply: before event returned {n}, expected 0, 1 or 2")


# (name, guest bytes, row limits, statement, what both paths must give)
CASES = [
    ("reads the statement", guest(), {}, "SELECT 1", returned(18)),
    ("empty statement: no allocation", guest(alloc="(unreachable)"), {}, "", returned(10)),
    ("non-ASCII statement: UTF-8 length", guest(), {}, "SELECT 'é'", returned(21)),
    ("statement larger than the memory: the allocator grows it", guest(), {}, "S" * 200_000, returned(200_010)),
    ("statement above 16 MiB: TOO_LARGE", guest(), {}, "S" * (16 * 1024 * 1024 + 1), returned(4010)),
    ("statement of exactly 16 MiB is given", guest(), {"max_memory_mb": 64}, "S" * (16 * 1024 * 1024),
     returned(16 * 1024 * 1024 + 10)),
    ("allocator returns 0: ALLOC_FAILED", guest(alloc="(i32.const 0)"), {}, "SELECT 1", returned(5010)),
    ("allocator traps", guest(alloc="(unreachable)"), {}, "SELECT 1",
     ("fault", "guest trapped: wasm trap: wasm `unreachable` instruction executed")),
    ("allocator loops: deadline", guest(alloc="(loop $l (br $l)) (i32.const 0)"), {}, "SELECT 1",
     ("fault", "deadline of 20 ms exceeded")),
    ("allocator loops: fuel", guest(alloc="(loop $l (br $l)) (i32.const 0)"), {"fuel": 100_000, "timeout_ms": 5000},
     "SELECT 1", ("fault", "fuel limit of 100000 exhausted")),
    ("allocator hands back a pointer past the memory", guest(alloc="(i32.const 0x7fff0000)"), {}, "SELECT 1",
     ("fault", "buffer out of bounds (memory is 65536 bytes)")),
    ("out-pointer past the memory", guest(before_body="(drop (call $get_query (i32.const 0) (i32.const 0x7ffffff0))) "
                                                      "(i32.const 0)"), {}, "SELECT 1",
     ("fault", "buffer out of bounds (memory is 65536 bytes)")),
    ("out-pointer straddling the end of the memory", guest(before_body="(drop (call $get_query (i32.const 65533) "
                                                                       "(i32.const 4))) (i32.const 0)"), {}, "SELECT 1",
     ("fault", "buffer out of bounds (memory is 65536 bytes)")),
    ("out-pointers at the very end of the memory", guest(before_body="(call $get_query (i32.const 65532) "
                                                                     "(i32.const 65528))"), {}, "SELECT 1",
     ("outcome", "None")),
    ("text that is not UTF-8 (a lone surrogate)", guest(), {}, "SELECT '\udcff'",
     ("fault", "guest trapped: host function get_query failed: UnicodeEncodeError")),
    ("get_query after set_query reads the new text", guest(before_body="""(global.set $heap (i32.const 1024))
    (drop (call $set_query (i32.const 32) (i32.const 2)))
    (drop (call $get_query (i32.const 0) (i32.const 4)))
    (i32.load8_u (i32.load (i32.const 0)))"""), {}, "SELECT 1", returned(ord("X"))),
]


@pytest.mark.parametrize("name, wasm, limits, sql, expected", CASES, ids=[c[0] for c in CASES])
def test_same_outcome_on_both_paths(engines, name, wasm, limits, sql, expected):
    results = []
    for engine in engines:
        if engine is None:
            continue
        mod = load(engine, wasm, **limits)
        got = outcome_text(before(mod, sql))
        faulted = got[0] == "fault"
        counters = (mod.stats.calls, mod.stats.traps + mod.stats.timeouts + mod.stats.fuel_exhausted + mod.stats.invalid,
                    mod.guest.pool.discarded)
        assert counters == ((1, 1, 1) if faulted else (1, 0, 0)), (name, engine.native, counters)
        # a faulted instance is discarded (never reused): the next call gets a fresh one, same answer
        assert outcome_text(before(mod, sql)) == got
        assert mod.guest.pool.created == (2 if faulted else 1)  # the load-time one, then a fresh one after the fault
        # the filter's path: on the native engine a guest importing only get_query runs in C (FastEvent)
        fast = mod.fast_before
        assert (fast is not None) == (engine.native and b"set_query" not in wasm), (name, engine.native)
        settled = fast.settled if fast is not None else 0
        out = runner_text(runner_for(mod).before(QueryContext(sql)))
        if fast is not None:
            assert fast.settled - settled == (1 if out is None else 0)  # only CONTINUE is settled in C
        results.append((got, out))
        assert mod.stats.calls == 3 and mod.guest.pool.created == (3 if faulted else 1)
    want = None if expected[0] == "outcome" else (
        f"error from wasm plugin at before execution stage: wasm module 'g.wasm': {expected[1]}")
    assert results[0] == (expected, want)
    assert all(r == results[0] for r in results), results


def test_get_query_outside_an_event_is_not_found(engines):
    """The host-version requirement may call get_query: there is no statement, NOT_FOUND (1)."""
    body = """(if (result i64) (i32.eq (call $get_query (i32.const 0) (i32.const 4)) (i32.const 1))
      (then """ + VERSION_OK + """) (else (i64.or (i64.shl (i64.const 24) (i64.const 32)) (i64.const 4))))"""
    for engine in engines:
        if engine is not None:
            mod = load(engine, guest(requirement=body))
            assert mod.requirement == "^1.0"
    # and the check can fail: a guest that demands another status is refused
    strict = body.replace("(i32.const 1))", "(i32.const 0))", 1)
    for engine in engines:
        if engine is not None:
            with pytest.raises(ModuleRefused, match="requires host version '=9.9'"):
                load(engine, guest(requirement=strict))


def test_reentrant_get_query_faults_on_both_paths(engines):
    """An allocator that calls get_query again recurses until the wasm stack runs out: the innermost
    fault is the one reported, the instance is discarded, the module serves on."""
    alloc = "(drop (call $get_query (i32.const 8) (i32.const 12))) (i32.const 2048)"
    for engine in engines:
        if engine is None:
            continue
        mod = load(engine, guest(alloc=alloc))
        assert before(mod, "SELECT 1") == (None, "guest trapped: wasm trap: call stack exhausted")
        assert mod.guest.pool.discarded == 1 and mod.stats.traps == 1
        assert before(mod, "") == (None, returned(10)[1])


ECHO = """(global.set $heap (i32.const 1024))
    (if (call $get_query (i32.const 0) (i32.const 4)) (then (return (i32.const 1))))
    (if (call $set_query (i32.load (i32.const 0)) (i32.load (i32.const 4))) (then (return (i32.const 1))))
    (i32.const 0)"""


def test_native_calls_from_many_threads(engines):
    """Each thread's call finds its own instance and statement (the C thread-local): a guest that hands
    every statement back through set_query never returns another thread's."""
    native, _ = engines
    if native is None:
        pytest.skip(f"native call path {NATIVE_ERROR}")
    mod = load(native, guest(before_body=ECHO))
    bad: list = []

    def work(k: int) -> None:
        for i in range(300):
            ctx = QueryContext(f"SELECT {k}, {i}")
            if call_guest(mod, ctx, "before", abi.BEFORE, "") != (None, None) or ctx.sql != f"SELECT {k}, {i}":
                bad.append((k, i, ctx.sql))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad, bad[:3]
    assert mod.stats.calls == 1200 and 1 <= mod.guest.pool.created <= 5


# -- the statement path's bookkeeping ------------------------------------------------------------------
def test_module_stats_are_exact_without_a_lock_per_call():
    stats = ModuleStats()
    stats.FOLD = 64  # fold often, racing the appends
    per, threads_n = 5000, 4

    def work(k: int) -> None:
        for i in range(per):
            stats.record(k * 10 + i % 7)
            if i % 1000 == 0:
                stats.record(1, "trap", f"t{k}")

    def reader() -> None:
        for _ in range(200):
            stats.snapshot()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(threads_n)] + [threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    snap = stats.snapshot()
    expected_total = sum(k * 10 + i % 7 for k in range(threads_n) for i in range(per)) + threads_n * 5
    assert snap["calls"] == threads_n * (per + 5) and snap["traps"] == threads_n * 5
    assert snap["total_us"] == expected_total and snap["max_us"] == (threads_n - 1) * 10 + 6
    assert stats.calls == snap["calls"] and not stats.pending


def test_inline_limit_follows_variable_changes():
    """wasm-inline_max_timeout_ms is cached on the plugin and updated when the runtime value changes."""
    import types

    from plugins.wasm.plugin import WasmPlugin
    from proxyd.variables import VariableRegistry

    from proxyd.services import Services

    registry = VariableRegistry()
    core = types.SimpleNamespace(variables=registry, plain_idle=set())
    plugin = WasmPlugin()
    plugin.services = Services(core, "wasm")  # type: ignore[arg-type]  # (only .variables is used)
    plugin._listen_for_inline_max()
    assert plugin.inline_max == 20
    registry.apply({"wasm-inline_max_timeout_ms": "250"})
    assert plugin.inline_max == 250
    registry.apply({"wasm-pool_max_idle": "3"})  # another variable: unchanged
    assert plugin.inline_max == 250
    registry.undefine_owner("wasm")  # the plugin unloads: its listener goes with it
    registry.apply({"wasm-inline_max_timeout_ms": "7"})
    assert plugin.inline_max == 250
