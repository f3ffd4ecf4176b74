"""The WASM_PLUGIN per-statement path's shortcuts keep their guarantees.

In-process, with real wasmtime: the cached view of guest memory follows memory growth, the engine
never moves a memory (what that cache relies on), and an event the module does not export costs no
guest call. The daemon-level behaviour is covered by test_wasm.py.
"""

from __future__ import annotations

import hashlib
import types

import pytest

from plugins.wasm import abi
from plugins.wasm.action import GuestRunner
from plugins.wasm.modules import ModuleStats, load_module
from plugins.wasm.runtime import NATIVE, NATIVE_ERROR, WasmEngine, _memory_data
from proxyd.pipeline import QueryContext
from tests.test_wasm_native import ECHO, guest

# The guest: reads the statement (get_query) and hands the same bytes back (set_query); its bump
# allocator starts over at every event and grows the memory when a statement does not fit.
ECHO_WASM = guest(before_body=ECHO)


@pytest.fixture(scope="module", params=[
    pytest.param(True, id="native", marks=pytest.mark.skipif(not NATIVE, reason=f"native call path {NATIVE_ERROR}")),
    pytest.param(False, id="ctypes")])
def engine(request):
    eng = WasmEngine(tick_ms=2, native=request.param)
    assert eng.native is request.param
    yield eng
    eng.close()


@pytest.fixture()
def echo(engine):
    wasm = ECHO_WASM
    row = {"name": "echo.wasm", "sha256": hashlib.sha256(wasm).hexdigest(), "size": len(wasm), "wasm": wasm,
           "abi": "1", "timeout_ms": 1000, "fuel": 0, "max_memory_mb": 16, "failure_policy": "fail_closed"}
    return load_module(engine, row, abi.SharedStore(), ModuleStats(), max_idle=4)


def _runner(mod) -> GuestRunner:
    plugin = types.SimpleNamespace(modules=types.SimpleNamespace(modules={mod.name: mod}), inline_max=60_000)
    return GuestRunner(plugin, mod.name, "")  # type: ignore[arg-type]


def test_statement_round_trip_across_memory_growth(echo):
    runner = _runner(echo)
    # small, then larger than the first page (the guest grows its memory mid-call), then small again
    for sql in ("SELECT 1", "SELECT '" + "é" * 150_000 + "'", "SELECT 2", "SELECT '" + "x" * 400_000 + "'"):
        ctx = QueryContext(sql)
        assert runner.before(ctx) is None
        assert ctx.sql == sql and ctx.sql is not sql  # set_query stored the bytes get_query placed
    inst = echo.guest.pool.idle[-1]
    assert echo.guest.pool.created == 1  # one instance served every size: its memory view was refreshed
    assert inst.caller_is_store is True
    assert inst._statement_call.qctx is None  # the reused call state does not keep a statement alive
    assert echo.stats.calls == 4 and echo.stats.errors == echo.stats.invalid == 0


def test_memory_does_not_move_when_it_grows(echo):
    inst = echo.guest.pool.acquire()
    base = _memory_data(inst.ctx, inst.mem)
    pages = inst.memory.size(inst.store)
    assert inst.memory.grow(inst.store, 64) == pages
    assert _memory_data(inst.ctx, inst.mem) == base  # GuestInstance.view keeps addresses across growth
    echo.guest.pool.release(inst)


def test_event_the_module_does_not_export_runs_no_guest(echo):
    runner = _runner(echo)
    ctx = QueryContext("SELECT 1")
    assert runner.after(ctx) is None  # ECHO has no proxyd_after_execution
    assert echo.stats.calls == 0 and echo.guest.pool.created == 1  # only the load-time instance
