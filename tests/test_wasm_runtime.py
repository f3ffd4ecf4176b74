"""The wasm sandbox in-process: real wasmtime, the example WAT guests, every fault kind, module refusals.

Daemon-level behaviour (the SQL port, the admin table, the CLI) is in test_wasm.py; here the
runtime is exercised directly so each fault can be checked precisely and fast.
"""

from __future__ import annotations

import hashlib
import threading
import types
from pathlib import Path

import pytest
import wasmtime

from plugins.wasm import abi
from plugins.wasm.action import GuestRunner, call_guest, parse_args
from plugins.wasm.modules import ModuleSet, ModuleStats, load_module, version_matches
from plugins.wasm.runtime import NATIVE, NATIVE_ERROR, ModuleRefused, WasmEngine
from proxyd.errors import ParseError
from proxyd.pipeline import QueryContext
from proxyd.results import Ok, ResultSet

WAT = Path(__file__).resolve().parent.parent / "examples" / "wasm" / "wat"


# both call paths: the C extension (when built) and the ctypes path (PROXYD_NO_NATIVE=1)
@pytest.fixture(scope="module", params=[
    pytest.param(True, id="native", marks=pytest.mark.skipif(not NATIVE, reason=f"native call path {NATIVE_ERROR}")),
    pytest.param(False, id="ctypes")])
def engine(request, tmp_path_factory):
    eng = WasmEngine(tick_ms=2, cache_dir=tmp_path_factory.mktemp("cache"), native=request.param)
    assert eng.native is request.param
    yield eng
    eng.close()


def wasm_of(text: str) -> bytes:
    return bytes(wasmtime.wat2wasm(text))


def row(name: str, wasm: bytes, **kw) -> dict:
    r = {"name": name, "sha256": hashlib.sha256(wasm).hexdigest(), "size": len(wasm), "wasm": wasm, "abi": "1",
             "timeout_ms": 20, "fuel": 50_000_000, "max_memory_mb": 16, "failure_policy": "fail_closed", "active": 1, "comment": ""}
    r.update(kw)
    return r


def example(name: str) -> bytes:
    return wasm_of((WAT / name).read_text())


def load(engine, name: str, wasm: bytes, **kw):
    return load_module(engine, row(name, wasm, **kw), abi.SharedStore(), ModuleStats(), max_idle=4)


def before(mod, sql: str, config: str = ""):
    return call_guest(mod, QueryContext(sql), "before", abi.BEFORE, config)


# -- the interceptor -------------------------------------------------------------------------------
@pytest.mark.parametrize("sql, refused", [
    ("DELETE FROM test_wasm.t1", True),
    ("delete from t1 where c1 = 1", False),
    ("UPDATE t1 SET c2 = 'where'", True),          # WHERE inside a string does not count
    ("/* hint */ update t1 set c2 = 1 WHERE c1 = 2", False),
    ("DELETE FROM `where`", True),                 # nor as a quoted identifier
    ("delete from t1 where_x", True),              # nor as part of a longer word
    ("SELECT * FROM t1", False),
    ("INSERT INTO t1 VALUES (1, 2)", False),
])
def test_interceptor_verdicts(engine, sql, refused):
    mod = load(engine, "interceptor.wasm", example("interceptor.wat"))
    outcome, fault = before(mod, sql)
    assert fault is None
    if refused:
        assert outcome.message == "error from wasm plugin at before execution stage: no where clause"
        assert (outcome.code, outcome.sqlstate) == (1105, "HY000")
    else:
        assert outcome is None


def test_pool_reuses_instances(engine):
    mod = load(engine, "allow.wasm", example("allow.wat"))
    for _ in range(50):
        assert before(mod, "SELECT 1") == (None, None)
    assert mod.guest.pool.created == 1 and mod.guest.pool.discarded == 0
    assert mod.stats.calls == 50 and mod.stats.max_us > 0


def test_shared_store_counts_across_threads(engine):
    mod = load(engine, "counter.wasm", example("counter.wat"))

    def work():
        for _ in range(200):
            assert before(mod, "SELECT 1") == (None, None)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert mod.kv.get(b"statements") == b"800"
    assert mod.guest.pool.created >= 1


# -- faults: each one is reported, counted, and its instance is thrown away -----------------------
@pytest.mark.parametrize("mode, kind, text", [
    ("loop", "timeouts", "deadline of 20 ms exceeded"),
    ("bomb", "traps", "MiB limit in use"),
    ("trap", "traps", "guest trapped: wasm trap: wasm `unreachable` instruction executed"),
    ("garbage", "invalid", "invalid reply: before event returned 42, expected 0, 1 or 2"),
    ("oob", "invalid", "buffer out of bounds"),
    ("recurse", "traps", "guest trapped: wasm trap: call stack exhausted"),
])
def test_faults(engine, mode, kind, text):
    mod = load(engine, "misbehave.wasm", example("misbehave.wat"), max_memory_mb=2)
    outcome, fault = before(mod, "SELECT 1", f"mode={mode}")
    assert outcome is None and text in fault
    assert getattr(mod.stats, kind) == 1 and mod.stats.last_error == fault
    assert mod.guest.pool.discarded == 1 and not mod.guest.pool.idle
    # the module keeps serving with a fresh instance
    assert before(mod, "SELECT 1", "mode=none") == (None, None)
    assert mod.guest.pool.created == 2


def test_fuel_exhausted(engine):
    mod = load(engine, "spin.wasm", example("misbehave.wat"), fuel=100_000, timeout_ms=5000)
    assert before(mod, "SELECT 1", "mode=loop") == (None, "fuel limit of 100000 exhausted")
    assert mod.stats.fuel_exhausted == 1


# -- refusals at load time -------------------------------------------------------------------------
PRELUDE = """(memory (export "memory") 1) (data (i32.const 16) "{req}")
  (func (export "proxyd_abi_v1"))
  (func (export "proxyd_host_version_requirement") (result i64)
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const {n})))
  (func (export "proxyd_alloc") (param i32) (result i32) (i32.const 0))"""


def module_text(body: str, req: str = "^1.0", imports: str = "") -> str:
    return f"(module {imports} {PRELUDE.format(req=req, n=len(req))} {body})"


BEFORE_OK = '(func (export "proxyd_before_execution") (result i32) (i32.const 0))'


@pytest.mark.parametrize("text, reason", [
    (module_text(BEFORE_OK, "^2.0"), "guest requires host version '^2.0'; this host is 1.0.0"),
    (module_text(BEFORE_OK, ">=1.1"), "guest requires host version '>=1.1'"),
    (module_text(""), "exports neither proxyd_before_execution nor proxyd_after_execution"),
    (module_text(BEFORE_OK, imports='(import "wasi_snapshot_preview1" "fd_write" '
                 '(func (param i32 i32 i32 i32) (result i32)))'), "module imports wasi_snapshot_preview1.fd_write, which this host does not provide"),
    (module_text(BEFORE_OK, imports='(import "proxyd_v1" "get_query" (func (param i32) (result i32)))'),
     "import proxyd_v1.get_query has the wrong type"),
    (module_text('(func (export "proxyd_before_execution") (result i64) (i64.const 0))'),
     "export proxyd_before_execution has the wrong type"),
    ('(module (memory (export "memory") 1) (func (export "proxyd_before_execution") (result i32) (i32.const 0)))',
     "module does not export proxyd_abi_v1"),
    (module_text(BEFORE_OK).replace('(memory (export "memory") 1)', '(memory (export "memory") 100)'),
     "above its limit of 2 MiB"),
])
def test_refusals(engine, text, reason):
    with pytest.raises(ModuleRefused, match=None) as info:
        load(engine, "bad.wasm", wasm_of(text), max_memory_mb=2)
    assert reason in str(info.value)


def test_row_checks(engine):
    good = example("allow.wat")
    cases = [
        ({"sha256": "0" * 64}, "module sha256 mismatch: expected 000"),
        ({"sha256": "SHA256:abc"}, "sha256 must be 64 lowercase hex digits"),
        ({"size": 1}, "size 1 does not match the module"),
        ({"abi": "2"}, "abi '2' is not supported"),
        ({"timeout_ms": 0}, "timeout_ms must be an integer from 1 to 60000"),
        ({"failure_policy": "maybe"}, "failure_policy must be one of fail_closed, fail_open"),
        ({"wasm": b"", "size": 0, "sha256": hashlib.sha256(b"").hexdigest()}, "wasm must be a non-empty BLOB"),
    ]
    for change, reason in cases:
        with pytest.raises(ModuleRefused) as info:
            load_module(engine, row("x.wasm", good) | change, abi.SharedStore(), ModuleStats(), max_idle=1)
        assert reason in str(info.value), change
    garbage = b"\0asm\x01\0\0\0garbage"
    with pytest.raises(ModuleRefused, match="invalid module"):
        load(engine, "junk.wasm", garbage)


def test_module_set_is_all_or_nothing(engine):
    ms = ModuleSet(lambda: engine, lambda: 4)
    ms.load([row("a.wasm", example("allow.wat")), row("c.wasm", example("counter.wat"))])
    first = ms.modules["a.wasm"]
    tampered = row("a.wasm", example("interceptor.wat")) | {"sha256": "1" * 64}
    with pytest.raises(ModuleRefused, match="wasm module 'a.wasm': module sha256 mismatch"):
        ms.load([tampered, row("c.wasm", example("counter.wat"))])
    assert ms.modules["a.wasm"] is first and set(ms.modules) == {"a.wasm", "c.wasm"}
    # unchanged rows keep their loaded module (and pool); changed bytes get a new one
    ms.load([row("a.wasm", example("allow.wat")), row("c.wasm", example("interceptor.wat"))])
    assert ms.modules["a.wasm"] is first
    assert before(ms.modules["c.wasm"], "DELETE FROM t")[0] is not None
    ms.load([row("a.wasm", example("allow.wat"), active=0)])
    assert set(ms.modules) == set() and len(ms.rows) == 1


def test_disk_cache_is_verified(tmp_path):
    wasm = example("allow.wat")
    sha = hashlib.sha256(wasm).hexdigest()
    eng = WasmEngine(cache_dir=tmp_path)
    try:
        _, source = eng.compile(wasm, sha)
        assert source == "compiled"
        eng.forget(set())
        assert eng.compile(wasm, sha)[1] == "disk"
        eng.forget(set())
        artifact = next(tmp_path.glob("*.cwasm"))
        data = bytearray(artifact.read_bytes())
        data[len(data) // 2] ^= 0xFF
        artifact.write_bytes(bytes(data))
        assert eng.compile(wasm, sha)[1] == "compiled"  # the tampered artifact was not deserialized
        assert eng.compile(wasm, sha)[1] == "memory"
    finally:
        eng.close()


def test_version_matching():
    assert version_matches("^1.0") and version_matches("~1.0") and version_matches("=1.0.0")
    assert version_matches(">=1.0,<2") and version_matches("1.0.0")
    assert not version_matches("^1.1") and not version_matches("^2") and not version_matches("<1")
    with pytest.raises(ModuleRefused, match="invalid host version requirement"):
        version_matches("one")


def test_action_args():
    assert parse_args('wasm_binary_name="my_plugin.wasm"') == {"wasm_binary_name": "my_plugin.wasm"}
    assert parse_args("wasm_binary_name='a.wasm'; mode=loop") == {"wasm_binary_name": "a.wasm", "mode": "loop"}
    with pytest.raises(ParseError, match="cannot parse"):
        parse_args('"unterminated')


def test_result_codec_round_trip():
    from plugins.wasm.resultcodec import decode_result, encode_result

    rs = ResultSet(["a", "b"], [(1, "x"), (None, "y")])
    assert decode_result(encode_result(rs)) == ResultSet(["a", "b"], [(1, "x"), (None, "y")])
    assert decode_result(encode_result(Ok(3, 4, "done"))) == Ok(3, 4, "done")
    for bad, reason in [(b"[1]", "JSON object"), (b'{"columns":["a"],"rows":[[1,2]]}', "row 0"),
                        (b"nope", "not JSON"), (b'{"affected_rows":-1}', "non-negative")]:
        with pytest.raises(ValueError, match=reason):
            decode_result(bad)


# -- the C guests (clang --target=wasm32 + wasm-ld) ------------------------------------------------
def _c_guests(tmp_path_factory):
    import importlib.util

    spec = importlib.util.spec_from_file_location("wasm_build", WAT.parent / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    if not build.have_c_toolchain():
        pytest.skip("clang with the wasm32 target and wasm-ld are not installed (Debian: clang lld)")
    return build.build_all(tmp_path_factory.mktemp("guests"))


@pytest.fixture(scope="module")
def c_guests(tmp_path_factory):
    return _c_guests(tmp_path_factory)


@pytest.mark.parametrize("sql, refused", [
    ("DELETE FROM test_wasm.t1", True), ("UPDATE t1 SET c2 = 'where'", True), ("delete from t1 where_x", True),
    ("delete from t1 where c1 = 1", False), ("/* x */ UPDATE t1 SET c2 = 1 WHERE c1 = 2", False),
    ("SELECT 1", False),
])
def test_c_interceptor(engine, c_guests, sql, refused):
    mod = load(engine, "interceptor_c.wasm", c_guests["interceptor_c.wasm"].read_bytes())
    outcome, fault = before(mod, sql)
    assert fault is None
    assert (outcome is not None and outcome.message.endswith(": no where clause")) == refused


def test_c_mask(engine, c_guests):
    mod = load(engine, "mask_c.wasm", c_guests["mask_c.wasm"].read_bytes())
    ctx = QueryContext("SELECT * FROM t")
    ctx.result = ResultSet(["id", "name", "score"], [(1, 'a "quoted" name', -2.5), (2, None, True)])
    outcome, fault = call_guest(mod, ctx, "after", abi.AFTER, "")
    assert fault is None
    assert outcome == ResultSet(["id", "name", "score"], [("****", "****", "****"), ("****", None, "****")])
    ctx.result = Ok(affected_rows=3)
    assert call_guest(mod, ctx, "after", abi.AFTER, "") == (None, None)  # OK packets pass through


def test_c_counter_by_kind(engine, c_guests):
    mod = load(engine, "counter_c.wasm", c_guests["counter_c.wasm"].read_bytes())
    for sql in ("SELECT 1", "SELECT 2", "INSERT INTO t VALUES (1)"):
        assert before(mod, sql) == (None, None)
    assert mod.kv.data == {b"statements": b"3", b"kind:SELECT": b"2", b"kind:INSERT": b"1"}


def test_wat_text_rows_are_accepted_and_hashed_as_text(engine):
    text = (WAT / "interceptor.wat").read_text()
    r = row("text.wasm", text.encode()) | {"wasm": text}  # a TEXT value, as plain SQL would store it
    mod = load_module(engine, r, abi.SharedStore(), ModuleStats(), max_idle=1)
    assert before(mod, "DELETE FROM t")[0].message.endswith("no where clause")
    with pytest.raises(ModuleRefused, match="module sha256 mismatch"):
        load_module(engine, r | {"wasm": text + " "}, abi.SharedStore(), ModuleStats(), max_idle=1)


def test_runner_follows_module_replacement(engine):
    """A filter's runner keeps the module it found until a load retires it, then looks again."""
    ms = ModuleSet(lambda: engine, lambda: 4)
    plugin = types.SimpleNamespace(modules=ms, inline_max=60_000)
    runner = GuestRunner(plugin, "m.wasm", "", "wasm:f")  # type: ignore[arg-type]
    assert runner.before(QueryContext("DELETE FROM t")).message.endswith("wasm module 'm.wasm' is not loaded")
    ms.load([row("m.wasm", example("allow.wat")), row("other.wasm", example("allow.wat"))])
    allow = ms.modules["m.wasm"]
    assert runner.before(QueryContext("DELETE FROM t")) is None and runner._mod is allow
    ms.load([row("m.wasm", example("allow.wat")), row("other.wasm", example("counter.wat"))])
    assert not allow.retired and runner._mod is allow  # unchanged row: same module, still current
    ms.load([row("m.wasm", example("interceptor.wat")), row("other.wasm", example("counter.wat"))])
    assert allow.retired
    assert runner.before(QueryContext("DELETE FROM t")).message.endswith("no where clause")
    ms.load([row("m.wasm", example("interceptor.wat"), active=0)])
    assert runner.before(QueryContext("DELETE FROM t")).message.endswith("wasm module 'm.wasm' is not loaded")
