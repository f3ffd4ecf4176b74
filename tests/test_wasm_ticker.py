"""The wasm engine's epoch ticker (plugins/wasm/_native_ticker.c when built, a Python thread else).

Guest deadlines only expire while something adds epochs: the ticker must run from engine creation,
stop with close() (PROXYD STOP) and come back with resume() (PROXYD START). The deadline tests of
test_wasm.py (looping guests) exercise it end to end; these check the ticker itself.
"""

from __future__ import annotations

import threading
import time

import pytest

from plugins.wasm import runtime

native_ticker = pytest.importorskip("plugins.wasm._native_ticker", reason="the optional C extension is not built")


def _wait_for(check, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return False


def test_engine_ticks_without_a_python_thread():
    if runtime._ticker is None:
        pytest.skip("PROXYD_NO_NATIVE is set: the Python ticker runs")
    engine = runtime.WasmEngine(tick_ms=2)
    try:
        assert engine.ticking and engine._native_ticker is not None
        assert not any(t.name == "wasm-epoch" for t in threading.enumerate())
        first = engine._native_ticker.ticks
        assert _wait_for(lambda: engine._native_ticker.ticks >= first + 5)
        engine.close()
        assert not engine.ticking
        engine.resume()
        assert engine.ticking and _wait_for(lambda: engine._native_ticker.ticks >= 3)
    finally:
        engine.close()


def test_ticker_keeps_its_engine_and_refuses_nonsense():
    import ctypes

    import wasmtime

    engine = wasmtime.Engine(wasmtime.Config())
    fn = ctypes.cast(runtime._lib.wasmtime_engine_increment_epoch, ctypes.c_void_p).value
    ptr = ctypes.cast(engine.ptr(), ctypes.c_void_p).value
    t = native_ticker.Ticker(fn, ptr, 1.0, engine)
    del engine  # the ticker holds it: the thread's pointer stays valid
    assert _wait_for(lambda: t.ticks >= 3)
    t.stop()
    stopped_at = t.ticks
    time.sleep(0.02)
    assert t.ticks == stopped_at and not t.alive
    for bad in ((0, ptr, 1.0, None), (fn, 0, 1.0, None), (fn, ptr, 0.0, None)):
        with pytest.raises(ValueError):
            native_ticker.Ticker(*bad)
