"""Running matched actions around a statement: ``before`` in priority order, ``after`` in reverse.

Both functions stay synchronous until an action returns an awaitable, so a chain of plain actions
costs no coroutine; the core awaits whatever they return.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any

from plugins.filters.engine import RuntimeFilter
from proxyd.errors import ProxydError
from proxyd.results import Ok, ResultSet

log = logging.getLogger("proxyd.plugin.filters")
#: ``ctx.plugin_data`` key of the filters whose ``before`` ran for this statement.
RAN = "filters"


def _failure(f: RuntimeFilter, stage: str, exc: BaseException) -> ProxydError:
    log.error("filter '%s' action %s failed %s execution: %s: %s", f.name, f.definition.action, stage,
              type(exc).__name__, exc)
    return ProxydError(f"filter '{f.name}' action {f.definition.action} failed {stage} execution: "
                       f"{type(exc).__name__}: {exc}")


def _settle_before(f: RuntimeFilter, res: Any) -> Any:
    """Count and return a before() answer (None: carry on)."""
    if res is None:
        return None
    if isinstance(res, ProxydError):
        f.stats.failed += 1
        return res
    if isinstance(res, (Ok, ResultSet)):
        f.stats.answered += 1
        return res
    return _failure(f, "before", TypeError(f"before() returned {type(res).__name__}"))


def run_before(ctx: Any, matched: tuple[RuntimeFilter, ...]) -> Any:
    for f in matched:
        f.stats.matches += 1
    ran: list[RuntimeFilter] = []
    ctx.plugin_data[RAN] = ran
    for i, f in enumerate(matched):
        ran.append(f)
        try:
            res = f.action.before(ctx)  # type: ignore[union-attr]  # live filters have an action
        except ProxydError as exc:
            res = exc
        except Exception as exc:  # noqa: BLE001 - a failing action must not take the proxy down
            res = _failure(f, "before", exc)
        if res is None:  # the usual answer: carry on
            continue
        if inspect.isawaitable(res):
            return _before_async(ctx, matched, i, res, ran)
        out = _settle_before(f, res)
        if out is not None:
            return out
    return None


async def _before_async(ctx: Any, matched: tuple[RuntimeFilter, ...], i: int, pending: Any,
                        ran: list[RuntimeFilter]) -> Any:
    while True:
        f = matched[i]
        try:
            res = await pending
        except ProxydError as exc:
            res = exc
        except Exception as exc:  # noqa: BLE001 - a failing action must not take the proxy down
            res = _failure(f, "before", exc)
        out = _settle_before(f, res)
        if out is not None:
            return out
        while True:
            i += 1
            if i >= len(matched):
                return None
            f = matched[i]
            ran.append(f)
            try:
                res = f.action.before(ctx)  # type: ignore[union-attr]
            except ProxydError as exc:
                res = exc
            except Exception as exc:  # noqa: BLE001 - a failing action must not take the proxy down
                res = _failure(f, "before", exc)
            if inspect.isawaitable(res):
                pending = res
                break
            out = _settle_before(f, res)
            if out is not None:
                return out


def _apply_after(ctx: Any, f: RuntimeFilter, res: Any) -> None:
    if res is None:
        return
    if isinstance(res, ProxydError):
        ctx.error, ctx.result = res, None
    elif isinstance(res, (Ok, ResultSet)):
        ctx.result, ctx.error = res, None
    else:
        ctx.error, ctx.result = _failure(f, "after", TypeError(f"after() returned {type(res).__name__}")), None
    f.stats.replaced += 1


def run_after(ctx: Any, ran: list[RuntimeFilter]) -> Any:
    """after() of every filter whose before() ran, last first; replacements go straight into ctx."""
    for i in range(len(ran) - 1, -1, -1):
        f = ran[i]
        try:
            res = f.action.after(ctx)  # type: ignore[union-attr]
        except ProxydError as exc:
            res = exc
        except Exception as exc:  # noqa: BLE001 - a failing action must not take the proxy down
            res = _failure(f, "after", exc)
        if res is None:  # the usual answer: keep the outcome
            continue
        if inspect.isawaitable(res):
            return _after_async(ctx, ran, i, res)
        _apply_after(ctx, f, res)
    return None


async def _after_async(ctx: Any, ran: list[RuntimeFilter], i: int, pending: Any) -> None:
    while i >= 0:
        f = ran[i]
        if pending is None:
            try:
                pending = f.action.after(ctx)  # type: ignore[union-attr]
            except ProxydError as exc:
                pending = exc
            except Exception as exc:  # noqa: BLE001 - a failing action must not take the proxy down
                pending = _failure(f, "after", exc)
        try:
            res = await pending if inspect.isawaitable(pending) else pending
        except ProxydError as exc:
            res = exc
        except Exception as exc:  # noqa: BLE001 - a failing action must not take the proxy down
            res = _failure(f, "after", exc)
        _apply_after(ctx, f, res)
        pending = None
        i -= 1


class OpenChains:
    """Chains whose ``after`` is still owed, by connection id.

    The core skips ``after_execution`` when a statement's task is cancelled (``KILL QUERY`` cancels the
    connection's task mid-statement; a dropped client ends it). An action must still get its
    ``after`` — a concurrency slot would leak otherwise — so a chain stays here from ``before`` to
    ``after``; one left behind is closed out when its connection runs its next statement or ends.
    """

    def __init__(self) -> None:
        self.chains: dict[int, tuple[Any, list[RuntimeFilter]]] = {}
        self._watched: set[int] = set()  # ids of connection tasks with a done-callback

    def __bool__(self) -> bool:
        return bool(self.chains)

    def opened(self, ctx: Any, ran: list[RuntimeFilter]) -> None:
        self.chains[ctx.connection_id] = (ctx, ran)
        try:
            task = asyncio.current_task()
        except RuntimeError:  # no running loop (an in-process benchmark)
            return
        if task is not None and id(task) not in self._watched:
            self._watched.add(id(task))
            conn_id = ctx.connection_id
            task.add_done_callback(lambda t: (self._watched.discard(id(t)), self.close_out(conn_id)))

    def closed(self, ctx: Any) -> None:
        if self.chains.get(ctx.connection_id, (None,))[0] is ctx:
            del self.chains[ctx.connection_id]

    def close_out(self, connection_id: int) -> None:
        """Run the owed ``after`` of an interrupted statement (its outcome: error 1317)."""
        left = self.chains.pop(connection_id, None)
        if left is None:
            return
        ctx, ran = left
        if ctx.error is None:
            ctx.error, ctx.result = ProxydError("Query execution was interrupted", 1317, "70100"), None
        pending = run_after(ctx, ran)
        if inspect.isawaitable(pending):
            try:
                asyncio.get_running_loop().create_task(pending)
            except RuntimeError:
                pending.close()
