"""The actions the filters plugin contributes itself: CONTINUE, FAIL, CONCURRENCY_CONTROL."""

from __future__ import annotations

import asyncio
import collections
import re
import time
from typing import Any

from plugins.filters.actions import FilterAction
from plugins.filters.engine import FilterStats
from plugins.filters.errors import FilterValueError, QueueFullError, RuleDisallowed
from proxyd.errors import ParseError


class Continue(FilterAction):
    name = "CONTINUE"
    description = "do nothing: the statement runs as usual (the match is still counted)"
    takes_args = False


class Fail(FilterAction):
    name = "FAIL"
    description = "refuse the statement: ERROR 1105 (HY000) disallowed due to rule: <filter name>"
    takes_args = False

    def before(self, ctx: Any) -> RuleDisallowed:
        return RuleDisallowed(f"disallowed due to rule: {self.filter_name}")


_ARG = re.compile(r"\s*([A-Za-z_]+)\s*=\s*(\S+?)\s*(?:;|$)")
_CC_ARGS = ("max_queue_size", "max_concurrency")


def parse_kv_args(action: str, text: str, allowed: tuple[str, ...]) -> dict[str, str]:
    """``key=value; key=value`` (the TOML-like form WeScale uses)."""
    out: dict[str, str] = {}
    for piece in filter(str.strip, text.split(";")):
        key, eq, value = piece.partition("=")
        key, value = key.strip().lower(), value.strip().strip("'\"")
        if not eq or not key or not value:
            raise ParseError(f"action {action}: action_args '{text}' is not of the form "
                             f"'{'=N; '.join(allowed)}=N'")
        if key not in allowed:
            raise FilterValueError("action_args", f"action {action} has no argument '{key}' "
                                                  f"(valid: {', '.join(allowed)})")
        if key in out:
            raise FilterValueError("action_args", f"argument '{key}' given twice")
        out[key] = value
    return out


class ConcurrencyControl(FilterAction):
    """At most ``max_concurrency`` matching statements execute at once; at most ``max_queue_size`` are
    admitted (executing plus waiting); beyond that a statement fails at once (1637).

    Waiting is an asyncio future per statement, so the event loop keeps serving everyone else. A slot
    is handed straight from a finishing statement to the oldest waiter (FIFO, no overtaking).
    """

    name = "CONCURRENCY_CONTROL"
    description = "limit concurrent matching statements: action_args='max_queue_size=N; max_concurrency=N'"

    def __init__(self, filter_name: str, args: str) -> None:
        super().__init__(filter_name, args)
        if not args.strip():
            raise FilterValueError("action_args", "action CONCURRENCY_CONTROL needs "
                                                  "action_args='max_queue_size=N; max_concurrency=N'")
        values = parse_kv_args(self.name, args, _CC_ARGS)
        for key in _CC_ARGS:
            if key not in values:
                raise FilterValueError("action_args", f"action CONCURRENCY_CONTROL needs {key}")
        try:
            self.max_queue_size = int(values["max_queue_size"])
            self.max_concurrency = int(values["max_concurrency"])
        except ValueError:
            raise FilterValueError("action_args", f"'{args}': max_queue_size and max_concurrency must be "
                                                  "integers") from None
        if self.max_concurrency < 1 or self.max_queue_size < 0:
            raise FilterValueError("action_args", f"'{args}': max_concurrency must be >= 1 and "
                                                  "max_queue_size >= 0")
        self.running = 0
        self.waiters: collections.deque[asyncio.Future] = collections.deque()
        self.closed = False
        self.filter_stats = FilterStats()  # replaced by the engine's per-filter counters
        self._slot_key = ("filters.concurrency", id(self))

    def before(self, ctx: Any) -> Any:
        if self.closed:
            return None
        if self.running + len(self.waiters) >= self.max_queue_size:
            self.filter_stats.rejected += 1
            return QueueFullError(
                f"too many queued statements for filter '{self.filter_name}' "
                f"({self.running + len(self.waiters)} >= max_queue_size {self.max_queue_size})")
        if self.running < self.max_concurrency and not self.waiters:
            self._take(ctx)
            return None
        return self._wait(ctx)

    def _take(self, ctx: Any) -> None:
        self.running += 1
        self._note_running()
        ctx.plugin_data[self._slot_key] = True

    def _note_running(self) -> None:
        stats = self.filter_stats
        stats.running = self.running
        stats.max_running = max(stats.max_running, self.running)

    async def _wait(self, ctx: Any) -> None:
        fut = asyncio.get_running_loop().create_future()
        self.waiters.append(fut)
        self.filter_stats.queued += 1
        start = time.perf_counter_ns()
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self._release()  # the slot was handed to us just as we were cancelled: pass it on
            else:
                try:
                    self.waiters.remove(fut)
                except ValueError:
                    pass
            raise
        finally:
            self.filter_stats.wait_us += (time.perf_counter_ns() - start) // 1000
        if fut.result():  # handed a slot (False: the filter closed, run without one)
            ctx.plugin_data[self._slot_key] = True

    def after(self, ctx: Any) -> None:
        if ctx.plugin_data.pop(self._slot_key, None):
            self._release()

    def _release(self) -> None:
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_result(True)  # the slot goes to the oldest waiter; running stays the same
                return
        self.running -= 1
        self.filter_stats.running = self.running

    def close(self) -> None:
        """Let every waiter run (without a slot): the filter that limited them is gone."""
        self.closed = True
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_result(False)


BUILTIN_ACTIONS: list[type[FilterAction]] = [Continue, Fail, ConcurrencyControl]
