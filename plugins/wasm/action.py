"""The ``WASM_PLUGIN`` filter action: run a module's event functions around a statement.

Guests whose deadline is short (``timeout_ms`` up to ``wasm-inline_max_timeout_ms``) run inline on
the event loop: a thread hop costs more than such a guest's whole run (tens of µs against a few),
and the epoch deadline bounds how long the loop can be held. Guests allowed longer run on the
plugin's worker threads, so the loop never waits on them.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from plugins.wasm import abi
from plugins.wasm.modules import LoadedModule
from plugins.wasm.runtime import GuestFault
from proxyd.errors import ParseError, ProxydError
from proxyd.results import Ok, ResultSet, Warning_

if TYPE_CHECKING:
    from plugins.wasm.plugin import WasmPlugin

STAGE_TEXT = {"before": "before execution stage", "after": "after execution stage"}
_ARG = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|[^;]*?)\s*(?:;|$)")


class WasmGuestError(ProxydError):
    """A guest refused the statement, or (fail-closed) its module faulted."""


def parse_args(text: str) -> dict[str, str]:
    """``k="v"; k2='v2'; k3=v3`` (TOML-like, as WeScale writes it); raise ParseError on bad syntax."""
    out: dict[str, str] = {}
    pos, text = 0, text.strip()
    while pos < len(text):
        m = _ARG.match(text, pos)
        if not m or m.end() == pos:
            raise ParseError(f"action_args: cannot parse {text[pos:]!r} (expected key=\"value\"; …)")
        key, value = m.group(1), m.group(2)
        if value[:1] in "\"'" and len(value) >= 2:
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out[key] = value
        pos = m.end()
    return out


def make_action_class(plugin: WasmPlugin) -> type:
    """The WASM_PLUGIN action class bound to this plugin instance (a fresh class per load)."""
    from plugins.filters.actions import FilterAction

    class WasmPluginAction(FilterAction):
        name = "WASM_PLUGIN"
        description = "run a Wasm module's before/after execution functions (wasm plugin)"
        takes_args = True

        def __init__(self, filter_name: str, args: str) -> None:
            super().__init__(filter_name, args)
            parsed = parse_args(args or "")
            module = parsed.get("wasm_binary_name", "").strip()
            if not module:
                raise ParseError('action WASM_PLUGIN needs action_args wasm_binary_name="<module name>"')
            self.module_name = module
            self.key = f"wasm:{filter_name}"
            self.runner = GuestRunner(plugin, module, args or "", self.key)
            # the filter engine calls these per statement: the runner's own methods, one frame less
            self.before = self.runner.before  # type: ignore[method-assign]
            self.after = self.runner.after  # type: ignore[method-assign]

    return WasmPluginAction


class GuestRunner:
    """Runs one module's events for the statements of one filter and turns verdicts into outcomes."""

    def __init__(self, plugin: WasmPlugin, module_name: str, config: str, key: str = "wasm"):
        self.plugin, self.module_name, self.config = plugin, module_name, config
        self.key = key  # this filter's entry in ctx.plugin_data ("refused": its before stage failed)
        self._modules = plugin.modules  # a ModuleSet: a load replaces its ``modules`` mapping whole
        self._mod: LoadedModule | None = None  # the module last found; looked up again once retired

    def _module(self) -> LoadedModule | None:
        mod = self._mod = self._modules.modules.get(self.module_name)
        return mod

    def before(self, ctx: Any) -> Any:
        mod = self._mod
        if mod is None or mod.retired:
            mod = self._module()
            if mod is None:
                ctx.plugin_data[self.key] = "refused"
                return WasmGuestError(f"error from wasm plugin at {STAGE_TEXT['before']}: "
                                      f"wasm module '{self.module_name}' is not loaded")
        if not mod.has_before:
            return None
        if mod.timeout_ms > self.plugin.inline_max:
            return self._threaded(ctx, "before", mod, abi.BEFORE)
        fast = mod.fast_before  # a guest whose imports are all in C: the usual call runs in C
        done = fast(ctx.sql) if fast is not None else False
        if done is None:
            return None  # CONTINUE, settled and counted in C
        if done is False:  # no fast path, or no idle instance
            outcome, fault = call_guest(mod, ctx, "before", abi.BEFORE, self.config)
        elif done is True:  # CONTINUE, and the stats want folding
            mod.stats.fold()
            return None
        else:
            outcome, fault = _settle_fast(mod, *done)
        if fault is None and outcome is None:
            return None  # the usual verdict (carry on): nothing to settle
        return self._finish(ctx, "before", mod, outcome, fault)

    def after(self, ctx: Any) -> Any:
        if ctx.plugin_data.pop(self.key, None) == "refused":
            return None  # this filter's own refusal: report the stage that failed, once
        mod = self._mod
        if mod is None or mod.retired:
            mod = self._module()
        if mod is None or not mod.has_after:
            return None  # e.g. no after-execution function (most guests): no guest call at all
        if mod.timeout_ms > self.plugin.inline_max:
            return self._threaded(ctx, "after", mod, abi.AFTER)
        outcome, fault = call_guest(mod, ctx, "after", abi.AFTER, self.config)
        if fault is None and outcome is None:
            return None
        return self._finish(ctx, "after", mod, outcome, fault)

    async def _threaded(self, ctx: Any, stage: str, mod: LoadedModule, export: str) -> Any:
        if "get_context" in mod.guest.imports:
            _ = ctx.kind, ctx.digest, ctx.tables  # parse here: the digest and parse caches are the loop's
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(self.plugin.executor, call_guest, mod, ctx, stage, export, self.config)
        try:
            res = await fut
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if fut.cancelled() and task is not None and not task.cancelling():
                # the plugin stopped (its executor dropped queued calls), the statement did not
                return self._finish(ctx, stage, mod, None, "not run: the wasm plugin is stopping")
            raise
        return self._finish(ctx, stage, mod, *res)

    def _finish(self, ctx: Any, stage: str, mod: LoadedModule, outcome: Any, fault: str | None) -> Any:
        where = STAGE_TEXT[stage]
        if fault is not None:
            if mod.fail_open:
                mod.stats.count_failed_open()
                ctx.warnings.append(Warning_("Warning", 1105, f"wasm module '{mod.name}' failed open at {where}: {fault}"))
                return None
            outcome = WasmGuestError(f"error from wasm plugin at {where}: wasm module '{mod.name}': {fault}")
        if isinstance(outcome, ProxydError) and stage == "before":
            ctx.plugin_data[self.key] = "refused"
        return outcome


def call_guest(mod: LoadedModule, ctx: Any, stage: str, export: str, config: str,
               clock: Callable[[], int] = time.perf_counter_ns) -> tuple[Any, str | None]:
    """One event call: ``(outcome, None)`` or ``(None, fault text)``. Safe on any thread.

    The usual case (a before event that lets the statement run) is settled inline, with the
    instance pool's release and the stats' record written out: this runs for every statement."""
    stats = mod.stats
    guest = mod.guest
    pool = guest.pool
    started = clock()
    try:
        inst = pool.idle.pop()  # InstancePool.acquire without the call
    except IndexError:
        try:
            inst = pool.acquire()
        except GuestFault as exc:
            stats.record((clock() - started) // 1000, exc.kind, str(exc))
            return None, str(exc)
    # a guest whose imports are all served in C never shows its call state to Python code: the
    # shared blank one stands in (it stays blank: nothing can write to it)
    st = abi.call_state(inst, ctx, stage, config, mod.kv, mod.name) if guest.python_imports else abi.BLANK_CALL
    try:
        rc = inst.call_event(export, st, ctx.sql if guest.reads_query else None)
    except GuestFault as exc:  # the instance is marked broken: the pool drops it
        return _settle(mod, inst, st, stage, None, exc, started, clock)
    if rc == abi.CONTINUE and stage == "before":  # the usual verdict: settled and counted at once
        st.qctx = None  # before the release: the next user of the instance reuses this call state
        idle = pool.idle
        if len(idle) < pool.max_idle:  # InstancePool.release of a sound instance
            idle.append(inst)
        pending = stats.pending  # ModuleStats.record of a call without a fault
        pending.append((clock() - started) // 1000)
        if len(pending) > stats.FOLD:
            stats.fold()
        return None, None
    return _settle(mod, inst, st, stage, rc, None, started, clock)


def _settle_fast(mod: LoadedModule, inst: Any, rc: int | None, started: int) -> tuple[Any, str | None]:
    """What a FastEvent handed back: a verdict other than CONTINUE, or a fault (``rc`` None)."""
    exc = None
    if rc is None:
        inst.broken = True
        exc = inst._native_fault()
    return _settle(mod, inst, abi.BLANK_CALL, "before", rc, exc, started)


def _settle(mod: LoadedModule, inst: Any, st: abi.StatementCall, stage: str, rc: int | None,
            exc: GuestFault | None, started: int,
            clock: Callable[[], int] = time.perf_counter_ns) -> tuple[Any, str | None]:
    """The end of an event call other than the usual one: the verdict (or fault) as an outcome, the
    instance back to its pool (a broken one is dropped), the call counted."""
    stats = mod.stats
    if exc is not None:
        outcome, invalid = None, (exc.kind, str(exc))
    else:
        outcome, invalid = _verdict(st, rc, stage)  # type: ignore[arg-type]
        if invalid is not None:
            inst.broken = True  # a guest that broke the ABI once is not trusted again
            invalid = ("invalid", invalid)
    st.qctx = None
    mod.guest.pool.release(inst)
    us = (clock() - started) // 1000
    if invalid is not None:
        stats.record(us, *invalid)
        return None, invalid[1]
    if isinstance(outcome, ProxydError):
        stats.record(us, "error", outcome.message)
    else:
        stats.record(us)
    return outcome, None


def _verdict(st: abi.StatementCall, rc: int, stage: str) -> tuple[Any, str | None]:
    where = STAGE_TEXT[stage]
    if rc == abi.CONTINUE:
        if stage == "after" and st.error is not None:
            return WasmGuestError(f"error from wasm plugin at {where}: {st.error}"), None
        return (st.result if stage == "after" else None), None
    if rc == abi.FAIL:
        return WasmGuestError(f"error from wasm plugin at {where}: {st.error or 'refused by the guest'}"), None
    if rc == abi.ANSWER:
        if not isinstance(st.result, (Ok, ResultSet)):
            return None, "returned 2 (answer) without calling set_result"
        return st.result, None
    return None, f"invalid reply: {stage} event returned {rc}, expected 0, 1 or 2"

